// The cron sweep: enqueue deliveries whose retry is due (long delays wait in D1, not in the queue), and re-enqueue
// any whose queue message is overdue (lost, or its worker died mid-attempt). Idempotent and safe to run concurrently:
// each round claims rows with one conditional UPDATE, so two sweeps never enqueue the same delivery.
import { enqueueDeliveries } from "../domain/publish";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

// A delivery whose message should have been consumed config.orphanGraceMs ago (5 min by default) is considered orphaned.
const ROUND_SIZE = 500;
const MAX_ROUNDS = 10; // bounded work per run; anything left waits for the next minute

const CLAIM_DUE = `UPDATE deliveries SET in_queue = 1, next_attempt_at = ?1, updated_at = ?1
  WHERE id IN (
    SELECT id FROM deliveries
    WHERE status IN ('pending', 'retrying')
      AND ((in_queue = 0 AND next_attempt_at <= ?1) OR (in_queue = 1 AND next_attempt_at <= ?2))
    ORDER BY next_attempt_at LIMIT ?3)
  RETURNING id`;

export async function sweepDueDeliveries(services: Pick<Services, "db" | "queue" | "now" | "config">): Promise<{ enqueued: number }> {
  let enqueued = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const now = services.now();
    const { results } = await services.db.$client.prepare(CLAIM_DUE).bind(now, now - services.config.orphanGraceMs, ROUND_SIZE).all<{ id: number }>();
    const ids = results.map((r) => r.id);
    if (ids.length > 0) await enqueueDeliveries(services.queue, ids);
    enqueued += ids.length;
    if (ids.length < ROUND_SIZE) break;
  }
  if (enqueued > 0) logger.info("retry sweep", { enqueued });
  return { enqueued };
}
