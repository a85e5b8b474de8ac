// Sign-in through a JWKS outage: the real app against a JWKS the test takes down, hangs, fills with garbage, rotates and
// brings back (served by the real local receiver), with the Worker's clock moved by the test instead of waiting.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { KEYS_UNAVAILABLE } from "../../src/auth/jwks";
import type { Config } from "../../src/lib/config";
import { createServices } from "../../src/lib/services";
import { controlledJwks, generateSigningKey, keySet, type SigningKey, signAt } from "../helpers/jwks";

const CACHE_AGE_S = 600;
const DAY_S = 86_400;

/** The app verifying against `jwksUrl`, on a clock the test moves; a short fetch limit, so a hang costs 0.5 s. */
function worker(jwksUrl: string, jwt: Partial<Config["jwt"]> = {}) {
  const clock = { now: Date.now() };
  const app = createApp((e) => {
    const services = createServices(e);
    const config = { ...services.config, jwt: { ...services.config.jwt, jwksUrl, jwksFetchTimeoutMs: 500, ...jwt } };
    return { ...services, config, now: () => clock.now };
  });
  const get = async (path: string, token?: string) => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const res = await app.fetch(
      new Request(`https://webhooks.test${path}`, { headers }),
      env,
      createExecutionContext(),
    );
    return { status: res.status, headers: res.headers, body: (await res.json()) as { detail?: string; jwks?: string } };
  };
  return {
    clock,
    advance: (seconds: number) => void (clock.now += seconds * 1000),
    call: (token: string) => get("/api/v1/admin/webhooks/", token),
    /** A token signed by `key` now (by the Worker's clock), sent to a route that needs one. */
    callAs: async (key: SigningKey, opts: { kid?: string } = {}) =>
      get("/api/v1/admin/webhooks/", await signAt(key, clock.now, opts)),
    jwksHealth: async () => (await get("/health")).body.jwks,
  };
}

const unavailable = { status: 503, body: { detail: KEYS_UNAVAILABLE } };

describe("stale keys", () => {
  it("verify for JWKS_MAX_STALE_SECONDS (default 24 h) past the cache age, then 503 until the JWKS answers", async () => {
    const key = await generateSigningKey("k1");
    const jwks = await controlledJwks([key]);
    const w = worker(jwks.url);
    expect((await w.callAs(key)).status).toBe(200);
    expect(await w.jwksHealth()).toBe("ok");

    await jwks.control({ mode: "down" });
    w.advance(CACHE_AGE_S - 1);
    expect((await w.callAs(key)).status).toBe(200); // fresh: no fetch
    expect(await jwks.fetches()).toBe(1);
    w.advance(1);
    expect((await w.callAs(key)).status).toBe(200); // the refresh fails; the last good keys verify
    expect(await jwks.fetches()).toBe(2);
    expect(await w.jwksHealth()).toBe("stale");

    w.advance(DAY_S - 1); // one second before the allowance ends
    expect((await w.callAs(key)).status).toBe(200);
    expect(await jwks.fetches()).toBe(3);
    w.advance(1);
    const res = await w.callAs(key);
    expect(res).toMatchObject(unavailable);
    expect(res.headers.get("retry-after")).toBe("9"); // the backoff after 2 failures (10 s) began a second ago
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(await w.jwksHealth()).toBe("unavailable");

    await jwks.control({ mode: "up" });
    w.advance(9);
    expect((await w.callAs(key)).status).toBe(200);
    expect(await w.jwksHealth()).toBe("ok");
  });

  it("follow JWKS_MAX_STALE_SECONDS; 0 turns them off", async () => {
    const key = await generateSigningKey("k1");
    const jwks = await controlledJwks([key]);
    const hour = worker(jwks.url, { jwksMaxStaleSeconds: 3600 });
    const none = worker(jwks.url, { jwksMaxStaleSeconds: 0 });
    expect((await hour.callAs(key)).status).toBe(200);
    await jwks.control({ mode: "down" });
    // Both workers share this isolate's cache of the URL: keys fetched at hour's start, refresh failed at +600 s.
    hour.advance(CACHE_AGE_S + 3599);
    expect((await hour.callAs(key)).status).toBe(200);
    none.clock.now = hour.clock.now;
    expect(await none.callAs(key)).toMatchObject(unavailable);
    hour.advance(1);
    expect(await hour.callAs(key)).toMatchObject(unavailable);
  });
});

describe("failed fetches", () => {
  it("are not repeated before the backoff ends (5 s doubling to 60 s, reset by a success); requests meanwhile are answered at once", async () => {
    const key = await generateSigningKey("k1");
    const jwks = await controlledJwks([key]);
    await jwks.control({ mode: "down" });
    const w = worker(jwks.url);
    const retryAfter = async () => {
      const res = await w.callAs(key);
      expect(res).toMatchObject(unavailable);
      return res.headers.get("retry-after");
    };

    for (let i = 0; i < 10; i++) expect(await retryAfter()).toBe("5");
    expect(await jwks.fetches()).toBe(1);
    w.advance(4);
    expect(await retryAfter()).toBe("1");
    expect(await jwks.fetches()).toBe(1);

    let fetches = 1;
    for (const [wait, backoff] of [
      [1, "10"],
      [10, "20"],
      [20, "40"],
      [40, "60"],
      [60, "60"],
    ] as const) {
      w.advance(wait);
      expect(await retryAfter()).toBe(backoff);
      expect(await retryAfter()).toBe(backoff);
      expect(await jwks.fetches()).toBe(++fetches);
    }

    await jwks.control({ mode: "up" });
    w.advance(59);
    expect(await retryAfter()).toBe("1"); // still within the window: the JWKS is not asked
    expect(await jwks.fetches()).toBe(fetches);
    w.advance(1);
    expect((await w.callAs(key)).status).toBe(200);
    expect(await jwks.fetches()).toBe(++fetches);

    // The next outage starts again at 5 s.
    await jwks.control({ mode: "down" });
    w.advance(CACHE_AGE_S);
    expect((await w.callAs(key)).status).toBe(200);
    w.advance(4);
    expect((await w.callAs(key)).status).toBe(200);
    expect(await jwks.fetches()).toBe(++fetches);
    w.advance(1);
    expect((await w.callAs(key)).status).toBe(200);
    expect(await jwks.fetches()).toBe(++fetches);
  });

  it.each([
    ["503", { mode: "down" }, "JWKS answered HTTP 503"],
    ["an HTML page", { mode: "garbage" }, "JWKS answer is not JSON"],
    ["a hang-up", { mode: "close" }, expect.any(String)],
    ["JSON that is not a key set", { mode: "up", jwks: { keys: "none" } }, "JWKS answer is not a JSON Web Key Set"],
    ["a key set over 64 KiB", { mode: "up", jwks: { keys: [], pad: "x".repeat(70_000) } }, "larger than 65536 bytes"],
  ] as const)(
    "%s is a failed fetch: the last good keys stay, and an error names the JWKS and the cause",
    async (_label, change, cause) => {
      const key = await generateSigningKey("k1");
      const jwks = await controlledJwks([key]);
      const w = worker(jwks.url);
      expect((await w.callAs(key)).status).toBe(200);
      await jwks.control(change);
      w.advance(CACHE_AGE_S);
      const errors = spyOnLog("error");
      expect((await w.callAs(key)).status).toBe(200);
      expect(await jwks.fetches()).toBe(2);
      expect(await w.jwksHealth()).toBe("stale");
      expect(errors()).toEqual([
        expect.objectContaining({
          msg: "JWKS fetch failed",
          jwks_url: jwks.url,
          error: typeof cause === "string" ? expect.stringContaining(cause) : cause,
          failed_fetches: 1,
          retry_in_s: 5,
          keys: "stale",
          keys_age_s: CACHE_AGE_S,
        }),
      ]);
    },
  );

  it("log an error when no keys are left (every token gets 503), and a warning when the JWKS answers again", async () => {
    const key = await generateSigningKey("k1");
    const jwks = await controlledJwks([key]);
    await jwks.control({ mode: "down" });
    const w = worker(jwks.url);
    const errors = spyOnLog("error");
    const warnings = spyOnLog("warn");
    expect(await w.callAs(key)).toMatchObject(unavailable);
    expect(errors()).toEqual([
      expect.objectContaining({ msg: "JWKS fetch failed", jwks_url: jwks.url, keys: "none", keys_age_s: null }),
    ]);
    await jwks.control({ mode: "up" });
    w.advance(5);
    expect((await w.callAs(key)).status).toBe(200);
    expect(warnings()).toEqual([{ level: "warn", msg: "JWKS recovered", jwks_url: jwks.url, failed_fetches: 1 }]);
  });
});

describe("cannot check (503) and not valid (401)", () => {
  it("are each answered where they belong, before, during and after an outage", async () => {
    const key = await generateSigningKey("k1");
    const impostor = await generateSigningKey("k1"); // another private key under the same kid
    const jwks = await controlledJwks([key]);
    await jwks.control({ mode: "down" });
    const w = worker(jwks.url);
    const invalid = (detail: string) => ({ status: 401, body: { detail } });

    // No keys yet, the JWKS down: a well-formed token cannot be checked, whatever it holds...
    const noKeys = await w.callAs(key);
    expect(noKeys).toMatchObject(unavailable);
    expect(noKeys.headers.get("retry-after")).toBe("5");
    expect(await w.callAs(impostor)).toMatchObject(unavailable);
    // ...but what is wrong before any key is needed is still the token's fault.
    expect(await w.call("not.a.jwt")).toMatchObject(invalid("Malformed token"));
    const hs256 = await hs256Token({ alg: "HS256", typ: "JWT" });
    const refused = await w.call(hs256);
    expect(refused).toMatchObject(invalid("Token algorithm not allowed"));
    expect(refused.headers.get("www-authenticate")).toMatch(/error="invalid_token"/);

    // The JWKS answers: verdicts.
    await jwks.control({ mode: "up" });
    w.advance(5);
    expect((await w.callAs(key)).status).toBe(200);
    expect(await w.callAs(impostor)).toMatchObject(invalid("Invalid token signature"));
    expect(await w.callAs(key, { kid: "unknown" })).toMatchObject(invalid("Token signing key not recognised"));
    const expired = await signAt(key, w.clock.now - 3600_000);
    expect(await w.call(expired)).toMatchObject(invalid("Token has expired"));

    // Down again, past the cache age: the stale keys still judge signatures; a kid they lack cannot be judged.
    await jwks.control({ mode: "down" });
    w.advance(CACHE_AGE_S);
    expect((await w.callAs(key)).status).toBe(200);
    expect(await w.callAs(impostor)).toMatchObject(invalid("Invalid token signature"));
    expect(await w.callAs(key, { kid: "unknown" })).toMatchObject(unavailable);
  });
});

describe("key rotation", () => {
  it("during an outage: stale keys accept, the new kid is picked up on recovery, the removed key is refused", async () => {
    const [k1, k2] = [await generateSigningKey("k1"), await generateSigningKey("k2")];
    const jwks = await controlledJwks([k1]);
    const w = worker(jwks.url);
    expect((await w.callAs(k1)).status).toBe(200);

    await jwks.control({ mode: "down", jwks: keySet([k2]) }); // ScaiKey rotates while we cannot read its JWKS
    w.advance(CACHE_AGE_S);
    expect((await w.callAs(k1)).status).toBe(200);
    expect(await w.callAs(k2)).toMatchObject(unavailable);

    await jwks.control({ mode: "up" });
    w.advance(5);
    expect((await w.callAs(k2)).status).toBe(200);
    expect(await w.callAs(k1)).toMatchObject({ status: 401, body: { detail: "Token signing key not recognised" } });
    expect(await jwks.fetches()).toBe(3);
  });

  it("while the keys are fresh: an unknown kid refetches the set, at most once per 30 s", async () => {
    const [k1, k2] = [await generateSigningKey("k1"), await generateSigningKey("k2")];
    const jwks = await controlledJwks([k1]);
    const w = worker(jwks.url);
    expect((await w.callAs(k1)).status).toBe(200);
    await jwks.control({ jwks: keySet([k1, k2]) });
    w.advance(29);
    expect((await w.callAs(k2)).status).toBe(401);
    expect(await jwks.fetches()).toBe(1);
    w.advance(1);
    expect((await w.callAs(k2)).status).toBe(200);
    expect(await jwks.fetches()).toBe(2);
  });
});

describe("one fetch at a time", () => {
  it("concurrent requests share one fetch", async () => {
    const key = await generateSigningKey("k1");
    const jwks = await controlledJwks([key]);
    await jwks.control({ delayMs: 200 });
    const w = worker(jwks.url);
    const token = await signAt(key, w.clock.now);
    const answers = await Promise.all(Array.from({ length: 10 }, () => w.call(token)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(await jwks.fetches()).toBe(1);
  });

  it("a JWKS that never answers holds requests only for the fetch's time limit, all of them on one fetch", async () => {
    const key = await generateSigningKey("k1");
    const jwks = await controlledJwks([key]);
    await jwks.control({ mode: "hang" });
    const w = worker(jwks.url);
    const errors = spyOnLog("error");
    const token = await signAt(key, w.clock.now);
    const answers = await Promise.all(Array.from({ length: 5 }, () => w.call(token)));
    expect(answers.map((a) => a.status)).toEqual(Array(5).fill(503));
    expect(await jwks.fetches()).toBe(1);
    expect(errors()).toEqual([expect.objectContaining({ jwks_url: jwks.url, error: "no answer within 500 ms" })]);
  });

  it("with stale keys, a hanging refresh ends in the stale keys' verdict", async () => {
    const key = await generateSigningKey("k1");
    const jwks = await controlledJwks([key]);
    const w = worker(jwks.url);
    expect((await w.callAs(key)).status).toBe(200);
    await jwks.control({ mode: "hang" });
    w.advance(CACHE_AGE_S);
    expect((await w.callAs(key)).status).toBe(200);
    expect(await w.jwksHealth()).toBe("stale");
  });
});

afterEach(() => vi.restoreAllMocks());

/** The JSON log lines written at `level` from now on. */
function spyOnLog(level: "error" | "warn") {
  const lines: Record<string, unknown>[] = [];
  vi.spyOn(console, level).mockImplementation((line: unknown) => {
    try {
      lines.push(JSON.parse(String(line)));
    } catch {} // not one of our lines
  });
  return () => lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("JWKS"));
}

/** An HS256 token signed with the test JWT_SECRET, valid now. */
async function hs256Token(header: Record<string, unknown>) {
  return new SignJWT({ role: "super_admin", scope: "admin:read" })
    .setProtectedHeader(header as { alg: string })
    .setIssuer(`${env.JWT_ISSUER}tenants/tnt_jwks`)
    .setAudience(env.JWT_AUDIENCE)
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(env.JWT_SECRET));
}
