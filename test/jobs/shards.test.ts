// The cron jobs visit every shard (src/db/shards.ts forEachShard), and /health and the operations view report each
// shard's pipeline: a retry due in each shard is enqueued by one sweep run, storage works in both (history under each
// shard's part of the archive), a shard that fails stops no other, and a shard whose delivery lags is named.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import { hourOf, listPartitionHours } from "../../src/db/partitions";
import { onShard } from "../../src/db/shards";
import { attemptDelivery } from "../../src/domain/delivery/attempt";
import { sweepDueDeliveries } from "../../src/domain/delivery/sweep";
import { sweepPartnerShares } from "../../src/domain/partner-fanout";
import { completeEnvelope, storeEvent } from "../../src/domain/publish";
import { runScheduled } from "../../src/jobs/scheduled";
import { createServices, type Services } from "../../src/lib/services";
import { api, createWebhook } from "../helpers/api";
import { cancelOpenDeliveriesBut, deliveryDeps, seedDelivery, updateDeliveries } from "../helpers/deliveries";
import { storePastDeliveries } from "../helpers/history";
import { callWith, keepingQueue, queuedDeliveries, servicesAt, unavailableD1 } from "../helpers/pipeline";
import { hookUrl } from "../helpers/receiver";
import { placeOwner, shardD1s } from "../helpers/shards";
import { partnerAdmin, superAdmin, tenantAdmin } from "../helpers/tokens";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const [DB0, DB1] = shardD1s() as [D1Database, D1Database];

/** A webhook of a new tenant placed in `shard`. */
async function webhookIn(shard: number) {
  const tenant = `tnt_cron${shard}_${uid()}`;
  await placeOwner(`t:${tenant}`, shard);
  const wh = await createWebhook(await tenantAdmin(tenant), { url: hookUrl().url, events: ["*"] });
  return { ...wh, tenant };
}

/** `services` with shard `shard`'s database down. */
const withShardDown = (services: Services, shard: number): Services => ({
  ...services,
  shards: services.shards.map((h, n) => (n === shard ? { ...h, db: createDb(unavailableD1()) } : h)),
});

describe("the retry sweep", () => {
  it("visits both shards in one run: each shard's due retry is enqueued, each shard sends its own probe", async () => {
    await cancelOpenDeliveriesBut("");
    const clock = { now: Date.now() };
    const hooks = [await webhookIn(0), await webhookIn(1)];
    const due = [];
    for (const wh of hooks) {
      const ref = await seedDelivery(wh.id, wh.tenant, clock.now - HOUR);
      await updateDeliveries([ref], { status: "retrying", attempt_count: 1, in_queue: 0, due_at: clock.now - MINUTE });
      due.push(ref);
    }
    const queue = keepingQueue(clock);
    await runScheduled("* * * * *", servicesAt(clock, { queue: queue.queue }));
    const sent = queue.take().map((m) => m.body as Record<string, unknown>);
    expect(sent.filter((b) => "delivery_id" in b)).toEqual(
      expect.arrayContaining(due.map((ref) => ({ delivery_id: ref.id, webhook_id: ref.webhookId }))),
    );
    expect(sent.filter((b) => "watermark_probe" in b).map((b) => b.shard ?? 0)).toEqual(expect.arrayContaining([0, 1]));
    // Each shard's sweep keeps its own place; the run is recorded once, in shard 0.
    for (const d1 of [DB0, DB1])
      expect(await d1.prepare("SELECT value FROM job_cursors WHERE name = 'sweep'").first()).toEqual({ value: 0 });
    expect(await DB0.prepare("SELECT last_outcome FROM job_runs WHERE name = 'retry_sweep'").first()).toEqual({
      last_outcome: "succeeded",
    });
    expect(await DB1.prepare("SELECT count(*) AS n FROM job_runs").first()).toEqual({ n: 0 });
  });

  it("a shard that is down stops no other: the run fails, and the other shard's due retry still goes out", async () => {
    await cancelOpenDeliveriesBut("");
    const clock = { now: Date.now() };
    const wh = await webhookIn(0);
    const ref = await seedDelivery(wh.id, wh.tenant, clock.now - HOUR);
    await updateDeliveries([ref], { status: "retrying", attempt_count: 1, in_queue: 0, due_at: clock.now - MINUTE });
    const queue = keepingQueue(clock);
    const services = withShardDown(servicesAt(clock, { queue: queue.queue }), 1);
    await expect(runScheduled("* * * * *", services)).rejects.toThrow(/unavailable/);
    expect(queue.take().map((m) => m.body)).toContainEqual({ delivery_id: ref.id, webhook_id: ref.webhookId });
    expect(
      await DB0.prepare("SELECT last_outcome, last_error_class FROM job_runs WHERE name = 'retry_sweep'").first(),
    ).toEqual({ last_outcome: "failed", last_error_class: "d1" });
  });
});

describe("partner shares", () => {
  it("a partner's shard that is down holds back only its shares: the tenant's shard is still swept", async () => {
    await cancelOpenDeliveriesBut("");
    const clock = { now: Date.now() };
    const partner = `prt_down_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const tenant = `tnt_down_${uid()}`;
    await placeOwner(`t:${tenant}`, 1);
    await api("PUT", `/api/v1/admin/webhooks/tenants/${tenant}/partner`, {
      token: await superAdmin(),
      body: { partner_id: partner },
    });
    const wh = await createWebhook(await tenantAdmin(tenant), { url: hookUrl().url, events: ["*"] });
    // A publish that stopped after its tenant's batch, an hour ago: its delivery waits for a retry, its share in shard 1.
    const at = clock.now - HOUR;
    const envelope = completeEnvelope(
      {
        event_type: "user.created",
        tenant_id: tenant,
        partner_id: partner,
        resource: { type: "user", id: "u" },
        data: {},
      },
      at,
    );
    const stored = await storeEvent(onShard(createServices(env), 1).db, envelope, at, undefined, null, 1);
    expect(stored.partnerShares).toHaveLength(1);
    const [ref] = stored.refs;
    await updateDeliveries([ref!], { status: "retrying", attempt_count: 1, in_queue: 0, due_at: clock.now - MINUTE });

    const queue = keepingQueue(clock);
    await expect(
      runScheduled("* * * * *", withShardDown(servicesAt(clock, { queue: queue.queue }), 0)),
    ).rejects.toThrow(/unavailable/);
    expect(queue.take().map((m) => m.body)).toContainEqual({ delivery_id: ref!.id, webhook_id: wh.id });
    expect(await DB1.prepare("SELECT count(*) AS n FROM partner_fanouts").first()).toEqual({ n: 1 }); // the next run's
  });
});

describe("an auto-disable announcement", () => {
  it("of a tenant's webhook away from its partner's shard reaches the partner's webhook through the share", async () => {
    const partner = `prt_ann_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const tenant = `tnt_ann_${uid()}`;
    await placeOwner(`t:${tenant}`, 1);
    await api("PUT", `/api/v1/admin/webhooks/tenants/${tenant}/partner`, {
      token: await superAdmin(),
      body: { partner_id: partner },
    });
    const gone = await createWebhook(await tenantAdmin(tenant), { url: hookUrl({ plan: [410] }).url, events: ["*"] });
    const watching = await createWebhook(await partnerAdmin(partner), {
      url: hookUrl().url,
      events: ["webhook.auto_disabled"],
    });
    const clock = { now: Date.now() };
    const outcome = await attemptDelivery(deliveryDeps(clock), await seedDelivery(gone.id, tenant, clock.now));
    expect(outcome).toMatchObject({ kind: "attempted", autoDisabled: true });
    // Stored with the attempt in the tenant's shard, its share beside it; the sweep of that shard gives the share.
    expect(
      await DB1.prepare(
        "SELECT partner_id, partner_shard FROM partner_fanouts WHERE event_type = 'webhook.auto_disabled'",
      ).all(),
    ).toMatchObject({ results: [{ partner_id: partner, partner_shard: 0 }] });
    const later = { ...createServices(env), now: () => clock.now + MINUTE };
    await sweepPartnerShares(onShard(later, 1), { deadline: Date.now() + 10_000 });
    expect(
      await DB0.prepare("SELECT event_type FROM deliveries_live WHERE webhook_id = ?").bind(watching.id).all(),
    ).toMatchObject({ results: [{ event_type: "webhook.auto_disabled" }] });
  });
});

describe("the storage job", () => {
  it("works in both shards: their partitions, and each shard's history under its own part of the archive", async () => {
    const now = Date.now();
    const hooks = [await webhookIn(0), await webhookIn(1)];
    const old = now - 6 * HOUR;
    await storePastDeliveries(
      hooks.map((wh) => ({ webhookId: wh.id, tenantId: wh.tenant, createdAt: old, status: "success" as const })),
    );
    await runScheduled("*/3 * * * *", servicesAt({ now }));
    for (const d1 of [DB0, DB1]) {
      const hours = await listPartitionHours(d1);
      expect(hours).toContain(hourOf(now));
      expect(hours).not.toContain(hourOf(old));
      expect(await d1.prepare("SELECT value FROM job_cursors WHERE name = 'storage'").first()).toEqual({ value: 0 });
    }
    const keys = async (prefix: string) => (await env.ARCHIVE.list({ prefix })).objects.map((o) => o.key);
    expect(await keys(`deliveries/${hourOf(old)}/`)).not.toEqual([]);
    expect(await keys(`s1/deliveries/${hourOf(old)}/`)).not.toEqual([]);
    // Read back through the API, from each shard's own part.
    for (const wh of hooks) {
      const { body } = await callWith(
        createServices(env),
        `/api/v1/admin/webhooks/${wh.id}/deliveries`,
        await superAdmin(),
      );
      expect(body).toMatchObject({ total: 1, items: [{ webhook_id: wh.id, status: "success" }] });
    }
  });
});

describe("/health and the operations view", () => {
  it("name the shard whose delivery lags, and add up the shards' figures", async () => {
    await cancelOpenDeliveriesBut("");
    // From a fresh deploy: no probe waiting, no sweep record, in either shard.
    for (const d1 of [DB0, DB1]) await d1.prepare("DELETE FROM job_cursors").run();
    const t0 = Date.now();
    const maxLag = createServices(env).config.healthMaxDeliveryLagMs;
    const [near, far] = [await webhookIn(0), await webhookIn(1)];
    const waiting = [await seedDelivery(far.id, far.tenant, t0), await seedDelivery(far.id, far.tenant, t0)];
    await queuedDeliveries(waiting, t0);
    await queuedDeliveries([await seedDelivery(near.id, near.tenant, t0)], t0);
    // Both shards' sweeps record what they find; shard 0's delivery is then worked through.
    const sweeping = servicesAt({ now: t0 + 10_000 }, { queue: keepingQueue({ now: t0 + 10_000 }).queue });
    for (const shard of [0, 1]) await sweepDueDeliveries(onShard(sweeping, shard));
    await cancelOpenDeliveriesBut(far.id, t0);

    const at = t0 + maxLag + 1000;
    const health = await callWith(servicesAt({ now: at }), "/health");
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      status: "error",
      delivery: "lagging",
      lag_seconds: Math.floor((maxLag + 1000) / 1000),
    });
    expect(health.body.shards).toEqual([
      { shard: 0, d1: "ok", delivery: "ok", queue: "ok", lag_seconds: expect.any(Number) },
      { shard: 1, d1: "ok", delivery: "lagging", queue: "ok", lag_seconds: Math.floor((maxLag + 1000) / 1000) },
    ]);

    const ops = await callWith(servicesAt({ now: at }), "/api/v1/admin/webhooks/operations", await superAdmin());
    expect(ops.status).toBe(200);
    expect(ops.body.delivery).toMatchObject({ lagging: true, pending: 2, oldest_due: { webhook_id: far.id } });
    expect(ops.body.shards).toEqual([
      expect.objectContaining({ shard: 0, pending: 0, retrying: 0 }),
      expect.objectContaining({ shard: 1, pending: 2, lag_seconds: Math.floor((maxLag + 1000) / 1000) }),
    ]);

    // Shard 1's database down: /health says which.
    const down = await callWith(withShardDown(servicesAt({ now: at }), 1), "/health");
    expect(down.body).toMatchObject({ status: "error", d1: "error", lag_seconds: null });
    expect(down.body.shards[1]).toEqual({
      shard: 1,
      d1: "error",
      delivery: "unknown",
      queue: "unknown",
      lag_seconds: null,
    });
  });
});
