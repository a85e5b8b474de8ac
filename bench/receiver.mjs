// The benchmark's local receiver and JWKS server, run as its own process (so the load generator never shares its
// event loop): scripts/lib/local-receiver.mjs with keep-alive, answering every hook 200 at once and counting what it got.
//
//   POST /hook/<tag>/<anything>   200 "ok"; counted under <tag> (e.g. "subject", "baseline")
//   POST /flaky/<tag>/<n>/<m>/<anything>   counted under <tag> like /hook; of the deliveries it sees for the first time
//                                 (told apart by path and X-ScaiKey-Webhook-ID), every n-th is answered 503 once and 200
//                                 when it comes again, every m-th 500 every time (0: never); the others 200
//   POST /slow/<tag>/<anything>?after=<ms>  counted under <tag> when it arrives, answered 200 only after <ms>: a receiver
//                                 that answers past the sender's timeout
//   GET  /__received?tag=<tag>    [[X-ScaiKey-Event-ID, arrival time (ms since the epoch)], …] of the hooks of <tag>
//                                 whose tag starts with "iso-" (the isolation measure's; others are only counted)
//   GET  /jwks                    the JSON Web Key Set given in BENCH_JWKS (RS256 public key, as ScaiKey publishes)
//   GET  /__stats                 {"total": n, "byTag": {...}, "okByTag": {...}} of hooks received (answered 2xx) since
//                                 the last reset
//   POST /__reset                 zeroes the counts
// Prints {"port": n} on its first stdout line once it listens. Node builtins only.
import { startLocalReceiver } from "../scripts/lib/local-receiver.mjs";

const jwks = process.env.BENCH_JWKS ?? '{"keys":[]}';
let total = 0;
let byTag = Object.create(null);
let okByTag = Object.create(null);
let receivedByTag = Object.create(null);
// /flaky: deliveries seen (path + delivery id) → how they are answered ("once": 503 the first time; "always": 500).
let seen = new Map();
let firstSightings = Object.create(null);

/** The status /flaky answers a delivery with, deciding its fate the first time it is seen. */
function flakyStatus(url, deliveryId) {
  const [, , tag, n, m] = url.split("/");
  const key = `${url}\n${deliveryId}`;
  let fate = seen.get(key);
  if (fate === undefined) {
    const k = (firstSightings[tag] = (firstSightings[tag] ?? 0) + 1);
    fate = Number(m) > 0 && k % Number(m) === 0 ? "always" : Number(n) > 0 && k % Number(n) === 0 ? "once" : "ok";
    seen.set(key, fate);
    if (fate === "once") return 503;
  } else if (fate === "once") seen.set(key, "ok");
  return fate === "always" ? 500 : 200;
}

/** Counts a hook under its tag (the path segment after /hook/, /flaky/ or /slow/) and, for iso- and rl- tags, when its
 * event arrived; returns the tag. */
function count(url, req) {
  const start = url.indexOf("/", 1) + 1;
  const slash = url.indexOf("/", start);
  const tag = url.slice(start, slash === -1 ? undefined : slash);
  total++;
  byTag[tag] = (byTag[tag] ?? 0) + 1;
  if (tag.startsWith("iso-") || tag.startsWith("rl-"))
    (receivedByTag[tag] ??= []).push([req.headers["x-scaikey-event-id"] ?? "", Date.now()]);
  return tag;
}

// The body (the signed event) is drained before answering, as a real receiver would, and not kept.
const receiver = await startLocalReceiver(
  (req, res) => {
    const url = req.url ?? "/";
    if (url.startsWith("/hook/") || url.startsWith("/flaky/") || url.startsWith("/slow/")) {
      const tag = count(url, req);
      const status = url.startsWith("/flaky/") ? flakyStatus(url, req.headers["x-scaikey-webhook-id"]) : 200;
      const after = url.startsWith("/slow/") ? Number(new URL(url, "http://x").searchParams.get("after") ?? 0) : 0;
      const answer = () => {
        if (req.socket.destroyed) return; // the sender gave up (its timeout) and hung up
        if (status === 200) okByTag[tag] = (okByTag[tag] ?? 0) + 1;
        res.writeHead(status, { "content-type": "text/plain", "content-length": "2" });
        res.end(status === 200 ? "ok" : "no");
      };
      if (after > 0) setTimeout(answer, after);
      else answer();
      return;
    }
    if (url.startsWith("/__received?")) {
      const tag = new URL(url, "http://x").searchParams.get("tag") ?? "";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(receivedByTag[tag] ?? []));
      return;
    }
    if (url === "/jwks") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(jwks);
      return;
    }
    if (url === "/__stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ total, byTag, okByTag }));
      return;
    }
    if (url === "/__reset" && req.method === "POST") {
      total = 0;
      byTag = Object.create(null);
      okByTag = Object.create(null);
      receivedByTag = Object.create(null);
      seen = new Map();
      firstSightings = Object.create(null);
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  },
  { readBody: false, keepAliveTimeout: 30_000 },
);
process.stdout.write(`${JSON.stringify({ port: receiver.port })}\n`);

const stop = () => receiver.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// The runner holds our stdin open; if it dies without cleaning up, stdin closes and we go too.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
