// Which URLs we agree to POST to (SSRF guard). Checked when an endpoint is created or updated, and again before every send.
//
// Every check runs on the URL as WHATWG URL normalises it, which is also what fetch() connects to: `http://2130706433/`,
// `http://0x7f.1/`, `http://0177.0.0.1/`, `http://127.1/` and fullwidth digits all arrive here as `127.0.0.1`, and
// `[::ffff:127.0.0.1]` as `[::ffff:7f00:1]`, so no spelling of an address gets past its range check.
//
// A name is also resolved (over DNS-over-HTTPS, target-dns.ts) and refused when any answer is not public; that check
// is async and lives in checkTargetUrl below. Redirects are never followed (http-attempt.ts).
import ipaddr, { type IPv4, type IPv6 } from "ipaddr.js";
import type { Config } from "../lib/config";
import { type DnsDeps, resolveHost } from "./target-dns";

export interface TargetPolicy {
  /** http:// allowed (local development only). */
  allowInsecure: boolean;
  /** loopback hosts allowed: 127.0.0.0/8, [::1], localhost (local development and tests only). Nothing else private. */
  allowPrivate: boolean;
  /** Ports allowed besides 443 (and 80 when insecure URLs are allowed), e.g. [8443] (ALLOWED_TARGET_PORTS). */
  allowedPorts?: readonly number[];
}

/** The policy the deployment's config sets (ALLOW_INSECURE_URLS, ALLOW_PRIVATE_TARGETS, ALLOWED_TARGET_PORTS). */
export function targetPolicyOf(
  config: Pick<Config, "allowInsecureUrls" | "allowPrivateTargets"> & Partial<Pick<Config, "allowedTargetPorts">>,
): TargetPolicy {
  return {
    allowInsecure: config.allowInsecureUrls,
    allowPrivate: config.allowPrivateTargets,
    allowedPorts: config.allowedTargetPorts ?? [],
  };
}

/** How target hosts are resolved, from the service container. */
export function dnsDepsOf(services: {
  config: Pick<Config, "dnsResolverUrl">;
  fetch: typeof fetch;
  now: () => number;
}): DnsDeps {
  return { fetch: services.fetch, resolverUrl: services.config.dnsResolverUrl, now: services.now };
}

const MAX_URL_LENGTH = 2048;

// Special-use and internal-only DNS suffixes (RFC 6761, 6762, 8375, ICANN's .internal).
// The last five are not delegated TLDs but common private ones (ICANN name-collision list): refused early and clearly.
// RFC 6761 also reserves .test, .invalid and .example; .onion (RFC 7686) and .alt (RFC 9476) never resolve in public DNS;
// .arpa is infrastructure. .svc and .consul are the service-discovery domains of Kubernetes and Consul.
const INTERNAL_SUFFIXES = [
  "localhost",
  "local",
  "internal",
  "localdomain",
  "home.arpa",
  "arpa",
  "intranet",
  "lan",
  "corp",
  "home",
  "private",
  "test",
  "invalid",
  "example",
  "onion",
  "alt",
  "svc",
  "consul",
];
const MAX_LABEL_LENGTH = 63;
const MAX_HOST_LENGTH = 253;
// Names cloud providers give their instance-metadata services (IPs are covered by the ranges below).
const METADATA_HOSTS = new Set(["metadata.google.internal", "metadata", "instance-data", "metadata.tencentyun.com"]);

/** Returns why the URL is refused, or null when it is an acceptable delivery target. */
export function targetUrlProblem(raw: string, policy: TargetPolicy): string | null {
  if (raw.length > MAX_URL_LENGTH) return `URL must be at most ${MAX_URL_LENGTH} characters`;
  // The URL parser would silently drop these; refuse them so what we store is what we call.
  if (/[\s\x00-\x1f\x7f]/.test(raw)) return "URL must not contain whitespace or control characters";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "Invalid URL";
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowInsecure))
    return policy.allowInsecure ? "URL scheme must be http or https" : "URL must use https";
  if (url.username || url.password) return "URL must not contain credentials";
  if (url.hash) return "URL must not contain a fragment";
  return hostProblem(url.hostname, policy.allowPrivate) ?? portProblem(url, policy);
}

/**
 * Receivers listen on 443 (80 for plain http, in development); any other port is refused unless listed in the
 * policy, so an endpoint cannot aim at SSH, SMTP, Redis, a Docker or kubelet API on a public host. Loopback targets in
 * development (ALLOW_PRIVATE_TARGETS) may use any port: local receivers listen wherever they like.
 */
function portProblem(url: URL, policy: TargetPolicy): string | null {
  if (url.port === "") return null; // the scheme's default, 443 or 80
  const port = Number(url.port);
  if (policy.allowedPorts?.includes(port)) return null;
  if (policy.allowPrivate && isLoopbackHost(url.hostname)) return null;
  const allowed = ["443", ...(policy.allowInsecure ? ["80"] : []), ...(policy.allowedPorts ?? []).map(String)];
  return `URL port ${port} is not allowed (allowed: ${allowed.join(", ")})`;
}

/** Whether a WHATWG-normalised host is a loopback address or a localhost name. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  return addressRange(host.startsWith("[") ? host.slice(1, -1) : host) === "loopback";
}

/** A host that is a name to resolve (not an address literal, not localhost). */
function isResolvableName(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return !host.startsWith("[") && parseIPv4(host) === null && !isLoopbackHost(host);
}

/**
 * Why a (WHATWG-normalised) host is not a public delivery target, or null. `allowLoopback` admits only
 * 127.0.0.0/8, [::1], `localhost` and `*.localhost`.
 */
function hostProblem(hostname: string, allowLoopback = false): string | null {
  const host = hostname.toLowerCase();
  if (host === "") return "URL must have a host";
  if (host.startsWith("[")) {
    const address = parseIPv6(host.slice(1, -1));
    if (address === null) return `URL host ${host} is not a valid IPv6 address`;
    const range = ipv6Range(address);
    if (range === null || (allowLoopback && range === "loopback")) return null;
    return `URL host ${host} is not a public address (${range})`;
  }
  const v4 = parseIPv4(host);
  if (v4 !== null) {
    const range = ipv4Range(v4);
    if (range === null || (allowLoopback && range === "loopback")) return null;
    return `URL host ${host} is not a public address (${range})`;
  }
  if (host.endsWith(".")) return "URL host must not end with a dot";
  if (METADATA_HOSTS.has(host)) return `URL host ${host} is a cloud metadata service`;
  const isLocalhost = host === "localhost" || host.endsWith(".localhost");
  if (isLocalhost) return allowLoopback ? null : `URL host ${host} is this machine (localhost)`;
  const suffix = INTERNAL_SUFFIXES.find((s) => host === s || host.endsWith(`.${s}`));
  if (suffix) return `URL host ${host} is in the internal-only domain .${suffix}`;
  if (!host.includes(".")) return `URL host ${host} is a single-label name (use a fully qualified domain name)`;
  if (host.split(".").some((label) => label === "")) return "URL host has an empty label";
  if (host.length > MAX_HOST_LENGTH) return `URL host must be at most ${MAX_HOST_LENGTH} characters`;
  if (host.split(".").some((label) => label.length > MAX_LABEL_LENGTH))
    return `URL host labels must be at most ${MAX_LABEL_LENGTH} characters`;
  return null;
}

export type TargetVerdict = { ok: true } | { ok: false; kind: "refused" | "unavailable"; reason: string };

/**
 * The whole target policy: the URL itself (targetUrlProblem), then, for a name, every address it resolves to must be
 * public (loopback too when the policy allows private targets). `unavailable` means the resolver could not answer:
 * nothing is known about the target, so it is neither accepted nor blamed on the caller.
 */
export async function checkTargetUrl(raw: string, policy: TargetPolicy, dns: DnsDeps): Promise<TargetVerdict> {
  const { problem, host, resolvable } = urlVerdict(raw, policy);
  if (problem) return { ok: false, kind: "refused", reason: problem };
  if (!resolvable) return { ok: true };
  const resolution = await resolveHost(host, dns);
  if (resolution.kind === "unavailable")
    return {
      ok: false,
      kind: "unavailable",
      reason: `URL host ${host} could not be resolved right now (${resolution.reason})`,
    };
  if (resolution.kind === "nxdomain")
    return { ok: false, kind: "refused", reason: `URL host ${host} does not resolve` };
  for (const address of resolution.addresses) {
    const range = addressRange(address);
    if (range === null || (policy.allowPrivate && range === "loopback")) continue;
    return {
      ok: false,
      kind: "refused",
      reason: `URL host ${host} resolves to ${address}, which is not a public address (${range})`,
    };
  }
  return { ok: true };
}

// What checkTargetUrl learns from a URL alone, kept per isolate: every send checks its URL again, and an isolate sends
// to the same few URLs over and over. The verdict depends on nothing but the URL and the policy.
const URL_VERDICTS_KEPT = 1000;
const urlVerdicts = new Map<string, { problem: string | null; host: string; resolvable: boolean }>();

function urlVerdict(raw: string, policy: TargetPolicy) {
  const key = `${policy.allowInsecure} ${policy.allowPrivate} ${policy.allowedPorts?.join(",") ?? ""}\n${raw}`;
  let verdict = urlVerdicts.get(key);
  if (!verdict) {
    const problem = targetUrlProblem(raw, policy);
    const host = problem ? "" : new URL(raw).hostname.toLowerCase();
    verdict = { problem, host, resolvable: problem === null && isResolvableName(host) };
    if (urlVerdicts.size >= URL_VERDICTS_KEPT) urlVerdicts.delete(urlVerdicts.keys().next().value!);
    urlVerdicts.set(key, verdict);
  }
  return verdict;
}

/**
 * The special-purpose range an address (dotted-decimal IPv4 or any RFC 4291 IPv6 text, as in a DNS answer or a
 * normalised URL host without brackets) falls in; null for a public address.
 */
export function addressRange(text: string): string | null {
  const v4 = parseIPv4(text);
  if (v4 !== null) return ipv4Range(v4);
  const v6 = parseIPv6(text);
  if (v6 !== null) return ipv6Range(v6);
  return "not an IP address";
}

// Parsing is ipaddr.js's; which ranges are refused, and what they are called, is our policy.

/** Dotted decimal, the only spelling WHATWG URL leaves after normalisation; null when not an IPv4 literal. */
function parseIPv4(text: string): IPv4 | null {
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : null;
}

/** Any RFC 4291 text form (with an optional trailing dotted IPv4 part), without a zone; null when invalid. */
function parseIPv6(text: string): IPv6 | null {
  if (text.includes("%") || !ipaddr.IPv6.isValid(text)) return null;
  return ipaddr.IPv6.parse(text);
}

type Range<A> = { cidr: [A, number]; name: string };
const v4 = (cidr: string, name: string): Range<IPv4> => ({ cidr: ipaddr.IPv4.parseCIDR(cidr), name });
const v6 = (cidr: string, name: string): Range<IPv6> => ({ cidr: ipaddr.IPv6.parseCIDR(cidr), name });

// IANA special-purpose registry (RFC 6890 and successors); more specific entries first. Not globally reachable.
const IPV4_RANGES = [
  v4("0.0.0.0/8", '"this network"'),
  v4("10.0.0.0/8", "private"),
  v4("100.64.0.0/10", "shared (CGNAT)"),
  v4("127.0.0.0/8", "loopback"),
  v4("169.254.169.254/32", "link-local (cloud metadata)"),
  v4("169.254.0.0/16", "link-local"),
  v4("172.16.0.0/12", "private"),
  v4("192.0.0.0/24", "IETF protocol assignment"),
  v4("192.0.2.0/24", "documentation"),
  v4("192.88.99.0/24", "6to4 relay anycast"),
  v4("192.168.0.0/16", "private"),
  v4("198.18.0.0/15", "benchmarking"),
  v4("198.51.100.0/24", "documentation"),
  v4("203.0.113.0/24", "documentation"),
  v4("224.0.0.0/4", "multicast"),
  v4("255.255.255.255/32", "broadcast"),
  v4("240.0.0.0/4", "reserved"),
];

/** The special-purpose range an IPv4 address falls in, or null for a public address. */
function ipv4Range(address: IPv4): string | null {
  return IPV4_RANGES.find((r) => address.match(r.cidr))?.name ?? null;
}

// Outside 2000::/3 (global unicast) nothing is a webhook receiver; inside it, these are not either.
// Transition forms are refused whole: a receiver can be addressed by its IPv4 address itself.
const IPV6_SPECIAL = [
  v6("::/128", "unspecified"),
  v6("::1/128", "loopback"),
  v6("::ffff:0:0/96", "IPv4-mapped"),
  v6("::ffff:0:0:0/96", "IPv4-translated"),
  v6("::/96", "IPv4-compatible"),
  v6("64:ff9b::/96", "NAT64"),
  v6("64:ff9b:1::/48", "NAT64 (local-use)"),
  v6("100::/64", "discard-only"),
  v6("2001::/32", "Teredo"),
  v6("2001:2::/48", "benchmarking"),
  v6("2001:db8::/32", "documentation"),
  v6("2001::/23", "IETF protocol assignment"),
  v6("3fff::/20", "documentation"),
  v6("5f00::/16", "SRv6 SID"),
  v6("fc00::/7", "unique-local"),
  v6("fe80::/10", "link-local"),
  v6("fec0::/10", "site-local"),
  v6("ff00::/8", "multicast"),
];
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR("2000::/3");
const SIX_TO_FOUR = ipaddr.IPv6.parseCIDR("2002::/16");

/** The special-purpose range an IPv6 address falls in, or null for a public address. */
function ipv6Range(address: IPv6): string | null {
  const special = IPV6_SPECIAL.find((r) => address.match(r.cidr));
  if (special) return special.name;
  if (address.match(SIX_TO_FOUR)) {
    // 2002:AABB:CCDD::/48 routes to the IPv4 address AA.BB.CC.DD.
    const [, high = 0, low = 0] = address.parts;
    const wrapped = ipv4Range(new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]));
    return wrapped === null ? null : `6to4 wrapping ${wrapped} IPv4`;
  }
  return address.match(GLOBAL_UNICAST) ? null : "reserved";
}
