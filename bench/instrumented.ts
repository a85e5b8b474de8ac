// The project's Worker with counters around its bindings, for the benchmark's cost figures only (never deployed).
// `npm run bench` runs it under Miniflare with the options of the project's wrangler.toml plus the
// d1_binding_jsrpc compatibility flag, next to the real Worker, which is the one the timings come from.
//
// Counted per trigger (fetch: API requests and publishes; queue: the delivery consumer), since the last reset:
//   D1 round trips (one per run/all/first/raw/batch call), statements (a batch counts each of its statements),
//   rows read / written from D1's own `meta` (raw() and first() hide it, so they go through `DB.query()`, which
//   returns it; hence the d1_binding_jsrpc flag), milliseconds spent waiting on D1 (summed over concurrent calls), D1's
//   own time per statement (`meta.duration`, by the statement's opening words);
//   queue calls (send, sendBatch) and messages sent; batches and messages the consumer received; outbound fetches
//   and the milliseconds they took.
//   GET /__bench/counters   the counters, as JSON
//   POST /__bench/reset     zeroes them
// And two probes for finding where time goes (used by hand with `npm run bench -- --hold 600`):
//   GET /__bench/d1-probe?n=&concurrency=&kind=select|write   the runtime's own D1 round trip, straight on the binding
//   GET /__bench/cpu-probe?what=…&n=[&path=]                  our in-isolate work, n times in one request (see cpuProbe;
//                                                             what=sign: one delivery's secret opening and signatures)

import { OpenAPIHono } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { Hono } from "hono";
import { interceptD1 } from "../scripts/lib/d1-intercept";
import { createApp } from "../src/app";
import { bearerToken, verifyAccessToken } from "../src/auth/jwt";
import { deliveries, events, webhookEndpoints } from "../src/db/schema";
import { buildDeliveryHeaders } from "../src/domain/delivery/request";
import { signingKeysOf } from "../src/domain/delivery/signing-keys";
import { generateSigningSecret } from "../src/domain/signing";
import worker from "../src/index";
import { logger } from "../src/lib/logger";
import { requestContext } from "../src/lib/request-context";
import { createServices } from "../src/lib/services";

export { WebhooksService } from "../src/index";

interface Bucket {
  invocations: number;
  d1RoundTrips: number;
  d1Statements: number;
  d1RowsRead: number;
  d1RowsWritten: number;
  /** Calls whose meta could not be read (should stay 0). */
  d1MetaMissing: number;
  d1Ms: number;
  /** D1's own time running each statement (`meta.duration`), summed by the statement's opening words. */
  d1SqlMsByStatement: Record<string, { calls: number; ms: number }>;
  queueSendCalls: number;
  queueSendBatchCalls: number;
  queueMessagesSent: number;
  queueBatchesReceived: number;
  queueMessagesReceived: number;
  handlerMs: number;
}
type Kind = "fetch" | "queue";

const newBucket = (): Bucket => ({
  invocations: 0,
  d1RoundTrips: 0,
  d1Statements: 0,
  d1RowsRead: 0,
  d1RowsWritten: 0,
  d1MetaMissing: 0,
  d1Ms: 0,
  d1SqlMsByStatement: {},
  queueSendCalls: 0,
  queueSendBatchCalls: 0,
  queueMessagesSent: 0,
  queueBatchesReceived: 0,
  queueMessagesReceived: 0,
  handlerMs: 0,
});
let buckets: Record<Kind, Bucket> = { fetch: newBucket(), queue: newBucket() };
let outbound = { fetches: 0, ms: 0 };

interface Meta {
  rows_read?: number;
  rows_written?: number;
  duration?: number;
}
// A short, stable name for a statement: its first words, parameters and whitespace squeezed.
const statementName = (sql: string | undefined) => (sql ?? "?").replace(/\s+/g, " ").trim().slice(0, 72);
const addSqlTime = (b: Bucket, sql: string | undefined, meta: Meta | undefined) => {
  const entry = (b.d1SqlMsByStatement[statementName(sql)] ??= { calls: 0, ms: 0 });
  entry.calls++;
  entry.ms += meta?.duration ?? 0;
};
const addMeta = (b: Bucket, meta: Meta | undefined) => {
  if (!meta || typeof meta.rows_read !== "number") {
    b.d1MetaMissing++;
    return;
  }
  b.d1RowsRead += meta.rows_read;
  b.d1RowsWritten += meta.rows_written ?? 0;
};

// D1Database.query() (d1_binding_jsrpc): the lower-level answer, with meta, for the calls whose public result drops it.
interface RawQueryResult {
  results: { meta: Meta; data?: { columns?: string[]; rows?: unknown[][] } }[];
}
type QueryingD1 = D1Database & {
  query(request: { queries: { sql: string; params: unknown[] }[] }): Promise<RawQueryResult>;
};
type Statement = D1PreparedStatement & { statement: string; params: unknown[] };

function countingD1(d1: D1Database, b: Bucket): D1Database {
  const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      b.d1Ms += performance.now() - started;
    }
  };
  const rawQuery = async (s: Statement) => {
    const answer = await (d1 as QueryingD1).query({ queries: [{ sql: s.statement, params: s.params }] });
    const first = answer.results[0];
    addMeta(b, first?.meta);
    addSqlTime(b, s.statement, first?.meta);
    return { columns: first?.data?.columns ?? [], rows: first?.data?.rows ?? [] };
  };
  return interceptD1(d1, {
    statement: (op, statement, args, call) => {
      b.d1RoundTrips++;
      b.d1Statements++;
      return timed(async () => {
        if (op === "raw") {
          const { columns, rows } = await rawQuery(statement as Statement);
          return (args[0] as { columnNames?: boolean } | undefined)?.columnNames ? [columns, ...rows] : rows;
        }
        if (op === "first") {
          const { columns, rows } = await rawQuery(statement as Statement);
          const row = rows[0];
          if (!row) return null;
          const object = Object.fromEntries(columns.map((name, i) => [name, row[i]]));
          const column = args[0] as string | undefined;
          return column === undefined ? object : object[column];
        }
        const result = (await call()) as D1Result;
        addMeta(b, result.meta as Meta);
        addSqlTime(b, (statement as Statement).statement, result.meta as Meta);
        return result;
      });
    },
    batch: (statements, call) => {
      b.d1RoundTrips++;
      b.d1Statements += statements.length;
      return timed(async () => {
        const results = await call();
        results.forEach((r, i) => {
          addMeta(b, r.meta as Meta);
          addSqlTime(b, (statements[i] as Statement).statement, r.meta as Meta);
        });
        return results;
      });
    },
  });
}

function countingQueue(queue: Queue, b: Bucket): Queue {
  return new Proxy(queue, {
    get(target, prop) {
      if (prop === "send")
        return (body: unknown, options?: QueueSendOptions) => {
          b.queueSendCalls++;
          b.queueMessagesSent++;
          return target.send(body, options);
        };
      if (prop === "sendBatch")
        return (messages: Iterable<MessageSendRequest>, options?: QueueSendBatchOptions) => {
          const list = [...messages];
          b.queueSendBatchCalls++;
          b.queueMessagesSent += list.length;
          return target.sendBatch(list, options);
        };
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

// One wrapped env per original env and trigger, so the service container (cached per env object) is built once.
const wrappedEnvs = new WeakMap<Env, Record<Kind, Env>>();

// Outbound fetches (deliveries, and the JWKS fetch once per isolate), timed; services.fetch calls the global at call time.
const realFetch = globalThis.fetch;
globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
  outbound.fetches++;
  const started = performance.now();
  try {
    return await realFetch(input, init);
  } finally {
    outbound.ms += performance.now() - started;
  }
};

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/counters") return Response.json({ ...buckets, outbound });
    if (url.pathname === "/__bench/reset" && request.method === "POST") {
      buckets = { fetch: newBucket(), queue: newBucket() };
      outbound = { fetches: 0, ms: 0 };
      return new Response(null, { status: 204 });
    }
    if (url.pathname === "/__bench/d1-probe") return d1Probe(env.DB, url.searchParams);
    if (url.pathname === "/__bench/cpu-probe") return cpuProbe(request, env, ctx, url.searchParams);
    const b = buckets.fetch;
    b.invocations++;
    const started = performance.now();
    try {
      return await worker.fetch(request, instrumentedEnv(env, "fetch"), ctx);
    } finally {
      b.handlerMs += performance.now() - started;
    }
  },

  async queue(batch, env, ctx) {
    const b = buckets.queue;
    b.invocations++;
    b.queueBatchesReceived++;
    b.queueMessagesReceived += batch.messages.length;
    const started = performance.now();
    try {
      await worker.queue(batch, instrumentedEnv(env, "queue"), ctx);
    } finally {
      b.handlerMs += performance.now() - started;
    }
  },

  async scheduled(controller, env, ctx) {
    await worker.scheduled(controller, instrumentedEnv(env, "fetch"), ctx);
  },
} satisfies ExportedHandler<Env, unknown>;

// The counters live in `buckets`, which reset() replaces: the wrappers look their bucket up on every call.
function instrumentedEnv(env: Env, kind: Kind): Env {
  let pair = wrappedEnvs.get(env);
  if (!pair) {
    const make = (k: Kind): Env => {
      const live = new Proxy({} as Bucket, {
        get: (_, prop) => buckets[k][prop as keyof Bucket],
        set: (_, prop, value) => {
          buckets[k][prop as keyof Bucket] = value;
          return true;
        },
      });
      return {
        ...env,
        DB: countingD1(env.DB, live),
        DELIVERY_QUEUE: countingQueue(env.DELIVERY_QUEUE, live) as Env["DELIVERY_QUEUE"],
      };
    };
    pair = { fetch: make("fetch"), queue: make("queue") };
    wrappedEnvs.set(env, pair);
  }
  return pair[kind];
}

/**
 * The runtime's own cost of a D1 round trip here: `n` calls (`SELECT 1`, or a one-row upsert), `concurrency` at a
 * time, straight on the binding. Answers {n, ms, per_call_ms, calls_per_s}.
 */
async function d1Probe(db: D1Database, params: URLSearchParams): Promise<Response> {
  const n = Number(params.get("n") ?? "200");
  const concurrency = Number(params.get("concurrency") ?? "1");
  const write = params.get("kind") === "write";
  const select = db.prepare("SELECT 1 AS one");
  const upsert = db.prepare(
    "INSERT INTO job_cursors (name, value, updated_at) VALUES ('bench_probe', 1, ?1) ON CONFLICT (name) DO UPDATE SET value = value + 1, updated_at = ?1",
  );
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        if (write) await upsert.bind(Date.now()).run();
        else await select.first();
      }
    }),
  );
  const ms = Date.now() - started;
  return Response.json({
    n,
    concurrency,
    kind: write ? "write" : "select",
    ms,
    per_call_ms: ms / n,
    calls_per_s: Math.round((n / ms) * 1000),
  });
}

/**
 * In-isolate work of ours, `n` times in one request, for the client to time (performance.now() does not advance
 * during pure computation in workerd): `jwt` verifies the request's bearer token (keys cached after the first call),
 * `log` writes one request-sized log line, `sql` builds (without running) the consumer's delivery SELECT,
 * `app` runs the whole app on `path` (with the request's token, no HTTP hop), `bare` a bare Hono app, `none` nothing.
 */
const bareApp = new Hono().get("/bare", (c) => c.json({ status: "ok", service: "baseline" }, 200));
// Bisecting the app's per-request cost: our request-context middleware alone, on Hono and on OpenAPIHono, and a fresh createApp().
const ctxApp = new Hono().use("*", requestContext as never).get("/bare", (c) => c.json({ status: "ok" }, 200));
const openApiApp = new OpenAPIHono().get("/bare", (c) => c.json({ status: "ok" }, 200));
const logApp = new Hono()
  .use("*", async (c, next) => {
    await next();
    logger.info("request", {
      request_id: crypto.randomUUID(),
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      duration_ms: 1,
    });
  })
  .get("/bare", (c) => c.json({ status: "ok" }, 200));
let freshApp: ReturnType<typeof createApp> | null = null;
const PROBE_BODY = JSON.stringify({
  event_id: "evt_probe",
  event_type: "user.created",
  data: { email: "ada@example.com", n: 1 },
});
async function cpuProbe(request: Request, env: Env, ctx: ExecutionContext, params: URLSearchParams): Promise<Response> {
  const n = Number(params.get("n") ?? "1000");
  const what = params.get("what") ?? "none";
  const services = createServices(env);
  const token = bearerToken(request.headers.get("authorization") ?? undefined);
  const path = params.get("path") ?? "/health";
  const authorization = request.headers.get("authorization") ?? "";
  const sealed = what === "sign" ? await services.secretBox.seal(generateSigningSecret(), "wh_probe") : "";
  for (let i = 0; i < n; i++) {
    if (what === "sign")
      // One delivery's signing work: the sealed secret's keys (opened and imported once per isolate), both schemes.
      await buildDeliveryHeaders({
        deliveryId: i,
        eventId: "evt_probe",
        eventType: "user.created",
        body: PROBE_BODY,
        keys: [await signingKeysOf(services.secretBox, sealed, "wh_probe")],
        timestamp: 1_700_000_000,
        customHeaders: {},
      });
    else if (what === "app")
      await (
        await worker.fetch(new Request(`http://bench${path}`, { headers: { authorization } }), env, ctx)
      ).arrayBuffer();
    else if (what === "bare") await (await bareApp.fetch(new Request("http://bench/bare"))).arrayBuffer();
    else if (what === "ctx") await (await ctxApp.fetch(new Request("http://bench/bare"), env, ctx)).arrayBuffer();
    else if (what === "openapi")
      await (await openApiApp.fetch(new Request("http://bench/bare"), env, ctx)).arrayBuffer();
    else if (what === "logapp") await (await logApp.fetch(new Request("http://bench/bare"), env, ctx)).arrayBuffer();
    else if (what === "fresh")
      await (
        await (freshApp ??= createApp()).fetch(
          new Request(`http://bench${path}`, { headers: { authorization } }),
          env,
          ctx,
        )
      ).arrayBuffer();
    else if (what === "jwt") await verifyAccessToken(token, services.config.jwt, services);
    else if (what === "log")
      logger.info("request", {
        request_id: crypto.randomUUID(),
        method: "GET",
        route: "/api/v1/admin/webhooks/:webhook_id",
        status: 200,
        duration_ms: 3,
      });
    else if (what === "sql")
      services.db
        .select({ delivery: deliveries, endpoint: webhookEndpoints, payload: events.payload })
        .from(deliveries)
        .innerJoin(webhookEndpoints, eq(webhookEndpoints.id, deliveries.webhookId))
        .innerJoin(events, eq(events.id, deliveries.eventId))
        .where(eq(deliveries.id, i))
        .toSQL();
  }
  return Response.json({ what, n });
}
