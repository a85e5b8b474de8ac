// The write side of the stats: each attempt is added to its webhook's hour and day (webhook_stats_hourly and
// webhook_stats_daily) by two statements that ride in the batch recording the attempt (delivery/record.ts), guarded like
// everything else recorded about it, so the stats are exact by construction: a batch that fails counts nothing, one that
// runs twice counts once, and there is no rollup to wait for.
import { DAY_MS, HOUR_MS } from "../../db/partitions";
import { unrecorded } from "../delivery/endpoint-health";
import { bucketOfAttempt, SELECT_AGGREGATES, STAT_COLUMNS } from "./aggregate";
import { LATENCY_BUCKET_COUNT } from "./histogram";

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

/** Merging a new aggregate (`excluded`) into an existing row: counts add up, min/max combine, histograms add bucket by bucket. */
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
        return `${column} = json_array(${Array.from(
          { length: LATENCY_BUCKET_COUNT },
          (_, i) => `coalesce(json_extract(${old}, '$[${i}]'), 0) + json_extract(excluded.${column}, '$[${i}]')`,
        ).join(", ")})`;
      default:
        return `${column} = ${old} + excluded.${column}`;
    }
  }).join(",\n    ");

// The group's attempts (?1, JSON) that are still unrecorded and whose webhook is not deleted (its stats went with it).
const ATTEMPTS = `SELECT r.value ->> 'webhook_id' AS webhook_id, r.value ->> 'started_at' AS started_at,
    r.value ->> 'duration_ms' AS duration_ms, r.value ->> 'success' AS success, r.value ->> 'error_class' AS error_class,
    r.value ->> 'final_failed' AS final_failed
  FROM json_each(?1) AS r
  WHERE ${unrecorded("r.value ->> 'webhook_id'", "r.value ->> 'delivery_id'", "r.value ->> 'attempt_number'")}
    AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = r.value ->> 'webhook_id' AND w.deleted_at IS NULL)`;

const addTo = (table: string, bucketColumn: string, bucketMs: number) => `INSERT INTO ${table}
    (webhook_id, ${bucketColumn}, ${STAT_COLUMNS.join(", ")})
  SELECT a.webhook_id, ${bucketOfAttempt(bucketMs)} AS bucket,
    ${SELECT_AGGREGATES}
  FROM (${ATTEMPTS}) AS a
  WHERE true
  GROUP BY a.webhook_id, bucket
  ON CONFLICT (webhook_id, ${bucketColumn}) DO UPDATE SET
    ${merge(table)}`;
const ADD_TO_HOURS = addTo("webhook_stats_hourly", "hour_start", HOUR_MS);
const ADD_TO_DAYS = addTo("webhook_stats_daily", "day_start", DAY_MS);

/** The two statements that add `attempts` to their webhooks' hours and days; run before the attempts are recorded. */
export function attemptStatsStatements(d1: D1Database, attempts: readonly StatsAttempt[]): D1PreparedStatement[] {
  if (attempts.length === 0) return [];
  const json = JSON.stringify(attempts);
  return [d1.prepare(ADD_TO_HOURS).bind(json), d1.prepare(ADD_TO_DAYS).bind(json)];
}
