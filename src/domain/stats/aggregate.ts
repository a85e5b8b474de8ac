// The one SQL aggregation of attempt rows into the columns of webhook_stats_hourly, used both by the rollup and, live,
// by the read model for the attempts not yet rolled up; and the `stats` cursor that splits the two.
//
// Invariant: webhook_stats_hourly holds exactly the attempts with id <= the `stats` cursor (job_cursors), minus those
// of deleted endpoints and hours past STATS_RETENTION_DAYS. Every statement that reads or moves the cursor keeps it true:
// D1 serialises writes and delivery_attempts.id is AUTOINCREMENT (never reused), so attempt ids become visible in
// increasing order and no attempt can appear below the cursor.
import type { ErrorClass } from "../../db/schema";
import { FAILURE_FAMILY_OF, type FailureFamily, LATENCY_BUCKET_BOUNDS_MS, LATENCY_BUCKET_COUNT } from "./histogram";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** The job_cursors row of the rollup. */
export const STATS_CURSOR = "stats";

// `a` is delivery_attempts, `d` its delivery.
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
// Bucket i holds [bound[i-1], bound[i]).
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
  [
    "latency_histogram",
    `json_array(${Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => countIf(histogramBucketCondition(i))).join(", ")})`,
  ],
];
export const STAT_COLUMNS = AGGREGATES.map(([column]) => column);
export const SELECT_AGGREGATES = AGGREGATES.map(([column, expression]) => `${expression} AS ${column}`).join(",\n    ");
export const HOUR_OF_ATTEMPT = `(a.started_at / ${HOUR_MS}) * ${HOUR_MS}`;
export const CURSOR_VALUE = `coalesce((SELECT value FROM job_cursors WHERE name = '${STATS_CURSOR}'), 0)`;
