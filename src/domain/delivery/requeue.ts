// Putting deliveries back on the queue after attempts: short retries, announcements, manual retries. Called by the
// queue consumer and by routes (the test event, the retry endpoint).
import { and, eq, inArray } from "drizzle-orm";
import type { Database } from "../../db/client";
import { deliveries } from "../../db/schema";
import { logger } from "../../lib/logger";
import { enqueueDeliveries, SEND_BATCH_LIMIT } from "../publish";
import type { DeliveryMessage } from "./message";
import type { AttemptOutcome } from "./record";

export interface RequeueDeps {
  db: Database;
  queue: Queue<DeliveryMessage>;
  now: () => number;
}

/**
 * What follows recorded attempts: short retries ride delayed queue messages (one queue call for all); an auto-disable
 * is announced as an event.
 */
export async function afterAttempts(
  deps: Pick<RequeueDeps, "queue">,
  outcomes: readonly AttemptOutcome[],
): Promise<void> {
  const retries: MessageSendRequest<DeliveryMessage>[] = [];
  const announcements: number[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind !== "attempted") continue;
    if (outcome.retryVia === "queue" && outcome.retryInSeconds !== null)
      retries.push({
        body: { delivery_id: outcome.deliveryId },
        delaySeconds: outcome.retryInSeconds,
        contentType: "json",
      });
    announcements.push(...outcome.announcementDeliveryIds);
  }
  if (retries.length > 0) {
    try {
      for (let i = 0; i < retries.length; i += SEND_BATCH_LIMIT)
        await deps.queue.sendBatch(retries.slice(i, i + SEND_BATCH_LIMIT));
    } catch (err) {
      // The rows say when they are due; the sweep re-enqueues any whose message never exists.
      logger.error("could not enqueue retries; the sweep will", {
        delivery_ids: retries.map((r) => r.body.delivery_id),
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
