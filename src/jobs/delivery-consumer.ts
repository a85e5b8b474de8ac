// Queue consumers, thin adapters over the delivery stages (src/domain/delivery/): the delivery queues of the two lanes
// (one message per delivery attempt, handled a batch at a time; docs/architecture.md#lanes) and their dead-letter queue.
import { groupByShard, hasShard, onShard } from "../db/shards";
import { attemptDeliveries } from "../domain/delivery/attempt";
import { resolveDeliveryRefs } from "../domain/delivery/claim";
import { failDeadLettered } from "../domain/delivery/dead-letter";
import type { Lane } from "../domain/delivery/lanes";
import { type DeliveryMessage, isDeliveryMessage } from "../domain/delivery/message";
import { type DeliveryRef, refKey } from "../domain/publish";
import { advanceWatermark, isWatermarkProbe, latestSentAt, probedShard } from "../domain/queue-watermark";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

/** The queues this Worker consumes, as named in wrangler.toml ([[queues.consumers]]). */
export const DELIVERY_QUEUE = "scaikey-webhook-deliveries";
export const SLOW_DELIVERY_QUEUE = "scaikey-webhook-deliveries-slow";
export const DEAD_LETTER_QUEUE = "scaikey-webhook-deliveries-dlq";

/** Attempts in flight at once per batch: enough to overlap slow receivers, few enough for Workers' connection limit. */
export const CONSUMER_CONCURRENCY = 6;

/** Retry delay for a message whose processing threw (D1 or queue trouble): 5 s, 10 s, 20 s … capped at 5 min. */
export const infrastructureRetryDelay = (attempts: number) => Math.min(300, 5 * 2 ** Math.max(0, attempts - 1));

/** What a consumer needs of its invocation: keeping the work it hands over alive once it has returned. */
export type Invocation = Pick<ExecutionContext, "waitUntil">;

/** One batch of any queue this Worker consumes; a batch of a queue it does not know is an error in the configuration. */
export async function handleQueueBatch(
  batch: MessageBatch<unknown>,
  services: Services,
  invocation: Invocation,
): Promise<void> {
  switch (batch.queue) {
    case DELIVERY_QUEUE:
    case SLOW_DELIVERY_QUEUE:
      return handleDeliveryBatch(batch, services, invocation);
    case DEAD_LETTER_QUEUE:
      return handleDeadLetterBatch(batch, services);
    default:
      throw new Error(`no handler for queue "${batch.queue}"`);
  }
}

/**
 * One delivery batch of either lane: its deliveries attempted together (attemptDeliveries). A message is acked once its
 * attempt is recorded, or (main lane) once it has started and is handed over to `invocation.waitUntil`, or once it needs
 * none; if D1 fails before that, it is retried, never dropped.
 */
export async function handleDeliveryBatch(
  batch: MessageBatch<unknown>,
  services: Services,
  invocation: Invocation,
): Promise<void> {
  const lane: Lane = batch.queue === SLOW_DELIVERY_QUEUE ? "slow" : "main";
  // Every message received moves the lane's queue watermark (domain/queue-watermark), probes included.
  const watermarkSentAt = latestSentAt(batch.messages);
  let messagesOf: MessagesByDelivery;
  try {
    messagesOf = await messagesByDelivery(batch, services);
  } catch (err) {
    // Finding the deliveries of messages sent without webhook_id failed (D1): every delivery message comes back.
    logger.error("delivery processing failed; message will be retried", { error: String(err) });
    for (const message of batch.messages)
      if (isDeliveryMessage(message.body)) message.retry({ delaySeconds: infrastructureRetryDelay(message.attempts) });
    return;
  }
  // The shards only probes name move their watermarks here (the others' move in their claims' batches); a failed write
  // is made good by the next batch (a watermark only needs to move eventually).
  if (watermarkSentAt !== null) {
    const claiming = new Set(groupByShard([...messagesOf.values()], (m) => m.ref.webhookId).keys());
    await Promise.all(
      [...probedShards(batch)]
        .filter((shard) => !claiming.has(shard) && hasShard(services, shard))
        .map((shard) =>
          advanceWatermark(onShard(services, shard).db, watermarkSentAt, services.now(), lane).catch((err) =>
            logger.warn("queue watermark not moved", { shard, error: String(err) }),
          ),
        ),
    );
  }
  if (messagesOf.size === 0) return;
  const { stillRunning } = await attemptDeliveries(
    services,
    [...messagesOf.values()].map((m) => m.ref),
    {
      settled: (refs) => ackMessages(messagesOf, refs),
      failed: (refs, err) => retryMessages(messagesOf, refs, err),
    },
    { lane, concurrency: CONSUMER_CONCURRENCY, watermarkSentAt },
  );
  if (stillRunning) invocation.waitUntil(stillRunning);
}

/** The shards whose sweeps sent the batch's probes. */
const probedShards = (batch: MessageBatch<unknown>) =>
  new Set(batch.messages.flatMap((m) => (isWatermarkProbe(m.body) ? [probedShard(m.body)] : [])));

type MessagesByDelivery = Map<string, { ref: DeliveryRef; messages: Message<unknown>[] }>;

/** The batch's messages by delivery (duplicate messages of one delivery share it); malformed ones are acked and dropped. */
async function messagesByDelivery(batch: MessageBatch<unknown>, services: Services): Promise<MessagesByDelivery> {
  const deliveryMessages: { message: Message<unknown>; body: DeliveryMessage }[] = [];
  for (const message of batch.messages) {
    if (isWatermarkProbe(message.body)) {
      message.ack();
      continue;
    }
    if (!isDeliveryMessage(message.body)) {
      logger.error("malformed delivery message dropped", { message_id: message.id });
      message.ack();
      continue;
    }
    deliveryMessages.push({ message, body: message.body });
  }
  const refs = await resolveDeliveryRefs(
    services.db,
    deliveryMessages.map((m) => m.body),
  );
  const messagesOf: MessagesByDelivery = new Map();
  deliveryMessages.forEach(({ message }, i) => {
    const ref = refs[i]!;
    const entry = messagesOf.get(refKey(ref)) ?? { ref, messages: [] };
    entry.messages.push(message);
    messagesOf.set(refKey(ref), entry);
  });
  return messagesOf;
}

function ackMessages(messagesOf: MessagesByDelivery, refs: readonly DeliveryRef[]): void {
  for (const ref of refs) for (const message of messagesOf.get(refKey(ref))?.messages ?? []) message.ack();
}

function retryMessages(messagesOf: MessagesByDelivery, refs: readonly DeliveryRef[], err: unknown): void {
  // Never dropped: the message comes back, and after the queue's own retries it reaches the dead-letter queue.
  logger.error("delivery processing failed; message will be retried", {
    delivery_ids: refs.map((r) => r.id),
    error: String(err),
  });
  for (const ref of refs)
    for (const message of messagesOf.get(refKey(ref))?.messages ?? [])
      message.retry({ delaySeconds: infrastructureRetryDelay(message.attempts) });
}

/** Dead-lettered messages exhausted the queue's retries: their deliveries end as `failed`, visibly, never silently. */
export async function handleDeadLetterBatch(batch: MessageBatch<unknown>, services: Services): Promise<void> {
  await failDeadLettered(services, batch.messages.map((m) => m.body).filter(isDeliveryMessage));
  batch.ackAll();
}
