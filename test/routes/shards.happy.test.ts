// The API over two shards: owners in each, every per-webhook route reaching its webhook's shard, lists merged across
// shards with exact totals, a partner whose tenants span both shards, the service binding, and one shard deployed alone.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { onShard } from "../../src/db/shards";
import { sweepPartnerShares } from "../../src/domain/partner-fanout";
import { completeEnvelope, storeEvent } from "../../src/domain/publish";
import { continueRecoveries } from "../../src/domain/recovery";
import worker, { WebhooksService } from "../../src/index";
import { DELIVERY_QUEUE } from "../../src/jobs/delivery-consumer";
import { createServices } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { deliveryRow, messageOf, seedDelivery, updateDeliveries, updateDelivery, waitFor } from "../helpers/deliveries";
import { PortalVisitor, textOf } from "../helpers/portal";
import { hookUrl, recorded } from "../helpers/receiver";
import { allShardRows, d1OfWebhook, placeOwner, shardD1s, shardOfOwner } from "../helpers/shards";
import { partnerAdmin, platformToken, publisher, superAdmin, tenantAdmin } from "../helpers/tokens";

vi.setConfig({ testTimeout: 30_000 });

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const [DB0, DB1] = shardD1s() as [D1Database, D1Database];

/** A new tenant, placed in `shard` before anything else needs it (and assigned to `partner`, when given). */
async function tenantIn(shard: number, partner?: string): Promise<string> {
  const tenant = `tnt_sh${shard}_${uid()}`;
  await placeOwner(`t:${tenant}`, shard);
  if (partner) {
    const res = await api("PUT", `${WEBHOOKS}/tenants/${tenant}/partner`, {
      token: await superAdmin(),
      body: { partner_id: partner },
    });
    expect(res.status).toBe(200);
  }
  return tenant;
}

const webhookRow = (d1: D1Database, id: string) =>
  d1.prepare("SELECT * FROM webhook_endpoints WHERE id = ?").bind(id).first<Record<string, any>>();
const deliveriesOfEvent = (eventId: string) =>
  allShardRows<{ webhook_id: string; id: number; status: string }>(
    "SELECT webhook_id, id, status FROM deliveries_live WHERE event_id = ?",
    eventId,
  );
const event = (tenant: string, extra: Record<string, unknown> = {}) => ({
  event_type: "user.created",
  tenant_id: tenant,
  resource: { type: "user", id: `usr_${uid()}` },
  data: { n: 1 },
  ...extra,
});
const publishAs = async (token: string, body: Record<string, unknown>) => {
  const res = await api("POST", "/api/v1/events", { token, body });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as { event_id: string; deliveries: number };
};

describe("owners on two shards", () => {
  it("keep their webhooks, events and deliveries in their own shard, and one batch delivers both", async () => {
    const [a, b] = [await tenantIn(0), await tenantIn(1)];
    const [hookA, hookB] = [hookUrl(), hookUrl()];
    const whA = await createWebhook(await tenantAdmin(a), { url: hookA.url, events: ["*"] });
    const whB = await createWebhook(await tenantAdmin(b), { url: hookB.url, events: ["*"] });
    expect(whA.id).toMatch(/^wh_[0-9A-Za-z]{20}$/);
    expect(whB.id).toMatch(/^wh_1_[0-9A-Za-z]{20}$/);
    expect(await webhookRow(DB0, whA.id)).toMatchObject({ tenant_id: a });
    expect(await webhookRow(DB1, whA.id)).toBeNull();
    expect(await webhookRow(DB1, whB.id)).toMatchObject({ tenant_id: b });
    expect(await webhookRow(DB0, whB.id)).toBeNull();

    // Each publish reaches its owner's shard alone.
    for (const [tenant, wh, mine, other] of [
      [a, whA, DB0, DB1],
      [b, whB, DB1, DB0],
    ] as const) {
      const published = await publishAs(await publisher(tenant), event(tenant));
      expect(published.deliveries).toBe(1);
      const count = (d1: D1Database, sql: string) => d1.prepare(sql).bind(published.event_id).first<{ n: number }>();
      expect(await count(mine, "SELECT count(*) AS n FROM events_live WHERE event_id = ?")).toEqual({ n: 1 });
      expect(await count(other, "SELECT count(*) AS n FROM events_live WHERE event_id = ?")).toEqual({ n: 0 });
      expect(await deliveriesOfEvent(published.event_id)).toEqual([expect.objectContaining({ webhook_id: wh.id })]);
    }
    await waitFor(async () => (await recorded(hookA.key)).length === 1 && (await recorded(hookB.key)).length === 1);

    // One consumer batch holding both shards' deliveries: one claim and one record per shard, one set of send slots.
    const refs = [await seedDelivery(whA.id, a), await seedDelivery(whB.id, b)];
    const batch = createMessageBatch(
      DELIVERY_QUEUE,
      refs.map((ref, i) => ({ id: `mixed-${i}`, timestamp: new Date(), attempts: 1, body: messageOf(ref) })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks.sort()).toEqual(["mixed-0", "mixed-1"]);
    await waitFor(async () => (await recorded(hookA.key)).length === 2 && (await recorded(hookB.key)).length === 2);
    for (const ref of refs)
      await waitFor(async () => {
        const row = await d1OfWebhook(ref.webhookId)
          .prepare("SELECT status FROM deliveries_live WHERE webhook_id = ? AND id = ?")
          .bind(ref.webhookId, ref.id)
          .first<{ status: string }>();
        return row?.status === "success";
      });
    // The batch moved the queue watermark of both shards.
    for (const d1 of [DB0, DB1])
      expect(await d1.prepare("SELECT value FROM job_cursors WHERE name = 'queue_watermark'").first()).not.toBeNull();
  });
});

describe("every operation on one webhook", () => {
  it("reaches the webhook's shard, whichever it is; an id naming no shard is a 404", async () => {
    const tenant = await tenantIn(1);
    const token = await tenantAdmin(tenant);
    const hook = hookUrl();
    const wh = await createWebhook(token, { url: hook.url, events: ["*"] });
    const path = `${WEBHOOKS}/${wh.id}`;
    expect((await api("GET", path, { token })).body).toMatchObject({ id: wh.id, tenant_id: tenant });
    expect((await api("PATCH", path, { token, body: { description: "in shard 1" } })).status).toBe(200);
    expect(await webhookRow(DB1, wh.id)).toMatchObject({ description: "in shard 1" });

    const test = await api("POST", `${path}/test`, { token });
    expect(test.body).toMatchObject({ success: true, delivery_status: "success" });
    const listed = await api("GET", `${path}/deliveries`, { token });
    expect(listed.body).toMatchObject({ total: 1, page: 1, pages: 1 });
    const deliveryId = listed.body.items[0]!.id;
    expect((await api("GET", `${path}/deliveries/${deliveryId}`, { token })).body).toMatchObject({
      id: deliveryId,
      payload: { event_type: "webhook.test" },
    });
    expect((await api("GET", `${path}/stats?window=1h`, { token })).body).toMatchObject({ attempts: 1 });

    await updateDelivery({ webhookId: wh.id, id: deliveryId }, { status: "failed", completed_at: Date.now() });
    const retried = await api("POST", `${path}/deliveries/${deliveryId}/retry`, { token });
    expect(retried.body).toMatchObject({ id: deliveryId, status: "pending" });
    const since = new Date(Date.now() - 60_000).toISOString();
    expect((await api("POST", `${path}/recover`, { token, body: { since } })).status).toBe(202);
    expect((await api("POST", `${path}/replay`, { token, body: { since } })).status).toBe(202);
    expect(
      await DB1.prepare("SELECT count(*) AS n FROM webhook_recoveries WHERE webhook_id = ?").bind(wh.id).first(),
    ).toEqual({ n: 2 });

    const rotated = await api("POST", `${path}/rotate-secret`, { token, body: {} });
    expect(rotated.status).toBe(200);
    expect((await webhookRow(DB1, wh.id))!.secret).not.toBe(wh.secret);
    expect((await api("DELETE", path, { token })).status).toBe(204);
    expect((await webhookRow(DB1, wh.id))!.deleted_at).not.toBeNull();

    for (const id of ["wh_9_4n8XbQ2kLm9Pz7Rt1VcY", "wh_1_4n8XbQ2kLm9Pz7Rt1VcY"]) {
      expect((await api("GET", `${WEBHOOKS}/${id}`, { token: await superAdmin() })).status).toBe(404);
      expect((await api("GET", `${WEBHOOKS}/${id}/deliveries`, { token: await superAdmin() })).status).toBe(404);
    }
  });

  it("never moves a webhook to another shard: a new owner there is a 422; an owner with no shard yet joins it", async () => {
    const [a, b] = [await tenantIn(0), await tenantIn(1)];
    const admin = await superAdmin();
    const wh = await createWebhook(admin, { tenant_id: a });
    const refused = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: admin, body: { tenant_id: b } });
    expect(refused.status).toBe(422);
    expect(refused.body.detail[0]).toMatchObject({
      loc: ["body", "tenant_id"],
      msg: `Value error, Tenant ${b} keeps its webhooks in another shard than this webhook's, and a webhook cannot change shard; create a webhook for the new owner instead`,
    });
    expect((await webhookRow(DB0, wh.id))!.tenant_id).toBe(a);
    const fresh = `tnt_fresh_${uid()}`;
    const moved = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: admin, body: { tenant_id: fresh } });
    expect(moved.body).toMatchObject({ tenant_id: fresh });
    expect(await shardOfOwner(`t:${fresh}`)).toBe(0);
  });
});

describe("lists across shards", () => {
  it("merge every shard's webhooks newest first, with exact total, page, per_page and pages", async () => {
    const partner = `prt_list_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const tenants = [await tenantIn(0, partner), await tenantIn(1, partner)];
    const created: string[] = [];
    for (let i = 0; i < 7; i++)
      created.push((await createWebhook(await superAdmin(), { tenant_id: tenants[i % 3 === 0 ? 0 : 1] })).id);
    created.push((await createWebhook(await partnerAdmin(partner), { events: ["*"] })).id); // partner-level, shard 0
    // The order the list must follow, from both databases' rows.
    const rows = await allShardRows<{ id: string; created_at: number }>(
      "SELECT id, created_at FROM webhook_endpoints WHERE id IN (SELECT value FROM json_each(?1))",
      JSON.stringify(created),
    );
    const expected = rows
      .sort((x, y) => y.created_at - x.created_at || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0))
      .map((r) => r.id);
    expect(new Set(expected.map((id) => id.startsWith("wh_1_")))).toEqual(new Set([true, false]));

    for (const [who, query] of [
      [await partnerAdmin(partner), ""],
      [await superAdmin(), `&partner_id=${partner}`],
    ] as const) {
      const seen: string[] = [];
      for (let page = 1; page <= 5; page++) {
        const res = await api("GET", `${WEBHOOKS}/?per_page=3&page=${page}${query}`, { token: who });
        expect(res.body).toMatchObject({ total: 8, page, per_page: 3, pages: 3 });
        expect(res.body.items).toHaveLength(page <= 2 ? 3 : page === 3 ? 2 : 0);
        seen.push(...res.body.items.map((w: { id: string }) => w.id));
      }
      expect(seen).toEqual(expected);
    }
    // A tenant's list is its own shard's alone.
    const own = await api("GET", `${WEBHOOKS}/?per_page=100`, { token: await tenantAdmin(tenants[1]!) });
    expect(own.body).toMatchObject({ total: 4, pages: 1 });
    expect(own.body.items.every((w: { id: string }) => w.id.startsWith("wh_1_"))).toBe(true);
    // An unknown tenant holds nothing anywhere (and gets no shard from being asked about).
    const unknown = `tnt_none_${uid()}`;
    expect((await api("GET", `${WEBHOOKS}/?tenant_id=${unknown}`, { token: await superAdmin() })).body).toMatchObject({
      items: [],
      total: 0,
      pages: 0,
    });
    expect(await shardOfOwner(`t:${unknown}`)).toBeNull();
  });
});

describe("a partner whose tenants span both shards", () => {
  it("gets its tenants' events in its own shard; the share outlives a publish that stops half way", async () => {
    const partner = `prt_span_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const [near, far] = [await tenantIn(0, partner), await tenantIn(1, partner)];
    const [hookP, hookNear, hookFar] = [hookUrl(), hookUrl(), hookUrl()];
    const partnerLevel = await createWebhook(await partnerAdmin(partner), { url: hookP.url, events: ["*"] });
    expect(partnerLevel.id).toMatch(/^wh_[0-9A-Za-z]{20}$/);
    const nearHook = await createWebhook(await tenantAdmin(near), { url: hookNear.url, events: ["*"] });
    const farHook = await createWebhook(await tenantAdmin(far), { url: hookFar.url, events: ["*"] });
    // The directory's entry of each tenant lives in the tenant's shard, with the partner's shard.
    expect(
      await DB1.prepare("SELECT partner_id, partner_shard FROM tenant_partners WHERE tenant_id = ?").bind(far).first(),
    ).toEqual({ partner_id: partner, partner_shard: 0 });

    // A payload long enough to be stored compressed (db/payload.ts): its bytes cross to the partner's shard unchanged.
    const fromFar = await publishAs(
      await platformToken(),
      event(far, { partner_id: partner, data: { note: "a sign-in from a new device ".repeat(20) } }),
    );
    expect(fromFar.deliveries).toBe(2);
    const storedIn = (d1: D1Database) =>
      d1
        .prepare("SELECT typeof(payload) AS type, hex(payload) AS bytes FROM events_live WHERE event_id = ?")
        .bind(fromFar.event_id)
        .first<{ type: string; bytes: string }>();
    const [copy, original] = [await storedIn(DB0), await storedIn(DB1)];
    expect(original!.type).toBe("blob");
    expect(copy).toEqual(original);
    expect((await deliveriesOfEvent(fromFar.event_id)).map((d) => d.webhook_id).sort()).toEqual(
      [partnerLevel.id, farHook.id].sort(),
    );
    // The partner's delivery and the event's copy in shard 0; the share recorded in the tenant's shard.
    expect(
      await DB0.prepare("SELECT owner_key FROM events_live WHERE event_id = ?").bind(fromFar.event_id).first(),
    ).toEqual({ owner_key: `t:${far}` });
    expect(
      await DB1.prepare("SELECT partner_shard FROM partner_fanouts WHERE event_id = ?").bind(fromFar.event_id).first(),
    ).toEqual({ partner_shard: 0 });
    const fromNear = await publishAs(await platformToken(), event(near, { partner_id: partner }));
    expect(fromNear.deliveries).toBe(2);
    expect(await DB0.prepare("SELECT count(*) AS n FROM partner_fanouts").first()).toEqual({ n: 0 });
    await waitFor(async () => (await recorded(hookP.key)).length === 2);
    expect((await recorded(hookP.key)).map((r) => JSON.parse(r.body).tenant_id).sort()).toEqual([far, near].sort());

    // The sweep of the tenant's shard, past the grace: gives the share again (nothing new) and deletes it.
    const later = { ...createServices(env), now: () => Date.now() + 31_000 };
    expect(await sweepPartnerShares(onShard(later, 1), { deadline: Date.now() + 10_000 })).toBe(1);
    expect(await DB1.prepare("SELECT count(*) AS n FROM partner_fanouts").first()).toEqual({ n: 0 });
    expect(await deliveriesOfEvent(fromFar.event_id)).toHaveLength(2);

    // A publish whose Worker stopped after the tenant's shard stored the event: the sweep gives the partner its share.
    const envelope = completeEnvelope(event(far, { partner_id: partner, event_type: "user.updated" }), Date.now());
    const stored = await storeEvent(onShard(createServices(env), 1).db, envelope, Date.now(), undefined, null, 1);
    expect(stored.refs.map((r) => r.webhookId)).toEqual([farHook.id]);
    expect(stored.partnerShares).toHaveLength(1);
    expect((await deliveriesOfEvent(envelope.event_id)).map((d) => d.webhook_id)).toEqual([farHook.id]);
    expect(await sweepPartnerShares(onShard(later, 1), { deadline: Date.now() + 10_000 })).toBe(1);
    expect((await deliveriesOfEvent(envelope.event_id)).map((d) => d.webhook_id).sort()).toEqual(
      [partnerLevel.id, farHook.id].sort(),
    );

    // The partner sees its tenants' webhooks in both shards, and what its partner-level webhook missed while disabled.
    const pa = await partnerAdmin(partner);
    const listed = await api("GET", `${WEBHOOKS}/?per_page=100`, { token: pa });
    expect(listed.body.items.map((w: { id: string }) => w.id).sort()).toEqual(
      [partnerLevel.id, nearHook.id, farHook.id].sort(),
    );
    expect((await api("GET", `${WEBHOOKS}/${farHook.id}/deliveries`, { token: pa })).body.total).toBe(2);
    await api("PATCH", `${WEBHOOKS}/${partnerLevel.id}`, { token: pa, body: { enabled: false } });
    await publishAs(await platformToken(), event(far, { partner_id: partner }));
    expect((await api("GET", `${WEBHOOKS}/${partnerLevel.id}`, { token: pa })).body).toMatchObject({
      missed_events_since_disabled: 1,
    });

    // A partner-level webhook created since replays its tenants' events from both shards.
    const hookLate = hookUrl();
    const late = await createWebhook(pa, { url: hookLate.url, events: ["user.created"] });
    const replay = await api("POST", `${WEBHOOKS}/${late.id}/replay`, {
      token: pa,
      body: { since: new Date(Date.now() - 10 * 60_000).toISOString() },
    });
    expect(replay.body).toMatchObject({ deliveries: 3 });
    // The request does the window's first hour; the every-minute cron (in the webhook's shard) the rest.
    expect(await continueRecoveries(createServices(env))).toMatchObject({ open: 0 });
    await waitFor(async () => (await recorded(hookLate.key)).length === 3);
    expect((await recorded(hookLate.key)).map((r) => JSON.parse(r.body).tenant_id).sort()).toEqual(
      [far, far, near].sort(),
    );
  });
});

describe("the portal", () => {
  it("shows a partner its endpoints in both shards, and each endpoint's pages from its own shard", async () => {
    const partner = `prt_portal_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const [near, far] = [await tenantIn(0, partner), await tenantIn(1, partner)];
    const nearHook = await createWebhook(await tenantAdmin(near), { url: hookUrl().url, events: ["*"] });
    const farHook = await createWebhook(await tenantAdmin(far), { url: hookUrl().url, events: ["*"] });
    await seedDelivery(farHook.id, far);
    const visitor = await PortalVisitor.signIn(await partnerAdmin(partner));
    const home = await visitor.open("/portal");
    expect(home.status).toBe(200);
    for (const id of [nearHook.id, farHook.id]) expect(home.html).toContain(id);
    const endpoint = await visitor.open(`/portal/webhooks/${farHook.id}`);
    expect(endpoint.status).toBe(200);
    const deliveries = await visitor.open(`/portal/webhooks/${farHook.id}/deliveries`);
    expect(deliveries.status).toBe(200);
    expect(deliveries.html).toContain("user.created");
    // Disabling it from the portal writes the endpoint's own shard.
    const disabled = await visitor.open(`/portal/webhooks/${farHook.id}/enabled`, {
      form: { _csrf: await visitor.csrf(), enabled: "false" },
    });
    expect(disabled.status).toBeLessThan(400);
    expect((await webhookRow(DB1, farHook.id))!.enabled).toBe(0);
  });
  it("lists a partner's deliveries across both shards and searches them; recover and replay in the endpoint's shard", async () => {
    const partner = `prt_plog_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const [near, far] = [await tenantIn(0, partner), await tenantIn(1, partner)];
    const nearHook = await createWebhook(await tenantAdmin(near), { url: hookUrl().url, events: ["*"] });
    const farHook = await createWebhook(await tenantAdmin(far), { url: hookUrl().url, events: ["*"] });
    const now = Date.now();
    const nearRef = await seedDelivery(nearHook.id, near, now - 600_000);
    const farRefs = [
      await seedDelivery(farHook.id, far, now - 590_000),
      await seedDelivery(farHook.id, far, now - 580_000),
    ];
    await updateDeliveries(farRefs, {
      status: "failed",
      in_queue: 0,
      completed_at: now - 1000,
      updated_at: now - 1000,
    });
    const platform = await platformToken();
    await publishAs(platform, event(near, { partner_id: partner, resource: { type: "user", id: "usr_near" } }));
    const wanted = await publishAs(
      platform,
      event(far, { partner_id: partner, resource: { type: "user", id: "usr_wanted" } }),
    );
    const visitor = await PortalVisitor.signIn(await partnerAdmin(partner));
    const csrf = await visitor.csrf();
    const rowsOf = (html: string) => [...html.matchAll(/webhooks\/(wh_\w+)\/deliveries\/(\d+)"/g)].map((m) => m[1]);

    // The log across endpoints merges both shards' deliveries; the search by resource id reaches into shard 1.
    const log = await visitor.open("/portal/deliveries");
    expect(log.status).toBe(200);
    expect(rowsOf(log.html).sort()).toEqual([nearHook.id, nearHook.id, farHook.id, farHook.id, farHook.id].sort());
    expect(textOf(log.html)).toContain("5 deliveries");
    expect(rowsOf((await visitor.open(`/portal/deliveries?webhook=${farHook.id}`)).html)).toHaveLength(3);
    const found = await visitor.open("/portal/deliveries?resource_id=usr_wanted");
    expect(rowsOf(found.html)).toEqual([farHook.id]);
    expect(found.html).toContain(`/deliveries/${(await deliveriesOfEvent(wanted.event_id))[0]!.id}"`);

    // Recover in shard 1: the preview counts that shard's failed deliveries, the job queues them again there.
    const since = new Date(now - 3_600_000).toISOString();
    const preview = await visitor.open(`/portal/webhooks/${farHook.id}/recover?since=${since}`);
    expect(textOf(preview.html)).toContain("This will resend 2 deliveries");
    const window = (html: string) => ({
      since: /name="since" value="([^"]+)"/.exec(html)![1]!,
      until: /name="until" value="([^"]+)"/.exec(html)![1]!,
    });
    const recovered = await visitor.open(`/portal/webhooks/${farHook.id}/recover`, {
      form: { _csrf: csrf, ...window(preview.html) },
    });
    expect(recovered.status).toBe(303);
    expect(textOf((await visitor.open(`/portal/webhooks/${farHook.id}`)).html)).toContain(
      "Recovery accepted (202): 2 deliveries queued again",
    );
    // The request recovers the window's first hour; the cron of the endpoint's shard continues from there.
    await continueRecoveries(onShard(createServices(env), 1));
    for (const ref of farRefs) expect((await deliveryRow(ref))!.status).not.toBe("failed");
    expect((await deliveryRow(nearRef))!.status).toBe("pending");

    // Replay for a partner-level webhook created since: its tenants' events of both shards, previewed, then sent.
    const late = await createWebhook(await partnerAdmin(partner), { url: hookUrl().url, events: ["user.created"] });
    const offer = await visitor.open(`/portal/webhooks/${late.id}/replay?since=${new Date(now - 1000).toISOString()}`);
    expect(textOf(offer.html)).toContain("This will send 2 missed events");
    const replayed = await visitor.open(`/portal/webhooks/${late.id}/replay`, {
      form: { _csrf: csrf, ...window(offer.html) },
    });
    expect(replayed.status).toBe(303);
    expect(textOf((await visitor.open(`/portal/webhooks/${late.id}`)).html)).toContain(
      "Replay accepted (202): 2 deliveries created",
    );
  });
});

describe("the service binding", () => {
  it("publishes into the owner's shard and sets the directory entry there", async () => {
    const tenant = await tenantIn(1);
    const hook = hookUrl();
    const wh = await createWebhook(await tenantAdmin(tenant), { url: hook.url, events: ["*"] });
    const service = new WebhooksService(createExecutionContext(), env);
    const result = await service.publish(event(tenant));
    expect(result).toMatchObject({ deliveries: 1, duplicate: false });
    expect(await deliveriesOfEvent(result.event_id)).toEqual([expect.objectContaining({ webhook_id: wh.id })]);
    const partner = `prt_rpc_${uid()}`;
    expect(await service.assignTenantPartner(tenant, partner)).toEqual({
      tenant_id: tenant,
      partner_id: partner,
      moved_webhooks: 1,
    });
    expect(
      await DB1.prepare("SELECT partner_id FROM tenant_partners WHERE tenant_id = ?").bind(tenant).first(),
    ).toEqual({ partner_id: partner });
    expect((await webhookRow(DB1, wh.id))!.partner_id).toBe(partner);
    await waitFor(async () => (await recorded(hook.key)).length === 1);
  });
});

describe("one shard deployed alone (DB only)", () => {
  it("serves every owner from DB: untagged ids, the directory, lists and delivery", async () => {
    const bindings = { DB_1: undefined } as unknown as Partial<Env>;
    const tenant = `tnt_single_${uid()}`;
    const hook = hookUrl();
    const created = await api("POST", `${WEBHOOKS}/`, {
      token: await tenantAdmin(tenant),
      body: { url: hook.url, events: ["*"] },
      bindings,
    });
    expect(created.status).toBe(201);
    expect(created.body.id).toMatch(/^wh_[0-9A-Za-z]{20}$/);
    expect(await shardOfOwner(`t:${tenant}`)).toBe(0);
    const published = await api("POST", "/api/v1/events", {
      token: await publisher(tenant),
      body: event(tenant),
      bindings,
    });
    expect(published.body).toMatchObject({ deliveries: 1 });
    const listed = await api("GET", `${WEBHOOKS}/?per_page=100`, { token: await superAdmin(), bindings });
    expect(listed.body.items.every((w: { id: string }) => !w.id.startsWith("wh_1_"))).toBe(true);
    expect((await api("GET", "/health", { bindings })).body.shards).toHaveLength(1);
    await waitFor(async () => (await recorded(hook.key)).length === 1);
  });
});
