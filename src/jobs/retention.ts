// The daily retention cron: purge delivery attempts and event payloads older than RETENTION_DAYS, and hourly stats
// older than STATS_RETENTION_DAYS, in bounded chunks. Attempts not yet rolled up are never purged, so the stats stay whole.
import { DAY_MS, STATS_CURSOR } from "../domain/stats/aggregate";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

/** Rows per statement: each chunk is one short D1 write. */
export const RETENTION_CHUNK_ROWS = 1000;
/** Chunks per kind of data per run (3 kinds: at most 300 D1 calls); what is left waits for the next day. */
export const RETENTION_MAX_CHUNKS = 100;

// Oldest first, through delivery_attempts_started_idx; only ids at or below the rollup cursor.
const PURGE_ATTEMPTS = `DELETE FROM delivery_attempts WHERE id IN (
    SELECT id FROM delivery_attempts
    WHERE started_at < ?1 AND id <= coalesce((SELECT value FROM job_cursors WHERE name = '${STATS_CURSOR}'), 0)
    ORDER BY started_at LIMIT ?2)`;
// payload is NOT NULL: '' marks a purged payload (the API then shows null), and the partial index
// events_unpurged_created_idx holds only unpurged events, so each run starts where the last one stopped.
// An event with a delivery still pending or retrying keeps its payload until that delivery is done.
const PURGE_PAYLOADS = `UPDATE events SET payload = '' WHERE id IN (
    SELECT id FROM events
    WHERE created_at < ?1 AND payload != ''
      AND id NOT IN (SELECT event_id FROM deliveries WHERE status IN ('pending', 'retrying'))
    ORDER BY created_at LIMIT ?2)`;
const PURGE_STATS = `DELETE FROM webhook_stats_hourly WHERE rowid IN (
    SELECT rowid FROM webhook_stats_hourly WHERE hour_start < ?1 ORDER BY hour_start LIMIT ?2)`;

export interface RetentionResult {
  attemptsDeleted: number;
  payloadsPurged: number;
  statsDeleted: number;
  /** False when a limit stopped a purge with rows left to do. */
  complete: boolean;
}

export async function runRetention(
  services: Pick<Services, "db" | "config" | "now">,
  opts: { chunkRows?: number; maxChunks?: number } = {},
): Promise<RetentionResult> {
  const chunkRows = opts.chunkRows ?? RETENTION_CHUNK_ROWS;
  const maxChunks = opts.maxChunks ?? RETENTION_MAX_CHUNKS;
  const now = services.now();
  const dataCutoff = now - services.config.retentionDays * DAY_MS;
  const statsCutoff = now - services.config.statsRetentionDays * DAY_MS;
  let complete = true;

  const purge = async (sql: string, cutoff: number): Promise<number> => {
    let total = 0;
    for (let chunk = 0; chunk < maxChunks; chunk++) {
      const { meta } = await services.db.$client.prepare(sql).bind(cutoff, chunkRows).run();
      total += meta.changes;
      if (meta.changes < chunkRows) return total;
    }
    complete = false;
    return total;
  };

  const result = {
    attemptsDeleted: await purge(PURGE_ATTEMPTS, dataCutoff),
    payloadsPurged: await purge(PURGE_PAYLOADS, dataCutoff),
    statsDeleted: await purge(PURGE_STATS, statsCutoff),
  };
  logger.info("retention", {
    attempts_deleted: result.attemptsDeleted,
    payloads_purged: result.payloadsPurged,
    stats_deleted: result.statsDeleted,
    complete,
  });
  if (!complete) logger.warn("retention stopped at its per-run limit; the rest waits for the next run", { max_chunks: maxChunks });
  return { ...result, complete };
}
