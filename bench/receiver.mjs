// The benchmark's local receiver and JWKS server, run as its own process (so the load generator never shares its
// event loop): node:http on 127.0.0.1, keep-alive, answers every hook at once and counts what it got.
//
//   POST /hook/<tag>/<anything>   200 "ok"; counted under <tag> (e.g. "subject", "baseline")
//   POST /flaky/<tag>/<n>/<m>/<anything>   counted under <tag> like /hook; of the deliveries it sees for the first time
//                                 (told apart by path and X-ScaiKey-Webhook-ID), every n-th is answered 503 once and 200
//                                 when it comes again, every m-th 500 every time (0: never); the others 200
//   GET  /jwks                    the JSON Web Key Set given in BENCH_JWKS (RS256 public key, as ScaiKey publishes)
//   GET  /__stats                 {"total": n, "byTag": {...}, "okByTag": {...}} of hooks received (answered 2xx) since
//                                 the last reset
//   POST /__reset                 zeroes the counts
// Prints {"port": n} on its first stdout line once it listens. Node builtins only.
import { createServer } from "node:http";

const jwks = process.env.BENCH_JWKS ?? '{"keys":[]}';
let total = 0;
let byTag = Object.create(null);
let okByTag = Object.create(null);
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

const server = createServer((req, res) => {
  const url = req.url ?? "/";
  if (url.startsWith("/hook/") || url.startsWith("/flaky/")) {
    // Drain the body (the signed event) before answering, as a real receiver would.
    req.on("data", () => {});
    req.on("end", () => {
      total++;
      const tag = url.split("/")[2];
      byTag[tag] = (byTag[tag] ?? 0) + 1;
      const status = url.startsWith("/flaky/") ? flakyStatus(url, req.headers["x-scaikey-webhook-id"]) : 200;
      if (status === 200) okByTag[tag] = (okByTag[tag] ?? 0) + 1;
      const body = status === 200 ? "ok" : "no";
      res.writeHead(status, { "content-type": "text/plain", "content-length": "2" });
      res.end(body);
    });
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
    seen = new Map();
    firstSightings = Object.create(null);
    res.writeHead(204);
    res.end();
    return;
  }
  res.writeHead(404);
  res.end();
});
server.keepAliveTimeout = 30_000;

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// The runner holds our stdin open; if it dies without cleaning up, stdin closes and we go too.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
