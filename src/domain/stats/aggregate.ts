// The one SQL aggregation of attempts into the columns of webhook_stats_hourly and webhook_stats_daily (stats/record.ts
// writes them with the attempts they count).
import type { ErrorClass } from "../../db/schema";
import { FAILURE_FAMILY_OF, type FailureFamily, LATENCY_BUCKET_COUNT } from "./histogram";

export { DAY_MS, HOUR_MS } from "../../db/partitions";

// `a` is one attempt: webhook_id, started_at, duration_ms, success (0/1), error_class, final_failed (0/1: the attempt
// ended its delivery as failed), latency_bucket (its bucket of the histogram, latencyBucketOf). The rows aggregated
// together share their latency bucket (record.ts groups by it), so a row's histogram counts in that one bucket.
const quoteList = (values: string[]) => values.map((v) => `'${v}'`).join(", ");
const classesOf = (family: FailureFamily) =>
  (Object.keys(FAILURE_FAMILY_OF) as ErrorClass[]).filter((c) => FAILURE_FAMILY_OF[c] === family);
const countIf = (condition: string) => `sum(CASE WHEN ${condition} THEN 1 ELSE 0 END)`;
const familyCondition = (family: FailureFamily) =>
  family === "other"
    ? `a.success = 0 AND (a.error_class IS NULL OR a.error_class NOT IN (${quoteList(
        (Object.keys(FAILURE_FAMILY_OF) as ErrorClass[]).filter((c) => FAILURE_FAMILY_OF[c] !== "other"),
      )}))`
    : `a.success = 0 AND a.error_class IN (${quoteList(classesOf(family))})`;
/** An empty histogram, as SQL text. */
const EMPTY_HISTOGRAM = `'${JSON.stringify(new Array(LATENCY_BUCKET_COUNT).fill(0))}'`;

/** The columns of webhook_stats_hourly after (webhook_id, hour_start), each with its aggregate over attempt rows. */
const AGGREGATES: [column: string, expression: string][] = [
  ["attempts", "count(*)"],
  ["successes", countIf("a.success = 1")],
  ["failures_timeout", countIf(familyCondition("timeout"))],
  ["failures_connection", countIf(familyCondition("connection"))],
  ["failures_4xx", countIf(familyCondition("4xx"))],
  ["failures_5xx", countIf(familyCondition("5xx"))],
  ["failures_other", countIf(familyCondition("other"))],
  // A delivery ends as success at its successful attempt, and as failed at the attempt that made it `failed`. A failed
  // delivery retried by hand later can therefore end twice.
  ["deliveries_succeeded", countIf("a.success = 1")],
  ["deliveries_failed", countIf("a.final_failed = 1")],
  ["latency_sum_ms", "sum(a.duration_ms)"],
  ["latency_min_ms", "min(a.duration_ms)"],
  ["latency_max_ms", "max(a.duration_ms)"],
  // Every attempt of the group in its one latency bucket.
  ["latency_histogram", `json_set(${EMPTY_HISTOGRAM}, '$[' || a.latency_bucket || ']', count(*))`],
];
export const STAT_COLUMNS = AGGREGATES.map(([column]) => column);
export const SELECT_AGGREGATES = AGGREGATES.map(([column, expression]) => `${expression} AS ${column}`).join(",\n    ");
/** The start of the hour, or of the UTC day, an attempt started in. */
export const bucketOfAttempt = (bucketMs: number) => `(a.started_at / ${bucketMs}) * ${bucketMs}`;
