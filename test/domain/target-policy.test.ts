// The target policy beyond the URL's own spelling: ports, special-use names, and where a name resolves to
// (over DNS-over-HTTPS, against the real local stub in test/helpers/doh-stub.ts).
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { clearDnsCache, resolveHost } from "../../src/domain/target-dns";
import { checkTargetUrl, type TargetPolicy, targetUrlProblem } from "../../src/domain/target-url";

const PRODUCTION: TargetPolicy = { allowInsecure: false, allowPrivate: false };
const DEVELOPMENT: TargetPolicy = { allowInsecure: true, allowPrivate: true };
const dns = (now = Date.now()) => ({
  fetch: (i: RequestInfo | URL, init?: RequestInit) => fetch(i, init),
  resolverUrl: env.DNS_RESOLVER_URL,
  now: () => now,
});
const queries = async (name: string) => {
  const res = await fetch(`${inject("dohUrl").replace(/\/dns-query$/, "")}/dns-stats?name=${name}`);
  return ((await res.json()) as { queries: number }).queries;
};

beforeEach(() => clearDnsCache());

describe("ports", () => {
  it.each([22, 25, 6379, 2375, 10250, 8443, 8080])("refuses :%i in production", (port) => {
    expect(targetUrlProblem(`https://receiver.example.com:${port}/`, PRODUCTION)).toBe(
      `URL port ${port} is not allowed (allowed: 443)`,
    );
  });

  it("refuses :0 (WHATWG keeps it as a port)", () => {
    expect(targetUrlProblem("https://receiver.example.com:0/", PRODUCTION)).toBe(
      "URL port 0 is not allowed (allowed: 443)",
    );
  });

  it("accepts 443, spelled or not, and 80 only for http with insecure URLs allowed", () => {
    expect(targetUrlProblem("https://receiver.example.com/", PRODUCTION)).toBeNull();
    expect(targetUrlProblem("https://receiver.example.com:443/", PRODUCTION)).toBeNull();
    expect(
      targetUrlProblem("http://receiver.example.com:80/", { allowInsecure: true, allowPrivate: false }),
    ).toBeNull();
    expect(targetUrlProblem("https://receiver.example.com:80/", PRODUCTION)).toBe(
      "URL port 80 is not allowed (allowed: 443)",
    );
    expect(targetUrlProblem("https://receiver.example.com:22/", { allowInsecure: true, allowPrivate: false })).toBe(
      "URL port 22 is not allowed (allowed: 443, 80)",
    );
  });

  it("accepts ports on the configured allow-list", () => {
    const policy = { ...PRODUCTION, allowedPorts: [8443] };
    expect(targetUrlProblem("https://receiver.example.com:8443/", policy)).toBeNull();
    expect(targetUrlProblem("https://receiver.example.com:8080/", policy)).toBe(
      "URL port 8080 is not allowed (allowed: 443, 8443)",
    );
  });

  it("lets loopback receivers use any port in development only", () => {
    expect(targetUrlProblem("http://127.0.0.1:51234/hook", DEVELOPMENT)).toBeNull();
    expect(targetUrlProblem("http://localhost:3000/hook", DEVELOPMENT)).toBeNull();
    expect(targetUrlProblem("http://receiver.example.com:6379/", DEVELOPMENT)).toBe(
      "URL port 6379 is not allowed (allowed: 443, 80)",
    );
  });
});

describe("special-use and internal names", () => {
  it.each([
    ["https://hooks.test/", ".test"],
    ["https://hooks.invalid/", ".invalid"],
    ["https://hooks.example/", ".example"],
    ["https://abcdefghijklmnop.onion/", ".onion"],
    ["https://hooks.alt/", ".alt"],
    ["https://kubernetes.default.svc/", ".svc"],
    ["https://redis.service.consul/", ".consul"],
    ["https://api.cluster.local/", ".local"],
  ])("refuses %s", (url, suffix) => {
    const host = new URL(url).hostname;
    expect(targetUrlProblem(url, PRODUCTION)).toBe(`URL host ${host} is in the internal-only domain ${suffix}`);
    expect(targetUrlProblem(url, DEVELOPMENT)).toBe(`URL host ${host} is in the internal-only domain ${suffix}`);
  });

  it("refuses labels over 63 characters and names over 253", () => {
    expect(targetUrlProblem(`https://${"a".repeat(64)}.example.com/`, PRODUCTION)).toBe(
      "URL host labels must be at most 63 characters",
    );
    expect(targetUrlProblem(`https://${"a".repeat(63)}.example.com/`, PRODUCTION)).toBeNull();
    const long = `${Array.from({ length: 5 }, () => "a".repeat(60)).join(".")}.com`;
    expect(targetUrlProblem(`https://${long}/`, PRODUCTION)).toBe("URL host must be at most 253 characters");
  });

  it("still accepts ordinary names that merely contain those words", () => {
    for (const url of [
      "https://test.example.com/",
      "https://example.com/",
      "https://svc.example.org/",
      "https://my-onion.com/",
    ])
      expect(targetUrlProblem(url, PRODUCTION)).toBeNull();
  });
});

describe("DNS answers", () => {
  it.each([
    ["https://127.0.0.1.nip.io/", "127.0.0.1", "loopback"],
    ["https://169.254.169.254.nip.io/latest/", "169.254.169.254", "link-local (cloud metadata)"],
    ["https://localtest.me/", "127.0.0.1", "loopback"],
    ["https://hooks.10.0.0.7.nip.io/", "10.0.0.7", "private"],
    ["https://v6-loopback.dns.example.net/", "::1", "loopback"],
    ["https://mixed.dns.example.net/", "fd00::1", "unique-local"],
    ["https://cname.dns.example.net/", "10.1.2.3", "private"],
  ])("refuses %s, which resolves to %s", async (url, address, range) => {
    const host = new URL(url).hostname;
    expect(await checkTargetUrl(url, PRODUCTION, dns())).toEqual({
      ok: false,
      kind: "refused",
      reason: `URL host ${host} resolves to ${address}, which is not a public address (${range})`,
    });
  });

  it("admits loopback answers only when private targets are allowed (development), and nothing else private", async () => {
    expect(await checkTargetUrl("http://localtest.me/", DEVELOPMENT, dns())).toEqual({ ok: true });
    expect((await checkTargetUrl("http://169.254.169.254.nip.io/", DEVELOPMENT, dns())).ok).toBe(false);
  });

  it("accepts a name with only public answers", async () => {
    expect(await checkTargetUrl("https://receiver.example.com/hook", PRODUCTION, dns())).toEqual({ ok: true });
  });

  it("refuses a name that does not exist", async () => {
    expect(await checkTargetUrl("https://gone.nx.example.net/", PRODUCTION, dns())).toEqual({
      ok: false,
      kind: "refused",
      reason: "URL host gone.nx.example.net does not resolve",
    });
  });

  it("reports a resolver failure as unavailable, not as the caller's fault", async () => {
    expect(await checkTargetUrl("https://x.servfail.example.net/", PRODUCTION, dns())).toMatchObject({
      ok: false,
      kind: "unavailable",
    });
    const unreachable = { ...dns(), resolverUrl: "http://127.0.0.1:1/dns-query" };
    expect(await checkTargetUrl("https://receiver.example.com/", PRODUCTION, unreachable)).toMatchObject({
      ok: false,
      kind: "unavailable",
    });
  });

  it("does not ask DNS about address literals or loopback names", async () => {
    expect(
      await checkTargetUrl("http://127.0.0.1:9/", DEVELOPMENT, {
        ...dns(),
        resolverUrl: "http://127.0.0.1:1/dns-query",
      }),
    ).toEqual({ ok: true });
  });

  it("caches answers per isolate for their TTL, at most 60 s", async () => {
    const name = `ttl-5.cache-${crypto.randomUUID().slice(0, 8)}.example.com`;
    const t0 = Date.now();
    await resolveHost(name, dns(t0));
    await resolveHost(name, dns(t0 + 4_000));
    expect(await queries(name)).toBe(2); // A and AAAA, once
    await resolveHost(name, dns(t0 + 5_001));
    expect(await queries(name)).toBe(4);

    const long = `ttl-3600.cache-${crypto.randomUUID().slice(0, 8)}.example.com`;
    await resolveHost(long, dns(t0));
    await resolveHost(long, dns(t0 + 59_000));
    expect(await queries(long)).toBe(2);
    await resolveHost(long, dns(t0 + 61_000));
    expect(await queries(long)).toBe(4);
  });
});
