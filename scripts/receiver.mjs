#!/usr/bin/env node
// `node scripts/receiver.mjs [options]`: a tiny local webhook receiver for trying the service out (README, "Delivering events").
// It verifies X-ScaiKey-Signature the way a receiver should (HMAC-SHA256 over "<t>.<raw body>", key = the whole
// `whsec_…` string, ANY matching v1 accepted, |now - t| <= 300 s), also checks the Standard Webhooks headers, prints one
// line per request, and answers 200 (401 when the signature is bad). `--fail N` answers 500 to the first N requests
// so you can watch the service retry. Node builtins only.
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startLocalReceiver } from "./lib/local-receiver.mjs";

const USAGE = `Usage: node scripts/receiver.mjs [options]

A local webhook receiver: verifies signatures, prints one line per delivery, answers 200 (401 on a bad signature).

Options:
  --secret <whsec_…>    signing secret of the endpoint (default: $SCAIKEY_WEBHOOK_SECRET); repeat it to hold
                        several secrets (e.g. old and new during a rotation). Without one, nothing is verified.
  --port <n>            port to listen on (default: $PORT or 9999)
  --host <addr>         address to listen on (default 127.0.0.1)
  --fail <n>            answer the first n requests with a failure (to watch retries); default 0
  --status <code>       the status code of those failures (default 500), e.g. 503 or 410
  --retry-after <s>     send "Retry-After: <s>" with those failures
  --tolerance <s>       accepted clock difference for the signature timestamp (default 300)
  --dump <dir>          write every request, raw (request line, headers, blank line, exact body bytes), to
                        <dir>/<n>-delivery-<id>.http (verify one later: python3 examples/verify.py <file> <secret>)
  -h, --help            this help

Example:
  node scripts/receiver.mjs --secret whsec_... --fail 2
`;

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      secret: { type: "string", multiple: true },
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      fail: { type: "string", default: "0" },
      status: { type: "string", default: "500" },
      "retry-after": { type: "string" },
      tolerance: { type: "string", default: "300" },
      dump: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    allowPositionals: false,
  }));
} catch (err) {
  process.stderr.write(`${USAGE}\nreceiver: ${err.message}\n`);
  process.exit(2);
}
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const die = (message) => {
  process.stderr.write(`receiver: ${message}\n`);
  process.exit(2);
};
const wholeNumber = (name, text, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) => {
  if (!/^\d+$/.test(text ?? "") || Number(text) < min || Number(text) > max)
    die(`${name} must be a whole number in ${min}..${max}; got "${text}"`);
  return Number(text);
};

const secrets = opts.secret?.length
  ? opts.secret
  : process.env.SCAIKEY_WEBHOOK_SECRET
    ? [process.env.SCAIKEY_WEBHOOK_SECRET]
    : [];
for (const s of secrets)
  if (!s.startsWith("whsec_"))
    process.stderr.write(`receiver: warning: secret "${s.slice(0, 10)}…" does not start with whsec_\n`);
const port = wholeNumber("--port", opts.port ?? process.env.PORT ?? "9999", { max: 65535 });
let failuresLeft = wholeNumber("--fail", opts.fail);
const failStatus = wholeNumber("--status", opts.status, { min: 100, max: 599 });
const retryAfter = opts["retry-after"] === undefined ? null : String(wholeNumber("--retry-after", opts["retry-after"]));
const tolerance = wholeNumber("--tolerance", opts.tolerance);
const dumpDir = opts.dump ? resolve(opts.dump) : null;
if (dumpDir) mkdirSync(dumpDir, { recursive: true });

/**
 * X-ScaiKey-Signature: "t=<unix seconds>,v1=<hex>[,v1=<hex>…]". Split on "," and each part on its first "=",
 * keep EVERY v1 (two during a secret rotation: new first, old last), and accept when any one matches.
 * Returns "ok" or the reason it failed.
 */
function verifyScaiKey(header, rawBody, nowSeconds) {
  if (!header) return "missing X-ScaiKey-Signature";
  let t;
  const candidates = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const [name, value] = [part.slice(0, eq), part.slice(eq + 1)];
    if (name === "t") t = value;
    else if (name === "v1") candidates.push(value);
  }
  if (t === undefined || !/^\d+$/.test(t)) return "no valid t= in the signature header";
  if (Math.abs(nowSeconds - Number(t)) > tolerance)
    return `timestamp ${t} is ${nowSeconds - Number(t)} s away from now (tolerance ${tolerance} s)`;
  if (candidates.length === 0) return "no v1= in the signature header";
  for (const secret of secrets) {
    // The key is the secret string itself (whsec_ included), as UTF-8 bytes; the message is "<t>." + the raw body bytes.
    const expected = createHmac("sha256", Buffer.from(secret, "utf8")).update(`${t}.`).update(rawBody).digest();
    for (const [i, candidate] of candidates.entries()) {
      const given = /^[0-9a-f]{64}$/.test(candidate) ? Buffer.from(candidate, "hex") : null;
      if (given && timingSafeEqual(given, expected))
        return candidates.length > 1 ? `ok (v1 ${i + 1} of ${candidates.length})` : "ok";
    }
  }
  return `no v1 matches (${candidates.length} given)`;
}

/** Standard Webhooks: key = base64-decoded bytes after whsec_, "v1,<base64>" entries over "<id>.<timestamp>.<body>". */
function verifyStandard(headers, rawBody, nowSeconds) {
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  const sig = headers["webhook-signature"];
  if (!id || !ts || !sig) return "missing";
  if (!/^\d+$/.test(ts) || Math.abs(nowSeconds - Number(ts)) > tolerance) return "stale";
  const given = sig
    .split(" ")
    .filter((e) => e.startsWith("v1,"))
    .map((e) => Buffer.from(e.slice(3), "base64"));
  for (const secret of secrets) {
    const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
    const expected = createHmac("sha256", key).update(`${id}.${ts}.`).update(rawBody).digest();
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return "ok";
  }
  return "bad";
}

const handledEvents = new Set(); // delivery is at-least-once: a receiver dedupes on X-ScaiKey-Event-ID
let seq = 0;
const time = () => new Date().toISOString().slice(11, 19);

/** Verifies, prints one line and answers one delivery; `rawBody` is the exact bytes received. */
function receive(req, res, rawBody) {
  if (req.method !== "POST") {
    res.writeHead(200, { "Content-Type": "text/plain" }).end("webhook receiver: POST deliveries here\n");
    return;
  }
  const n = ++seq;
  const h = req.headers; // lower-cased by node
  const now = Math.floor(Date.now() / 1000);
  const deliveryId = h["x-scaikey-webhook-id"] ?? "-";
  const eventId = h["x-scaikey-event-id"] ?? "-";
  const eventType = h["x-scaikey-event-type"] ?? "-";

  let dumped = "";
  if (dumpDir) {
    const file = join(
      dumpDir,
      `${String(n).padStart(3, "0")}-delivery-${String(deliveryId).replace(/[^\w-]/g, "_")}.http`,
    );
    const head = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) head.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    writeFileSync(file, Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "latin1"), rawBody]));
    dumped = ` dump=${file}`;
  }

  let verified = "-";
  let sigDetail = "no secret given, not checked";
  let std = "-";
  if (secrets.length > 0) {
    sigDetail = verifyScaiKey(h["x-scaikey-signature"], rawBody, now);
    verified = sigDetail.startsWith("ok") ? "yes" : "no";
    std = verifyStandard(h, rawBody, now);
  }

  let status;
  let body;
  const headers = { "Content-Type": "application/json" };
  if (failuresLeft > 0) {
    failuresLeft--;
    status = failStatus;
    body = { error: `simulated failure (--fail), ${failuresLeft} left` };
    if (retryAfter !== null) headers["Retry-After"] = retryAfter;
  } else if (verified === "no") {
    status = 401;
    body = { error: `invalid signature: ${sigDetail}` };
  } else {
    const duplicate = handledEvents.has(eventId);
    handledEvents.add(eventId);
    status = 200;
    body = { received: true, duplicate };
  }

  const dup = status === 200 && body.duplicate ? " (duplicate event: already handled)" : "";
  const why = verified === "no" || / of \d+\)$/.test(sigDetail) ? ` [${sigDetail}]` : "";
  process.stdout.write(
    `${time()} #${n} delivery=${deliveryId} event=${eventId} type=${eventType} verified=${verified}${why} std-webhooks=${std} -> ${status}${dup}${dumped}\n`,
  );
  res.writeHead(status, headers).end(`${JSON.stringify(body)}\n`);
}

let receiver;
try {
  receiver = await startLocalReceiver(receive, { host: opts.host, port });
} catch (err) {
  die(err.code === "EADDRINUSE" ? `${opts.host}:${port} is already in use (--port to pick another)` : err.message);
}
process.stdout.write(
  `receiver listening on ${receiver.url("/hook")}  (secrets: ${secrets.length || "none, signatures not checked"}` +
    `${failuresLeft ? `; failing the first ${failuresLeft} with ${failStatus}${retryAfter !== null ? `, Retry-After ${retryAfter}` : ""}` : ""}` +
    `${dumpDir ? `; dumping to ${dumpDir}` : ""})\n`,
);

const stop = () => receiver.stop().then(() => process.exit(0));
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
