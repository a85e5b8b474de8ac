// The cron sweep: enqueue deliveries whose retry is due (long delays wait in D1, not in the queue), and re-enqueue those
// whose queue message is lost (dropped after sendBatch, or its worker died mid-attempt). A message still waiting behind
// a backlog is not lost: a delivery counts as lost only once the consumer has received messages sent ORPHAN_GRACE_SECONDS
// after it became deliverable (the queue watermark, domain/queue-watermark). Idempotent and safe to run concurrently:
// each round claims rows with one conditional UPDATE, so two sweeps never enqueue the same delivery.
import { queueOfLane } from "../domain/delivery/lanes";
import { enqueueDeliveries } from "../domain/publish";
import { RECORD_PROBE, WATERMARK_VALUE, watermarkProbe } from "../domain/queue-watermark";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

const ROUND_SIZE = 500;
/** Wall time one run may take; anything left waits for the next minute. */
export const SWEEP_BUDGET_MS = 20_000;

// Both through deliveries_active_next_attempt_idx (only pending and retrying rows). A queued delivery is lost when it
// became deliverable (next_attempt_at: due time or lease end) more than the grace (?2) before the watermark.
const CLAIM_DUE = `UPDATE deliveries SET in_queue = 1, next_attempt_at = ?1, updated_at = ?1
  WHERE id IN (
    SELECT id FROM deliveries WHERE status IN ('pending', 'retrying') AND in_queue = 0 AND next_attempt_at <= ?1
    ORDER BY next_attempt_at LIMIT ?2)
  RETURNING id`;
const CLAIM_LOST = `UPDATE deliveries SET next_attempt_at = ?1, updated_at = ?1
  WHERE id IN (
    SELECT id FROM deliveries WHERE status IN ('pending', 'retrying') AND in_queue = 1
      AND next_attempt_at <= min(?1, ${WATERMARK_VALUE}) - ?2
    ORDER BY next_attempt_at LIMIT ?3)
  RETURNING id`;

export interface SweepResult {
  /** Deliveries enqueued: retries that waited in D1, and lost ones. */
  enqueued: number;
  /** Of those, deliveries whose message was lost. */
  lost: number;
}

export async function sweepDueDeliveries(
  services: Pick<Services, "db" | "queue" | "slowQueue" | "now" | "config">,
  opts: { budgetMs?: number } = {},
): Promise<SweepResult> {
  const deadline = Date.now() + (opts.budgetMs ?? SWEEP_BUDGET_MS);
  let enqueued = 0;
  const lostIds: number[] = [];
  const d1 = services.db.$client;
  for (let round = 0; Date.now() < deadline; round++) {
    const now = services.now();
    const [due, lost] = await d1.batch<{ id: number }>([
      d1.prepare(CLAIM_DUE).bind(now, ROUND_SIZE),
      d1.prepare(CLAIM_LOST).bind(now, services.config.orphanGraceMs, ROUND_SIZE),
      // The probe this run sends at its end, recorded in the first round's batch (no round trip of its own).
      ...(round === 0 ? [d1.prepare(RECORD_PROBE).bind(now)] : []),
    ]);
    const lostNow = (lost?.results ?? []).map((r) => r.id);
    const ids = [...(due?.results ?? []).map((r) => r.id), ...lostNow];
    if (ids.length > 0) await enqueueDeliveries(services.queue, ids);
    enqueued += ids.length;
    lostIds.push(...lostNow);
    if (ids.length < ROUND_SIZE) break;
  }
  // A probe moves its lane's watermark once the consumer reaches it: at once on an idle queue, later behind a backlog.
  for (const lane of ["main", "slow"] as const) {
    try {
      await queueOfLane(services, lane).send(watermarkProbe(services.now()), { contentType: "json" });
    } catch (err) {
      logger.error("could not send the queue watermark probe", { lane, error: String(err) });
    }
  }
  if (enqueued > 0) logger.info("retry sweep", { enqueued, lost: lostIds.length });
  if (lostIds.length > 0)
    logger.warn("re-enqueued deliveries whose queue message was lost", {
      delivery_ids: lostIds.slice(0, 50),
      count: lostIds.length,
    });
  return { enqueued, lost: lostIds.length };
}
