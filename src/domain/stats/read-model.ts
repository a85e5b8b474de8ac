// The read side of the stats: an endpoint's rolled-up hours and live attempts over a window (readEndpointStats), and
// the API's view of them (toPublicStats).
import type { WebhookEndpointRow } from "../../db/schema";
import { toIso } from "../../lib/time";
import { archivedStatusCounts } from "../archive/read";
import { missedEventsSinceDisabled, webhookStatus } from "../webhooks";
import { DAY_MS, HOUR_MS, STAT_COLUMNS } from "./aggregate";
import { type FailureFamily, LATENCY_BUCKET_COUNT, percentileFromHistogram } from "./histogram";

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

// Hour buckets come from the hourly rows, day buckets from the daily ones (aliased to one shape).
const HOURS = `SELECT hour_start, ${STAT_COLUMNS.join(", ")} FROM webhook_stats_hourly
  WHERE webhook_id = ?1 AND hour_start >= ?2 AND hour_start < ?3`;
const DAYS = `SELECT day_start AS hour_start, ${STAT_COLUMNS.join(", ")} FROM webhook_stats_daily
  WHERE webhook_id = ?1 AND day_start >= ?2 AND day_start < ?3`;
// Deliveries created in the window still in D1, by status (the archive's are counted from archive_days).
const HOT_BY_STATUS = `SELECT status, count(*) AS n FROM deliveries_live
  WHERE webhook_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY status`;

const round = (value: number, decimals: number) => Math.round(value * 10 ** decimals) / 10 ** decimals;

/** An endpoint's stats over a window, as stored: the window's bounds, its hours (rolled up and live), its deliveries by status. */
export interface EndpointStatsRows {
  window: StatsWindow;
  bounds: ReturnType<typeof windowBounds>;
  hours: HourAggregate[];
  deliveriesByStatus: { status: string; n: number }[];
}

export async function readEndpointStats(
  store: { db: { $client: D1Database }; archive: R2Bucket | null },
  webhookId: string,
  window: StatsWindow,
  now: number,
): Promise<EndpointStatsRows> {
  const bounds = windowBounds(window, now);
  const { from, until, bucket } = bounds;
  const d1 = store.db.$client;
  const [stats, hot] = await d1.batch<Record<string, unknown>>([
    d1.prepare(bucket === "hour" ? HOURS : DAYS).bind(webhookId, from, until),
    d1.prepare(HOT_BY_STATUS).bind(webhookId, from, until),
  ]);
  const archived = store.archive
    ? await archivedStatusCounts({ db: store.db, archive: store.archive }, webhookId, from, until)
    : {};
  const byStatus = new Map<string, number>(Object.entries(archived));
  for (const r of (hot?.results ?? []) as { status: string; n: number }[])
    byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + r.n);
  return {
    window,
    bounds,
    hours: (stats?.results ?? []) as unknown as HourAggregate[],
    deliveriesByStatus: [...byStatus].map(([status, n]) => ({ status, n })),
  };
}

const emptyHistogram = () => new Array<number>(LATENCY_BUCKET_COUNT).fill(0);

/** The API's view of an endpoint's stats: totals, rates, percentiles and a series, from the rows of readEndpointStats. */
export function toPublicStats(
  endpoint: WebhookEndpointRow,
  { window, bounds, hours, deliveriesByStatus }: EndpointStatsRows,
) {
  const { from, until, bucket, bucketMs, bucketStarts } = bounds;
  const failures: Record<FailureFamily, number> = { timeout: 0, connection: 0, "4xx": 0, "5xx": 0, other: 0 };
  const histogram = emptyHistogram();
  let attempts = 0;
  let successes = 0;
  let latencySum = 0;
  let latencyMin = Number.POSITIVE_INFINITY;
  let latencyMax = Number.NEGATIVE_INFINITY;
  const series = bucketStarts.map((start) => ({
    start,
    attempts: 0,
    successes: 0,
    deliveriesSucceeded: 0,
    deliveriesFailed: 0,
    latencySum: 0,
  }));
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
  for (const row of deliveriesByStatus) {
    if (row.status in deliveries) deliveries[row.status as keyof typeof deliveries] += row.n;
    deliveries.total += row.n;
  }

  const percentile = (p: number) =>
    attempts === 0 ? null : percentileFromHistogram(histogram, p, latencyMin, latencyMax);
  return {
    webhook_id: endpoint.id,
    window,
    from: toIso(from)!,
    to: toIso(until)!,
    bucket,
    status: webhookStatus(endpoint),
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
    missed_events_since_disabled: missedEventsSinceDisabled(endpoint),
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
