// Which handler a queue batch reaches: by the queue's name as wrangler.toml configures it, and an error for any other.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { DEAD_LETTER_QUEUE, DELIVERY_QUEUE, SLOW_DELIVERY_QUEUE } from "../../src/jobs/delivery-consumer";
import wranglerToml from "../../wrangler.toml?raw";
import { createWebhook } from "../helpers/api";
import { deliveryRow, messageOf, seedDelivery } from "../helpers/deliveries";
import { hookUrl } from "../helpers/receiver";
import { tenantAdmin } from "../helpers/tokens";

/** The `queue = "…"` lines of each [[queues.consumers]] block, and the dead-letter queue the first one names. */
function configuredConsumers(toml: string) {
  const blocks = toml.split(/^\[\[queues\.consumers\]\]\s*$/m).slice(1);
  return blocks.map((block) => ({
    queue: /^queue\s*=\s*"([^"]+)"/m.exec(block)?.[1],
    deadLetterQueue: /^dead_letter_queue\s*=\s*"([^"]+)"/m.exec(block)?.[1],
  }));
}

describe("queue routing", () => {
  it("handles exactly the queues wrangler.toml consumes: the delivery queues of both lanes and their dead-letter queue", () => {
    const consumers = configuredConsumers(wranglerToml);
    expect(consumers.map((c) => c.queue).sort()).toEqual(
      [DELIVERY_QUEUE, SLOW_DELIVERY_QUEUE, DEAD_LETTER_QUEUE].sort(),
    );
    expect(consumers.find((c) => c.queue === DELIVERY_QUEUE)?.deadLetterQueue).toBe(DEAD_LETTER_QUEUE);
    expect(consumers.find((c) => c.queue === SLOW_DELIVERY_QUEUE)?.deadLetterQueue).toBe(DEAD_LETTER_QUEUE);
  });

  it("sends a batch of either lane to the delivery consumer, and of the dead-letter queue to the DLQ consumer", async () => {
    const token = await tenantAdmin("tnt_queue_routing");
    const wh = await createWebhook(token, { url: hookUrl({}).url, events: ["*"] });
    const deadLettered = await seedDelivery(wh.id, "tnt_queue_routing");

    for (const queue of [DELIVERY_QUEUE, SLOW_DELIVERY_QUEUE]) {
      const delivered = await seedDelivery(wh.id, "tnt_queue_routing");
      const batch = createMessageBatch(queue, [
        { id: `m-${queue}`, timestamp: new Date(), attempts: 1, body: messageOf(delivered) },
      ]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env, ctx);
      expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([`m-${queue}`]);
      expect(await deliveryRow(delivered)).toMatchObject({ status: "success" });
    }

    const dlq = createMessageBatch(DEAD_LETTER_QUEUE, [
      { id: "m-dlq", timestamp: new Date(), attempts: 1, body: messageOf(deadLettered) },
    ]);
    const dlqCtx = createExecutionContext();
    await worker.queue(dlq, env, dlqCtx);
    expect((await getQueueResult(dlq, dlqCtx)).ackAll).toBe(true);
    expect(await deliveryRow(deadLettered)).toMatchObject({ status: "failed" });
  });

  it("throws on a batch of a queue it does not consume, whatever its name looks like", async () => {
    for (const name of ["some-other-queue", "some-other-queue-dlq"]) {
      const batch = createMessageBatch(name, [
        { id: "m-x", timestamp: new Date(), attempts: 1, body: { delivery_id: 1 } },
      ]);
      await expect(worker.queue(batch, env, createExecutionContext())).rejects.toThrow(
        `no handler for queue "${name}"`,
      );
    }
  });
});
