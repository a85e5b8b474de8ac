// The reference receiver for `X-ScaiKey-Signature`, for tests: what a receiver that accepts ANY v1 does.
const encoder = new TextEncoder();

// Lowercase only, like the receivers' string comparison: "ABC…" never matches there either.
function hexToBytes(hex: string): Uint8Array | null {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-f]+$/.test(hex)) return null;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/**
 * Parses the header the way ScaiKey's receivers do (split on ",", each part on its first "="), rejects a `t` further
 * than `toleranceSeconds` from now, and accepts when ANY v1 matches, so it keeps working across a secret rotation.
 * The HMAC key is the UTF-8 bytes of the whole secret string, `whsec_` included.
 */
export async function verifyScaiKeySignature(
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): Promise<boolean> {
  let timestamp: string | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (name === "t") timestamp = value;
    else if (name === "v1") candidates.push(value);
  }
  if (timestamp === undefined || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;

  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "verify",
  ]);
  const message = encoder.encode(`${timestamp}.${body}`);
  for (const candidate of candidates) {
    const signature = hexToBytes(candidate);
    // subtle.verify compares in constant time; a malformed candidate simply doesn't match.
    if (signature && (await crypto.subtle.verify("HMAC", key, signature, message))) return true;
  }
  return false;
}
