// Queue consumers: the delivery queue (one message per delivery attempt) and its dead-letter queue.
import { and, eq, inArray } from "drizzle-orm";
import { deliveries } from "../db/schema";
import { attemptDelivery, type AttemptOutcome } from "../domain/delivery-attempt";
import { enqueueDeliveries } from "../domain/publish";
import { maybeDuplicateMessage } from "../lib/fault-injection";
import { logger } from "../lib/logger";
import type { DeliveryMessage, Services } from "../lib/services";

/** Attempts in flight at once per batch: enough to overlap slow receivers, few enough for Workers' connection limit. */
export const CONSUMER_CONCURRENCY = 6;

const isDeliveryMessage = (body: unknown): body is DeliveryMessage =>
  typeof body === "object" && body !== null && Number.isSafeInteger((body as DeliveryMessage).delivery_id);

/** Retry delay for a message whose processing threw (D1 or queue trouble): 5 s, 10 s, 20 s … capped at 5 min. */
export const infrastructureRetryDelay = (attempts: number) => Math.min(300, 5 * 2 ** Math.max(0, attempts - 1));

export async function handleDeliveryBatch(batch: MessageBatch<unknown>, services: Services): Promise<void> {
  await forEachBounded(batch.messages, CONSUMER_CONCURRENCY, async (message) => {
    if (!isDeliveryMessage(message.body)) {
      logger.error("malformed delivery message dropped", { message_id: message.id });
      message.ack();
      return;
    }
    try {
      const outcome = await attemptDelivery(services, message.body.delivery_id);
      await afterAttempt(services, outcome);
      message.ack();
      if (services.faults) await maybeDuplicateMessage(services.faults, services.queue, message.body); // test:faults only
    } catch (err) {
      // Never dropped: the message comes back, and after the queue's own retries it reaches the dead-letter queue.
      logger.error("delivery processing failed; message will be retried", {
        delivery_id: message.body.delivery_id,
        queue_attempts: message.attempts,
        error: String(err),
      });
      message.retry({ delaySeconds: infrastructureRetryDelay(message.attempts) });
    }
  });
}

/** What follows an attempt: a short retry rides a delayed queue message; an auto-disable is announced as an event. */
export async function afterAttempt(services: Services, outcome: AttemptOutcome): Promise<void> {
  if (outcome.kind !== "attempted") return;
  if (outcome.retryVia === "queue" && outcome.retryInSeconds !== null) {
    try {
      await services.queue.send({ delivery_id: outcome.deliveryId }, { delaySeconds: outcome.retryInSeconds, contentType: "json" });
    } catch (err) {
      // The row says when it is due; the sweep re-enqueues it if this message never exists.
      logger.error("could not enqueue retry; the sweep will", { delivery_id: outcome.deliveryId, error: String(err) });
    }
  }
  // Stored with the attempt that disabled the endpoint; a lost message here is recovered by the sweep.
  if (outcome.announcementDeliveryIds.length > 0) await enqueueDeliveries(services.queue, outcome.announcementDeliveryIds);
}

/** Dead-lettered messages exhausted the queue's retries: their deliveries end as `failed`, visibly, never silently. */
export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, services: Services): Promise<void> {
  const ids = batch.messages.map((m) => m.body).filter(isDeliveryMessage).map((b) => b.delivery_id);
  if (ids.length > 0) {
    const now = services.now();
    await services.db
      .update(deliveries)
      .set({ status: "failed", nextAttemptAt: null, inQueue: false, completedAt: now, updatedAt: now, lastError: "dead-lettered: the delivery queue could not process this message" })
      .where(and(inArray(deliveries.id, ids), inArray(deliveries.status, ["pending", "retrying"])));
    logger.error("deliveries dead-lettered", { count: ids.length });
  }
  batch.ackAll();
}

/** Manual retry: put a finished (failed or cancelled) delivery back in the queue, due now. */
export async function requeueDelivery(services: Services, deliveryId: number): Promise<boolean> {
  const now = services.now();
  const [row] = await services.db
    .update(deliveries)
    .set({ status: "pending", nextAttemptAt: now, inQueue: true, completedAt: null, updatedAt: now })
    .where(and(eq(deliveries.id, deliveryId), inArray(deliveries.status, ["failed", "cancelled"])))
    .returning({ id: deliveries.id });
  if (!row) return false;
  await enqueueDeliveries(services.queue, [row.id]);
  return true;
}

async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
