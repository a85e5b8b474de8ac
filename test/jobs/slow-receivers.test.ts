// One webhook's hanging receiver beside healthy ones (docs/architecture.md#lanes): the main lane hands a hanging send
// over instead of waiting for it, gives a hanging webhook no more than its share of the send slots, marks the webhook
// slow, and forwards its next deliveries to the slow lane, which still attempts and records them on schedule.
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { releaseClaimsStatement } from "../../src/domain/delivery/claim";
import { handleDeliveryBatch, SLOW_DELIVERY_QUEUE } from "../../src/jobs/delivery-consumer";
import { createServices, type Services } from "../../src/lib/services";
import { api, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { attemptRows, countingD1, deliveryRow, seedDelivery } from "../helpers/deliveries";
import { recorded } from "../helpers/receiver";

const QUEUE = "scaikey-webhook-deliveries";
const TIMEOUT_MS = 4_000; // how long a hanging receiver holds its send

/** A queue that keeps what is sent to it. */
function capturingQueue() {
  const sent: { id: number; delaySeconds?: number }[] = [];
  const queue = {
    send: async (body: { delivery_id: number }, opts?: QueueSendOptions) =>
      void sent.push({ id: body.delivery_id, delaySeconds: opts?.delaySeconds }),
    sendBatch: async (messages: Iterable<MessageSendRequest<{ delivery_id: number }>>) => {
      for (const m of messages) sent.push({ id: m.body.delivery_id, delaySeconds: m.delaySeconds });
    },
  } as unknown as Queue;
  return { queue, ids: () => sent.map((m) => m.id), sent };
}

/** The real services with a short timeout, both lanes' queues captured, and D1 round trips counted. */
function lanes() {
  const main = capturingQueue();
  const slow = capturingQueue();
  const { d1, counts } = countingD1(env.DB);
  const real = createServices(env);
  const services: Services = {
    ...real,
    db: createDb(d1),
    queue: main.queue,
    slowQueue: slow.queue,
    config: { ...real.config, deliveryTimeoutMs: TIMEOUT_MS },
  };
  return { services, main, slow, counts };
}

const batchOf = (ids: number[], queue = QUEUE) =>
  createMessageBatch(
    queue,
    ids.map((id, i) => ({
      id: `s${id}-${i}-${Math.random()}`,
      timestamp: new Date(),
      attempts: 1,
      body: { delivery_id: id },
    })),
  );

const slowSince = async (webhookId: string) =>
  (await env.DB.prepare("SELECT slow_since FROM webhook_endpoints WHERE id = ?").bind(webhookId).first<{
    slow_since: number | null;
  }>())!.slow_since;

async function seed(webhookId: string, tenant: string, count: number) {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(await seedDelivery(webhookId, tenant));
  return ids;
}

describe("a hanging receiver beside healthy ones", { timeout: 30_000 }, () => {
  it("does not hold the batch: healthy attempts are recorded and acked, the hanging one is handed over and recorded after", async () => {
    const hanging = await webhookAtReceiver("tnt_lane_mixed", { plan: ["hang"] });
    const healthy = await Promise.all([1, 2, 3].map(() => webhookAtReceiver("tnt_lane_mixed")));
    const hangIds = await seed(hanging.id, "tnt_lane_mixed", 2);
    const healthyIds: number[] = [];
    for (const wh of healthy) healthyIds.push(...(await seed(wh.id, "tnt_lane_mixed", 3)));
    const { services, main, slow, counts } = lanes();
    const batch = batchOf([...hangIds, ...healthyIds]);
    const ctx = createExecutionContext();

    await handleDeliveryBatch(batch, services, ctx);
    // The handler has returned while the hanging sends are still in flight: claimed (leased), not yet recorded.
    for (const id of hangIds) {
      expect(await deliveryRow(id)).toMatchObject({ status: "pending", attempt_count: 1 });
      expect(await attemptRows(id)).toEqual([]);
    }

    const result = await getQueueResult(batch, ctx); // waits for what the batch handed over
    expect(result.explicitAcks).toHaveLength(hangIds.length + healthyIds.length);
    expect(result.retryMessages).toEqual([]);
    for (const id of healthyIds) expect(await deliveryRow(id)).toMatchObject({ status: "success", attempt_count: 1 });
    for (const wh of healthy) expect(await recorded(wh.hookKey)).toHaveLength(3);
    // The hanging receiver got its attempts; they are recorded as timeouts, with retries in the slow lane.
    expect(await recorded(hanging.hookKey)).toHaveLength(2);
    for (const id of hangIds) {
      expect(await deliveryRow(id)).toMatchObject({
        status: "retrying",
        attempt_count: 1,
        last_error_class: "timeout",
      });
      expect(await attemptRows(id)).toMatchObject([{ attempt_number: 1, success: 0, error_class: "timeout" }]);
    }
    expect(slow.ids().sort()).toEqual([...hangIds].sort());
    for (const m of slow.sent) expect(m.delaySeconds).toBeGreaterThanOrEqual(54); // the schedule's 60 s ± 10 %
    expect(main.ids()).toEqual([]);
    // The healthy attempts were recorded first, without waiting for the hanging ones.
    const order = await env.DB.prepare(
      `SELECT delivery_id FROM delivery_attempts WHERE delivery_id IN (${[...hangIds, ...healthyIds].join(",")}) ORDER BY id`,
    ).all<{ delivery_id: number }>();
    expect(
      order.results
        .map((r) => r.delivery_id)
        .slice(0, healthyIds.length)
        .sort(),
    ).toEqual([...healthyIds].sort());
    // Claim, the healthy attempts, the hanging ones: no round trip more than a batch of slow answers always took.
    expect(counts.batches).toBe(3);
    expect(await slowSince(hanging.id)).not.toBeNull();
    for (const wh of healthy) expect(await slowSince(wh.id)).toBeNull();
  });

  it("gives a hanging webhook no more than its share of the send slots, and forwards what it cannot start to the slow lane", async () => {
    const hanging = await webhookAtReceiver("tnt_lane_slots", { plan: ["hang"] });
    const healthy = await webhookAtReceiver("tnt_lane_slots");
    // Eight hanging sends first in the batch: alone they would take all six slots and keep the healthy ones waiting.
    const hangIds = await seed(hanging.id, "tnt_lane_slots", 8);
    const healthyIds = await seed(healthy.id, "tnt_lane_slots", 6);
    const { services, main, slow } = lanes();
    const batch = batchOf([...hangIds, ...healthyIds]);
    const ctx = createExecutionContext();

    await handleDeliveryBatch(batch, services, ctx);
    // Six hanging sends held every slot for SEND_SLOT_PATIENCE_MS: the two never started are released, due now, and
    // forwarded to the slow lane; the webhook is marked slow.
    const released = hangIds.filter((id) => slow.ids().includes(id));
    expect(released).toHaveLength(2);
    for (const id of released)
      expect(await deliveryRow(id)).toMatchObject({ status: "pending", attempt_count: 0, in_queue: 1 });
    expect(await slowSince(hanging.id)).not.toBeNull();

    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toHaveLength(14);
    expect(result.retryMessages).toEqual([]);
    for (const id of healthyIds) expect(await deliveryRow(id)).toMatchObject({ status: "success", attempt_count: 1 });
    expect(await recorded(healthy.hookKey)).toHaveLength(6);
    expect(await recorded(hanging.hookKey)).toHaveLength(6);
    for (const id of hangIds.filter((id) => !released.includes(id)))
      expect(await deliveryRow(id)).toMatchObject({ status: "retrying", attempt_count: 1 });
    for (const id of released) expect(await attemptRows(id)).toEqual([]);
    expect(main.ids()).toEqual([]);

    // The slow lane attempts the released ones (their first attempt), once each.
    const slowBatch = batchOf(released, SLOW_DELIVERY_QUEUE);
    const slowCtx = createExecutionContext();
    await handleDeliveryBatch(slowBatch, services, slowCtx);
    expect((await getQueueResult(slowBatch, slowCtx)).explicitAcks).toHaveLength(2);
    expect(await recorded(hanging.hookKey)).toHaveLength(8);
    for (const id of released)
      expect(await attemptRows(id)).toMatchObject([{ attempt_number: 1, error_class: "timeout" }]);
  });

  it("forwards a slow webhook's deliveries to the slow lane at claim time, at no extra D1 round trip", async () => {
    const slowHook = await webhookAtReceiver("tnt_lane_route");
    const healthy = await webhookAtReceiver("tnt_lane_route");
    await env.DB.prepare("UPDATE webhook_endpoints SET slow_since = ? WHERE id = ?")
      .bind(Date.now(), slowHook.id)
      .run();
    const [slowId] = await seed(slowHook.id, "tnt_lane_route", 1);
    const healthyIds = await seed(healthy.id, "tnt_lane_route", 2);
    const { services, slow, counts } = lanes();
    const batch = batchOf([slowId!, ...healthyIds]);
    const ctx = createExecutionContext();
    await handleDeliveryBatch(batch, services, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(3);
    expect(counts.batches).toBe(2); // the claim and the recording, as for healthy deliveries alone
    expect(slow.ids()).toEqual([slowId]);
    expect(await deliveryRow(slowId!)).toMatchObject({ status: "pending", attempt_count: 0 }); // not claimed
    expect(await recorded(slowHook.hookKey)).toEqual([]);
    for (const id of healthyIds) expect(await deliveryRow(id)).toMatchObject({ status: "success" });

    // The slow lane claims and sends it; its receiver answers, so the webhook is back in the main lane.
    const slowBatch = batchOf([slowId!], SLOW_DELIVERY_QUEUE);
    const slowCtx = createExecutionContext();
    await handleDeliveryBatch(slowBatch, services, slowCtx);
    expect((await getQueueResult(slowBatch, slowCtx)).explicitAcks).toHaveLength(1);
    expect(await deliveryRow(slowId!)).toMatchObject({ status: "success", attempt_count: 1 });
    expect(await slowSince(slowHook.id)).toBeNull();
  });

  it("never sends a handed-over attempt twice: a duplicate message finds its lease, a stale release changes nothing", async () => {
    const hanging = await webhookAtReceiver("tnt_lane_dupe", { plan: ["hang"] });
    const [id] = await seed(hanging.id, "tnt_lane_dupe", 1);
    const { services, slow } = lanes();
    const batch = batchOf([id!]);
    const ctx = createExecutionContext();
    await handleDeliveryBatch(batch, services, ctx);
    const claimed = (await deliveryRow(id!))!;
    expect(claimed).toMatchObject({ status: "pending", attempt_count: 1 });

    // While it hangs, a duplicate message in each lane: neither claims it.
    for (const queue of [QUEUE, SLOW_DELIVERY_QUEUE]) {
      const dupe = batchOf([id!], queue);
      const dupeCtx = createExecutionContext();
      await handleDeliveryBatch(dupe, services, dupeCtx);
      expect((await getQueueResult(dupe, dupeCtx)).explicitAcks).toHaveLength(1);
    }
    // A release that is not of the current claim (another lease) leaves the row alone.
    const stale = { deliveryId: id!, attemptNumber: 1, leaseUntil: claimed.next_attempt_at - 1 };
    await releaseClaimsStatement(
      createDb(env.DB),
      [stale as Parameters<typeof releaseClaimsStatement>[1][number]],
      Date.now(),
    ).run();
    expect(await deliveryRow(id!)).toMatchObject({ attempt_count: 1, next_attempt_at: claimed.next_attempt_at });

    await waitOnExecutionContext(ctx);
    expect(await recorded(hanging.hookKey)).toHaveLength(1);
    expect(await attemptRows(id!)).toMatchObject([{ attempt_number: 1, error_class: "timeout" }]);
    expect(slow.ids()).toEqual([id]); // its retry, not a second send
  });

  it("starts a webhook whose URL changes back in the main lane", async () => {
    const wh = await webhookAtReceiver("tnt_lane_url");
    await env.DB.prepare("UPDATE webhook_endpoints SET slow_since = ? WHERE id = ?").bind(Date.now(), wh.id).run();
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { description: "same receiver" } });
    expect(await slowSince(wh.id)).not.toBeNull();
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { url: "https://receiver.example.com/new" } });
    expect(await slowSince(wh.id)).toBeNull();
  });
});
