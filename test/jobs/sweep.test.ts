// The sweep re-enqueues a queued delivery only once its message is lost: never while it may still be waiting behind a
// backlog (the queue watermark has not passed it), always once the consumer has received messages sent well after it.
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { sweepDueDeliveries } from "../../src/domain/delivery/sweep";
import type { DeliveryRef } from "../../src/domain/publish";
import { PROBE_CURSOR, WATERMARK_CURSOR, watermarkProbe } from "../../src/domain/queue-watermark";
import worker from "../../src/index";
import { createServices } from "../../src/lib/services";
import { createWebhook, webhookAtReceiver } from "../helpers/api";
import { cancelOpenDeliveriesBut, deliveryRow, seedDelivery, updateDelivery, waitFor } from "../helpers/deliveries";
import { keepingQueue } from "../helpers/pipeline";
import { hookUrl, recorded } from "../helpers/receiver";
import { placeOwner } from "../helpers/shards";
import { tenantAdmin } from "../helpers/tokens";

const MINUTE = 60_000;
const QUEUE = "scaikey-webhook-deliveries";

/** A webhook of `tenant` in shard 0, whose sweep and watermarks this file drives (test/db/shards.test.ts: both shards). */
async function endpoint(tenant: string) {
  await placeOwner(`t:${tenant}`, 0);
  const hook = hookUrl();
  const webhook = await createWebhook(await tenantAdmin(tenant), { url: hook.url, events: ["*"] });
  return { ...webhook, hookKey: hook.key };
}

/** Deliveries waiting in the queue (in_queue, pending) since `deliverableAt`, as publish leaves them. */
async function queued(webhookId: string, tenant: string, count: number, deliverableAt: number): Promise<DeliveryRef[]> {
  const ids: DeliveryRef[] = [];
  for (let i = 0; i < count; i++) {
    const id = await seedDelivery(webhookId, tenant, deliverableAt);
    await updateDelivery(id, { in_queue: 1, due_at: deliverableAt });
    ids.push(id);
  }
  return ids;
}

const setWatermark = (at: number) =>
  env.DB.prepare(
    "INSERT INTO job_cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
  )
    .bind(WATERMARK_CURSOR, at)
    .run();
const watermark = async () =>
  (
    await env.DB.prepare("SELECT value FROM job_cursors WHERE name = ?")
      .bind(WATERMARK_CURSOR)
      .first<{ value: number }>()
  )?.value ?? 0;

/** The queue consumer, handed one batch as the runtime would. */
async function consume(messages: { body: unknown; timestamp: Date }[]) {
  const batch = createMessageBatch(
    QUEUE,
    messages.map((m, i) => ({ id: `m${i}-${Math.random()}`, attempts: 1, ...m })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

beforeEach(async () => {
  // Only this test's deliveries are eligible.
  await cancelOpenDeliveriesBut("");
});

describe("the sweep under a backlog", () => {
  it("sends no duplicates while the consumer is behind, and sends them once the watermark has passed them", async () => {
    const tenant = "tnt_sweep_backlog";
    const wh = await endpoint(tenant);
    const now = Date.now();
    // 30 deliveries queued 20 minutes ago; the consumer has reached messages sent 40 minutes ago: they are waiting.
    const ids = await queued(wh.id, tenant, 30, now - 20 * MINUTE);
    await setWatermark(now - 40 * MINUTE);
    const services = { ...createServices(env), now: () => now };
    expect(await sweepDueDeliveries(services)).toEqual({ enqueued: 0, lost: 0 });
    // Still behind, though by less than the grace after them.
    await setWatermark(now - 20 * MINUTE + services.config.orphanGraceMs - 1);
    expect(await sweepDueDeliveries(services)).toEqual({ enqueued: 0, lost: 0 });
    for (const id of ids)
      expect(await deliveryRow(id)).toMatchObject({
        in_queue: 1,
        due_at: now - 20 * MINUTE,
        attempt_count: 0,
      });

    // The consumer receives a message sent a grace period after they became deliverable: they were lost.
    await consume([
      { body: watermarkProbe(now), timestamp: new Date(now - 20 * MINUTE + services.config.orphanGraceMs) },
    ]);
    expect(await watermark()).toBe(now - 20 * MINUTE + services.config.orphanGraceMs);
    expect(await sweepDueDeliveries(services)).toEqual({ enqueued: 30, lost: 30 });
    // Once: they are deliverable again from now, which the watermark has not passed.
    expect(await sweepDueDeliveries(services)).toEqual({ enqueued: 0, lost: 0 });
  });

  it("moves the watermark only forward, with every batch the consumer receives", async () => {
    const now = Date.now();
    await setWatermark(now - MINUTE);
    await consume([{ body: watermarkProbe(now), timestamp: new Date(now - 2 * MINUTE) }]);
    expect(await watermark()).toBe(now - MINUTE);
    await consume([
      { body: watermarkProbe(now), timestamp: new Date(now - 30_000) },
      { body: { delivery_id: 987_654_321 }, timestamp: new Date(now - 10_000) },
    ]);
    expect(await watermark()).toBe(now - 10_000);
  });
});

describe("a really lost message", () => {
  it("is delivered: dropped after sendBatch, the sweep's probe moves the watermark past it and the sweep sends it", async () => {
    const tenant = "tnt_sweep_lost";
    const wh = await endpoint(tenant);
    const config = createServices(env).config;
    // Published a grace period and more ago; its message never reached the queue.
    const [lost] = await queued(wh.id, tenant, 1, Date.now() - config.orphanGraceMs - MINUTE);
    await setWatermark(0);
    // The sweep through its cron: its probe goes through the real queue to the real consumer, which moves the watermark;
    // the next run finds the delivery lost and sends it; the real queue delivers it.
    const cron = async () => {
      const ctx = createExecutionContext();
      await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
      await waitOnExecutionContext(ctx);
    };
    await cron();
    await waitFor(async () => (await watermark()) > Date.now() - MINUTE);
    await cron();
    await waitFor(async () => (await deliveryRow(lost!))!.status === "success");
    expect(await recorded(wh.hookKey)).toHaveLength(1);
  });

  it("is delivered when its worker died mid-attempt: after the lease, once the watermark passes it", async () => {
    const tenant = "tnt_sweep_killed";
    const wh = await endpoint(tenant);
    const services = createServices(env);
    const leaseEnd = Date.now() - services.config.orphanGraceMs - MINUTE;
    // Claimed (attempt 1 under way) by a worker that died: no attempt recorded, the lease has run out. It was due long
    // before: what counts is the end of its lease.
    const dueAt = leaseEnd - services.config.orphanGraceMs - MINUTE;
    const [id] = await queued(wh.id, tenant, 1, dueAt);
    await updateDelivery(id!, { attempt_count: 1, last_attempt_at: leaseEnd - MINUTE, lease_until: leaseEnd });
    await setWatermark(leaseEnd); // the consumer is behind the lease's end: it may still come back
    expect((await sweepDueDeliveries(services)).lost).toBe(0);
    await setWatermark(Date.now());
    expect(await sweepDueDeliveries(services)).toMatchObject({ lost: 1 });
    await waitFor(async () => (await deliveryRow(id!))!.status === "success");
    expect(await deliveryRow(id!)).toMatchObject({ attempt_count: 2 });
    expect(await recorded(wh.hookKey)).toHaveLength(1);
  });
});

describe("the probe's record", () => {
  const probeRecord = async () =>
    (await env.DB.prepare("SELECT value FROM job_cursors WHERE name = ?").bind(PROBE_CURSOR).first<{ value: number }>())
      ?.value;

  it("keeps the oldest probe the watermark has not passed, and moves on once it has", async () => {
    // Ahead of the real clock, so that probes earlier tests sent through the real queue cannot move the watermark.
    const t0 = Date.now() + 24 * 60 * MINUTE;
    await setWatermark(t0 - MINUTE);
    // The probes go nowhere (the real queue's consumer would move the watermark): the test hands one over itself.
    const sweepAt = (at: number) =>
      sweepDueDeliveries({ ...createServices(env), now: () => at, queue: keepingQueue({ now: at }).queue });
    await sweepAt(t0);
    expect(await probeRecord()).toBe(t0);
    await sweepAt(t0 + MINUTE); // the first probe still waits
    expect(await probeRecord()).toBe(t0);
    await consume([{ body: watermarkProbe(t0), timestamp: new Date(t0) }]);
    await sweepAt(t0 + 2 * MINUTE);
    expect(await probeRecord()).toBe(t0 + 2 * MINUTE);
  });
});

describe("the cron sweep", () => {
  it("enqueues due retries and orphaned deliveries, leaves the rest, and never enqueues one twice", async () => {
    const wh = await webhookAtReceiver("tnt_sweep");
    const now = Date.now();
    const due = await seedDelivery(wh.id, "tnt_sweep", now - 5);
    const orphan = await seedDelivery(wh.id, "tnt_sweep", now - 4);
    const notDue = await seedDelivery(wh.id, "tnt_sweep", now - 3);
    const queuedRecently = await seedDelivery(wh.id, "tnt_sweep", now - 2);
    const set = (id: DeliveryRef, status: string, due: number, inQueue: number) =>
      updateDelivery(id, { status, due_at: due, in_queue: inQueue });
    await set(due, "retrying", now - 1000, 0);
    await set(orphan, "pending", now - 10 * 60_000, 1);
    await set(notDue, "retrying", now + 3_600_000, 0);
    await set(queuedRecently, "pending", now - 1000, 1);
    // Leave only this test's rows eligible.
    await cancelOpenDeliveriesBut(wh.id);

    // The consumer has received messages sent just now: the orphan's message, due 10 minutes ago, is lost.
    await env.DB.prepare(
      "INSERT INTO job_cursors (name, value) VALUES ('queue_watermark', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
      .bind(now)
      .run();
    const services = createServices(env);
    const [a, b] = await Promise.all([sweepDueDeliveries(services), sweepDueDeliveries(services)]);
    expect(a.enqueued + b.enqueued).toBe(2);
    expect((await deliveryRow(due))!).toMatchObject({ in_queue: 1 });
    expect((await deliveryRow(notDue))!).toMatchObject({ in_queue: 0, due_at: now + 3_600_000 });
    expect((await sweepDueDeliveries(services)).enqueued).toBe(0);

    // Through the scheduled handler, the real queue then delivers them.
    await updateDelivery(notDue, { due_at: now - 1, in_queue: 0 });
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    for (const id of [due, orphan, notDue]) await waitFor(async () => (await deliveryRow(id))!.status === "success");
  });
});
