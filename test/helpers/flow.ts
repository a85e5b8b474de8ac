// Driving deliveries through the real consumer as the queue would, in real time: a queue binding that keeps each
// message until its delay has passed, consumer batches of up to 25 handed to handleDeliveryBatch, several at once, the
// messages it retries sent again. For flow control, where what counts is what the receiver sees and when.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import type { QueueMessage } from "../../src/domain/delivery/message";
import { deliveryMessage } from "../../src/domain/delivery/message";
import type { DeliveryRef } from "../../src/domain/publish";
import { DELIVERY_QUEUE, handleDeliveryBatch, infrastructureRetryDelay } from "../../src/jobs/delivery-consumer";
import type { Services } from "../../src/lib/services";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface PumpOptions {
  /** Consumer invocations at once (default 1). */
  consumers?: number;
  /** Messages per batch (default 25, the main lane's max_batch_size). */
  batchSize?: number;
  /** Every message is delivered twice, the copies shuffled into the batches. */
  duplicates?: boolean;
  /** Done when this holds (checked while no batch is under way); without it, once nothing is left to hand over. */
  until?: () => Promise<boolean>;
  timeoutMs?: number;
}

/**
 * Sends `refs` through the real consumer with `base`'s services (its queues replaced by the pump's), until `until`
 * holds (or nothing is left). Retries, rate-limited sends, the next delivery of an ordered line: whatever the consumer puts on a queue comes
 * back after its delay. Answers the messages the consumer saw, in the order they were handed to it.
 */
export async function pump(base: Services, refs: readonly DeliveryRef[], opts: PumpOptions) {
  const waiting: { body: QueueMessage; at: number }[] = refs.map((ref) => ({
    body: deliveryMessage(ref),
    at: Date.now(),
  }));
  const put = (body: QueueMessage, delaySeconds = 0) => waiting.push({ body, at: Date.now() + delaySeconds * 1000 });
  const queue = {
    send: async (body: QueueMessage, o?: QueueSendOptions) => put(body, o?.delaySeconds),
    sendBatch: async (messages: Iterable<MessageSendRequest<QueueMessage>>) => {
      for (const m of messages) put(m.body, m.delaySeconds);
    },
  } as unknown as Queue<QueueMessage>;
  const services: Services = { ...base, queue, slowQueue: queue };
  const handed: QueueMessage[] = [];
  const inFlight = new Set<Promise<void>>();
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (inFlight.size === 0 && (opts.until ? await opts.until() : waiting.length === 0)) break;
    if (Date.now() > deadline) throw new Error(`pump: not done within ${opts.timeoutMs ?? 60_000} ms`);
    const ready = waiting.filter((m) => m.at <= Date.now()).slice(0, opts.batchSize ?? 25);
    if (ready.length === 0 || inFlight.size >= (opts.consumers ?? 1)) {
      await Promise.race([sleep(20), ...inFlight]);
      continue;
    }
    for (const m of ready) waiting.splice(waiting.indexOf(m), 1);
    const bodies = ready.map((m) => m.body);
    const batch = opts.duplicates ? shuffle([...bodies, ...bodies]) : bodies;
    handed.push(...batch);
    const run = consume(services, batch, put).finally(() => inFlight.delete(run));
    inFlight.add(run);
  }
  return handed;
}

async function consume(
  services: Services,
  bodies: QueueMessage[],
  put: (body: QueueMessage, delaySeconds?: number) => void,
) {
  const batch = createMessageBatch(
    DELIVERY_QUEUE,
    bodies.map((body, i) => ({ id: `p${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await handleDeliveryBatch(batch, services, ctx);
  const result = await getQueueResult(batch, ctx);
  for (const retried of result.retryMessages) {
    const message = batch.messages.find((m) => m.id === retried.msgId)!;
    put(message.body as QueueMessage, retried.delaySeconds ?? infrastructureRetryDelay(1));
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** The most of `times` (ms) in any half-open window [t, t + windowMs). */
export function mostInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}
