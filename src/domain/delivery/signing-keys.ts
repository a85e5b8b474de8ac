// The signing keys of an endpoint's sealed secret, cached per isolate: opening the secret (AES-GCM) and importing its two
// HMAC keys cost more than signing a small body, and an isolate's deliveries reuse a handful of secrets.
// Entries are keyed by the row id and the sealed value (a SHA-256 of them for a value stored before encryption), so a
// plaintext secret is never a map key, and a rotated secret (a new sealed value) never meets the keys of the old one. One cache per SecretBox: keys are only
// ever served to the box (the master keys) that opened them.
import type { SecretBox } from "../../lib/secret-box";
import { importScaiKeyKey, importStandardWebhooksKey } from "../signing";

/** What signing one secret needs: the key of each signature scheme. */
export interface SigningKeys {
  scaiKey: CryptoKey;
  standardWebhooks: CryptoKey;
}

const CACHE_LIMIT = 1000;
const caches = new WeakMap<SecretBox, Map<string, Promise<SigningKeys>>>();
const cacheOf = (secretBox: SecretBox) => {
  let cache = caches.get(secretBox);
  if (!cache) caches.set(secretBox, (cache = new Map()));
  return cache;
};
const encoder = new TextEncoder();
const SEALED_PREFIX = "enc:";

async function cacheKey(sealed: string, boundTo: string): Promise<string> {
  // A value sealed under a master key is ciphertext (random IV and GCM tag included): it keys its entry as it is,
  // with no digest to compute. Only a value stored before encryption, which is the secret itself, is hashed.
  if (sealed.startsWith(SEALED_PREFIX)) return `${boundTo}\n${sealed}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`${boundTo}\n${sealed}`)));
  return String.fromCharCode(...digest);
}

/** The keys of `sealed` (a stored secret of row `boundTo`), opened and imported once per isolate. */
export async function signingKeysOf(secretBox: SecretBox, sealed: string, boundTo: string): Promise<SigningKeys> {
  const cache = cacheOf(secretBox);
  const key = await cacheKey(sealed, boundTo);
  const hit = cache.get(key);
  if (hit) {
    // Re-inserted so the Map's insertion order doubles as least-recently-used order.
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const keys = (async (): Promise<SigningKeys> => {
    const secret = await secretBox.open(sealed, boundTo);
    const [scaiKey, standardWebhooks] = await Promise.all([
      importScaiKeyKey(secret),
      importStandardWebhooksKey(secret),
    ]);
    return { scaiKey, standardWebhooks };
  })();
  // A secret that failed to open (a master key missing from SECRET_ENCRYPTION_KEY) is tried again next time.
  keys.catch(() => {
    if (cache.get(key) === keys) cache.delete(key);
  });
  cache.set(key, keys);
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  return keys;
}

/** Drops the keys of secrets that stop signing (rotated out, webhook deleted) from this isolate's cache. */
export async function forgetSigningKeys(
  secretBox: SecretBox,
  sealed: readonly (string | null)[],
  boundTo: string,
): Promise<void> {
  const cache = cacheOf(secretBox);
  for (const value of sealed) if (value !== null) cache.delete(await cacheKey(value, boundTo));
}

/** Whether this isolate holds the keys of `sealed` (for tests of eviction). */
export async function hasSigningKeys(secretBox: SecretBox, sealed: string, boundTo: string): Promise<boolean> {
  return cacheOf(secretBox).has(await cacheKey(sealed, boundTo));
}
