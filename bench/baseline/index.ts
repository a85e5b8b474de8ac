// The benchmark's baseline Worker: the same runtime doing none of our work, so each figure of ours has a ceiling to be
// compared with. Run only by `npm run bench` (bench/run.mjs), under Miniflare and under wrangler dev, beside the real Worker.
//   GET  /bare         a bare Hono route returning constant JSON (the admin API's ceiling)
//   POST /bare         parses a JSON body and answers 202 with constant JSON (the publish route's ceiling)
//   POST /enqueue?n=   sends n messages to this Worker's own queue (batched by 100, like a publish to n endpoints);
//                      its consumer only POSTs each to the receiver, with the project's batching and concurrency
//   POST /fetch-loop?n=&concurrency=   n POSTs to the receiver from this one invocation, `concurrency` at a time,
//                      no queue at all: the runtime's raw outbound ceiling
import { Hono } from "hono";

interface Env {
  QUEUE: Queue<{ n: number }>;
  RECEIVER_URL: string;
  CONSUMER_CONCURRENCY: string;
}

// About the size of a delivered event, with as many headers as a signed delivery, so the HTTP work is the same.
const BODY = JSON.stringify({
  event_id: "evt_baseline_000000000000",
  event_type: "user.created",
  timestamp: "2026-11-23T12:00:00.000Z",
  resource: { type: "user", id: "usr_0000000000" },
  actor: { id: null, type: "system" },
  data: { email: "ada@example.com", n: 0 },
  tenant_id: "tnt_bench_delivery",
});
const HEADERS = {
  "Content-Type": "application/json",
  "User-Agent": "ScaiKey-Bench-Baseline/1.0",
  "X-ScaiKey-Webhook-ID": "0",
  "X-ScaiKey-Event-ID": "evt_baseline_000000000000",
  "X-ScaiKey-Event-Type": "user.created",
  "X-ScaiKey-Timestamp": "1700000000",
  "X-ScaiKey-Signature": `t=1700000000,v1=${"0".repeat(64)}`,
  "webhook-id": "evt_baseline_000000000000",
  "webhook-timestamp": "1700000000",
  "webhook-signature": `v1,${"A".repeat(43)}=`,
};

async function post(url: string): Promise<boolean> {
  const res = await fetch(url, { method: "POST", headers: HEADERS, body: BODY, redirect: "manual" });
  await res.arrayBuffer();
  return res.ok;
}

async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const app = new Hono<{ Bindings: Env }>();

app.get("/bare", (c) => c.json({ status: "ok", service: "baseline" }, 200));

app.post("/bare", async (c) => {
  await c.req.json();
  return c.json({ accepted: true }, 202);
});

app.post("/enqueue", async (c) => {
  const n = Number(c.req.query("n") ?? "1");
  for (let i = 0; i < n; i += 100) {
    const count = Math.min(100, n - i);
    await c.env.QUEUE.sendBatch(
      Array.from({ length: count }, (_, j) => ({ body: { n: i + j }, contentType: "json" as const })),
    );
  }
  return c.json({ enqueued: n }, 202);
});

app.post("/fetch-loop", async (c) => {
  const n = Number(c.req.query("n") ?? "100");
  const concurrency = Number(c.req.query("concurrency") ?? c.env.CONSUMER_CONCURRENCY);
  const started = Date.now();
  let ok = 0;
  await forEachBounded(
    Array.from({ length: n }, (_, i) => i),
    concurrency,
    async (i) => {
      if (await post(`${c.env.RECEIVER_URL}/hook/loop/${i}`)) ok++;
    },
  );
  return c.json({ n, ok, ms: Date.now() - started }, 200);
});

export default {
  fetch: app.fetch,
  async queue(batch: MessageBatch<{ n: number }>, env: Env) {
    await forEachBounded(batch.messages, Number(env.CONSUMER_CONCURRENCY), async (message) => {
      if (await post(`${env.RECEIVER_URL}/hook/baseline/${message.body.n}`)) message.ack();
      else message.retry();
    });
  },
} satisfies ExportedHandler<Env, { n: number }>;
