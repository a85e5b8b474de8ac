// The tenant → partner directory and the partner boundary it enforces: partner admins act only in tenants the
// directory assigns to their partner; fan-out follows the directory, never a partner a publisher merely names.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { allShardRows, d1OfWebhook, firstOfOwner } from "../../helpers/shards";
import { mintToken, partnerAdmin, platformToken, superAdmin, tenantAdmin } from "../../helpers/tokens";

const URL_ = "https://receiver.example.com/hook";
const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
/** Fresh tenant and partner ids per test: the directory is shared by every test in this file. */
const ids = () => {
  const u = uid();
  return { t1: `tnt_a${u}`, t2: `tnt_b${u}`, t3: `tnt_c${u}`, p1: `prt_1${u}`, p2: `prt_2${u}` };
};
const assign = async (tenant: string, partner: string, token?: string) =>
  api("PUT", `${WEBHOOKS}/tenants/${tenant}/partner`, {
    token: token ?? (await superAdmin()),
    body: { partner_id: partner },
  });
const directoryRow = (tenant: string) =>
  firstOfOwner(`t:${tenant}`, "SELECT partner_id, source FROM tenant_partners WHERE tenant_id = ?", tenant);
const publish = async (token: string, body: Record<string, unknown>) =>
  api("POST", "/api/v1/events", {
    token,
    body: { event_type: "user.created", resource: { type: "user", id: "usr_1" }, data: {}, ...body },
  });
const targets = async (eventId: string) => {
  const results = await allShardRows<{ webhook_id: string }>(
    "SELECT webhook_id FROM deliveries_live WHERE event_id = ?",
    eventId,
  );
  return results.map((r) => r.webhook_id).sort();
};
/** A tenant admin token as ScaiKey's console issues it: a role, ordinary OIDC scopes, no partner claim. */
const consoleTenantAdmin = (tenant: string) =>
  mintToken({ role: "tenant_admin", tenant, scope: "openid profile email" });

describe("the directory: how it is learned and set", () => {
  it("learns a tenant's partner from an event published by a trusted publisher", async () => {
    const { t1, p1 } = ids();
    expect((await publish(await superAdmin(), { tenant_id: t1, partner_id: p1 })).status).toBe(202);
    expect(await directoryRow(t1)).toEqual({ partner_id: p1, source: "event" });
  });

  it("learns from the service binding's events", async () => {
    const { t1, p1 } = ids();
    const { WebhooksService } = await import("../../../src/index");
    await new WebhooksService(createExecutionContext(), env).publish({
      event_type: "tenant.updated",
      tenant_id: t1,
      partner_id: p1,
      resource: { type: "tenant", id: t1 },
      data: {},
    });
    expect(await directoryRow(t1)).toEqual({ partner_id: p1, source: "event" });
  });

  it("learns from a token of the tenant's own issuer carrying both tenant_id and partner_id", async () => {
    const { t1, p1 } = ids();
    await createWebhook(await tenantAdmin(t1, p1), { url: URL_ });
    expect(await directoryRow(t1)).toEqual({ partner_id: p1, source: "token" });
  });

  it("never learns from what an untrusted publisher names", async () => {
    const { t1, p1 } = ids();
    const res = await publish(await mintToken({ role: null, tenant: t1, scope: "webhooks:publish" }), {
      tenant_id: t1,
      partner_id: p1,
    });
    expect(res.status).toBe(403);
    expect(await directoryRow(t1)).toBeNull();
  });

  it("is set directly by a super admin or a platform token, and by nobody else", async () => {
    const { t1, p1, p2 } = ids();
    const set = await assign(t1, p1);
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ tenant_id: t1, partner_id: p1, moved_webhooks: 0 });
    expect(await directoryRow(t1)).toEqual({ partner_id: p1, source: "admin" });
    expect((await assign(t1, p2, await platformToken("admin:write"))).status).toBe(200);
    for (const token of [
      await partnerAdmin(p1),
      await partnerAdmin(p2),
      await tenantAdmin(t1, p1),
      await platformToken("admin:read"),
    ]) {
      const res = await assign(t1, p1, token);
      expect(res.status, JSON.stringify(res.body)).toBe(403);
    }
    expect(await directoryRow(t1)).toMatchObject({ partner_id: p2 });
  });

  it.each([
    ["tenant", "tnt.dotted", "prt_ok", ["path", "tenant_id"]],
    ["tenant", "tnt%20space", "prt_ok", ["path", "tenant_id"]],
    ["tenant", "tnt_%E2%9C%93", "prt_ok", ["path", "tenant_id"]],
    ["tenant", "tnt_%00", "prt_ok", ["path", "tenant_id"]],
    ["tenant", "t".repeat(65), "prt_ok", ["path", "tenant_id"]],
    ["partner", "tnt_ok", "prt/slash", ["body", "partner_id"]],
    ["partner", "tnt_ok", "prt_✓", ["body", "partner_id"]],
    ["partner", "tnt_ok", "", ["body", "partner_id"]],
    ["partner", "tnt_ok", "p".repeat(65), ["body", "partner_id"]],
    ["partner", "tnt_ok", 7, ["body", "partner_id"]],
    ["partner", "tnt_ok", null, ["body", "partner_id"]],
  ] as const)(
    "refuses a malformed %s id (%s, %s) with a 422 and records nothing",
    async (_kind, tenant, partner, loc) => {
      const res = await api("PUT", `${WEBHOOKS}/tenants/${tenant}/partner`, {
        token: await superAdmin(),
        body: { partner_id: partner },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.detail[0].loc).toEqual(loc);
      expect(await directoryRow(decodeURIComponent(tenant))).toBeNull();
    },
  );

  it("validates the call", async () => {
    const bad = await api("PUT", `${WEBHOOKS}/tenants/tnt_x/partner`, {
      token: await superAdmin(),
      body: { partner_id: "no spaces allowed" },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].loc).toEqual(["body", "partner_id"]);
    const badTenant = await api("PUT", `${WEBHOOKS}/tenants/${"x".repeat(65)}/partner`, {
      token: await superAdmin(),
      body: { partner_id: "prt_1" },
    });
    expect(badTenant.status).toBe(422);
    expect(badTenant.body.detail[0].loc).toEqual(["path", "tenant_id"]);
  });

  it("is set over the service binding", async () => {
    const { t1, p1 } = ids();
    const { WebhooksService } = await import("../../../src/index");
    const service = new WebhooksService(createExecutionContext(), env);
    expect(await service.assignTenantPartner(t1, p1)).toEqual({ tenant_id: t1, partner_id: p1, moved_webhooks: 0 });
    expect(await directoryRow(t1)).toEqual({ partner_id: p1, source: "service" });
    await expect(service.assignTenantPartner(t1, "bad id")).rejects.toThrow(/partner_id/);
    await expect(service.assignTenantPartner("tnt bad", p1)).rejects.toThrow(/tenant_id/);
    await expect(service.assignTenantPartner(t1, 7)).rejects.toThrow(/partner_id/);
    await expect(service.assignTenantPartner(null, p1)).rejects.toThrow(/tenant_id/);
    expect(await directoryRow(t1)).toEqual({ partner_id: p1, source: "service" });
  });
});

describe("partner admins stay inside their partner's tenants", () => {
  it("cannot create an endpoint for another partner's tenant, or for a tenant the directory does not know", async () => {
    const { t1, t2, t3, p1, p2 } = ids();
    await assign(t1, p1);
    await assign(t2, p2);
    const pa = await partnerAdmin(p1);
    expect(
      (await api("POST", `${WEBHOOKS}/`, { token: pa, body: { url: URL_, events: ["*"], tenant_id: t2 } })).status,
    ).toBe(403);
    expect(
      (await api("POST", `${WEBHOOKS}/`, { token: pa, body: { url: URL_, events: ["*"], tenant_id: t3 } })).status,
    ).toBe(403);
    const own = await api("POST", `${WEBHOOKS}/`, { token: pa, body: { url: URL_, events: ["*"], tenant_id: t1 } });
    expect(own.status).toBe(201);
    expect(own.body).toMatchObject({ tenant_id: t1, partner_id: p1 });
    // Tenant B sees none of it.
    expect((await api("GET", `${WEBHOOKS}/`, { token: await tenantAdmin(t2) })).body.items).toEqual([]);
  });

  it("cannot move its endpoint into another partner's tenant", async () => {
    const { t1, t2, t3, p1, p2 } = ids();
    await assign(t1, p1);
    await assign(t2, p2);
    const pa = await partnerAdmin(p1);
    const wh = await createWebhook(pa, { url: URL_, tenant_id: t1 });
    for (const tenant of [t2, t3]) {
      const res = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: pa, body: { tenant_id: tenant } });
      expect(res.status).toBe(403);
    }
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: pa })).body).toMatchObject({
      tenant_id: t1,
      partner_id: p1,
    });
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: await tenantAdmin(t2) })).status).toBe(404);
  });

  it("cannot publish into another partner's tenant, or an unknown one", async () => {
    const { t1, t2, t3, p1, p2 } = ids();
    await assign(t1, p1);
    await assign(t2, p2);
    const victim = await createWebhook(await consoleTenantAdmin(t2), { url: URL_, events: ["*"] });
    const pa = await partnerAdmin(p1);
    for (const body of [
      { tenant_id: t2, partner_id: p1 },
      { tenant_id: t2 },
      { tenant_id: t3, partner_id: p1 },
      { partner_id: p2 },
    ]) {
      const res = await publish(pa, { event_id: `evt_x${uid()}`, ...body });
      expect(res.status, JSON.stringify(body)).toBe(403);
    }
    const { results } = await d1OfWebhook(victim.id)
      .prepare("SELECT id FROM deliveries_live WHERE webhook_id = ?")
      .bind(victim.id)
      .all();
    expect(results).toEqual([]);
  });

  it("sees its tenants' endpoints created by tenant admins whose tokens name no partner", async () => {
    const { t1, p1, p2 } = ids();
    await assign(t1, p1);
    const wh = await createWebhook(await consoleTenantAdmin(t1), { url: URL_ });
    expect(wh.partner_id).toBe(p1);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: await partnerAdmin(p1) })).status).toBe(200);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: await partnerAdmin(p2) })).status).toBe(404);
    const listed = await api("GET", `${WEBHOOKS}/?partner_id=${p1}`, { token: await superAdmin() });
    expect(listed.body.items.map((w: { id: string }) => w.id)).toEqual([wh.id]);
    expect(
      (await api("GET", `${WEBHOOKS}/`, { token: await partnerAdmin(p1) })).body.items.map((w: { id: string }) => w.id),
    ).toEqual([wh.id]);
  });

  it("sees endpoints created before the directory knew the tenant once it learns it", async () => {
    const { t1, p1 } = ids();
    const wh = await createWebhook(await consoleTenantAdmin(t1), { url: URL_ });
    expect(wh.partner_id).toBeNull();
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: await partnerAdmin(p1) })).status).toBe(404);
    await publish(await platformToken("admin:write"), { tenant_id: t1, partner_id: p1 });
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: await partnerAdmin(p1) })).body).toMatchObject({
      partner_id: p1,
    });
  });
});

describe("a tenant moving to another partner", () => {
  it("takes its endpoints along, in one update", async () => {
    const { t1, t2, p1, p2 } = ids();
    await assign(t1, p1);
    await assign(t2, p1);
    const moving = [
      await createWebhook(await consoleTenantAdmin(t1), { url: URL_ }),
      await createWebhook(await partnerAdmin(p1), { url: URL_, tenant_id: t1 }),
    ];
    const staying = await createWebhook(await consoleTenantAdmin(t2), { url: URL_ });
    const partnerLevel = await createWebhook(await partnerAdmin(p1), { url: URL_ });
    const moved = await assign(t1, p2);
    expect(moved.body).toEqual({ tenant_id: t1, partner_id: p2, moved_webhooks: 2 });
    for (const wh of moving) {
      expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: await partnerAdmin(p2) })).body).toMatchObject({
        tenant_id: t1,
        partner_id: p2,
      });
      expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: await partnerAdmin(p1) })).status).toBe(404);
    }
    expect((await api("GET", `${WEBHOOKS}/${staying.id}`, { token: await partnerAdmin(p1) })).body).toMatchObject({
      partner_id: p1,
    });
    expect((await api("GET", `${WEBHOOKS}/${partnerLevel.id}`, { token: await partnerAdmin(p1) })).body).toMatchObject({
      tenant_id: null,
      partner_id: p1,
    });
    // Setting the same partner again moves nothing.
    expect((await assign(t1, p2)).body).toEqual({ tenant_id: t1, partner_id: p2, moved_webhooks: 0 });
  });
});

describe("fan-out matrix", () => {
  it("reaches the tenant's endpoints and its partner's, per the directory, whatever the publisher names", async () => {
    const { t1, t2, t3, p1, p2 } = ids();
    await assign(t1, p1);
    await assign(t2, p2);
    const mk = async (token: string, extra: Record<string, unknown> = {}) =>
      (await createWebhook(token, { url: URL_, events: ["*"], ...extra })).id;
    const byTenantAdmin = await mk(await consoleTenantAdmin(t1));
    const byPartnerAdmin = await mk(await partnerAdmin(p1), { tenant_id: t1 });
    const bySuperAdmin = await mk(await superAdmin(), { tenant_id: t1 });
    const p1Level = await mk(await partnerAdmin(p1));
    const p2Level = await mk(await partnerAdmin(p2));
    const t2Endpoint = await mk(await consoleTenantAdmin(t2));
    const t3Endpoint = await mk(await consoleTenantAdmin(t3)); // a tenant the directory does not know
    const t1Reach = [byTenantAdmin, byPartnerAdmin, bySuperAdmin, p1Level].sort();

    const cases: [string, () => Promise<string>, Record<string, unknown>, number, string[]][] = [
      ["super admin, tenant and its partner", superAdmin, { tenant_id: t1, partner_id: p1 }, 202, t1Reach],
      ["super admin, tenant only", superAdmin, { tenant_id: t1 }, 202, t1Reach],
      ["platform token, tenant only", () => platformToken("admin:write"), { tenant_id: t1 }, 202, t1Reach],
      ["tenant admin, own tenant", () => consoleTenantAdmin(t1), { tenant_id: t1 }, 202, t1Reach],
      [
        "tenant admin, own tenant, forged partner",
        () => consoleTenantAdmin(t1),
        { tenant_id: t1, partner_id: p2 },
        403,
        [],
      ],
      ["tenant admin, another tenant", () => consoleTenantAdmin(t1), { tenant_id: t2 }, 403, []],
      [
        "publisher token, own tenant, forged partner",
        () => mintToken({ role: null, tenant: t1, scope: "webhooks:publish" }),
        { tenant_id: t1, partner_id: p2 },
        403,
        [],
      ],
      ["partner admin, own tenant", () => partnerAdmin(p1), { tenant_id: t1 }, 202, t1Reach],
      [
        "partner admin, own tenant, own partner named",
        () => partnerAdmin(p1),
        { tenant_id: t1, partner_id: p1 },
        202,
        t1Reach,
      ],
      [
        "partner admin, another partner's tenant, own partner named",
        () => partnerAdmin(p1),
        { tenant_id: t2, partner_id: p1 },
        403,
        [],
      ],
      [
        "partner admin, unknown tenant, own partner named",
        () => partnerAdmin(p1),
        { tenant_id: t3, partner_id: p1 },
        403,
        [],
      ],
      ["partner admin, own partner-level event", () => partnerAdmin(p1), { partner_id: p1 }, 202, [p1Level]],
      ["partner admin, another partner-level event", () => partnerAdmin(p1), { partner_id: p2 }, 403, []],
      ["super admin, unknown tenant", superAdmin, { tenant_id: t3 }, 202, [t3Endpoint]],
      ["super admin, other tenant", superAdmin, { tenant_id: t2 }, 202, [p2Level, t2Endpoint].sort()],
    ];
    for (const [label, token, owner, status, reached] of cases) {
      const eventId = `evt_fan${uid()}`;
      const res = await publish(await token(), { event_id: eventId, ...owner });
      expect(res.status, `${label}: ${JSON.stringify(res.body)}`).toBe(status);
      expect(await targets(eventId), label).toEqual(reached);
    }
    // Nothing above moved a tenant: the forged partners were refused, and trusted publishers named the right one.
    expect(await directoryRow(t1)).toMatchObject({ partner_id: p1 });
    expect(await directoryRow(t3)).toBeNull();
  });

  it("delivers a tenant event with the directory's partner in the envelope", async () => {
    const { t1, p1 } = ids();
    await assign(t1, p1);
    await createWebhook(await consoleTenantAdmin(t1), { url: URL_, events: ["*"] });
    const res = await publish(await consoleTenantAdmin(t1), { tenant_id: t1 });
    const row = await firstOfOwner<{ payload: string; partner_id: string }>(
      `t:${t1}`,
      "SELECT payload, partner_id FROM events_live WHERE owner_key = ? AND event_id = ?",
      `t:${t1}`,
      res.body.event_id,
    );
    expect(row!.partner_id).toBe(p1);
    expect(JSON.parse(row!.payload)).toMatchObject({ tenant_id: t1, partner_id: p1 });
  });
});
