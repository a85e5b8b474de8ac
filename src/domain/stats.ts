// Delivery statistics: the fixed latency histogram, the failure families, the one SQL aggregation of attempt rows
// (used both by the rollup into webhook_stats_hourly and, live, for the attempts not yet rolled up), the atomic
// rollup step, and an endpoint's stats over a window.
//
// Invariant: webhook_stats_hourly holds exactly the attempts with id <= the `stats` cursor (job_cursors), minus those
// of deleted endpoints and hours past STATS_RETENTION_DAYS. Every statement that reads or moves the cursor keeps it true:
// D1 serialises writes and delivery_attempts.id is AUTOINCREMENT (never reused), so attempt ids become visible in
// increasing order and no attempt can appear below the cursor.
import type { Database } from "../db/client";
import type { ErrorClass, WebhookEndpointRow } from "../db/schema";
import { toIso } from "../lib/time";
import { webhookStatus as endpointStatus } from "./webhooks";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** The job_cursors row of the rollup. */
export const STATS_CURSOR = "stats";

/**
 * Upper bounds (exclusive, in ms) of the latency histogram's buckets; one last bucket holds everything from 30 s up.
 * Bucket i counts durations in [bound[i-1], bound[i]). This is the stored format of webhook_stats_hourly.latency_histogram:
 * changing it needs a migration that rewrites that column.
 */
export const LATENCY_BUCKET_BOUNDS_MS = [
  5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000, 20_000, 30_000,
] as const;
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKET_BOUNDS_MS.length + 1;

/** The histogram bucket of a duration. */
export function latencyBucketOf(ms: number): number {
  const i = LATENCY_BUCKET_BOUNDS_MS.findIndex((bound) => ms < bound);
  return i === -1 ? LATENCY_BUCKET_BOUNDS_MS.length : i;
}

/** The integer durations bucket `i` holds: [lo, hi] (hi is Infinity for the last bucket). */
export function latencyBucketRange(i: number): { lo: number; hi: number } {
  const lo = i === 0 ? 0 : LATENCY_BUCKET_BOUNDS_MS[i - 1]!;
  const upper = LATENCY_BUCKET_BOUNDS_MS[i];
  return { lo, hi: upper === undefined ? Number.POSITIVE_INFINITY : upper - 1 };
}

export const FAILURE_FAMILIES = ["timeout", "connection", "4xx", "5xx", "other"] as const;
export type FailureFamily = (typeof FAILURE_FAMILIES)[number];

/** Every error class has a family (a new class must pick one); a failure without a class, or an unknown one, is "other". */
export const FAILURE_FAMILY_OF: Record<ErrorClass, FailureFamily> = {
  timeout: "timeout",
  connection_refused: "connection",
  dns: "connection",
  tls: "connection",
  network: "connection",
  http_4xx: "4xx", // 429 included
  http_5xx: "5xx",
  redirect: "other",
  invalid_response: "other",
  blocked_target: "other",
};

export const failureFamilyOf = (errorClass: string | null): FailureFamily =>
  (errorClass !== null && FAILURE_FAMILY_OF[errorClass as ErrorClass]) || "other";

// ---- The aggregation, in SQL. `a` is delivery_attempts, `d` its delivery. ----

const quoteList = (values: string[]) => values.map((v) => `'${v}'`).join(", ");
const classesOf = (family: FailureFamily) => (Object.keys(FAILURE_FAMILY_OF) as ErrorClass[]).filter((c) => FAILURE_FAMILY_OF[c] === family);
const countIf = (condition: string) => `sum(CASE WHEN ${condition} THEN 1 ELSE 0 END)`;
const familyCondition = (family: FailureFamily) =>
  family === "other"
    ? `a.success = 0 AND (a.error_class IS NULL OR a.error_class NOT IN (${quoteList(
        (Object.keys(FAILURE_FAMILY_OF) as ErrorClass[]).filter((c) => FAILURE_FAMILY_OF[c] !== "other"),
      )}))`
    : `a.success = 0 AND a.error_class IN (${quoteList(classesOf(family))})`;
// The same buckets as latencyBucketOf: [bound[i-1], bound[i]).
const histogramBucketCondition = (i: number) => {
  const lower = LATENCY_BUCKET_BOUNDS_MS[i - 1];
  const upper = LATENCY_BUCKET_BOUNDS_MS[i];
  if (lower === undefined) return `a.duration_ms < ${upper}`;
  if (upper === undefined) return `a.duration_ms >= ${lower}`;
  return `a.duration_ms >= ${lower} AND a.duration_ms < ${upper}`;
};

/** The columns of webhook_stats_hourly after (webhook_id, hour_start), each with its aggregate over attempt rows. */
const AGGREGATES: [column: string, expression: string][] = [
  ["attempts", "count(*)"],
  ["successes", countIf("a.success = 1")],
  ["failures_timeout", countIf(familyCondition("timeout"))],
  ["failures_connection", countIf(familyCondition("connection"))],
  ["failures_4xx", countIf(familyCondition("4xx"))],
  ["failures_5xx", countIf(familyCondition("5xx"))],
  ["failures_other", countIf(familyCondition("other"))],
  // A delivery ends as success at its successful attempt, and as failed at its last attempt once its status is `failed`
  // (as seen when the attempt is rolled up). A failed delivery retried by hand later can therefore end twice.
  ["deliveries_succeeded", countIf("a.success = 1")],
  ["deliveries_failed", countIf("a.success = 0 AND d.status = 'failed' AND a.attempt_number = d.attempt_count")],
  ["latency_sum_ms", "sum(a.duration_ms)"],
  ["latency_min_ms", "min(a.duration_ms)"],
  ["latency_max_ms", "max(a.duration_ms)"],
  ["latency_histogram", `json_array(${Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => countIf(histogramBucketCondition(i))).join(", ")})`],
];
const STAT_COLUMNS = AGGREGATES.map(([column]) => column);
const SELECT_AGGREGATES = AGGREGATES.map(([column, expression]) => `${expression} AS ${column}`).join(",\n    ");
const HOUR_OF_ATTEMPT = `(a.started_at / ${HOUR_MS}) * ${HOUR_MS}`;
const CURSOR_VALUE = `coalesce((SELECT value FROM job_cursors WHERE name = '${STATS_CURSOR}'), 0)`;

/** Merging a new aggregate (`excluded`) into an existing row: counts add up, min/max combine, histograms add bucket by bucket. */
const MERGE = STAT_COLUMNS.map((column) => {
  const old = `webhook_stats_hourly.${column}`;
  switch (column) {
    case "latency_min_ms":
    case "latency_max_ms": {
      const fn = column === "latency_min_ms" ? "min" : "max";
      return `${column} = ${fn}(coalesce(${old}, excluded.${column}), excluded.${column})`;
    }
    case "latency_histogram":
      return `${column} = json_array(${Array.from(
        { length: LATENCY_BUCKET_COUNT },
        (_, i) => `coalesce(json_extract(${old}, '$[${i}]'), 0) + json_extract(excluded.${column}, '$[${i}]')`,
      ).join(", ")})`;
    default:
      return `${column} = ${old} + excluded.${column}`;
  }
}).join(",\n    ");

/**
 * Rolls up the attempts with cursor < id <= ?1 and moves the cursor to ?1, reading the cursor inside the statement.
 * Run in one batch with ADVANCE_CURSOR (one transaction), two runs can never count an attempt twice: whichever commits
 * second reads the cursor the first one moved, so its range is empty (or only what lies beyond). Endpoints deleted
 * before their attempts are rolled up are skipped, so a rollup never brings back the stats deleteEndpoint removed.
 */
const ROLL_UP = `INSERT INTO webhook_stats_hourly (webhook_id, hour_start, ${STAT_COLUMNS.join(", ")})
  SELECT a.webhook_id, ${HOUR_OF_ATTEMPT} AS hour,
    ${SELECT_AGGREGATES}
  FROM delivery_attempts a
  JOIN deliveries d ON d.id = a.delivery_id
  JOIN webhook_endpoints w ON w.id = a.webhook_id AND w.deleted_at IS NULL
  WHERE a.id > ${CURSOR_VALUE} AND a.id <= ?1
  GROUP BY a.webhook_id, hour
  ON CONFLICT (webhook_id, hour_start) DO UPDATE SET
    ${MERGE}`;
const COUNT_RANGE = `SELECT count(*) AS n FROM delivery_attempts WHERE id > ${CURSOR_VALUE} AND id <= ?1`;
// Only forward (a run that lost a race never moves the cursor back); creates the row on the first run.
const ADVANCE_CURSOR = `INSERT INTO job_cursors (name, value, updated_at) VALUES ('${STATS_CURSOR}', ?1, ?2)
  ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at WHERE job_cursors.value < excluded.value`;
const NEXT_CHUNK = `SELECT ${CURSOR_VALUE} AS cursor, max(id) AS upto, count(*) AS n
  FROM (SELECT id FROM delivery_attempts WHERE id > ${CURSOR_VALUE} ORDER BY id LIMIT ?1)`;

export async function readStatsCursor(db: Database): Promise<number> {
  const row = await db.$client.prepare(`SELECT ${CURSOR_VALUE} AS cursor`).first<{ cursor: number }>();
  return row?.cursor ?? 0;
}

/** The next at most `limit` attempts past the cursor: the id to roll up to, and how many there are. */
export async function nextRollupChunk(db: Database, limit: number): Promise<{ cursor: number; upTo: number | null; size: number }> {
  const row = await db.$client.prepare(NEXT_CHUNK).bind(limit).first<{ cursor: number; upto: number | null; n: number }>();
  return { cursor: row?.cursor ?? 0, upTo: row?.upto ?? null, size: row?.n ?? 0 };
}

/**
 * One atomic rollup step up to attempt id `upTo` (inclusive). Returns how many attempts this step consumed
 * (0 when another run had already rolled them up). Safe to call with a stale `upTo`, twice, or concurrently.
 */
export async function rollUpTo(db: Database, upTo: number, now: number): Promise<number> {
  const d1 = db.$client;
  const [counted] = await d1.batch<{ n: number }>([
    d1.prepare(COUNT_RANGE).bind(upTo),
    d1.prepare(ROLL_UP).bind(upTo),
    d1.prepare(ADVANCE_CURSOR).bind(upTo, now),
  ]);
  return counted?.results[0]?.n ?? 0;
}

// ---- An endpoint's stats over a window. ----

export const STATS_WINDOWS = {
  "1h": { durationMs: HOUR_MS, bucket: "hour" },
  "24h": { durationMs: DAY_MS, bucket: "hour" },
  "7d": { durationMs: 7 * DAY_MS, bucket: "day" },
  "30d": { durationMs: 30 * DAY_MS, bucket: "day" },
} as const;
export type StatsWindow = keyof typeof STATS_WINDOWS;
export const STATS_WINDOW_NAMES = Object.keys(STATS_WINDOWS) as [StatsWindow, ...StatsWindow[]];

/**
 * The window covers at least its duration: from the start of the hour (day, for 7d/30d; UTC) that contains
 * `now - duration`, to the end of the current hour. Rollups are hourly, so any finer start could not be exact.
 */
export function windowBounds(window: StatsWindow, now: number) {
  const { durationMs, bucket } = STATS_WINDOWS[window];
  const bucketMs = bucket === "hour" ? HOUR_MS : DAY_MS;
  const from = Math.floor((now - durationMs) / bucketMs) * bucketMs;
  const until = Math.floor(now / HOUR_MS) * HOUR_MS + HOUR_MS; // exclusive
  const bucketStarts: number[] = [];
  for (let start = from; start < until; start += bucketMs) bucketStarts.push(start);
  return { from, until, bucket, bucketMs, bucketStarts };
}

/** One hour of one endpoint's attempts, rolled up or live. */
interface HourAggregate {
  hour_start: number;
  attempts: number;
  successes: number;
  failures_timeout: number;
  failures_connection: number;
  failures_4xx: number;
  failures_5xx: number;
  failures_other: number;
  deliveries_succeeded: number;
  deliveries_failed: number;
  latency_sum_ms: number;
  latency_min_ms: number | null;
  latency_max_ms: number | null;
  latency_histogram: string;
}

const ROLLED_UP_HOURS = `SELECT hour_start, ${STAT_COLUMNS.join(", ")} FROM webhook_stats_hourly
  WHERE webhook_id = ?1 AND hour_start >= ?2 AND hour_start < ?3`;
// The attempts past the cursor (minutes of traffic when the cron keeps up): walked by id, not by the
// (webhook_id, started_at) index, which would visit every attempt of the window ("+" keeps the planner off it).
const LIVE_HOURS = `SELECT ${HOUR_OF_ATTEMPT} AS hour_start,
    ${SELECT_AGGREGATES}
  FROM delivery_attempts a
  JOIN deliveries d ON d.id = a.delivery_id
  WHERE a.id > ${CURSOR_VALUE} AND +a.webhook_id = ?1 AND +a.started_at >= ?2 AND +a.started_at < ?3
  GROUP BY hour_start`;
// Deliveries in D1, plus those in the archive: its objects hold one hour of creation each, and windows start on the hour.
const archivedIn = (column: string) =>
  `SELECT coalesce(sum(${column}), 0) FROM delivery_archives WHERE webhook_id = ?1 AND hour_start >= ?2 AND hour_start < ?3`;
const DELIVERIES_BY_STATUS = `SELECT status, sum(n) AS n FROM (
    SELECT status, count(*) AS n FROM deliveries WHERE webhook_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY status
    UNION ALL SELECT 'success', (${archivedIn("succeeded")})
    UNION ALL SELECT 'failed', (${archivedIn("failed")})
    UNION ALL SELECT 'cancelled', (${archivedIn("cancelled")}))
  GROUP BY status`;

const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/**
 * Nearest-rank percentile (`percent` of 100) estimated from the histogram: the bucket holding that rank is exact,
 * the value inside it is interpolated and kept within the observed min and max.
 */
export function percentileFromHistogram(histogram: number[], percent: number, min: number, max: number): number | null {
  const total = histogram.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((percent * total) / 100));
  let below = 0;
  for (let i = 0; i < histogram.length; i++) {
    const n = histogram[i] ?? 0;
    if (n > 0 && below + n >= rank) {
      const range = latencyBucketRange(i);
      const lo = Math.max(range.lo, min);
      const hi = Math.min(range.hi, max);
      return Math.round(lo + ((hi - lo) * (rank - below)) / n);
    }
    below += n;
  }
  return max;
}

const emptyHistogram = () => new Array<number>(LATENCY_BUCKET_COUNT).fill(0);

export async function getEndpointStats(db: Database, endpoint: WebhookEndpointRow, window: StatsWindow, now: number) {
  const { from, until, bucket, bucketMs, bucketStarts } = windowBounds(window, now);
  const d1 = db.$client;
  // One batch, one transaction: the rolled-up hours and the live attempts are split by the same cursor value.
  const [rolledUp, live, byStatus] = await d1.batch<Record<string, unknown>>([
    d1.prepare(ROLLED_UP_HOURS).bind(endpoint.id, from, until),
    d1.prepare(LIVE_HOURS).bind(endpoint.id, from, until),
    d1.prepare(DELIVERIES_BY_STATUS).bind(endpoint.id, from, until),
  ]);
  const hours = [...(rolledUp?.results ?? []), ...(live?.results ?? [])] as unknown as HourAggregate[];

  const failures: Record<FailureFamily, number> = { timeout: 0, connection: 0, "4xx": 0, "5xx": 0, other: 0 };
  const histogram = emptyHistogram();
  let attempts = 0;
  let successes = 0;
  let latencySum = 0;
  let latencyMin = Number.POSITIVE_INFINITY;
  let latencyMax = Number.NEGATIVE_INFINITY;
  const series = bucketStarts.map((start) => ({ start, attempts: 0, successes: 0, deliveriesSucceeded: 0, deliveriesFailed: 0, latencySum: 0 }));
  for (const h of hours) {
    attempts += h.attempts;
    successes += h.successes;
    failures.timeout += h.failures_timeout;
    failures.connection += h.failures_connection;
    failures["4xx"] += h.failures_4xx;
    failures["5xx"] += h.failures_5xx;
    failures.other += h.failures_other;
    latencySum += h.latency_sum_ms;
    if (h.latency_min_ms !== null) latencyMin = Math.min(latencyMin, h.latency_min_ms);
    if (h.latency_max_ms !== null) latencyMax = Math.max(latencyMax, h.latency_max_ms);
    (JSON.parse(h.latency_histogram) as number[]).forEach((n, i) => {
      if (i < histogram.length) histogram[i]! += n;
    });
    const point = series[Math.floor((h.hour_start - from) / bucketMs)];
    if (point) {
      point.attempts += h.attempts;
      point.successes += h.successes;
      point.deliveriesSucceeded += h.deliveries_succeeded;
      point.deliveriesFailed += h.deliveries_failed;
      point.latencySum += h.latency_sum_ms;
    }
  }

  const deliveries = { total: 0, success: 0, failed: 0, pending: 0, retrying: 0, cancelled: 0 };
  for (const row of (byStatus?.results ?? []) as { status: keyof typeof deliveries; n: number }[]) {
    if (row.status in deliveries) deliveries[row.status] += row.n;
    deliveries.total += row.n;
  }

  const percentile = (p: number) => (attempts === 0 ? null : percentileFromHistogram(histogram, p, latencyMin, latencyMax));
  return {
    webhook_id: endpoint.id,
    window,
    from: toIso(from)!,
    to: toIso(until)!,
    bucket,
    status: endpointStatus(endpoint),
    deliveries,
    attempts,
    success_rate: attempts === 0 ? null : round(successes / attempts, 4),
    latency: {
      avg: attempts === 0 ? null : round(latencySum / attempts, 1),
      p50: percentile(50),
      p95: percentile(95),
      p99: percentile(99),
    },
    failures_by_class: failures,
    last_success_at: toIso(endpoint.lastSuccessAt),
    last_failure_at: toIso(endpoint.lastFailureAt),
    failure_count: endpoint.failureCount,
    disabled_at: toIso(endpoint.disabledAt),
    series: series.map((p) => ({
      start: toIso(p.start)!,
      attempts: p.attempts,
      successes: p.successes,
      failures: p.attempts - p.successes,
      deliveries_succeeded: p.deliveriesSucceeded,
      deliveries_failed: p.deliveriesFailed,
      avg_latency_ms: p.attempts === 0 ? null : round(p.latencySum / p.attempts, 1),
    })),
  };
}
export type EndpointStats = Awaited<ReturnType<typeof getEndpointStats>>;
