// Handing deliveries to the queue consumer as the runtime does: a message batch, through the Worker's queue handler or
// straight to handleDeliveryBatch with chosen services, and what it acked and retried.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createDb } from "../../src/db/client";
import type { DeliveryRef } from "../../src/domain/publish";
import worker from "../../src/index";
import { handleDeliveryBatch } from "../../src/jobs/delivery-consumer";
import { createServices, type Services } from "../../src/lib/services";
import { messageOf } from "./deliveries";

export const QUEUE = "scaikey-webhook-deliveries";
export const SLOW_QUEUE = "scaikey-webhook-deliveries-slow";

/** A batch of `queue` carrying one message per delivery. */
export const batchOf = (refs: DeliveryRef[], attempts = 1, queue = QUEUE) =>
  createMessageBatch(
    queue,
    refs.map((ref, i) => ({
      id: `b${ref.id}-${i}-${Math.random()}`,
      timestamp: new Date(),
      attempts,
      body: messageOf(ref),
    })),
  );

/** The consumer handed one batch, and what it acked and retried once the work it handed over has ended. */
export async function handleBatch(batch: MessageBatch<unknown>, services: Services) {
  const ctx = createExecutionContext();
  await handleDeliveryBatch(batch, services, ctx);
  return getQueueResult(batch, ctx);
}

/** The deliveries' messages through the Worker's own queue handler (its bindings and services). */
export async function consumeDeliveries(refs: DeliveryRef[], attempts = 1) {
  const batch = batchOf(refs, attempts);
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

/** The Worker's services over `d1`, at `now` when given. */
export const servicesWith = (d1: D1Database, now?: () => number): Services => ({
  ...createServices(env),
  db: createDb(d1),
  ...(now ? { now } : {}),
});
