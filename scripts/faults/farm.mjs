// A farm of local webhook receivers (node:http on 127.0.0.1) that misbehave on purpose, and log every request they get:
// delivery id (X-ScaiKey-Webhook-ID), event id, the attempt's signed timestamp, when it arrived and what it was answered.
//
// One server holds every endpoint at /ep/<name>; a "flapping" endpoint gets a server of its own that stops and starts
// listening (connection refused while down). What a request is answered depends on the endpoint's behaviour and on how
// many requests that delivery has already brought to this endpoint, so a delivery's story is the same whatever the timing.
import { startLocalReceiver } from "../lib/local-receiver.mjs";
import { mulberry32 } from "../lib/prng.mjs";

/** Behaviours: answer(n) gets the 1-based number of this request for its delivery, and a per-request random in [0,1). */
const BEHAVIOURS = {
  healthy: () => ({ kind: "status", status: 200 }),
  "fail-then-ok": (n) => (n <= 2 ? { kind: "status", status: 500 } : { kind: "status", status: 200 }),
  "always-500": () => ({ kind: "status", status: 500 }),
  "rate-limited": (n) => (n <= 2 ? { kind: "status", status: 429, retryAfter: "1" } : { kind: "status", status: 204 }),
  "reset-then-ok": (n) => (n === 1 ? { kind: "reset" } : { kind: "status", status: 200 }),
  "hang-then-ok": (n) => (n === 1 ? { kind: "hang" } : { kind: "status", status: 200 }),
  "always-hang": () => ({ kind: "hang" }), // times out every attempt, as a broken receiver does
  "slow-ok": () => ({ kind: "slow", chunks: 4, intervalMs: 100 }),
  "slow-timeout-then-ok": (n) =>
    n === 1 ? { kind: "slow", chunks: 8, intervalMs: 700 } : { kind: "status", status: 200 },
  huge: () => ({ kind: "huge", bytes: 16 * 1024 * 1024 }),
  "always-redirect": () => ({ kind: "status", status: 302, location: "http://127.0.0.1:9/elsewhere" }),
  "redirect-then-ok": (n) =>
    n === 1 ? { kind: "status", status: 307, location: "/elsewhere" } : { kind: "status", status: 200 },
  flapping: (_n, r) => (r < 0.15 ? { kind: "status", status: 503 } : { kind: "status", status: 200 }),
  chaos: (n, r) => {
    if (n >= 5) return { kind: "status", status: 200 }; // settles well within the 6 attempts
    if (r < 0.55) return { kind: "status", status: 200 };
    if (r < 0.7) return { kind: "status", status: 500 };
    if (r < 0.8) return { kind: "status", status: 503, retryAfter: "1" };
    if (r < 0.9) return { kind: "reset" };
    if (r < 0.95) return { kind: "status", status: 404 };
    return { kind: "slow", chunks: 3, intervalMs: 50 };
  },
};

const HANG_LIMIT_MS = 10_000; // a hung request is dropped by the receiver after this, long after the sender gave up

/**
 * Starts the farm. `endpoints`: [{ name, behaviour }]. Returns { urlOf(name), log, stop(), stats() }.
 * `log` is the array of every request, in arrival order.
 */
export async function startFarm(endpoints, { seed = 1, flapUpMs = 2500, flapDownMs = 2500, onRequest } = {}) {
  const log = [];
  const perDelivery = new Map(); // `${name} ${deliveryId}` -> requests so far
  const random = mulberry32(seed);
  const byName = new Map(endpoints.map((e) => [e.name, e]));
  const receivers = [];
  let stopped = false;
  const flapCounters = { refusedWindows: 0 };

  const handler = (name) => (req, res, body) => answer(name, req, res, body);

  function answer(name, req, res, body) {
    const endpoint = byName.get(name);
    if (!endpoint || req.method !== "POST") {
      res.writeHead(404, { Connection: "close" }).end("no such endpoint");
      return;
    }
    const deliveryId = Number(req.headers["x-scaikey-webhook-id"]);
    const key = `${name} ${deliveryId}`;
    const n = (perDelivery.get(key) ?? 0) + 1;
    perDelivery.set(key, n);
    const plan = BEHAVIOURS[endpoint.behaviour](n, random());
    const entry = {
      endpoint: name,
      webhook_id: endpoint.webhookId ?? null,
      delivery_id: deliveryId,
      event_id: String(req.headers["x-scaikey-event-id"] ?? ""),
      ts: Number(req.headers["x-scaikey-timestamp"]),
      received_at: Date.now(),
      nth: n,
      answer: plan.kind === "status" ? String(plan.status) : plan.kind,
      status: null,
      sent2xx: false,
      finished_at: null,
      body_bytes: body.byteLength,
    };
    log.push(entry);
    onRequest?.(entry);
    const socket = req.socket;
    const finish = () => {
      entry.finished_at = Date.now();
      if (entry.status >= 200 && entry.status <= 299) entry.sent2xx = true;
    };
    switch (plan.kind) {
      case "status": {
        entry.status = plan.status;
        const headers = { "Content-Type": "text/plain", Connection: "close" };
        if (plan.retryAfter) headers["Retry-After"] = plan.retryAfter;
        if (plan.location) headers.Location = plan.location;
        res.on("finish", finish);
        res.writeHead(plan.status, headers).end(plan.status === 204 ? undefined : `${name}: ${plan.status}`);
        return;
      }
      case "reset":
        entry.answer = "reset";
        socket.resetAndDestroy();
        return;
      case "hang": {
        const timer = setTimeout(() => socket.destroy(), HANG_LIMIT_MS);
        socket.once("close", () => clearTimeout(timer));
        return;
      }
      case "slow": {
        entry.status = 200;
        const total = plan.chunks * 16;
        res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": String(total), Connection: "close" });
        let sent = 0;
        const timer = setInterval(() => {
          if (socket.destroyed) return clearInterval(timer);
          res.write("x".repeat(16));
          if (++sent === plan.chunks) {
            clearInterval(timer);
            res.on("finish", finish);
            res.end();
          }
        }, plan.intervalMs);
        socket.once("close", () => {
          clearInterval(timer);
          if (entry.finished_at === null) entry.answer = `slow-200 (client left after ${sent}/${plan.chunks} chunks)`;
        });
        return;
      }
      case "huge": {
        entry.status = 200;
        res.writeHead(200, {
          "Content-Type": "application/octet-stream",
          "Content-Length": String(plan.bytes),
          Connection: "close",
        });
        const block = Buffer.alloc(64 * 1024, 0x78);
        let written = 0;
        // The first block is the answer (the sender reads 4 KiB of a body); the rest goes only as fast as it is read.
        res.write(block, () => finish());
        written += block.byteLength;
        const pump = () => {
          while (written < plan.bytes && !socket.destroyed) {
            written += block.byteLength;
            if (!res.write(block)) return res.once("drain", pump);
          }
          if (!socket.destroyed) res.end();
        };
        pump();
        socket.once("close", () => {
          entry.answer = `huge-200 (${Math.round(written / 1024)} KiB written)`;
        });
        return;
      }
    }
  }

  // node:http receivers (scripts/lib/local-receiver.mjs); idle keep-alive connections go after 1 s, slow ones may run.
  const serve = async (handle, port = 0) => {
    const receiver = await startLocalReceiver(handle, { port, keepAliveTimeout: 1000, requestTimeout: 0 });
    receivers.push(receiver);
    return receiver;
  };

  const main = await serve((req, res, body) => {
    const m = /^\/ep\/([^/?]+)/.exec(req.url ?? "");
    if (!m) return void res.writeHead(404, { Connection: "close" }).end();
    handler(decodeURIComponent(m[1]))(req, res, body);
  });
  const urls = new Map();
  const flappers = [];
  for (const e of endpoints) {
    if (e.behaviour !== "flapping") {
      urls.set(e.name, main.url(`/ep/${encodeURIComponent(e.name)}`));
      continue;
    }
    const receiver = await serve(handler(e.name));
    urls.set(e.name, receiver.url(`/ep/${encodeURIComponent(e.name)}`));
    flappers.push({ receiver, port: receiver.port, up: true, name: e.name, handler: handler(e.name) });
  }

  // Flapping: close the listening socket (new connections are refused), then listen on the same port again.
  let flapTimer = null;
  const flap = () => {
    if (stopped) return;
    const goingDown = flappers.some((f) => f.up);
    for (const f of flappers) {
      if (goingDown) {
        f.up = false;
        f.receiver.server.close();
        flapCounters.refusedWindows++;
      } else {
        // A fresh receiver on the same port: the old one may still be finishing its last connections.
        f.up = true;
        serve(f.handler, f.port).then(
          (receiver) => (f.receiver = receiver),
          (err) => process.stderr.write(`farm: ${f.name} could not listen again: ${err.message}\n`),
        );
      }
    }
    flapTimer = setTimeout(flap, goingDown ? flapDownMs : flapUpMs);
  };
  if (flappers.length > 0) flapTimer = setTimeout(flap, flapUpMs);

  return {
    urlOf: (name) => urls.get(name),
    setWebhookId: (name, id) => {
      byName.get(name).webhookId = id;
    },
    log,
    stats: () => ({ ...flapCounters, openSockets: receivers.reduce((n, r) => n + r.connections(), 0) }),
    async stop() {
      stopped = true;
      if (flapTimer) clearTimeout(flapTimer);
      await Promise.all(receivers.map((r) => r.stop()));
    },
  };
}
