// Webhook signatures: ScaiKey's own header (hex HMAC keyed by the whole secret string) and the Standard Webhooks one.
const SECRET_PREFIX = "whsec_";
const encoder = new TextEncoder();

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes (the Standard Webhooks shape, usable by both schemes). */
export function generateSigningSecret(): string {
  return SECRET_PREFIX + bytesToBase64(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * `X-ScaiKey-Signature`: `t=<ts>,v1=<hex>[,v1=<hex>…]`, one v1 per secret in the order given
 * (pass [current, previous] while rotating). HMAC-SHA256 over `${timestamp}.${body}` keyed by the
 * UTF-8 bytes of the whole secret string, `whsec_` included, as ScaiKey's receivers compute it.
 */
export async function signScaiKey(secrets: string[], timestamp: number, body: string): Promise<string> {
  assertSignable(secrets, timestamp);
  return signScaiKeyWithKeys(await Promise.all(secrets.map(scaiKeyKey)), timestamp, body);
}

/** signScaiKey with the secrets' keys already imported (importScaiKeyKey), in the same order. */
export async function signScaiKeyWithKeys(keys: CryptoKey[], timestamp: number, body: string): Promise<string> {
  assertSignable(keys, timestamp);
  const message = encoder.encode(`${timestamp}.${body}`);
  const signatures = await Promise.all(keys.map(async (key) => bytesToHex(await hmac(key, message))));
  return [`t=${timestamp}`, ...signatures.map((hex) => `v1=${hex}`)].join(",");
}

/**
 * `webhook-signature` per the Standard Webhooks spec: space-separated `v1,<base64>` entries, one per secret,
 * HMAC-SHA256 over `${msgId}.${timestamp}.${body}` keyed by the base64-decoded bytes after `whsec_`.
 */
export async function signStandardWebhooks(
  secrets: string[],
  msgId: string,
  timestamp: number,
  body: string,
): Promise<string> {
  assertSignable(secrets, timestamp);
  return signStandardWebhooksWithKeys(await Promise.all(secrets.map(standardWebhooksKey)), msgId, timestamp, body);
}

/** signStandardWebhooks with the secrets' keys already imported (importStandardWebhooksKey), in the same order. */
export async function signStandardWebhooksWithKeys(
  keys: CryptoKey[],
  msgId: string,
  timestamp: number,
  body: string,
): Promise<string> {
  assertSignable(keys, timestamp);
  const message = encoder.encode(`${msgId}.${timestamp}.${body}`);
  const signatures = await Promise.all(keys.map(async (key) => bytesToBase64(await hmac(key, message))));
  return signatures.map((b64) => `v1,${b64}`).join(" ");
}

function assertSignable(secrets: readonly unknown[], timestamp: number): void {
  if (secrets.length === 0) throw new Error("at least one signing secret is required");
  // Receivers parse `t` as a plain integer: a fraction or exponent would fail every verification.
  if (!Number.isSafeInteger(timestamp) || timestamp < 0)
    throw new Error(`signature timestamp must be a non-negative integer (Unix seconds), got ${timestamp}`);
}

async function hmac(key: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
}

// importKey costs more than the HMAC itself for a small body; deliveries reuse a handful of secrets.
const KEY_CACHE_LIMIT = 1000;
const scaiKeyKeys = new Map<string, Promise<CryptoKey>>();
const standardWebhooksKeys = new Map<string, Promise<CryptoKey>>();

function scaiKeyKey(secret: string): Promise<CryptoKey> {
  return cachedKey(scaiKeyKeys, secret, importScaiKeyKey);
}

function standardWebhooksKey(secret: string): Promise<CryptoKey> {
  return cachedKey(standardWebhooksKeys, secret, importStandardWebhooksKey);
}

/** The HMAC key of `X-ScaiKey-Signature`: the UTF-8 bytes of the whole secret string. */
export function importScaiKeyKey(secret: string): Promise<CryptoKey> {
  return importHmacKey(encoder.encode(secret));
}

/** The HMAC key of `webhook-signature`: the base64-decoded bytes after `whsec_`. */
export async function importStandardWebhooksKey(secret: string): Promise<CryptoKey> {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = base64ToBytes(encoded);
  if (!bytes || bytes.length === 0) throw new Error("signing secret is not `whsec_` followed by base64");
  return importHmacKey(bytes);
}

const importHmacKey = (bytes: Uint8Array) =>
  crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);

function cachedKey(
  cache: Map<string, Promise<CryptoKey>>,
  secret: string,
  importKey: (secret: string) => Promise<CryptoKey>,
) {
  const hit = cache.get(secret);
  if (hit) {
    // Re-insert so the Map's insertion order doubles as least-recently-used order.
    cache.delete(secret);
    cache.set(secret, hit);
    return hit;
  }
  const imported = (async () => importKey(secret))();
  // A failed import must not stay cached.
  imported.catch(() => {
    if (cache.get(secret) === imported) cache.delete(secret);
  });
  cache.set(secret, imported);
  if (cache.size > KEY_CACHE_LIMIT) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  return imported;
}

function bytesToHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function base64ToBytes(text: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
