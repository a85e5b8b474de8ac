// Queue consumers: the delivery queue (one message per delivery attempt, handled a batch at a time) and its dead-letter queue.
import { and, eq, inArray } from "drizzle-orm";
import { deliveries } from "../db/schema";
import { claimDeliveries, recordAttempts, sendClaimedAttempt, type AttemptOutcome, type Claims, type SentAttempt } from "../domain/delivery-attempt";
import { enqueueDeliveries, SEND_BATCH_LIMIT } from "../domain/publish";
import { advanceWatermark, isWatermarkProbe, latestSentAt } from "../domain/queue-watermark";
import { maybeDuplicateMessage } from "../lib/fault-injection";
import { logger } from "../lib/logger";
import type { DeliveryMessage, Services } from "../lib/services";

/** Attempts in flight at once per batch: enough to overlap slow receivers, few enough for Workers' connection limit. */
export const CONSUMER_CONCURRENCY = 6;

const isDeliveryMessage = (body: unknown): body is DeliveryMessage =>
  typeof body === "object" && body !== null && Number.isSafeInteger((body as DeliveryMessage).delivery_id);

/** Retry delay for a message whose processing threw (D1 or queue trouble): 5 s, 10 s, 20 s … capped at 5 min. */
export const infrastructureRetryDelay = (attempts: number) => Math.min(300, 5 * 2 ** Math.max(0, attempts - 1));

/** How long a finished attempt may wait to be recorded with others still in flight (one D1 round trip for all). */
export const RECORD_GATHER_MS = 1_000;

/**
 * One queue batch: claim every delivery in it at once, send with bounded concurrency, record the attempts in groups
 * (all of them together when the receivers answer quickly), then ack. A message is acked only once its attempt is
 * recorded (or it needs none); if D1 fails, it is retried, never dropped.
 */
export async function handleDeliveryBatch(batch: MessageBatch<unknown>, services: Services): Promise<void> {
  const messagesOf = new Map<number, Message<unknown>[]>();
  const watermarkSentAt = latestSentAt(batch.messages);
  for (const message of batch.messages) {
    if (isWatermarkProbe(message.body)) {
      message.ack(); // its send time counts, below
      continue;
    }
    if (!isDeliveryMessage(message.body)) {
      logger.error("malformed delivery message dropped", { message_id: message.id });
      message.ack();
      continue;
    }
    const id = message.body.delivery_id;
    messagesOf.set(id, [...(messagesOf.get(id) ?? []), message]);
  }
  if (messagesOf.size === 0) {
    // Only probes: a failed write is made good by the next batch (the watermark only needs to move eventually).
    if (watermarkSentAt !== null)
      await advanceWatermark(services.db, watermarkSentAt, services.now()).catch((err) => logger.warn("queue watermark not moved", { error: String(err) }));
    return;
  }

  const done = async (ids: readonly number[]) => {
    for (const id of ids)
      for (const message of messagesOf.get(id) ?? []) {
        message.ack();
        if (services.faults) await maybeDuplicateMessage(services.faults, services.queue, { delivery_id: id }); // test:faults only
      }
  };
  const failed = (ids: readonly number[], err: unknown) => {
    // Never dropped: the message comes back, and after the queue's own retries it reaches the dead-letter queue.
    logger.error("delivery processing failed; message will be retried", { delivery_ids: ids, error: String(err) });
    for (const id of ids) for (const message of messagesOf.get(id) ?? []) message.retry({ delaySeconds: infrastructureRetryDelay(message.attempts) });
  };

  const ids = [...messagesOf.keys()];
  let claims: Claims;
  try {
    claims = await claimDeliveries(services, ids, { sendWaves: Math.ceil(ids.length / CONSUMER_CONCURRENCY), watermarkSentAt });
  } catch (err) {
    failed(ids, err);
    return;
  }
  await done([...claims.skipped.keys()]); // finished, not due (a duplicate message) or cancelled as unsendable

  // Finished attempts wait up to RECORD_GATHER_MS for others, then are recorded together.
  const unrecorded: SentAttempt[] = [];
  const recordings: Promise<void>[] = [];
  let gatherTimer: ReturnType<typeof setTimeout> | undefined;
  const record = () => {
    if (gatherTimer !== undefined) clearTimeout(gatherTimer);
    gatherTimer = undefined;
    const group = unrecorded.splice(0);
    if (group.length === 0) return;
    const groupIds = group.map((s) => s.claim.deliveryId);
    recordings.push(
      recordAttempts(services, group).then(
        async (outcomes) => {
          await afterAttempts(services, outcomes);
          await done(groupIds);
        },
        (err) => failed(groupIds, err),
      ),
    );
  };
  await forEachBounded(claims.claimed, CONSUMER_CONCURRENCY, async (claim) => {
    try {
      unrecorded.push(await sendClaimedAttempt(services, claim));
      gatherTimer ??= setTimeout(record, RECORD_GATHER_MS);
    } catch (err) {
      failed([claim.deliveryId], err); // e.g. a secret that cannot be opened; the lease lapses and the sweep retries
    }
  });
  record();
  await Promise.all(recordings);
}

/**
 * What follows recorded attempts: short retries ride delayed queue messages (one queue call for all); an auto-disable
 * is announced as an event.
 */
export async function afterAttempts(services: Services, outcomes: readonly AttemptOutcome[]): Promise<void> {
  const retries: MessageSendRequest<DeliveryMessage>[] = [];
  const announcements: number[] = [];
  for (const outcome of outcomes) {
    if (outcome.kind !== "attempted") continue;
    if (outcome.retryVia === "queue" && outcome.retryInSeconds !== null)
      retries.push({ body: { delivery_id: outcome.deliveryId }, delaySeconds: outcome.retryInSeconds, contentType: "json" });
    announcements.push(...outcome.announcementDeliveryIds);
  }
  if (retries.length > 0) {
    try {
      for (let i = 0; i < retries.length; i += SEND_BATCH_LIMIT) await services.queue.sendBatch(retries.slice(i, i + SEND_BATCH_LIMIT));
    } catch (err) {
      // The rows say when they are due; the sweep re-enqueues any whose message never exists.
      logger.error("could not enqueue retries; the sweep will", { delivery_ids: retries.map((r) => r.body.delivery_id), error: String(err) });
    }
  }
  // Stored with the attempt that disabled the endpoint; a lost message here is recovered by the sweep.
  if (announcements.length > 0) await enqueueDeliveries(services.queue, announcements);
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
