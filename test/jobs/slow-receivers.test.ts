// One webhook's hanging receiver beside healthy ones (docs/architecture.md#lanes): the main lane hands a hanging send
// over instead of waiting for it, gives a hanging webhook no more than its share of the send slots, marks the webhook
// slow, and forwards its next deliveries to the slow lane, which still attempts and records them on schedule.
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { interceptD1 } from "../../scripts/lib/d1-intercept";
import { createDb } from "../../src/db/client";
import { livePartitions } from "../../src/db/partitions";
import { type ClaimedAttempt, releaseClaimsStatements } from "../../src/domain/delivery/claim";
import { type DeliveryRef, refKey } from "../../src/domain/publish";
import { handleDeliveryBatch, SLOW_DELIVERY_QUEUE } from "../../src/jobs/delivery-consumer";
import { createServices, type Services } from "../../src/lib/services";
import { api, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { attemptRows, countingD1, deliveryRow, messageOf, seedDelivery } from "../helpers/deliveries";
import { recorded } from "../helpers/receiver";

const QUEUE = "scaikey-webhook-deliveries";
const TIMEOUT_MS = 4_000; // how long a hanging receiver holds its send

type Message = { delivery_id: number; webhook_id: string };
/** Deliveries as comparable keys, in a stable order. */
const keysOf = (refs: readonly DeliveryRef[]) => refs.map(refKey).sort();

/** A queue that keeps what is sent to it. */
function capturingQueue() {
  const sent: { ref: DeliveryRef; delaySeconds?: number }[] = [];
  const refOf = (body: Message): DeliveryRef => ({ webhookId: body.webhook_id, id: body.delivery_id });
  const queue = {
    send: async (body: Message, opts?: QueueSendOptions) =>
      void sent.push({ ref: refOf(body), delaySeconds: opts?.delaySeconds }),
    sendBatch: async (messages: Iterable<MessageSendRequest<Message>>) => {
      for (const m of messages) sent.push({ ref: refOf(m.body), delaySeconds: m.delaySeconds });
    },
  } as unknown as Queue;
  return { queue, keys: () => keysOf(sent.map((m) => m.ref)), sent };
}

/** The real services with a short timeout, both lanes' queues captured, and D1 round trips counted (over `base`). */
function lanes(base: D1Database = env.DB) {
  const main = capturingQueue();
  const slow = capturingQueue();
  const { d1, counts } = countingD1(base);
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

const batchOf = (refs: DeliveryRef[], queue = QUEUE) =>
  createMessageBatch(
    queue,
    refs.map((ref, i) => ({
      id: `s${ref.id}-${i}-${Math.random()}`,
      timestamp: new Date(),
      attempts: 1,
      body: messageOf(ref),
    })),
  );

const slowSince = async (webhookId: string) =>
  (await env.DB.prepare("SELECT slow_since FROM webhook_endpoints WHERE id = ?").bind(webhookId).first<{
    slow_since: number | null;
  }>())!.slow_since;

async function seed(webhookId: string, tenant: string, count: number) {
  const ids: DeliveryRef[] = [];
  for (let i = 0; i < count; i++) ids.push(await seedDelivery(webhookId, tenant));
  return ids;
}

describe("a hanging receiver beside healthy ones", { timeout: 30_000 }, () => {
  it("does not hold the batch: healthy attempts are recorded and acked, the hanging one is handed over and recorded after", async () => {
    const hanging = await webhookAtReceiver("tnt_lane_mixed", { plan: ["hang"] });
    const healthy = await Promise.all([1, 2, 3].map(() => webhookAtReceiver("tnt_lane_mixed")));
    const hangIds = await seed(hanging.id, "tnt_lane_mixed", 2);
    const healthyIds: DeliveryRef[] = [];
    for (const wh of healthy) healthyIds.push(...(await seed(wh.id, "tnt_lane_mixed", 3)));
    // After each D1 batch, which of the batch's deliveries have their attempt recorded.
    const all = [...hangIds, ...healthyIds];
    const recordedAfter: string[][] = [];
    const watched = interceptD1(env.DB, {
      batch: async (_statements, call) => {
        const results = await call();
        const rows = await Promise.all(all.map(deliveryRow));
        recordedAfter.push(keysOf(all.filter((_, i) => JSON.parse(rows[i]!.attempts).length > 0)));
        return results;
      },
    });
    const { services, main, slow, counts } = lanes(watched);
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
      expect(await attemptRows(id)).toMatchObject([{ attempt: 1, success: false, error_class: "timeout" }]);
    }
    expect(slow.keys()).toEqual(keysOf(hangIds));
    for (const m of slow.sent) expect(m.delaySeconds).toBeGreaterThanOrEqual(54); // the schedule's 60 s ± 10 %
    expect(main.keys()).toEqual([]);
    // Claim, the healthy attempts, the hanging ones: no round trip more than a batch of slow answers always took. The
    // healthy attempts were recorded first, without waiting for the hanging ones.
    expect(counts.batches).toBe(3);
    expect(recordedAfter).toEqual([[], keysOf(healthyIds), keysOf(all)]);
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
    const released = hangIds.filter((id) => slow.keys().includes(refKey(id)));
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
    expect(main.keys()).toEqual([]);

    // The slow lane attempts the released ones (their first attempt), once each.
    const slowBatch = batchOf(released, SLOW_DELIVERY_QUEUE);
    const slowCtx = createExecutionContext();
    await handleDeliveryBatch(slowBatch, services, slowCtx);
    expect((await getQueueResult(slowBatch, slowCtx)).explicitAcks).toHaveLength(2);
    expect(await recorded(hanging.hookKey)).toHaveLength(8);
    for (const id of released) expect(await attemptRows(id)).toMatchObject([{ attempt: 1, error_class: "timeout" }]);
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
    expect(slow.keys()).toEqual(keysOf([slowId!]));
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
    const stale = {
      deliveryId: id!.id,
      endpoint: { id: hanging.id },
      attemptNumber: 1,
      leaseUntil: claimed.lease_until - 1,
    };
    await env.DB.batch(
      releaseClaimsStatements(env.DB, await livePartitions(env.DB), [stale as ClaimedAttempt], Date.now()),
    );
    expect(await deliveryRow(id!)).toMatchObject({ attempt_count: 1, lease_until: claimed.lease_until });

    await waitOnExecutionContext(ctx);
    expect(await recorded(hanging.hookKey)).toHaveLength(1);
    expect(await attemptRows(id!)).toMatchObject([{ attempt: 1, error_class: "timeout" }]);
    expect(slow.keys()).toEqual(keysOf([id!])); // its retry, not a second send
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
