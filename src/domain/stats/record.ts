// The write side of the stats: each attempt is added to its webhook's hour and day (webhook_stats_hourly and
// webhook_stats_daily) by two statements that ride in the batch recording the attempt (delivery/record.ts), guarded like
// everything else recorded about it, so the stats are exact by construction: a batch that fails counts nothing, one that
// runs twice counts once, and there is no rollup to wait for.
import { DAY_MS, HOUR_MS } from "../../db/partitions";
import { unrecorded } from "../delivery/endpoint-health";
import { bucketOfAttempt, SELECT_AGGREGATES, STAT_COLUMNS } from "./aggregate";
import { LATENCY_BUCKET_COUNT, latencyBucketOf } from "./histogram";

/** One attempt as the stats count it. */
export interface StatsAttempt {
  webhook_id: string;
  delivery_id: number;
  attempt_number: number;
  started_at: number;
  duration_ms: number;
  success: 0 | 1;
  error_class: string | null;
  /** 1 when this attempt ended its delivery as failed. */
  final_failed: 0 | 1;
}

/**
 * A stored histogram with `excluded`'s counts added (excluded is a new row's: all its counts in one bucket, the only
 * non-zero one): that one element is read and set. A stored histogram shorter than the buckets (the column's default
 * `[]`) is first made whole.
 */
const addToHistogram = (old: string) => {
  const whole = `CASE WHEN json_array_length(${old}) = ${LATENCY_BUCKET_COUNT} THEN ${old} ELSE json_array(${Array.from(
    { length: LATENCY_BUCKET_COUNT },
    (_, i) => `coalesce(json_extract(${old}, '$[${i}]'), 0)`,
  ).join(", ")}) END`;
  return `(SELECT json_set(w.h, '$[' || n.key || ']', json_extract(w.h, '$[' || n.key || ']') + n.value)
      FROM (SELECT ${whole} AS h) AS w, json_each(excluded.latency_histogram) AS n WHERE n.value > 0)`;
};

/** Merging a new aggregate (`excluded`) into an existing row: counts add up, min/max combine, histograms add. */
const merge = (table: string) =>
  STAT_COLUMNS.map((column) => {
    const old = `${table}.${column}`;
    switch (column) {
      case "latency_min_ms":
      case "latency_max_ms": {
        const fn = column === "latency_min_ms" ? "min" : "max";
        return `${column} = ${fn}(coalesce(${old}, excluded.${column}), excluded.${column})`;
      }
      case "latency_histogram":
        return `${column} = ${addToHistogram(old)}`;
      default:
        return `${column} = ${old} + excluded.${column}`;
    }
  }).join(",\n    ");

// The group's attempts (?1, JSON) that are still unrecorded and whose webhook is not deleted (its stats went with it),
// read out of the JSON once (MATERIALIZED: otherwise every aggregate would extract its fields again).
const ATTEMPTS = `WITH a AS MATERIALIZED (SELECT r.value ->> 'webhook_id' AS webhook_id,
    r.value ->> 'started_at' AS started_at, r.value ->> 'duration_ms' AS duration_ms, r.value ->> 'success' AS success,
    r.value ->> 'error_class' AS error_class, r.value ->> 'final_failed' AS final_failed,
    r.value ->> 'latency_bucket' AS latency_bucket
  FROM json_each(?1) AS r
  WHERE ${unrecorded("r.value ->> 'webhook_id'", "r.value ->> 'delivery_id'", "r.value ->> 'attempt_number'")}
    AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = r.value ->> 'webhook_id' AND w.deleted_at IS NULL))`;

// One row per webhook, bucket and latency bucket: the rows of one (webhook, bucket) after the first merge into it, so
// a histogram takes one element's change each time (rather than every element of it from both sides).
const addTo = (table: string, bucketColumn: string, bucketMs: number) => `${ATTEMPTS}
  INSERT INTO ${table} (webhook_id, ${bucketColumn}, ${STAT_COLUMNS.join(", ")})
  SELECT a.webhook_id, ${bucketOfAttempt(bucketMs)} AS bucket,
    ${SELECT_AGGREGATES}
  FROM a
  WHERE true
  GROUP BY a.webhook_id, bucket, a.latency_bucket
  ON CONFLICT (webhook_id, ${bucketColumn}) DO UPDATE SET
    ${merge(table)}`;
const ADD_TO_HOURS = addTo("webhook_stats_hourly", "hour_start", HOUR_MS);
const ADD_TO_DAYS = addTo("webhook_stats_daily", "day_start", DAY_MS);

/** The two statements that add `attempts` to their webhooks' hours and days; run before the attempts are recorded. */
export function attemptStatsStatements(d1: D1Database, attempts: readonly StatsAttempt[]): D1PreparedStatement[] {
  if (attempts.length === 0) return [];
  const json = JSON.stringify(attempts.map((a) => ({ ...a, latency_bucket: latencyBucketOf(a.duration_ms) })));
  return [d1.prepare(ADD_TO_HOURS).bind(json), d1.prepare(ADD_TO_DAYS).bind(json)];
}
