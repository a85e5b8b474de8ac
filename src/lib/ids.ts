// Opaque, URL-safe random ids with a type prefix (wh_…, evt_…), like ScaiKey's own nanoid ids.
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function randomId(prefix: string, length = 20): string {
  // 62 * 4 = 248 < 256: rejecting bytes >= 248 keeps every character equally likely.
  const out: string[] = [];
  while (out.length < length) {
    for (const b of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (b < 248 && out.length < length) out.push(ALPHABET[b % 62]!);
    }
  }
  return `${prefix}${out.join("")}`;
}

/** A webhook id; `prefix` names the shard that holds it (db/shards.ts webhookIdPrefix). */
export const newWebhookId = (prefix = "wh_") => randomId(prefix);
export const newEventId = () => randomId("evt_");
export const newPortalSessionId = () => randomId("ps_");

/** An id in the same alphabet, derived from `key` (SHA-256): the same key always gives the same id. */
export async function derivedId(prefix: string, key: string, length = 20): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return `${prefix}${Array.from(digest.subarray(0, length), (b) => ALPHABET[b % 62]).join("")}`;
}
