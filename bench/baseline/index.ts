// The benchmark's baseline Worker: the same runtime doing none of our work, so each figure of ours has a ceiling to be
// compared with. Run only by `npm run bench` (bench/run.mjs), under Miniflare and under wrangler dev, beside the real Worker.
//   GET  /bare         a bare Hono route returning constant JSON (the runtime's ceiling for any request)
//   POST /bare         parses a JSON body and answers 202 with constant JSON (the publish route's ceiling)
// The least each of our jobs must do, on a D1 of our own schema (the project's migrations; the runner copies the
// subject's webhook rows in with POST /d1/seed):
//   GET  /d1/webhooks/:id          one webhook_endpoints row read by primary key, returned as JSON (the admin GET's floor)
//   GET  /d1/webhooks?tenant_id=   a page of 20 of the tenant's webhooks, newest first, and their count, in one round
//                                  trip through the same index as ours (the admin list's floor)
//   POST /enqueue?n=[&record=1]    sends n messages to this Worker's own queue (batched by 100, like a publish to n
//                                  endpoints). Its consumers have the project's batching and concurrency: one only POSTs
//                                  each message to the receiver; with record=1, the other also records every outcome as
//                                  one D1 row, one statement per batch (the delivery's floor: a send and a durable record)
//   GET  /d1/outcomes              how many outcomes that consumer has recorded
//   POST /fetch-loop?n=&concurrency=   n POSTs to the receiver from this one invocation, `concurrency` at a time,
//                      no queue at all: the runtime's raw outbound ceiling
import { Hono } from "hono";

interface Env {
  QUEUE: Queue<BaselineMessage>;
  RECORD_QUEUE: Queue<BaselineMessage>;
  DB: D1Database;
  RECEIVER_URL: string;
  CONSUMER_CONCURRENCY: string;
}

/** A message as small as ours: which delivery, of which webhook. */
interface BaselineMessage {
  webhook_id: string;
  delivery_id: number;
}

/** The queues, as bench/baseline/wrangler.toml names them. */
const RECORD_QUEUE = "scaikey-bench-baseline-record";

// Our deliveries partitions' shape: WITHOUT ROWID, keyed by (webhook, delivery), so a row is one b-tree entry.
const CREATE_OUTCOMES = `CREATE TABLE IF NOT EXISTS baseline_outcomes (webhook_id TEXT NOT NULL, id INTEGER NOT NULL,
  status_code INTEGER, duration_ms INTEGER NOT NULL, recorded_at INTEGER NOT NULL, PRIMARY KEY (webhook_id, id))
  WITHOUT ROWID`;
const RECORD_OUTCOMES = `INSERT INTO baseline_outcomes (webhook_id, id, status_code, duration_ms, recorded_at)
  SELECT r.value ->> 'w', r.value ->> 'i', r.value ->> 's', r.value ->> 'd', ?2 FROM json_each(?1) AS r`;
// What our list reads for a tenant admin (domain/webhooks.ts listWebhooks), through webhook_endpoints_tenant_created_idx.
const PAGE = `SELECT * FROM webhook_endpoints WHERE deleted_at IS NULL AND tenant_id = ?1
  ORDER BY created_at DESC, id DESC LIMIT 20`;
const COUNT = "SELECT count(*) AS n FROM webhook_endpoints WHERE deleted_at IS NULL AND tenant_id = ?1";

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

async function post(url: string): Promise<{ ok: boolean; status: number }> {
  const res = await fetch(url, { method: "POST", headers: HEADERS, body: BODY, redirect: "manual" });
  await res.arrayBuffer();
  return { ok: res.ok, status: res.status };
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

app.post("/d1/seed", async (c) => {
  const rows = await c.req.json<Record<string, unknown>[]>();
  const statements = rows.map((row) => {
    const columns = Object.keys(row);
    return c.env.DB.prepare(
      `INSERT INTO webhook_endpoints (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
    ).bind(...columns.map((k) => row[k]));
  });
  await c.env.DB.batch([c.env.DB.prepare(CREATE_OUTCOMES), ...statements]);
  return c.json({ seeded: rows.length }, 201);
});

app.get("/d1/webhooks/:id", async (c) => {
  const row = await c.env.DB.prepare("SELECT * FROM webhook_endpoints WHERE id = ?1").bind(c.req.param("id")).first();
  return row ? c.json(row, 200) : c.json({ detail: "Not Found" }, 404);
});

app.get("/d1/webhooks", async (c) => {
  const tenant = c.req.query("tenant_id") ?? "";
  const [page, count] = await c.env.DB.batch<Record<string, unknown>>([
    c.env.DB.prepare(PAGE).bind(tenant),
    c.env.DB.prepare(COUNT).bind(tenant),
  ]);
  return c.json({ items: page!.results, total: count!.results[0]?.n ?? 0 }, 200);
});

app.get("/d1/outcomes", async (c) => {
  const row = await c.env.DB.prepare("SELECT count(*) AS n FROM baseline_outcomes").first<{ n: number }>();
  return c.json({ recorded: row?.n ?? 0 }, 200);
});

// Delivery ids as ours are made: the time in ms × 1024, plus one per earlier id of that ms (one isolate sends them).
let lastIdMs = 0;
let sameMs = 0;
function nextDeliveryId(): number {
  const now = Date.now();
  sameMs = now === lastIdMs ? sameMs + 1 : 0;
  lastIdMs = now;
  return now * 1024 + sameMs;
}

app.post("/enqueue", async (c) => {
  const n = Number(c.req.query("n") ?? "1");
  const queue = c.req.query("record") === "1" ? c.env.RECORD_QUEUE : c.env.QUEUE;
  for (let i = 0; i < n; i += 100) {
    const count = Math.min(100, n - i);
    await queue.sendBatch(
      Array.from({ length: count }, (_, j) => ({
        body: { webhook_id: `wh_baseline_${i + j}`, delivery_id: nextDeliveryId() },
        contentType: "json" as const,
      })),
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
      if ((await post(`${c.env.RECEIVER_URL}/hook/loop/${i}`)).ok) ok++;
    },
  );
  return c.json({ n, ok, ms: Date.now() - started }, 200);
});

export default {
  fetch: app.fetch,
  async queue(batch: MessageBatch<BaselineMessage>, env: Env) {
    if (batch.queue !== RECORD_QUEUE) {
      await forEachBounded(batch.messages, Number(env.CONSUMER_CONCURRENCY), async (message) => {
        if ((await post(`${env.RECEIVER_URL}/hook/baseline/${message.body.delivery_id}`)).ok) message.ack();
        else message.retry();
      });
      return;
    }
    // Fetch each, then one statement records every outcome (a row each) before the batch is acknowledged.
    const outcomes: { w: string; i: number; s: number; d: number }[] = [];
    await forEachBounded(batch.messages, Number(env.CONSUMER_CONCURRENCY), async ({ body }) => {
      const started = Date.now();
      const { status } = await post(`${env.RECEIVER_URL}/hook/baseline-record/${body.delivery_id}`);
      outcomes.push({ w: body.webhook_id, i: body.delivery_id, s: status, d: Date.now() - started });
    });
    await env.DB.prepare(RECORD_OUTCOMES).bind(JSON.stringify(outcomes), Date.now()).run();
    batch.ackAll();
  },
} satisfies ExportedHandler<Env, BaselineMessage>;
