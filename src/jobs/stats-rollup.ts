// The stats cron (every 5 minutes): roll new delivery attempts up into webhook_stats_hourly, in batches that grow while
// D1 answers quickly, within a time box.
// Incremental (from the `stats` cursor), idempotent and safe to run concurrently (see rollUpTo in domain/stats/rollup).
import { nextRollupChunk, rollUpTo } from "../domain/stats/rollup";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

/** Attempts in the first batch of a run; each batch that finishes quickly doubles the next, up to the maximum. */
export const ROLLUP_FIRST_BATCH = 1000;
export const ROLLUP_MAX_BATCH = 32_000;
/** A batch quicker than this grows the next one; a slower one halves it (D1 serves everyone else between batches). */
const ROLLUP_TARGET_BATCH_MS = 1_000;
/** Wall time one run may take; a backlog waits for the next run. */
export const ROLLUP_BUDGET_MS = 25_000;

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
  opts: { firstBatch?: number; maxBatch?: number; budgetMs?: number } = {},
): Promise<RollupResult> {
  const deadline = Date.now() + (opts.budgetMs ?? ROLLUP_BUDGET_MS);
  const maxBatch = opts.maxBatch ?? ROLLUP_MAX_BATCH;
  let batchSize = Math.min(opts.firstBatch ?? ROLLUP_FIRST_BATCH, maxBatch);
  let attempts = 0;
  let batches = 0;
  let chunk = await nextRollupChunk(services.db, batchSize);
  while (chunk.upTo !== null && Date.now() < deadline) {
    const started = Date.now();
    attempts += await rollUpTo(services.db, chunk.upTo, services.now());
    batches++;
    const took = Date.now() - started;
    batchSize =
      took < ROLLUP_TARGET_BATCH_MS / 2
        ? Math.min(maxBatch, batchSize * 2)
        : took > ROLLUP_TARGET_BATCH_MS
          ? Math.max(100, Math.floor(batchSize / 2))
          : batchSize;
    chunk = await nextRollupChunk(services.db, batchSize);
  }
  const result = { attempts, batches, cursor: chunk.cursor, caughtUp: chunk.upTo === null };
  if (batches > 0)
    logger.info("stats rollup", {
      attempts,
      batches,
      cursor: result.cursor,
      caught_up: result.caughtUp,
      last_batch_size: batchSize,
    });
  if (!result.caughtUp)
    logger.warn("stats rollup used its time box with attempts left; the next run continues", { cursor: result.cursor });
  return result;
}
