// The write side of the stats: rolling delivery attempts up into webhook_stats_hourly, one atomic step at a time,
// from the `stats` cursor (see aggregate.ts for the invariant it keeps).
import type { Database } from "../../db/client";
import { CURSOR_VALUE, HOUR_OF_ATTEMPT, SELECT_AGGREGATES, STAT_COLUMNS, STATS_CURSOR } from "./aggregate";
import { LATENCY_BUCKET_COUNT } from "./histogram";

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

/** The next at most `limit` attempts past the cursor: the id to roll up to, and how many there are. */
export async function nextRollupChunk(
  db: Database,
  limit: number,
): Promise<{ cursor: number; upTo: number | null; size: number }> {
  const row = await db.$client
    .prepare(NEXT_CHUNK)
    .bind(limit)
    .first<{ cursor: number; upto: number | null; n: number }>();
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
