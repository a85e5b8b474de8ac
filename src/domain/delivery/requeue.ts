// Putting deliveries back on the queue after attempts: short retries, announcements, manual retries. Called by the
// queue consumer and by routes (the test event, the retry endpoint).
import { and, eq, inArray } from "drizzle-orm";
import type { Database } from "../../db/client";
import { deliveries } from "../../db/schema";
import { logger } from "../../lib/logger";
import { enqueueDeliveries, SEND_BATCH_LIMIT } from "../publish";
import { type Lane, type LaneQueues, laneAfter, queueOfLane } from "./lanes";
import type { DeliveryMessage } from "./message";
import type { AttemptOutcome } from "./record";

export interface RequeueDeps extends LaneQueues<DeliveryMessage> {
  db: Database;
  now: () => number;
}

/**
 * What follows recorded attempts: short retries ride delayed queue messages (one queue call per lane), in the slow
 * lane after a timeout; an auto-disable is announced as an event.
 */
export async function afterAttempts(
  deps: Pick<RequeueDeps, "queue" | "slowQueue">,
  outcomes: readonly AttemptOutcome[],
): Promise<void> {
  const retries: Record<Lane, MessageSendRequest<DeliveryMessage>[]> = { main: [], slow: [] };
  const announcements: number[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind !== "attempted") continue;
    if (outcome.retryVia === "queue" && outcome.retryInSeconds !== null)
      retries[laneAfter(outcome.result)].push({
        body: { delivery_id: outcome.deliveryId },
        delaySeconds: outcome.retryInSeconds,
        contentType: "json",
      });
    announcements.push(...outcome.announcementDeliveryIds);
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
  // Stored with the attempt that disabled the endpoint; a lost message here is recovered by the sweep.
  if (announcements.length > 0) await enqueueDeliveries(deps.queue, announcements);
}

/** Manual retry: put a finished (failed or cancelled) delivery back in the queue, due now. */
export async function requeueDelivery(deps: RequeueDeps, deliveryId: number): Promise<boolean> {
  const now = deps.now();
  const [row] = await deps.db
    .update(deliveries)
    .set({ status: "pending", nextAttemptAt: now, inQueue: true, completedAt: null, updatedAt: now })
    .where(and(eq(deliveries.id, deliveryId), inArray(deliveries.status, ["failed", "cancelled"])))
    .returning({ id: deliveries.id });
  if (!row) return false;
  await enqueueDeliveries(deps.queue, [row.id]);
  return true;
}
