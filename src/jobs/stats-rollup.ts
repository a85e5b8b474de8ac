// The stats cron (every 5 minutes): roll new delivery attempts up into webhook_stats_hourly, in bounded batches.
// Incremental (from the `stats` cursor), idempotent and safe to run concurrently (see rollUpTo in domain/stats/rollup).
import { nextRollupChunk, rollUpTo } from "../domain/stats/rollup";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

/** Attempts per batch: one D1 batch of three statements aggregates them. */
export const ROLLUP_BATCH_SIZE = 1000;
/** Batches per run: at most ROLLUP_BATCH_SIZE × ROLLUP_MAX_BATCHES attempts (20 D1 calls); a backlog waits for the next run. */
export const ROLLUP_MAX_BATCHES = 10;

export interface RollupResult {
  /** Attempts this run rolled up (those another run took first are not counted). */
  attempts: number;
  batches: number;
  /** The cursor when the run ended. */
  cursor: number;
  /** Whether nothing was left to roll up when the run ended. */
  caughtUp: boolean;
}

export async function rollUpStats(
  services: Pick<Services, "db" | "now">,
  opts: { batchSize?: number; maxBatches?: number } = {},
): Promise<RollupResult> {
  const batchSize = opts.batchSize ?? ROLLUP_BATCH_SIZE;
  const maxBatches = opts.maxBatches ?? ROLLUP_MAX_BATCHES;
  let attempts = 0;
  let batches = 0;
  let chunk = await nextRollupChunk(services.db, batchSize);
  while (chunk.upTo !== null && batches < maxBatches) {
    attempts += await rollUpTo(services.db, chunk.upTo, services.now());
    batches++;
    chunk = await nextRollupChunk(services.db, batchSize);
  }
  const result = { attempts, batches, cursor: chunk.cursor, caughtUp: chunk.upTo === null };
  if (batches > 0) logger.info("stats rollup", { attempts, batches, cursor: result.cursor, caught_up: result.caughtUp });
  if (!result.caughtUp) logger.warn("stats rollup behind; the rest waits for the next run", { cursor: result.cursor });
  return result;
}
