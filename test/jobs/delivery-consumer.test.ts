// The queue consumer (jobs/delivery-consumer.ts): messages retried, never dropped, when D1 fails; messages from before
// they named their webhook; malformed and dead-lettered messages (one whose attempt is in flight left to it).
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { interceptD1 } from "../../scripts/lib/d1-intercept";
import { createDb } from "../../src/db/client";
import { claimDeliveries } from "../../src/domain/delivery/claim";
import { recordAttempts } from "../../src/domain/delivery/record";
import { sendClaimedAttempt } from "../../src/domain/delivery/send";
import worker from "../../src/index";
import { handleDeadLetterBatch } from "../../src/jobs/delivery-consumer";
import { createServices } from "../../src/lib/services";
import { api, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { consumeDeliveries, handleBatch, QUEUE } from "../helpers/consumer";
import { deliveryDeps, deliveryRow, messageOf, seedDelivery } from "../helpers/deliveries";
import { recorded } from "../helpers/receiver";

describe("the queue consumer", () => {
  it("retries the message, never drops it, when D1 fails", async () => {
    const wh = await webhookAtReceiver("tnt_d1fail");
    const id = await seedDelivery(wh.id, "tnt_d1fail");
    const failingD1 = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare" || prop === "batch" || prop === "exec")
          return () => {
            throw new Error("D1_ERROR: database is unavailable");
          };
        return Reflect.get(target, prop);
      },
    });
    const services = { ...createServices(env), db: createDb(failingD1) };
    const batch = createMessageBatch(QUEUE, [{ id: "m-d1", timestamp: new Date(), attempts: 1, body: messageOf(id) }]);
    const result = await handleBatch(batch, services);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toMatchObject([{ msgId: "m-d1" }]);
    expect((await deliveryRow(id))!.status).toBe("pending");
    // With D1 back, the redelivered message goes through.
    await consumeDeliveries([id], 2);
    expect((await deliveryRow(id))!.status).toBe("success");
  });

  it("delivers a message without webhook_id (sent before messages named it), found among the open deliveries", async () => {
    const wh = await webhookAtReceiver("tnt_legacy_message");
    const id = await seedDelivery(wh.id, "tnt_legacy_message");
    const batch = createMessageBatch(QUEUE, [
      { id: "m-legacy", timestamp: new Date(), attempts: 1, body: { delivery_id: id.id } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["m-legacy"]);
    expect(await deliveryRow(id)).toMatchObject({ status: "success", attempt_count: 1 });
    expect(await recorded(wh.hookKey)).toHaveLength(1);
  });

  it("retries, never drops, messages without webhook_id when finding their deliveries fails", async () => {
    const wh = await webhookAtReceiver("tnt_legacy_d1fail");
    const id = await seedDelivery(wh.id, "tnt_legacy_d1fail");
    const failing = interceptD1(env.DB, {
      statement: (_op, statement, _args, call) =>
        (statement as unknown as { statement: string }).statement.includes("completed_at IS NULL AND id IN")
          ? Promise.reject(new Error("D1_ERROR: database is unavailable"))
          : call(),
    });
    const batch = createMessageBatch(QUEUE, [
      { id: "m-legacy-fail", timestamp: new Date(), attempts: 3, body: { delivery_id: id.id } },
      { id: "m-probe", timestamp: new Date(), attempts: 1, body: { watermark_probe: Date.now() } },
    ]);
    const result = await handleBatch(batch, { ...createServices(env), db: createDb(failing) });
    expect(result.explicitAcks).toEqual(["m-probe"]);
    expect(result.retryMessages).toMatchObject([{ msgId: "m-legacy-fail" }]);
    expect(await deliveryRow(id)).toMatchObject({ status: "pending", attempt_count: 0 });
  });

  it("acknowledges and drops a malformed message", async () => {
    const batch = createMessageBatch(QUEUE, [
      { id: "m-bad", timestamp: new Date(), attempts: 1, body: { nope: true } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["m-bad"]);
  });

  it("marks dead-lettered deliveries failed, visibly", async () => {
    const wh = await webhookAtReceiver("tnt_dlq");
    const id = await seedDelivery(wh.id, "tnt_dlq");
    const batch = createMessageBatch(`${QUEUE}-dlq`, [
      { id: "m-dlq", timestamp: new Date(), attempts: 1, body: messageOf(id) },
    ]);
    await handleDeadLetterBatch(batch, createServices(env));
    const listed = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?status=failed`, { token: wh.token });
    expect(listed.body.items.map((d: { id: number }) => d.id)).toEqual([id.id]);
    expect(listed.body.items[0]!.last_error).toMatch(/dead-lettered/);
  });

  it("leaves a dead-lettered delivery whose attempt is in flight to that attempt", async () => {
    const wh = await webhookAtReceiver("tnt_dlq_leased");
    const id = await seedDelivery(wh.id, "tnt_dlq_leased");
    // A worker has claimed it (its lease runs) when a copy of its message reaches the dead-letter queue.
    const deps = { ...deliveryDeps({ now: Date.now() }), ...createServices(env) };
    const { claimed } = await claimDeliveries(deps, [id]);
    expect(claimed).toHaveLength(1);
    const batch = createMessageBatch(`${QUEUE}-dlq`, [
      { id: "m-dlq-leased", timestamp: new Date(), attempts: 1, body: messageOf(id) },
    ]);
    await handleDeadLetterBatch(batch, createServices(env));
    expect(await deliveryRow(id)).toMatchObject({ status: "pending", completed_at: null });
    // The attempt's recording decides how it ends.
    await recordAttempts(deps, [await sendClaimedAttempt(deps, claimed[0]!)]);
    expect(await deliveryRow(id)).toMatchObject({ status: "success", attempt_count: 1 });
  });
});
