// ScaiKey's JWKS, cached per isolate on top of jose's local key sets, so that sign-in survives an outage of the JWKS
// endpoint and says so when it cannot: the last good keys keep verifying for JWKS_MAX_STALE_SECONDS past their cache
// age, a failed fetch is remembered (a backoff that grows while the outage lasts, without fetching meanwhile), and
// concurrent requests share one fetch. jose's createRemoteJWKSet forgets its keys at their cache age and refetches on
// every request once a fetch has failed.
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from "jose";
import type { Config } from "../lib/config";
import { serviceUnavailable } from "../lib/errors";
import { logger } from "../lib/logger";
import { readAtMost } from "../lib/request-body";

export interface JwksDeps {
  fetch: typeof fetch;
  now: () => number;
}

/** Keys are fetched again once they are this old (jose's default). */
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/** A kid the cached set lacks may be a key ScaiKey just added: it refetches the set, at most this often. */
const UNKNOWN_KID_COOLDOWN_MS = 30_000;
/** After a failed fetch no other is made for 5 s, doubling with each failure in a row up to 60 s. */
const FIRST_BACKOFF_MS = 5_000;
const MAX_BACKOFF_MS = 60_000;
/** A fetch belongs to the request that started it; if that request is cancelled it may never settle, so waiting
 * requests give up this long after the fetch's own time limit. */
const SETTLE_MARGIN_MS = 1_000;
const MAX_JWKS_BYTES = 64 * 1024;
/** One JWKS is configured; the bound only matters if the URL changes under a live isolate. */
const MAX_KEY_SETS = 4;

export const KEYS_UNAVAILABLE = "Token keys are unavailable; try again shortly";

interface KeySet {
  url: string;
  /** The last set the JWKS answered with, and when. */
  good: { lookup: JWTVerifyGetKey; fetchedAt: number } | null;
  lastFetchAt: number;
  /** Failed fetches in a row; 0 once one succeeds. */
  failures: number;
  /** No fetch is made before this time while `failures` > 0. */
  retryAt: number;
  inFlight: Promise<void> | null;
}

// Per isolate, keyed by the JWKS URL.
const keySets = new Map<string, KeySet>();

function keySetFor(url: string): KeySet {
  let set = keySets.get(url);
  if (!set) {
    if (keySets.size >= MAX_KEY_SETS) keySets.delete(keySets.keys().next().value!);
    set = { url, good: null, lastFetchAt: 0, failures: 0, retryAt: 0, inFlight: null };
    keySets.set(url, set);
  }
  return set;
}

const isFresh = (set: KeySet, now: number) => set.good !== null && now < set.good.fetchedAt + JWKS_CACHE_MAX_AGE_MS;
const backingOff = (set: KeySet, now: number) => set.failures > 0 && now < set.retryAt;
/** The keys tokens may still be verified with: fresh ones, or stale ones within the allowance. */
function usableKeys(set: KeySet, now: number, maxStaleSeconds: number) {
  const good = set.good;
  return good && now < good.fetchedAt + JWKS_CACHE_MAX_AGE_MS + maxStaleSeconds * 1000 ? good : null;
}

const keysUnavailable = (set: KeySet, now: number) => serviceUnavailable(KEYS_UNAVAILABLE, (set.retryAt - now) / 1000);

/**
 * jose's key lookup for `jwtVerify`, against the JWKS at `jwt.jwksUrl`. Throws our 503 (with Retry-After) when the
 * token cannot be checked because the JWKS cannot be read; jose's own errors when it can be checked and fails.
 */
export function jwksKeyLookup(jwt: Config["jwt"] & { jwksUrl: string }, deps: JwksDeps): JWTVerifyGetKey {
  return async (header, token) => {
    const set = keySetFor(jwt.jwksUrl);
    let now = deps.now();
    if (!isFresh(set, now) && !backingOff(set, now)) {
      await refresh(set, jwt, deps);
      now = deps.now();
    }
    const keys = usableKeys(set, now, jwt.jwksMaxStaleSeconds);
    if (!keys) throw keysUnavailable(set, now);
    try {
      return await keys.lookup(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      if (!backingOff(set, now) && now - set.lastFetchAt >= UNKNOWN_KID_COOLDOWN_MS) {
        await refresh(set, jwt, deps);
        now = deps.now();
        const refreshed = usableKeys(set, now, jwt.jwksMaxStaleSeconds);
        if (refreshed && set.failures === 0) return refreshed.lookup(header, token);
      }
      // While the JWKS fails, an unknown kid may be a key we could not fetch: that is "cannot check", not "invalid".
      if (set.failures > 0) throw keysUnavailable(set, now);
      throw err;
    }
  };
}

/** One fetch at a time per set; every caller waits for it, but never past its time limit. */
async function refresh(set: KeySet, jwt: Config["jwt"], deps: JwksDeps): Promise<void> {
  if (!set.inFlight) {
    set.lastFetchAt = deps.now();
    const attempt: Promise<void> = fetchKeySet(set.url, jwt.jwksFetchTimeoutMs, deps).then(
      (lookup) => recordSuccess(set, lookup, deps.now()),
      (err) => {
        if (set.inFlight === attempt)
          recordFailure(set, describeFetchError(err, jwt.jwksFetchTimeoutMs), deps.now(), jwt);
      },
    );
    set.inFlight = attempt;
    void attempt.finally(() => {
      if (set.inFlight === attempt) set.inFlight = null;
    });
  }
  const attempt = set.inFlight;
  if (!(await settlesWithin(attempt, jwt.jwksFetchTimeoutMs + SETTLE_MARGIN_MS)) && set.inFlight === attempt) {
    set.inFlight = null;
    recordFailure(set, `no answer within ${jwt.jwksFetchTimeoutMs} ms`, deps.now(), jwt);
  }
}

async function fetchKeySet(url: string, timeoutMs: number, deps: JwksDeps): Promise<JWTVerifyGetKey> {
  const res = await deps.fetch(url, {
    headers: { accept: "application/jwk-set+json, application/json" },
    redirect: "manual",
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`JWKS answered HTTP ${res.status}`);
  }
  const bytes = await readAtMost(res.body, MAX_JWKS_BYTES);
  if (bytes === null) throw new Error(`JWKS answer is larger than ${MAX_JWKS_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error("JWKS answer is not JSON");
  }
  return createLocalJWKSet(json as Parameters<typeof createLocalJWKSet>[0]); // throws JWKSInvalid unless a key set
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"))
    return `no answer within ${timeoutMs} ms`;
  if (err instanceof errors.JWKSInvalid) return "JWKS answer is not a JSON Web Key Set";
  return err instanceof Error ? err.message : String(err);
}

function recordSuccess(set: KeySet, lookup: JWTVerifyGetKey, now: number): void {
  if (set.failures > 0) logger.warn("JWKS recovered", { jwks_url: set.url, failed_fetches: set.failures });
  set.good = { lookup, fetchedAt: now };
  set.failures = 0;
  set.retryAt = 0;
}

function recordFailure(set: KeySet, cause: string, now: number, jwt: Config["jwt"]): void {
  set.failures++;
  const backoffMs = Math.min(FIRST_BACKOFF_MS * 2 ** (set.failures - 1), MAX_BACKOFF_MS);
  set.retryAt = now + backoffMs;
  const keys = usableKeys(set, now, jwt.jwksMaxStaleSeconds);
  logger.error("JWKS fetch failed", {
    jwks_url: set.url,
    error: cause,
    failed_fetches: set.failures,
    retry_in_s: backoffMs / 1000,
    // what tokens are checked with until the next fetch: "none" means every token gets 503
    keys: keys ? (isFresh(set, now) ? "fresh" : "stale") : "none",
    keys_age_s: set.good ? Math.floor((now - set.good.fetchedAt) / 1000) : null,
  });
}

function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([promise.then(() => true), timeout]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}

/**
 * The keys tokens are verified with now, if they are fresh (within their cache age, so no refresh is due): an object
 * whose identity changes whenever the keys are fetched again. Null when they are not fresh. Fetches nothing.
 */
export function freshKeys(jwksUrl: string, now: number): object | null {
  const set = keySets.get(jwksUrl);
  return set && isFresh(set, now) ? set.good : null;
}

export const JWKS_HEALTH = ["ok", "stale", "unavailable", "not_configured"] as const;
export type JwksHealth = (typeof JWKS_HEALTH)[number];

/**
 * What this isolate verifies tokens with: "ok" (keys within their cache age, or none needed yet), "stale" (the JWKS
 * fails and the last good keys, past their cache age, still verify), "unavailable" (the JWKS fails and no usable keys
 * are left: tokens get 503), "not_configured" (no JWT_JWKS_URL: HS256 development tokens).
 */
export function jwksHealth(jwt: Config["jwt"], now: number): JwksHealth {
  if (!jwt.jwksUrl) return "not_configured";
  const set = keySets.get(jwt.jwksUrl);
  if (!set || set.failures === 0) return "ok";
  if (!usableKeys(set, now, jwt.jwksMaxStaleSeconds)) return "unavailable";
  return isFresh(set, now) ? "ok" : "stale";
}
