// An ordered webhook (docs/architecture.md#flow-control): one delivery at a time, in publish order, whatever comes at
// the consumer (duplicate messages, a second consumer, a worker that dies mid-send, the sweep), the head visible while
// it holds the line, and manual retry, recover and replay taking their places in it. What counts is what the real
// receiver got, and when.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { onShard, shardOfWebhook } from "../../../src/db/shards";
import { claimDeliveries } from "../../../src/domain/delivery/claim";
import { recordAttempts } from "../../../src/domain/delivery/record";
import { afterAttempts } from "../../../src/domain/delivery/requeue";
import { sendClaimedAttempt } from "../../../src/domain/delivery/send";
import { sweepDueDeliveries } from "../../../src/domain/delivery/sweep";
import type { DeliveryRef } from "../../../src/domain/publish";
import { WATERMARK_CURSOR } from "../../../src/domain/queue-watermark";
import { continueRecoveries } from "../../../src/domain/recovery";
import { createServices, type Services } from "../../../src/lib/services";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { deliveryDeps, deliveryRow, seedDelivery, updateDeliveries, waitFor } from "../../helpers/deliveries";
import { pump } from "../../helpers/flow";
import { keepingQueue } from "../../helpers/pipeline";
import { type hookUrl, type RecordedRequest, recorded } from "../../helpers/receiver";
import { publisher } from "../../helpers/tokens";

const ANSWER_DELAY_MS = 100;

async function orderedWebhook(tenant: string, hook: Parameters<typeof hookUrl>[0] = {}, extra = {}) {
  return webhookAtReceiver(tenant, hook, { ordered: true, ...extra });
}

async function seed(webhookId: string, tenant: string, n: number) {
  const refs: DeliveryRef[] = [];
  for (let i = 0; i < n; i++) refs.push(await seedDelivery(webhookId, tenant));
  return refs;
}

const finished = (status: string) => status === "success" || status === "failed";
const allFinished = (refs: readonly DeliveryRef[]) => async () =>
  (await Promise.all(refs.map(deliveryRow))).every((row) => finished(row!.status));

/** The delivery ids the receiver got, in the order it got them. */
const idsOf = (requests: readonly RecordedRequest[]) =>
  [...requests].sort((a, b) => a.received_at - b.received_at).map((r) => Number(r.headers["x-scaikey-webhook-id"]));

/** Each request came after the one before had been answered (the receiver waits ANSWER_DELAY_MS before it answers). */
function oneAtATime(requests: readonly RecordedRequest[]) {
  const times = [...requests].map((r) => r.received_at).sort((a, b) => a - b);
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(ANSWER_DELAY_MS);
}

/** The real services, retrying within a second, two attempts in all. */
const quickRetries = (): Services => {
  const real = createServices(env);
  return { ...real, config: { ...real.config, retryScheduleSeconds: [1] } };
};

/**
 * A recover or replay does its window's first hour at once and leaves the rest to the cron (continueRecoveries): a
 * window that crosses an hour's end is finished here as the cron would, in the webhook's shard.
 */
const finishRecoveries = (webhookId: string) =>
  continueRecoveries(onShard(createServices(env), shardOfWebhook(webhookId)));

const webhookOf = async (wh: { id: string; token: string }) =>
  (await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body;

describe("an ordered webhook", { timeout: 90_000 }, () => {
  it("gets one delivery at a time, in publish order, through duplicate messages and two consumers", async () => {
    const wh = await orderedWebhook("tnt_ord_dupes", { delayMs: ANSWER_DELAY_MS });
    const refs = await seed(wh.id, "tnt_ord_dupes", 8);
    // Every message twice, shuffled, in batches of three, two invocations at once.
    await pump(createServices(env), [...refs].reverse(), {
      duplicates: true,
      consumers: 2,
      batchSize: 3,
      until: allFinished(refs),
      timeoutMs: 40_000,
    });

    const got = await recorded(wh.hookKey);
    expect(idsOf(got)).toEqual(refs.map((r) => r.id));
    oneAtATime(got);
    for (const ref of refs) expect(await deliveryRow(ref)).toMatchObject({ status: "success", attempt_count: 1 });
    expect(await webhookOf(wh)).toMatchObject({ ordered: true, ordered_head_delivery_id: null });
  });

  it("waits for a head that retries, shows it as the head, and lets the rest go once it has failed for good", async () => {
    const wh = await orderedWebhook("tnt_ord_stuck", { plan: [500, 500, 200], delayMs: ANSWER_DELAY_MS });
    const refs = await seed(wh.id, "tnt_ord_stuck", 3);
    const [head] = refs;
    const services = quickRetries();
    await pump(services, refs, { until: async () => (await deliveryRow(head!))!.status === "retrying" });
    // The first attempt failed: the line waits for its retry, and says so.
    expect(await webhookOf(wh)).toMatchObject({ ordered_head_delivery_id: head!.id });
    expect(await recorded(wh.hookKey)).toHaveLength(1);

    await pump(services, [head!], { until: allFinished(refs), timeoutMs: 20_000 });
    const got = await recorded(wh.hookKey);
    expect(idsOf(got)).toEqual([head!.id, head!.id, refs[1]!.id, refs[2]!.id]);
    oneAtATime(got);
    expect(await deliveryRow(head!)).toMatchObject({ status: "failed", attempt_count: 2 });
    expect(await webhookOf(wh)).toMatchObject({ ordered_head_delivery_id: null });
  });

  it("holds the line while a worker that died mid-send holds the head, and the sweep re-enqueues the head alone", async () => {
    const tenant = "tnt_ord_crash";
    const wh = await orderedWebhook(tenant, { delayMs: ANSWER_DELAY_MS });
    const refs = await seed(wh.id, tenant, 4);
    // A worker claimed the head (its lease is set) and died before sending it.
    const { claimed } = await claimDeliveries(deliveryDeps({ now: Date.now() }), [refs[0]!]);
    expect(claimed).toHaveLength(1);
    // Duplicates of every message, and a second consumer, find nothing to send: the head is leased, the rest wait.
    await pump(createServices(env), refs, { duplicates: true, consumers: 2, batchSize: 2 });
    expect(await recorded(wh.hookKey)).toEqual([]);
    for (const ref of refs.slice(1))
      expect(await deliveryRow(ref)).toMatchObject({ status: "pending", attempt_count: 0 });

    // The lease has run out and the consumer is past it: the sweep finds the head lost and enqueues it, and only it.
    const services = createServices(env);
    const leaseEnd = Date.now() - services.config.orphanGraceMs - 60_000;
    await updateDeliveries([refs[0]!], { lease_until: leaseEnd, due_at: leaseEnd - 60_000, in_queue: 1 });
    await env.DB.prepare(
      "INSERT INTO job_cursors (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
      .bind(WATERMARK_CURSOR, Date.now())
      .run();
    await env.DB.prepare("DELETE FROM job_cursors WHERE name = 'sweep'").run();
    const swept = keepingQueue({ now: Date.now() });
    await sweepDueDeliveries({ ...services, queue: swept.queue, slowQueue: swept.queue });
    const enqueued = swept
      .take()
      .map((m) => m.body as { delivery_id?: number; webhook_id?: string })
      .filter((b) => b.webhook_id === wh.id);
    expect(enqueued.map((b) => b.delivery_id)).toEqual([refs[0]!.id]);

    await pump(services, [refs[0]!], { until: allFinished(refs), timeoutMs: 20_000 });
    const got = await recorded(wh.hookKey);
    expect(idsOf(got)).toEqual(refs.map((r) => r.id));
    oneAtATime(got);
    expect(await deliveryRow(refs[0]!)).toMatchObject({ status: "success", attempt_count: 2 });
  });

  it("takes a delivery retried in place back into its line: after the attempt in flight, before those still waiting", async () => {
    const tenant = "tnt_ord_retry";
    const wh = await orderedWebhook(tenant, { plan: [500, 500, 200], delayMs: ANSWER_DELAY_MS });
    const refs = await seed(wh.id, tenant, 4);
    const [first, second] = refs;
    // The first fails for good (two attempts); the pump stops before the second is sent.
    await pump(quickRetries(), refs, { until: async () => (await deliveryRow(first!))!.status === "failed" });
    // A worker has claimed the second and is sending it when an admin retries the first.
    const deps = { ...deliveryDeps({ now: Date.now() }), ...createServices(env) };
    const { claimed } = await claimDeliveries(deps, [second!]);
    expect(claimed).toHaveLength(1);
    const retry = await api("POST", `${WEBHOOKS}/${wh.id}/deliveries/${first!.id}/retry`, { token: wh.token });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ status: "pending" });
    expect(await webhookOf(wh)).toMatchObject({ ordered_head_delivery_id: second!.id });

    // The retry's message finds the first waiting (its turn comes after the second's attempt) …
    await new Promise((r) => setTimeout(r, 1_500));
    expect(idsOf(await recorded(wh.hookKey))).toEqual([first!.id, first!.id]);
    // … which is recorded: the first is next, then the rest (each let go by the one before, through the real queue).
    const outcomes = await recordAttempts(deps, [await sendClaimedAttempt(deps, claimed[0]!)]);
    await afterAttempts(deps, outcomes);
    await waitFor(allFinished(refs), 45_000);
    const got = await recorded(wh.hookKey);
    expect(idsOf(got)).toEqual([first!.id, first!.id, second!.id, first!.id, refs[2]!.id, refs[3]!.id]);
    oneAtATime(got);
    expect(await deliveryRow(first!)).toMatchObject({ status: "success", attempt_count: 3 });
  });

  it("takes recovered deliveries back into the line in publish order, before later ones", async () => {
    const tenant = "tnt_ord_recover";
    const wh = await orderedWebhook(tenant, { plan: [500, 500, 500, 500, 200], delayMs: ANSWER_DELAY_MS });
    const since = new Date(Date.now() - 60_000).toISOString();
    const failing = await seed(wh.id, tenant, 2);
    await pump(quickRetries(), failing, { until: allFinished(failing), timeoutMs: 20_000 });
    for (const ref of failing) expect(await deliveryRow(ref)).toMatchObject({ status: "failed" });
    // Two more wait (nothing has sent them yet) when the failed ones are recovered.
    const later = await seed(wh.id, tenant, 2);
    const res = await api("POST", `${WEBHOOKS}/${wh.id}/recover`, { token: wh.token, body: { since } });
    expect(res.body).toMatchObject({ deliveries: 2 });
    await finishRecoveries(wh.id);
    // Through the real queue: the recovered go first, each letting the next one go.
    await waitFor(allFinished([...failing, ...later]), 45_000);
    const got = await recorded(wh.hookKey);
    expect(idsOf(got).slice(4)).toEqual([...failing, ...later].map((r) => r.id));
    oneAtATime(got);
  });

  it("sends replayed events at the end of the line, in publish order", async () => {
    const tenant = "tnt_ord_replay";
    const wh = await orderedWebhook(tenant, { delayMs: ANSWER_DELAY_MS }, { events: ["group.*"] });
    const since = new Date(Date.now() - 60_000).toISOString();
    const token = await publisher(tenant, "prt_engine");
    const eventIds: string[] = [];
    for (let n = 0; n < 4; n++) {
      const res = await api("POST", "/api/v1/events", {
        token,
        body: {
          event_type: "user.created",
          tenant_id: tenant,
          partner_id: "prt_engine",
          resource: { type: "user", id: `usr_${n}` },
          data: { n },
        },
      });
      expect(res.status).toBe(202);
      eventIds.push(res.body.event_id);
      await new Promise((r) => setTimeout(r, 5)); // one millisecond each: publish order is time order
    }
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { events: ["group.*", "user.*"] } });
    const replay = await api("POST", `${WEBHOOKS}/${wh.id}/replay`, { token: wh.token, body: { since } });
    expect(replay.body).toMatchObject({ deliveries: 4 });
    await finishRecoveries(wh.id);
    const got = await waitFor(async () => {
      const requests = await recorded(wh.hookKey);
      return requests.length >= 4 && requests;
    }, 20_000);
    const sorted = [...got].sort((a, b) => a.received_at - b.received_at);
    expect(sorted.map((r) => JSON.parse(r.body).event_id)).toEqual(eventIds);
    oneAtATime(got);
  });

  it("lets the line go when ordering is turned off: the sweep sends what waited", async () => {
    const tenant = "tnt_ord_off";
    const wh = await orderedWebhook(tenant, { plan: [500, 200] });
    const refs = await seed(wh.id, tenant, 4);
    // The head fails and waits for its retry (an hour away); the rest wait behind it, their messages acknowledged.
    await pump(createServices(env), refs, { until: async () => (await deliveryRow(refs[0]!))!.status === "retrying" });
    expect(await recorded(wh.hookKey)).toHaveLength(1);
    const off = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { ordered: false } });
    expect(off.body).toMatchObject({ ordered: false, ordered_head_delivery_id: null });
    await env.DB.prepare("DELETE FROM job_cursors WHERE name = 'sweep'").run();
    const swept = keepingQueue({ now: Date.now() });
    await sweepDueDeliveries({ ...createServices(env), queue: swept.queue, slowQueue: swept.queue });
    const enqueued = swept
      .take()
      .map((m) => m.body as { delivery_id?: number; webhook_id?: string })
      .filter((b) => b.webhook_id === wh.id)
      .map((b) => b.delivery_id);
    expect(enqueued.sort()).toEqual(refs.slice(1).map((r) => r.id));
    await pump(createServices(env), refs.slice(1), { until: allFinished(refs.slice(1)) });
    expect(await deliveryRow(refs[0]!)).toMatchObject({ status: "retrying" });
  });

  it("holds a test event in the line while an earlier delivery is open, and sends it in its turn", async () => {
    const tenant = "tnt_ord_test";
    const wh = await orderedWebhook(tenant, { delayMs: ANSWER_DELAY_MS });
    const [waiting] = await seed(wh.id, tenant, 1);
    const test = await api("POST", `${WEBHOOKS}/${wh.id}/test`, { token: wh.token });
    expect(test.status).toBe(409);
    expect(test.body.detail).toMatch(/ordered .* waits in its line/);
    await pump(createServices(env), [waiting!], {
      until: async () => (await recorded(wh.hookKey)).length === 2,
      timeoutMs: 20_000,
    });
    const got = await recorded(wh.hookKey);
    expect(got.map((r) => JSON.parse(r.body).event_type)).toEqual(["user.created", "webhook.test"]);
  });
});
