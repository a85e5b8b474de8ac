// The project's Worker with counters around its bindings, for the benchmarks' cost and volume figures only (never
// deployed). `npm run bench` runs it under Miniflare with the options of the project's wrangler.toml plus the
// d1_binding_jsrpc compatibility flag, next to the real Worker, which is the one the timings come from; `npm run
// bench:cost` and `npm run bench:volume` run it alone.
//
// Counted per trigger since the last reset (fetch: API requests and publishes; queue: the delivery consumer;
// `cron:<expression>`: each cron job run through /__bench/cron):
//   D1 round trips (one per run/all/first/raw/batch call), statements (a batch counts each of its statements),
//   rows read / written and changes from D1's own `meta` (raw() and first() hide it, so they go through `DB.query()`,
//   which returns it; hence the d1_binding_jsrpc flag), also per statement (its text, partition hours as `_p*`);
//   milliseconds spent waiting on D1 (summed over concurrent calls), D1's own time per statement (`meta.duration`);
//   the rows and index entries each dropped partition held just before its DROP (a DROP writes no rows in D1's count);
//   queue calls (send, sendBatch), messages sent and received (watermark probes apart); R2 operations by class
//   (A: put, list; B: get, head; deletes are free) and bytes put; outbound fetches and the milliseconds they took.
//   GET  /__bench/counters           the counters, as JSON: { fetch, queue, buckets: { <trigger>: … }, outbound }
//   POST /__bench/reset              zeroes them
// Bench-only controls (bench/measure-storage.mjs drives them):
//   POST /__bench/clock {offset_ms}  services.now() of every handler answers Date.now() + offset_ms from now on
//   POST /__bench/cron?cron=<expr>   runs that cron's job to completion (runScheduled, as the scheduled handler does)
//   GET  /__bench/state              storage state: partitions, sealable hours, deliveries by status, table counts
//   GET  /__bench/schema             every table's indexes (partial or not), for counting index entries
//   POST /__bench/calibrate          how local D1 counts rows written per kind of write, on scratch tables
//   POST /__bench/archive-seed {…}   writes archived history through the real archive code (bench/archive-seed.ts)
// And two probes for finding where time goes (used by hand with `npm run bench -- --hold 600`):
//   GET /__bench/d1-probe?n=&concurrency=&kind=select|write   the runtime's own D1 round trip, straight on the binding
//   GET /__bench/cpu-probe?what=…&n=[&path=]                  our in-isolate work, n times in one request (see cpuProbe;
//                                                             what=sign: one delivery's secret opening and signatures)

import { OpenAPIHono } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { Hono } from "hono";
import { interceptD1 } from "../scripts/lib/d1-intercept";
import { createApp } from "../src/app";
import { bearerToken, verifyAccessToken } from "../src/auth/jwt";
import { HOUR_MS, hourOf, listPartitionHours } from "../src/db/partitions";
import { deliveries, events, webhookEndpoints } from "../src/db/schema";
import { shardDatabases } from "../src/db/shards";
import { sealableHours } from "../src/domain/archive/seal";
import { buildDeliveryHeaders } from "../src/domain/delivery/request";
import { signingKeysOf } from "../src/domain/delivery/signing-keys";
import { generateSigningSecret } from "../src/domain/signing";
import worker from "../src/index";
import { runScheduled } from "../src/jobs/scheduled";
import { logger } from "../src/lib/logger";
import { requestContext } from "../src/lib/request-context";
import { createServices } from "../src/lib/services";
import { type ArchiveSeedRequest, seedArchive } from "./archive-seed";

export { WebhookRateLimiter, WebhooksService } from "../src/index";

interface StatementCounts {
  calls: number;
  rowsRead: number;
  rowsWritten: number;
  changes: number;
}
/** One shard's part of a bucket's D1 figures. */
interface ShardCounts {
  roundTrips: number;
  statements: number;
  rowsRead: number;
  rowsWritten: number;
}
interface Bucket {
  invocations: number;
  /** The D1 figures by shard (0: DB, n: DB_<n>). */
  d1ByShard: Record<number, ShardCounts>;
  d1RoundTrips: number;
  d1Statements: number;
  d1RowsRead: number;
  d1RowsWritten: number;
  /** Calls whose meta could not be read (should stay 0). */
  d1MetaMissing: number;
  d1Ms: number;
  /** D1's own time running each statement (`meta.duration`), summed by the statement's opening words. */
  d1SqlMsByStatement: Record<string, { calls: number; ms: number }>;
  /** D1's counts per statement (its text, whitespace squeezed, partition hours as `_p*`). */
  d1ByStatement: Record<string, StatementCounts>;
  /** What the dropped partitions held just before their DROP: tables, rows, and entries of their indexes. */
  dropped: { tables: number; rows: number; indexEntries: number };
  queueSendCalls: number;
  queueSendBatchCalls: number;
  queueMessagesSent: number;
  /** Of the messages sent, the sweep's watermark probes (no delivery). */
  queueProbesSent: number;
  queueBatchesReceived: number;
  queueMessagesReceived: number;
  queueProbesReceived: number;
  r2ClassA: number;
  r2ClassB: number;
  r2Deletes: number;
  r2BytesPut: number;
  handlerMs: number;
}

const newBucket = (): Bucket => ({
  invocations: 0,
  d1ByShard: {},
  d1RoundTrips: 0,
  d1Statements: 0,
  d1RowsRead: 0,
  d1RowsWritten: 0,
  d1MetaMissing: 0,
  d1Ms: 0,
  d1SqlMsByStatement: {},
  d1ByStatement: {},
  dropped: { tables: 0, rows: 0, indexEntries: 0 },
  queueSendCalls: 0,
  queueSendBatchCalls: 0,
  queueMessagesSent: 0,
  queueProbesSent: 0,
  queueBatchesReceived: 0,
  queueMessagesReceived: 0,
  queueProbesReceived: 0,
  r2ClassA: 0,
  r2ClassB: 0,
  r2Deletes: 0,
  r2BytesPut: 0,
  handlerMs: 0,
});
/** Buckets by trigger: "fetch", "queue", "cron:<expression>". */
let buckets: Record<string, Bucket> = {};
const bucketOf = (kind: string) => (buckets[kind] ??= newBucket());
let outbound = { fetches: 0, ms: 0 };
/** What services.now() adds to the real clock (POST /__bench/clock). */
let clockOffsetMs = 0;

interface Meta {
  rows_read?: number;
  rows_written?: number;
  changes?: number;
  duration?: number;
}
// A short, stable name for a statement: its first words, parameters and whitespace squeezed.
const statementName = (sql: string | undefined) => (sql ?? "?").replace(/\s+/g, " ").trim().slice(0, 72);
// A statement's key for the per-statement counts: long enough to hold the table a statement writes after a long CTE
// (bench/cost/stages.mjs tells a statement's stage from it), with partition hours folded.
const statementKey = (sql: string | undefined) =>
  (sql ?? "?").replace(/\s+/g, " ").trim().replace(/_p\d+/g, "_p*").slice(0, 2000);
const addSqlTime = (b: Bucket, sql: string | undefined, meta: Meta | undefined) => {
  const entry = (b.d1SqlMsByStatement[statementName(sql)] ??= { calls: 0, ms: 0 });
  entry.calls++;
  entry.ms += meta?.duration ?? 0;
};
const shardCounts = (b: Bucket, shard: number): ShardCounts =>
  (b.d1ByShard[shard] ??= { roundTrips: 0, statements: 0, rowsRead: 0, rowsWritten: 0 });
const addMeta = (b: Bucket, sql: string | undefined, meta: Meta | undefined, shard = 0) => {
  if (!meta || typeof meta.rows_read !== "number") {
    b.d1MetaMissing++;
    return;
  }
  b.d1RowsRead += meta.rows_read;
  b.d1RowsWritten += meta.rows_written ?? 0;
  shardCounts(b, shard).rowsRead += meta.rows_read;
  shardCounts(b, shard).rowsWritten += meta.rows_written ?? 0;
  const entry = (b.d1ByStatement[statementKey(sql)] ??= { calls: 0, rowsRead: 0, rowsWritten: 0, changes: 0 });
  entry.calls++;
  entry.rowsRead += meta.rows_read;
  entry.rowsWritten += meta.rows_written ?? 0;
  entry.changes += meta.changes ?? 0;
  addSqlTime(b, sql, meta);
};

// D1Database.query() (d1_binding_jsrpc): the lower-level answer, with meta, for the calls whose public result drops it.
interface RawQueryResult {
  results: { meta: Meta; data?: { columns?: string[]; rows?: unknown[][] } }[];
}
type QueryingD1 = D1Database & {
  query(request: { queries: { sql: string; params: unknown[] }[] }): Promise<RawQueryResult>;
};
type Statement = D1PreparedStatement & { statement: string; params: unknown[] };

const DROP_PARTITION = /^DROP TABLE IF EXISTS "((?:deliveries|events)_p\d+)"/;

/** Rows of `table` and entries of each of its indexes (a partial index holds only the rows its WHERE admits). */
async function entriesOf(d1: D1Database, table: string): Promise<{ rows: number; indexEntries: number }> {
  const rows = await d1.prepare(`SELECT count(*) AS n FROM "${table}"`).first<number>("n");
  if (rows === null) return { rows: 0, indexEntries: 0 };
  const { results } = await d1
    .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1")
    .bind(table)
    .all<{ sql: string | null }>();
  let indexEntries = 0;
  for (const { sql } of results) {
    const where = sql ? /\sWHERE\s(.+)$/is.exec(sql)?.[1] : undefined;
    indexEntries += where
      ? ((await d1.prepare(`SELECT count(*) AS n FROM "${table}" WHERE ${where}`).first<number>("n")) ?? 0)
      : rows;
  }
  return { rows, indexEntries };
}

function countingD1(d1: D1Database, b: Bucket, shard = 0): D1Database {
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
    addMeta(b, s.statement, first?.meta, shard);
    return { columns: first?.data?.columns ?? [], rows: first?.data?.rows ?? [] };
  };
  return interceptD1(d1, {
    statement: (op, statement, args, call) => {
      b.d1RoundTrips++;
      b.d1Statements++;
      shardCounts(b, shard).roundTrips++;
      shardCounts(b, shard).statements++;
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
        addMeta(b, (statement as Statement).statement, result.meta as Meta, shard);
        return result;
      });
    },
    batch: async (statements, call) => {
      // What a partition held just before the batch that drops it (the drop removes it all, and D1 counts none of it).
      for (const s of statements) {
        const table = DROP_PARTITION.exec((s as Statement).statement)?.[1];
        if (!table) continue;
        const held = await entriesOf(d1, table);
        b.dropped.tables++;
        b.dropped.rows += held.rows;
        b.dropped.indexEntries += held.indexEntries;
      }
      b.d1RoundTrips++;
      b.d1Statements += statements.length;
      shardCounts(b, shard).roundTrips++;
      shardCounts(b, shard).statements += statements.length;
      return timed(async () => {
        const results = await call();
        results.forEach((r, i) => addMeta(b, (statements[i] as Statement).statement, r.meta as Meta, shard));
        return results;
      });
    },
  });
}

const isProbe = (body: unknown) =>
  typeof body === "object" && body !== null && "watermark_probe" in (body as Record<string, unknown>);

function countingQueue(queue: Queue, b: Bucket): Queue {
  return new Proxy(queue, {
    get(target, prop) {
      if (prop === "send")
        return (body: unknown, options?: QueueSendOptions) => {
          b.queueSendCalls++;
          b.queueMessagesSent++;
          if (isProbe(body)) b.queueProbesSent++;
          return target.send(body, options);
        };
      if (prop === "sendBatch")
        return (messages: Iterable<MessageSendRequest>, options?: QueueSendBatchOptions) => {
          const list = [...messages];
          b.queueSendBatchCalls++;
          b.queueMessagesSent += list.length;
          b.queueProbesSent += list.filter((m) => isProbe(m.body)).length;
          return target.sendBatch(list, options);
        };
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

// R2's billed classes (bench/prices.mjs): A for writes and lists, B for reads; deletes are free.
function countingR2(bucket: R2Bucket, b: Bucket): R2Bucket {
  return new Proxy(bucket, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (prop === "put" || prop === "list" || prop === "createMultipartUpload") b.r2ClassA++;
        else if (prop === "get" || prop === "head") b.r2ClassB++;
        else if (prop === "delete") b.r2Deletes += Array.isArray(args[0]) ? args[0].length : 1;
        if (prop === "put") {
          const body = args[1];
          b.r2BytesPut +=
            typeof body === "string"
              ? new TextEncoder().encode(body).length
              : body instanceof ArrayBuffer || ArrayBuffer.isView(body)
                ? body.byteLength
                : 0;
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

// One wrapped env per original env and trigger, so the service container (cached per env object) is built once.
const wrappedEnvs = new WeakMap<Env, Map<string, Env>>();

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
    if (url.pathname.startsWith("/__bench/")) return benchRoute(url, request, env, ctx);
    const b = bucketOf("fetch");
    b.invocations++;
    const started = performance.now();
    try {
      return await worker.fetch(request, instrumentedEnv(env, "fetch"), ctx);
    } finally {
      b.handlerMs += performance.now() - started;
    }
  },

  async queue(batch, env, ctx) {
    const b = bucketOf("queue");
    b.invocations++;
    b.queueBatchesReceived++;
    b.queueMessagesReceived += batch.messages.length;
    b.queueProbesReceived += batch.messages.filter((m) => isProbe(m.body)).length;
    const started = performance.now();
    try {
      await worker.queue(batch, instrumentedEnv(env, "queue"), ctx);
    } finally {
      b.handlerMs += performance.now() - started;
    }
  },

  async scheduled(controller, env, ctx) {
    await worker.scheduled(controller, instrumentedEnv(env, `cron:${controller.cron}`), ctx);
  },
} satisfies ExportedHandler<Env, unknown>;

async function benchRoute(url: URL, request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  switch (url.pathname) {
    case "/__bench/counters":
      // fetch and queue at the top level too, as bench/measure/ reads them.
      return Response.json({
        fetch: bucketOf("fetch"),
        queue: bucketOf("queue"),
        buckets,
        outbound,
        clock_offset_ms: clockOffsetMs,
      });
    case "/__bench/reset":
      buckets = {};
      outbound = { fetches: 0, ms: 0 };
      return new Response(null, { status: 204 });
    case "/__bench/clock": {
      const { offset_ms } = (await request.json()) as { offset_ms: number };
      clockOffsetMs = offset_ms;
      return Response.json({ clock_offset_ms: clockOffsetMs, now: Date.now() + clockOffsetMs });
    }
    case "/__bench/cron": {
      const cron = url.searchParams.get("cron") ?? "";
      const kind = `cron:${cron}`;
      const b = bucketOf(kind);
      b.invocations++;
      const started = performance.now();
      try {
        await runScheduled(cron, createServices(instrumentedEnv(env, kind)));
        return Response.json({ ok: true, ms: performance.now() - started });
      } catch (err) {
        return Response.json({ ok: false, error: String(err) }, { status: 500 });
      } finally {
        b.handlerMs += performance.now() - started;
      }
    }
    case "/__bench/state":
      return Response.json(await storageState(env));
    case "/__bench/schema":
      return Response.json(await schemaOf(env.DB));
    case "/__bench/calibrate":
      return Response.json(await calibrate(env.DB));
    case "/__bench/archive-seed": {
      const services = createServices(instrumentedEnv(env, "bench"));
      return Response.json(
        await seedArchive({ db: services.db, archive: env.ARCHIVE }, (await request.json()) as ArchiveSeedRequest),
      );
    }
    case "/__bench/d1-probe":
      return d1Probe(env.DB, url.searchParams);
    case "/__bench/cpu-probe":
      return cpuProbe(request, env, ctx, url.searchParams);
    default:
      return new Response("no such bench route", { status: 404 });
  }
}

// The counters live in `buckets`, which reset() replaces: the wrappers look their bucket up on every call. Each wrapped
// env gets its own service container, whose clock reads the bench's offset.
function instrumentedEnv(env: Env, kind: string): Env {
  let byKind = wrappedEnvs.get(env);
  if (!byKind) wrappedEnvs.set(env, (byKind = new Map()));
  let wrapped = byKind.get(kind);
  if (!wrapped) {
    const live = new Proxy({} as Bucket, {
      get: (_, prop) => bucketOf(kind)[prop as keyof Bucket],
      set: (_, prop, value) => {
        (bucketOf(kind) as unknown as Record<string, unknown>)[prop as string] = value;
        return true;
      },
    });
    // Every shard's binding (DB, DB_1, …), each counted in the bucket and in its own shard's part of it.
    const shards = Object.fromEntries(
      shardDatabases(env as unknown as Record<string, unknown>).map((d1, n) => [
        n === 0 ? "DB" : `DB_${n}`,
        countingD1(d1, live, n),
      ]),
    );
    wrapped = {
      ...env,
      ...shards,
      DELIVERY_QUEUE: countingQueue(env.DELIVERY_QUEUE, live) as Env["DELIVERY_QUEUE"],
      ARCHIVE: countingR2(env.ARCHIVE, live),
    };
    byKind.set(kind, wrapped);
    createServices(wrapped).now = () => Date.now() + clockOffsetMs;
  }
  return wrapped;
}

/** Where storage stands, read straight on the binding (not counted). */
async function storageState(env: Env) {
  const d1 = env.DB;
  const now = Date.now() + clockOffsetMs;
  const services = createServices(instrumentedEnv(env, "bench"));
  const count = async (table: string) =>
    (await d1.prepare(`SELECT count(*) AS n FROM ${table}`).first<number>("n")) ?? 0;
  // Deliveries of every shard (the other figures are shard 0's).
  const byShard = await Promise.all(
    shardDatabases(env as unknown as Record<string, unknown>).map(
      async (shard) =>
        (
          await shard
            .prepare(
              "SELECT status, count(*) AS n, sum(attempt_count) AS attempts FROM deliveries_live GROUP BY status",
            )
            .all<{ status: string; n: number; attempts: number }>()
        ).results,
    ),
  );
  const byStatus = [
    ...byShard
      .flat()
      .reduce((m, r) => {
        const sum = m.get(r.status) ?? { status: r.status, n: 0, attempts: 0 };
        sum.n += r.n;
        sum.attempts += r.attempts;
        return m.set(r.status, sum);
      }, new Map<string, { status: string; n: number; attempts: number }>())
      .values(),
  ];
  const sealable = await sealableHours({
    db: services.db,
    archive: null,
    hotWindowMs: services.config.hotWindowHours * HOUR_MS,
    now: () => now,
  });
  return {
    now,
    hour: hourOf(now),
    partition_hours: await listPartitionHours(d1),
    sealable_hours: sealable,
    deliveries_by_status: Object.fromEntries(byStatus.map((r) => [r.status, r.n])),
    deliveries_by_shard: byShard.map((rows) => Object.fromEntries(rows.map((r) => [r.status, r.n]))),
    attempts: byStatus.reduce((n, r) => n + r.attempts, 0),
    counts: Object.fromEntries(
      await Promise.all(
        [
          "deliveries",
          "events",
          "archive_hours",
          "archive_days",
          "webhook_stats_hourly",
          "webhook_stats_daily",
          "hot_partitions",
          "resent_deliveries",
        ].map(async (t) => [t, await count(t)] as const),
      ),
    ),
  };
}

/** Every table and its indexes: whether each is partial, and whether the table keeps a rowid. */
async function schemaOf(d1: D1Database) {
  const { results } = await d1
    .prepare(
      "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' OR name LIKE 'sqlite_autoindex_%'",
    )
    .all<{ type: string; name: string; tbl_name: string; sql: string | null }>();
  const tables: Record<string, { withoutRowid: boolean; indexes: { name: string; partial: boolean }[] }> = {};
  for (const r of results.filter((r) => r.type === "table"))
    tables[r.name] = { withoutRowid: /WITHOUT\s+ROWID\s*;?\s*$/i.test(r.sql ?? ""), indexes: [] };
  for (const r of results.filter((r) => r.type === "index"))
    tables[r.tbl_name]?.indexes.push({ name: r.name, partial: /\sWHERE\s/i.test(r.sql ?? "") });
  return tables;
}

/**
 * How local D1 counts `rows_written` for each kind of write this service does, on scratch tables shaped like ours: a
 * WITHOUT ROWID table with a partial index (deliveries), a rowid table with a composite key and a secondary index
 * (stats, archive_days). Per row, each figure; and the DROP of a table of 10 rows.
 */
async function calibrate(d1: D1Database) {
  const n = 10;
  const w = "bench_cal_w";
  const r = "bench_cal_r";
  const d = "bench_cal_d";
  const run = async (sql: string) => {
    const { meta } = await d1.prepare(sql).run();
    return { rows_written: (meta as Meta).rows_written ?? 0, changes: (meta as Meta).changes ?? 0 };
  };
  const values = (f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join(", ");
  await d1.batch(
    [
      `DROP TABLE IF EXISTS ${w}`,
      `DROP TABLE IF EXISTS ${r}`,
      `DROP TABLE IF EXISTS ${d}`,
      `CREATE TABLE ${w} (k TEXT NOT NULL, id INTEGER NOT NULL, v INTEGER, done INTEGER, PRIMARY KEY (k, id)) WITHOUT ROWID`,
      `CREATE INDEX ${w}_open ON ${w} (id) WHERE done IS NULL`,
      `CREATE TABLE ${r} (k TEXT NOT NULL, t INTEGER NOT NULL, v INTEGER, PRIMARY KEY (k, t))`,
      `CREATE INDEX ${r}_t ON ${r} (t)`,
      `CREATE TABLE ${d} (k TEXT NOT NULL, id INTEGER NOT NULL, done INTEGER, PRIMARY KEY (k, id)) WITHOUT ROWID`,
      `CREATE INDEX ${d}_open ON ${d} (id) WHERE done IS NULL`,
    ].map((s) => d1.prepare(s)),
  );
  const per = (x: { rows_written: number }) => x.rows_written / n;
  const out = {
    rows: n,
    without_rowid_insert_into_partial_index: per(
      await run(`INSERT INTO ${w} VALUES ${values((i) => `('a', ${i}, 0, NULL)`)}`),
    ),
    without_rowid_update_unindexed: per(await run(`UPDATE ${w} SET v = v + 1`)),
    // Assigning the partial index's column: its entry is deleted, and inserted again if the row stays in the index.
    without_rowid_update_staying_in_partial_index: per(await run(`UPDATE ${w} SET done = NULL, v = v + 1`)),
    without_rowid_update_leaving_partial_index: per(await run(`UPDATE ${w} SET done = 1, v = v + 1`)),
    without_rowid_delete_outside_partial_index: per(await run(`DELETE FROM ${w}`)),
    rowid_insert_with_2_indexes: per(await run(`INSERT INTO ${r} VALUES ${values((i) => `('a', ${i}, 0)`)}`)),
    rowid_update_unindexed: per(await run(`UPDATE ${r} SET v = v + 1`)),
    rowid_delete_with_2_indexes: per(await run(`DELETE FROM ${r}`)),
    drop_table_of_rows: 0,
  };
  await run(`INSERT INTO ${d} VALUES ${values((i) => `('a', ${i}, NULL)`)}`);
  out.drop_table_of_rows = (await run(`DROP TABLE ${d}`)).rows_written;
  await d1.batch([`DROP TABLE ${w}`, `DROP TABLE ${r}`].map((s) => d1.prepare(s)));
  return out;
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
        .innerJoin(events, and(eq(events.ownerKey, deliveries.eventOwner), eq(events.eventId, deliveries.eventId)))
        .where(eq(deliveries.id, i))
        .toSQL();
  }
  return Response.json({ what, n });
}
