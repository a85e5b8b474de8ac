// Putting deliveries back on the queue after attempts: short retries and announcements (afterAttempts, run by the
// compositions of attempt.ts), and manual retries (requeueDelivery, run by manual-retry.ts).
import type { Database } from "../../db/client";
import { deliveryTable, HOUR_MS, withPartitions } from "../../db/partitions";
import type { Config } from "../../lib/config";
import { logger } from "../../lib/logger";
import { type DeliveryRef, enqueueDeliveries, SEND_BATCH_LIMIT } from "../publish";
import { type Lane, type LaneQueues, laneAfter, queueOfLane } from "./lanes";
import { type DeliveryMessage, deliveryMessage } from "./message";
import { reopenStatement } from "./ordered";
import type { AttemptOutcome } from "./record";

export interface RequeueDeps extends LaneQueues<DeliveryMessage> {
  db: Database;
  now: () => number;
}

/**
 * What follows recorded attempts: short retries ride delayed queue messages (one queue call per lane), in the slow
 * lane after a timeout; the announcements stored with them (auto-disable, failure warnings, recovery) and the next
 * delivery of an ordered webhook's line go on the queue.
 */
export async function afterAttempts(
  deps: Pick<RequeueDeps, "queue" | "slowQueue">,
  outcomes: readonly AttemptOutcome[],
): Promise<void> {
  const retries: Record<Lane, MessageSendRequest<DeliveryMessage>[]> = { main: [], slow: [] };
  const announcements: DeliveryRef[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind !== "attempted") continue;
    if (outcome.retryVia === "queue" && outcome.retryInSeconds !== null)
      retries[laneAfter(outcome.result)].push({
        body: deliveryMessage({ webhookId: outcome.webhookId, id: outcome.deliveryId }),
        delaySeconds: outcome.retryInSeconds,
        contentType: "json",
      });
    announcements.push(...outcome.announcementDeliveries);
    if (outcome.nextInLine) announcements.push(outcome.nextInLine);
  }
  for (const lane of ["main", "slow"] as const) {
    const messages = retries[lane];
    if (messages.length === 0) continue;
    try {
      for (let i = 0; i < messages.length; i += SEND_BATCH_LIMIT)
        await queueOfLane(deps, lane).sendBatch(messages.slice(i, i + SEND_BATCH_LIMIT));
    } catch (err) {
      // The rows say when they are due; the sweep re-enqueues any whose message never exists.
      logger.error("could not enqueue retries; the sweep will", {
        delivery_ids: messages.map((r) => r.body.delivery_id),
        error: String(err),
      });
    }
  }
  // Stored (or let go) with the attempts; a lost message here is recovered by the sweep.
  if (announcements.length > 0) await enqueueDeliveries(deps.queue, announcements);
}

// In place, only while the delivery is hot (it finished less than HOT_WINDOW_HOURS ago): older history is immutable,
// which is what lets the archive copy it out while it stays readable (domain/archive/).
const requeueIn = (table: string) => `UPDATE "${table}" SET status = 'pending', due_at = ?3, in_queue = 1,
    lease_until = NULL, completed_at = NULL, updated_at = ?3
  WHERE webhook_id = ?1 AND id = ?2 AND status IN ('failed', 'cancelled') AND completed_at >= ?4
  RETURNING webhook_id, id`;

/**
 * Manual retry of a hot delivery: put it (failed or cancelled, finished within the hot window) back in the queue, due
 * now. False when it is not in that state (an older one is sent again as a new delivery: domain/delivery/resend.ts).
 * An ordered webhook's delivery takes its place in the line again (ordered.ts).
 */
export async function requeueDelivery(
  deps: RequeueDeps & { config: Pick<Config, "hotWindowHours"> },
  delivery: DeliveryRef,
  opts: { ordered: boolean },
): Promise<boolean> {
  const now = deps.now();
  const d1 = deps.db.$client;
  const results = await withPartitions(d1, (live) =>
    d1.batch([
      ...(opts.ordered ? [reopenStatement(d1, delivery.webhookId, delivery.id, now)] : []),
      d1
        .prepare(requeueIn(deliveryTable(live, delivery.id)))
        .bind(delivery.webhookId, delivery.id, now, hotSince(deps.config, now)),
    ]),
  );
  if (!results.at(-1)?.results.length) return false;
  await enqueueDeliveries(deps.queue, [delivery]);
  return true;
}

/** The time after which a finished delivery is still hot: it may change (be retried in place), and stays in D1. */
export const hotSince = (config: Pick<Config, "hotWindowHours">, now: number) => now - config.hotWindowHours * HOUR_MS;
