// Where a target host's name points: resolved over DNS-over-HTTPS (a Worker has no resolver of its own before fetch()),
// so a public name that answers with a loopback, private or metadata address (`127.0.0.1.nip.io`, DNS rebinding) is
// refused like the address itself (checkTargetUrl in target-url.ts). Checked at create and update, and before every send.
export interface DnsDeps {
  fetch: typeof fetch;
  /** A DoH endpoint speaking the JSON API (`?name=…&type=A`, `application/dns-json`), e.g. https://cloudflare-dns.com/dns-query. */
  resolverUrl: string;
  now: () => number;
}

export type Resolution =
  | { kind: "addresses"; addresses: string[] }
  | { kind: "nxdomain" }
  /** The resolver could not answer (timeout, SERVFAIL, bad response): nothing is known about the name. */
  | { kind: "unavailable"; reason: string };

const RESOLVE_TIMEOUT_MS = 3_000;
// Answers are cached per isolate for their TTL, within these bounds: short enough that a changed record is seen soon,
// long enough that a busy endpoint costs one lookup a minute.
const MAX_CACHE_SECONDS = 60;
const NEGATIVE_CACHE_SECONDS = 30;
const MAX_CACHE_ENTRIES = 1_000;

const cache = new Map<string, { expiresAt: number; resolution: Resolution }>();

const RECORD_TYPES = [
  { type: "A", code: 1 },
  { type: "AAAA", code: 28 },
] as const;

interface DohAnswer {
  type?: unknown;
  TTL?: unknown;
  data?: unknown;
}

async function query(host: string, type: "A" | "AAAA", deps: DnsDeps) {
  const url = new URL(deps.resolverUrl);
  url.searchParams.set("name", host);
  url.searchParams.set("type", type);
  const fetchFn = deps.fetch;
  const res = await fetchFn(url.toString(), {
    headers: { accept: "application/dns-json" },
    signal: AbortSignal.timeout(RESOLVE_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`resolver answered HTTP ${res.status}`);
  const body = (await res.json()) as { Status?: unknown; Answer?: unknown };
  if (typeof body.Status !== "number") throw new Error("resolver answer has no Status");
  return { status: body.Status, answers: Array.isArray(body.Answer) ? (body.Answer as DohAnswer[]) : [] };
}

/** The A and AAAA addresses of `host` (CNAME chains are followed by the resolver; only address records count). */
export async function resolveHost(host: string, deps: DnsDeps): Promise<Resolution> {
  const now = deps.now();
  const cached = cache.get(host);
  if (cached && cached.expiresAt > now) return cached.resolution;

  let results: Awaited<ReturnType<typeof query>>[];
  try {
    results = await Promise.all(RECORD_TYPES.map(({ type }) => query(host, type, deps)));
  } catch (err) {
    return { kind: "unavailable", reason: err instanceof Error ? err.message : String(err) };
  }
  let resolution: Resolution;
  let ttlSeconds = NEGATIVE_CACHE_SECONDS;
  if (results.every((r) => r.status === 3)) resolution = { kind: "nxdomain" };
  else if (results.some((r) => r.status !== 0 && r.status !== 3)) {
    // SERVFAIL or REFUSED on either type: an answer for the other alone could hide a private address.
    return { kind: "unavailable", reason: `resolver status ${results.find((r) => r.status !== 0)!.status}` };
  } else {
    const addresses: string[] = [];
    const ttls: number[] = [];
    for (const [i, { answers }] of results.entries()) {
      for (const answer of answers) {
        if (answer.type !== RECORD_TYPES[i]!.code || typeof answer.data !== "string") continue;
        addresses.push(answer.data);
        if (typeof answer.TTL === "number") ttls.push(answer.TTL);
      }
    }
    if (addresses.length > 0) ttlSeconds = ttls.length > 0 ? Math.min(...ttls) : 0;
    resolution = addresses.length > 0 ? { kind: "addresses", addresses } : { kind: "nxdomain" };
  }
  const seconds = Math.min(Math.max(0, ttlSeconds), MAX_CACHE_SECONDS);
  if (seconds > 0) {
    if (cache.size >= MAX_CACHE_ENTRIES) cache.delete(cache.keys().next().value!); // the oldest entry
    cache.set(host, { expiresAt: now + seconds * 1000, resolution });
  }
  return resolution;
}

/** Forgets every cached answer (tests only need this to start from a known state). */
export function clearDnsCache(): void {
  cache.clear();
}
