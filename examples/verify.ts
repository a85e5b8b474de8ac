// Verifying ScaiKey webhook deliveries on the receiving side (TypeScript; Node >= 20 or Cloudflare Workers).
// Described in README.md, "Verifying signatures (receivers)". Copy what you need.
//
//  * X-ScaiKey-Signature: `t=<unix seconds>,v1=<hex>[,v1=<hex>]`, HMAC-SHA256 over `<t>.<raw body>`, keyed by the
//    UTF-8 bytes of the WHOLE secret string (`whsec_…` included). Accept ANY matching v1: during a secret rotation
//    there are two (new first, old last). Reject `|now - t| > 300`. WebCrypto only, no dependency.
//  * Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): with the `standardwebhooks` npm package.
//
// Always verify the bytes you received, before parsing them: never re-serialise the JSON and verify that.
// Node 20+ and Workers have WebCrypto as the global `crypto`. On Node 18 add, once at startup:
//   globalThis.crypto ??= (await import("node:crypto")).webcrypto;
//
// Run as a command (Node 22.6+ strips the types; Node 23.6+/24 needs no flag) against a request captured by
// `node scripts/receiver.mjs --dump <dir>`:
//   node --experimental-strip-types examples/verify.ts <dump-file> <secret> [<secret>…] [--now <unix seconds>]
import { Webhook } from "standardwebhooks";

export const TOLERANCE_SECONDS = 300;

export type SignatureCheck =
  | { ok: true; timestamp: number; secretIndex: number; v1Index: number }
  | { ok: false; reason: string };

const encoder = new TextEncoder();

/**
 * Verifies `X-ScaiKey-Signature` against the raw request body.
 * `secrets`: the secret you hold, or several (e.g. while you roll your own configuration from the old one to the new one).
 * A string body is UTF-8 encoded; that is exact for ScaiKey bodies (pure ASCII JSON), but prefer the bytes.
 */
export async function verifyScaiKeySignature(
  rawBody: Uint8Array | ArrayBuffer | string,
  signatureHeader: string | null | undefined,
  secrets: string | readonly string[],
  { toleranceSeconds = TOLERANCE_SECONDS, nowSeconds = Math.floor(Date.now() / 1000) } = {},
): Promise<SignatureCheck> {
  if (!signatureHeader) return { ok: false, reason: "missing X-ScaiKey-Signature" };

  // "t=…,v1=…,v1=…": split on ",", each part on its first "=". Keep every v1, not just the last one.
  let t: string | undefined;
  const candidates: string[] = [];
  for (const part of signatureHeader.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === "t") t = value;
    else if (name === "v1") candidates.push(value);
  }
  if (t === undefined || !/^\d+$/.test(t)) return { ok: false, reason: "no valid t= in the header" };
  const timestamp = Number(t);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds)
    return {
      ok: false,
      reason: `timestamp ${timestamp} is outside the ${toleranceSeconds} s tolerance (now ${nowSeconds})`,
    };
  if (candidates.length === 0) return { ok: false, reason: "no v1= in the header" };

  // The signed message: "<t>." followed by the exact body bytes.
  const body = typeof rawBody === "string" ? encoder.encode(rawBody) : new Uint8Array(rawBody);
  const prefix = encoder.encode(`${t}.`);
  const message = new Uint8Array(prefix.length + body.length);
  message.set(prefix);
  message.set(body, prefix.length);

  const secretList = typeof secrets === "string" ? [secrets] : secrets;
  for (const [secretIndex, secret] of secretList.entries()) {
    const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "verify",
    ]);
    for (const [v1Index, candidate] of candidates.entries()) {
      const signature = hexToBytes(candidate);
      // subtle.verify compares in constant time.
      if (signature && (await crypto.subtle.verify("HMAC", key, signature, message)))
        return { ok: true, timestamp, secretIndex, v1Index };
    }
  }
  return { ok: false, reason: `none of the ${candidates.length} v1 signature(s) matches` };
}

function hexToBytes(hex: string): Uint8Array | null {
  if (!/^[0-9a-f]{64}$/.test(hex)) return null; // SHA-256: 32 bytes, lowercase hex
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/**
 * Verifies the Standard Webhooks headers with the `standardwebhooks` package (key = base64-decoded bytes after
 * `whsec_`; any matching `v1,<base64>` entry; 5 minute tolerance). Returns the parsed payload; throws
 * WebhookVerificationError when no secret verifies. The package takes the body as a string (or a Node Buffer).
 */
export function verifyStandardWebhooks(
  rawBody: string,
  headers: Record<string, string>,
  secrets: string | readonly string[],
): unknown {
  let lastError: unknown = new Error("no secret given");
  for (const secret of typeof secrets === "string" ? [secrets] : secrets) {
    try {
      return new Webhook(secret).verify(rawBody, headers);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/**
 * A receiver as a Cloudflare Worker (or any fetch-style handler: Deno, Bun, Hono…). Secret in `SCAIKEY_WEBHOOK_SECRET`
 * (`wrangler secret put SCAIKEY_WEBHOOK_SECRET`).
 */
export default {
  async fetch(request: Request, env: { SCAIKEY_WEBHOOK_SECRET: string }): Promise<Response> {
    const raw = new Uint8Array(await request.arrayBuffer()); // the exact bytes, read once
    const check = await verifyScaiKeySignature(
      raw,
      request.headers.get("X-ScaiKey-Signature"),
      env.SCAIKEY_WEBHOOK_SECRET,
    );
    if (!check.ok) return new Response(`invalid signature: ${check.reason}\n`, { status: 401 });
    // Or, with the Standard Webhooks headers instead:
    //   verifyStandardWebhooks(new TextDecoder().decode(raw), Object.fromEntries(request.headers), env.SCAIKEY_WEBHOOK_SECRET);

    // Numbers in `data` arrive exactly as published; JSON.parse rounds integers past 2^53 (read the body with a
    // lossless JSON parser, such as the lossless-json package, where such ids matter).
    const event = JSON.parse(new TextDecoder().decode(raw)) as { event_id: string; event_type: string; data: unknown };
    // Delivery is at-least-once: skip an event_id (= X-ScaiKey-Event-ID) you have already handled, and answer 2xx
    // quickly (queue slow work), also for event types you ignore; anything else is retried.
    console.log("webhook", event.event_type, event.event_id);
    return Response.json({ received: true });
  },
};

// ---- command line: verify a request captured by `node scripts/receiver.mjs --dump <dir>` -------------------------------
type NodeProcess = { argv: string[]; exitCode?: number };
const nodeProcess = (globalThis as { process?: NodeProcess }).process;
const meta = import.meta as ImportMeta & { main?: boolean; url?: string };
const isMain =
  meta.main ??
  (nodeProcess?.argv[1] !== undefined &&
    meta.url !== undefined &&
    decodeURIComponent(new URL(meta.url).pathname) === nodeProcess.argv[1]);
if (isMain && nodeProcess) await main(nodeProcess);

async function main(proc: NodeProcess): Promise<void> {
  const args = proc.argv.slice(2);
  const nowAt = args.indexOf("--now");
  const nowSeconds = nowAt >= 0 ? Number(args.splice(nowAt, 2)[1]) : undefined;
  const [file, ...secrets] = args;
  if (!file || secrets.length === 0 || (nowSeconds !== undefined && !Number.isInteger(nowSeconds))) {
    console.error(
      "usage: node --experimental-strip-types examples/verify.ts <dump-file> <secret> [<secret>…] [--now <unix seconds>]",
    );
    proc.exitCode = 2;
    return;
  }
  const { readFileSync } = await import("node:fs");
  const { headers, body } = parseDump(new Uint8Array(readFileSync(file)));
  console.log(
    `delivery ${headers["x-scaikey-webhook-id"]}  event ${headers["x-scaikey-event-id"]} (${headers["x-scaikey-event-type"]})`,
  );
  console.log(`X-ScaiKey-Signature: ${headers["x-scaikey-signature"]}`);

  const scaikey = await verifyScaiKeySignature(
    body,
    headers["x-scaikey-signature"],
    secrets,
    nowSeconds === undefined ? {} : { nowSeconds },
  );
  console.log(
    scaikey.ok
      ? `ScaiKey signature:   ok (v1 #${scaikey.v1Index + 1} matched secret #${scaikey.secretIndex + 1})`
      : `ScaiKey signature:   FAILED: ${scaikey.reason}`,
  );

  let standardOk = true;
  if (nowSeconds !== undefined) {
    console.log(
      "Standard Webhooks:   skipped (the standardwebhooks package checks against the real clock; drop --now)",
    );
  } else {
    try {
      verifyStandardWebhooks(new TextDecoder().decode(body), headers, secrets);
      console.log("Standard Webhooks:   ok (standardwebhooks package)");
    } catch (err) {
      standardOk = false;
      console.log(`Standard Webhooks:   FAILED: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  proc.exitCode = scaikey.ok && standardOk ? 0 : 1;
}

/** A dump file: request line, `Name: value` header lines, an empty line (CRLF), then the body bytes exactly as received. */
function parseDump(bytes: Uint8Array): { headers: Record<string, string>; body: Uint8Array } {
  let end = -1;
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error("not a dump file: no blank line after the headers");
  const headers: Record<string, string> = {};
  for (const line of new TextDecoder("latin1").decode(bytes.subarray(0, end)).split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body: bytes.subarray(end + 4) };
}
