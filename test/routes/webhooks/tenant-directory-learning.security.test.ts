// Who may say which partner owns a tenant. The directory changes only by the platform's explicit act; it learns only
// where it knows nothing, from a source that vouches for the pairing, and only once a request has passed every check.
// A token whose partner_id contradicts it is refused, visibly.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { issuerFor } from "../../../scripts/lib/token.mjs";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { seedLiveWebhooks } from "../../helpers/deliveries";
import { hookUrl } from "../../helpers/receiver";
import { allShardRows, d1OfWebhook, firstInShards, firstOfOwner } from "../../helpers/shards";
import { mintToken, partnerAdmin, platformToken, superAdmin, tenantAdmin } from "../../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const URL_ = "https://receiver.example.com/hook";
const directoryRow = (tenant: string) =>
  firstOfOwner(`t:${tenant}`, "SELECT partner_id, source FROM tenant_partners WHERE tenant_id = ?", tenant);
const assign = async (tenant: string, partner: string) =>
  api("PUT", `${WEBHOOKS}/tenants/${tenant}/partner`, { token: await superAdmin(), body: { partner_id: partner } });
const publish = async (token: string, body: Record<string, unknown>) =>
  api("POST", "/api/v1/events", {
    token,
    body: { event_type: "user.created", resource: { type: "user", id: "usr_1" }, data: {}, ...body },
  });
const deliveriesOf = async (webhookId: string) =>
  (await d1OfWebhook(webhookId)
    .prepare("SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = ?")
    .bind(webhookId)
    .first<{ n: number }>())!.n;
const storedEvent = (eventId: string) =>
  firstInShards<{ tenant_id: string; partner_id: string | null; payload: string }>(
    "SELECT tenant_id, partner_id, payload FROM events_live WHERE event_id = ?",
    eventId,
  );
/** A console tenant admin's token: a role, OIDC scopes, no partner claim. */
const consoleTenantAdmin = (tenant: string) =>
  mintToken({ role: "tenant_admin", tenant, scope: "openid profile email" });
/** A token with both claims, but issued by the platform's issuer rather than the tenant's own. */
const platformIssued = (tenant: string, partner: string) =>
  mintToken({ role: "tenant_admin", tenant, partner, issuer: issuerFor(env.JWT_ISSUER, null) });

/** The warn lines the Worker writes while `run` runs, parsed. */
async function warnings(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "warn").mockImplementation((line: string) => void lines.push(line));
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}
afterEach(() => vi.restoreAllMocks());

describe("the takeover through a token's claims", () => {
  it("fails at step 2: the tenant stays with the partner the platform set, and the thief gets nothing", async () => {
    const u = uid();
    const [victim, owner, thief] = [`tnt_v${u}`, `prt_g${u}`, `prt_e${u}`];
    // 1. The platform assigns the tenant.
    expect((await assign(victim, owner)).status).toBe(200);
    const hook = hookUrl();
    const victimHook = await createWebhook(await consoleTenantAdmin(victim), { url: hook.url, events: ["*"] });
    const history = await publish(await superAdmin(), { tenant_id: victim, data: { secret: "past" } });
    expect(history.body.deliveries).toBe(1);

    // 2. A token of the victim tenant that names the thief's partner, from the tenant's own issuer, tries to act.
    const forged = await tenantAdmin(victim, thief);
    const eventId = `evt_forged${u}`;
    let refused: Awaited<ReturnType<typeof publish>> | undefined;
    const warned = await warnings(async () => {
      refused = await publish(forged, { event_id: eventId, tenant_id: victim });
    });
    expect(refused!.status).toBe(403);
    expect(refused!.body.detail).toBe(
      `The token's partner_id ${thief} is not the partner the tenant directory records for tenant ${victim}; ` +
        `only the platform changes a tenant's partner (PUT /api/v1/admin/webhooks/tenants/${victim}/partner)`,
    );
    expect(refused!.body.detail).not.toContain(owner);
    expect(warned).toEqual([
      {
        level: "warn",
        msg: "token refused: its partner_id contradicts the tenant directory",
        subject: "usr_test",
        tenant_id: victim,
        token_partner_id: thief,
        directory_partner_id: owner,
      },
    ]);
    expect(await directoryRow(victim)).toEqual({ partner_id: owner, source: "admin" });
    expect(await storedEvent(eventId)).toBeNull();
    // The same claims on a role-less publisher token, and on a write: refused alike, nothing moves.
    const publisherToken = await mintToken({
      role: null,
      tenant: victim,
      partner: thief,
      scope: "webhooks:publish webhooks:write",
    });
    expect((await publish(publisherToken, { tenant_id: victim })).status).toBe(403);
    expect((await api("POST", `${WEBHOOKS}/`, { token: forged, body: { url: URL_, events: ["*"] } })).status).toBe(403);
    expect((await api("POST", `${WEBHOOKS}/portal-sessions`, { token: forged, body: {} })).status).toBe(403);
    expect(await directoryRow(victim)).toEqual({ partner_id: owner, source: "admin" });

    // 3. The thief's partner admin still sees nothing of the tenant and can do nothing in it.
    const thiefAdmin = await partnerAdmin(thief);
    const listed = await api("GET", `${WEBHOOKS}/?per_page=100`, { token: thiefAdmin });
    expect(listed.body.items.map((w: { id: string }) => w.id)).not.toContain(victimHook.id);
    expect((await api("GET", `${WEBHOOKS}/${victimHook.id}`, { token: thiefAdmin })).status).toBe(404);
    expect(
      (
        await api("POST", `${WEBHOOKS}/${victimHook.id}/replay`, {
          token: thiefAdmin,
          body: { since: new Date(Date.now() - 3_600_000).toISOString() },
        })
      ).status,
    ).toBe(404);
    const ownHook = await api("POST", `${WEBHOOKS}/`, {
      token: thiefAdmin,
      body: { url: URL_, events: ["*"], tenant_id: victim },
    });
    expect(ownHook.status).toBe(403);
    expect((await publish(thiefAdmin, { tenant_id: victim })).status).toBe(403);
    // The victim's receiver got its own history and nothing forged.
    expect(await deliveriesOf(victimHook.id)).toBe(1);
  });

  it("two tokens alternating never flap the tenant between partners", async () => {
    const u = uid();
    const [tenant, first, second] = [`tnt_f${u}`, `prt_f1${u}`, `prt_f2${u}`];
    const wh = await createWebhook(await consoleTenantAdmin(tenant), { url: URL_, events: ["*"] });
    expect(wh.partner_id).toBeNull();
    const tokens = [await tenantAdmin(tenant, first), await tenantAdmin(tenant, second)];
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await publish(tokens[i % 2]!, { tenant_id: tenant })).status);
    // The first vouching token filled the empty entry; from then on the other one is refused every time.
    expect(statuses).toEqual([202, 403, 202, 403, 202, 403]);
    expect(await directoryRow(tenant)).toEqual({ partner_id: first, source: "token" });
    expect(
      (await api("GET", `${WEBHOOKS}/${wh.id}`, { token: await consoleTenantAdmin(tenant) })).body.partner_id,
    ).toBe(first);
    // Once the platform assigns the tenant elsewhere, the roles swap; the tokens still move nothing.
    await assign(tenant, second);
    const after: number[] = [];
    for (let i = 0; i < 4; i++) after.push((await publish(tokens[i % 2]!, { tenant_id: tenant })).status);
    expect(after).toEqual([403, 202, 403, 202]);
    expect(await directoryRow(tenant)).toEqual({ partner_id: second, source: "admin" });
  });
});

describe("what the directory learns, and from whom", () => {
  it("a token of the tenant's own issuer fills an empty entry, once the request passed", async () => {
    const u = uid();
    const [tenant, partner] = [`tnt_l${u}`, `prt_l${u}`];
    const wh = await createWebhook(await tenantAdmin(tenant, partner), { url: URL_ });
    expect(wh.partner_id).toBe(partner);
    expect(await directoryRow(tenant)).toEqual({ partner_id: partner, source: "token" });
  });

  it("a token from another issuer teaches nothing, whatever it claims", async () => {
    const u = uid();
    const [tenant, partner] = [`tnt_o${u}`, `prt_o${u}`];
    for (const token of [
      await platformIssued(tenant, partner),
      await mintToken({ role: "tenant_admin", tenant, partner, issuer: issuerFor(env.JWT_ISSUER, `tnt_x${u}`) }),
    ]) {
      const created = await api("POST", `${WEBHOOKS}/`, { token, body: { url: URL_, events: ["*"] } });
      expect(created.status).toBe(201);
      expect(created.body.partner_id).toBeNull();
      const published = await publish(token, { tenant_id: tenant });
      expect(published.status).toBe(202);
      expect((await storedEvent(published.body.event_id))!.partner_id).toBeNull();
      // Naming the partner it claims is naming a partner the directory does not give the tenant.
      expect((await publish(token, { tenant_id: tenant, partner_id: partner })).status).toBe(403);
    }
    expect(await directoryRow(tenant)).toBeNull();
  });

  it("a platform publisher's event fills an empty entry but never moves one", async () => {
    const u = uid();
    const [tenant, owner, other] = [`tnt_p${u}`, `prt_p1${u}`, `prt_p2${u}`];
    const tenantHook = await createWebhook(await consoleTenantAdmin(tenant), { url: URL_, events: ["*"] });
    const ownerLevel = await createWebhook(await partnerAdmin(owner), { url: URL_, events: ["*"] });
    const otherLevel = await createWebhook(await partnerAdmin(other), { url: URL_, events: ["*"] });
    expect((await publish(await platformToken("admin:write"), { tenant_id: tenant, partner_id: owner })).status).toBe(
      202,
    );
    expect(await directoryRow(tenant)).toEqual({ partner_id: owner, source: "event" });

    const eventId = `evt_move${u}`;
    let res: Awaited<ReturnType<typeof publish>> | undefined;
    const warned = await warnings(async () => {
      res = await publish(await superAdmin(), { event_id: eventId, tenant_id: tenant, partner_id: other });
    });
    // Delivered, with the directory's partner, to the directory's partner's endpoints; the directory stands.
    expect(res!.body).toEqual({ event_id: eventId, deliveries: 2, duplicate: false });
    const stored = await storedEvent(eventId);
    expect(stored!.partner_id).toBe(owner);
    expect(JSON.parse(stored!.payload)).toMatchObject({ tenant_id: tenant, partner_id: owner });
    const results = await allShardRows<{ webhook_id: string }>(
      "SELECT webhook_id FROM deliveries_live WHERE event_id = ?",
      eventId,
    );
    expect(results.map((r) => r.webhook_id).sort()).toEqual([tenantHook.id, ownerLevel.id].sort());
    expect(await deliveriesOf(otherLevel.id)).toBe(0);
    expect(await directoryRow(tenant)).toEqual({ partner_id: owner, source: "event" });
    expect(warned).toContainEqual(
      expect.objectContaining({ tenant_id: tenant, event_partner_id: other, directory_partner_id: owner }),
    );
    // Publishing it again is a duplicate, not a second try.
    expect(
      (await publish(await superAdmin(), { event_id: eventId, tenant_id: tenant, partner_id: other })).body,
    ).toEqual({
      event_id: eventId,
      deliveries: 0,
      duplicate: true,
    });
  });

  it("the service binding's events teach like a platform publisher's; its assignTenantPartner moves", async () => {
    const u = uid();
    const [tenant, owner, other] = [`tnt_s${u}`, `prt_s1${u}`, `prt_s2${u}`];
    const { WebhooksService } = await import("../../../src/index");
    const service = new WebhooksService(createExecutionContext(), env);
    const event = (partner: string) => ({
      event_type: "tenant.updated",
      tenant_id: tenant,
      partner_id: partner,
      resource: { type: "tenant", id: tenant },
      data: {},
    });
    await service.publish(event(owner));
    expect(await directoryRow(tenant)).toEqual({ partner_id: owner, source: "event" });
    await service.publish(event(other));
    expect(await directoryRow(tenant)).toEqual({ partner_id: owner, source: "event" });
    expect(await service.assignTenantPartner(tenant, other)).toMatchObject({ partner_id: other });
    expect(await directoryRow(tenant)).toEqual({ partner_id: other, source: "service" });
  });

  it("a super admin naming the partner of an unknown tenant fills the entry; naming another for a known one is a 422", async () => {
    const u = uid();
    const [tenant, owner, other] = [`tnt_c${u}`, `prt_c1${u}`, `prt_c2${u}`];
    const created = await api("POST", `${WEBHOOKS}/`, {
      token: await superAdmin(),
      body: { url: URL_, events: ["*"], tenant_id: tenant, partner_id: owner },
    });
    expect(created.body).toMatchObject({ tenant_id: tenant, partner_id: owner });
    expect(await directoryRow(tenant)).toEqual({ partner_id: owner, source: "admin" });
    const again = await api("POST", `${WEBHOOKS}/`, {
      token: await superAdmin(),
      body: { url: URL_, events: ["*"], tenant_id: tenant, partner_id: other },
    });
    expect(again.status).toBe(422);
    expect(await directoryRow(tenant)).toEqual({ partner_id: owner, source: "admin" });
  });
});

describe("a refused request teaches nothing", () => {
  const cases: [string, (tenant: string, partner: string) => Promise<{ status: number }>, number][] = [
    [
      "a create whose target the URL policy refuses",
      async (t, p) =>
        api("POST", `${WEBHOOKS}/`, {
          token: await tenantAdmin(t, p),
          body: { url: "http://10.0.0.1/", events: ["*"] },
        }),
      422,
    ],
    [
      "a create whose target does not resolve",
      async (t, p) =>
        api("POST", `${WEBHOOKS}/`, {
          token: await tenantAdmin(t, p),
          body: { url: "https://gone.nx.example.net/", events: ["*"] },
        }),
      422,
    ],
    [
      "a create for another tenant",
      async (t, p) =>
        api("POST", `${WEBHOOKS}/`, {
          token: await tenantAdmin(t, p),
          body: { url: URL_, events: ["*"], tenant_id: `${t}_other` },
        }),
      403,
    ],
    [
      "a create by a read-only token",
      async (t, p) =>
        api("POST", `${WEBHOOKS}/`, {
          token: await mintToken({ role: null, tenant: t, partner: p, scope: "webhooks:read" }),
          body: { url: URL_, events: ["*"] },
        }),
      403,
    ],
    [
      "a publish for another tenant",
      async (t, p) => publish(await tenantAdmin(t, p), { tenant_id: `${t}_other` }),
      403,
    ],
    [
      "a publish naming a partner other than the token's",
      async (t, p) => publish(await tenantAdmin(t, p), { tenant_id: t, partner_id: `${p}_other` }),
      403,
    ],
    [
      "a publish by a token without the publish grant",
      async (t, p) =>
        publish(await mintToken({ role: null, tenant: t, partner: p, scope: "webhooks:write" }), { tenant_id: t }),
      403,
    ],
    [
      "a create past the owner's webhook limit",
      async (t, p) => {
        await seedLiveWebhooks(t, 100);
        return api("POST", `${WEBHOOKS}/`, { token: await tenantAdmin(t, p), body: { url: URL_, events: ["*"] } });
      },
      422,
    ],
  ];
  it.each(cases)("%s", async (_label, request, status) => {
    const u = uid();
    const [tenant, partner] = [`tnt_r${u}`, `prt_r${u}`];
    const res = await request(tenant, partner);
    expect(res.status, JSON.stringify(res)).toBe(status);
    expect(await directoryRow(tenant)).toBeNull();
  });
});
