// POST /api/v1/events: fan-out to exactly the subscribed webhooks in scope, idempotency by event_id, and the same
// publish over the WebhooksService entrypoint (the service binding).
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { allShardRows } from "../../helpers/shards";
import { mintToken, publisher, tenantAdmin } from "../../helpers/tokens";

describe("fan-out", () => {
  it("reaches exactly the subscribed endpoints in scope", async () => {
    const partner = "prt_fan";
    const t = (tenant: string) => tenantAdmin(tenant, partner);
    const p = await mintToken({ role: "partner_admin", partner });
    const url = "https://receiver.example.com/hook";
    const mk = async (token: string, extra: Record<string, unknown>) =>
      (await createWebhook(token, { url, ...extra })).id;
    const tenantExact = await mk(await t("tnt_fan_a"), { events: ["user.created"] });
    const tenantGroup = await mk(await t("tnt_fan_a"), { events: ["user.*"] });
    const tenantAll = await mk(await t("tnt_fan_a"), { events: ["*"] });
    const tenantOther = await mk(await t("tnt_fan_a"), { events: ["group.*", "user.deleted"] });
    const tenantDisabled = await mk(await t("tnt_fan_a"), { events: ["*"], enabled: false });
    const tenantDeleted = await mk(await t("tnt_fan_a"), { events: ["*"] });
    await api("DELETE", `${WEBHOOKS}/${tenantDeleted}`, { token: await t("tnt_fan_a") });
    const otherTenant = await mk(await t("tnt_fan_b"), { events: ["*"] });
    const partnerLevel = await mk(p, { events: ["user.created"] });
    const otherPartnerLevel = await mk(await mintToken({ role: "partner_admin", partner: "prt_fan_other" }), {
      events: ["*"],
    });
    // Another partner's admin cannot register this tenant's id: the directory (learned from the tenant admins' tokens) says whose it is.
    const foreignClaim = await api("POST", `${WEBHOOKS}/`, {
      token: await mintToken({ role: "partner_admin", partner: "prt_fan_other" }),
      body: { url, events: ["*"], tenant_id: "tnt_fan_a" },
    });
    expect(foreignClaim.status).toBe(403);
    // A tenant endpoint without a partner (created by a platform admin) receives its tenant's events.
    const unpinned = await mk(await mintToken({ role: null, platform: true, scope: "admin:write" }), {
      events: ["user.created"],
      tenant_id: "tnt_fan_a",
    });

    const targets = async (eventId: string) => {
      const results = await allShardRows<{ webhook_id: string }>(
        "SELECT webhook_id FROM deliveries_live WHERE event_id = ?",
        eventId,
      );
      return results.map((r) => r.webhook_id).sort();
    };
    const publisherToken = await mintToken({ role: null, platform: true, scope: "admin:write" });
    const publish = (body: Record<string, unknown>) =>
      api("POST", "/api/v1/events", {
        token: publisherToken,
        body: { resource: { type: "user", id: "usr_1" }, data: {}, ...body },
      });

    const tenantEvent = await publish({
      event_id: "evt_fan_tenant",
      event_type: "user.created",
      tenant_id: "tnt_fan_a",
      partner_id: partner,
    });
    expect(tenantEvent.body.deliveries).toBe(5);
    expect(await targets("evt_fan_tenant")).toEqual(
      [tenantExact, tenantGroup, tenantAll, partnerLevel, unpinned].sort(),
    );

    const partnerEvent = await publish({
      event_id: "evt_fan_partner",
      event_type: "user.created",
      partner_id: partner,
    });
    expect(await targets("evt_fan_partner")).toEqual([partnerLevel]);

    const groupEvent = await publish({
      event_id: "evt_fan_group",
      event_type: "group.member_added",
      tenant_id: "tnt_fan_a",
      partner_id: partner,
    });
    expect(await targets("evt_fan_group")).toEqual([tenantAll, tenantOther].sort());
    for (const never of [tenantDisabled, tenantDeleted, otherTenant, otherPartnerLevel]) {
      expect(await targets("evt_fan_tenant")).not.toContain(never);
    }
    expect(partnerEvent.status).toBe(202);
    expect(groupEvent.status).toBe(202);
  });

  it("is idempotent by event_id, even after new endpoints appear", async () => {
    await createWebhook(await tenantAdmin("tnt_idem"), { url: "https://receiver.example.com/a", events: ["*"] });
    const token = await publisher("tnt_idem");
    const body = {
      event_id: "evt_idem_1",
      event_type: "user.updated",
      tenant_id: "tnt_idem",
      resource: { type: "user", id: "u" },
      data: {},
    };
    const first = await api("POST", "/api/v1/events", { token, body });
    expect(first.body).toEqual({ event_id: "evt_idem_1", deliveries: 1, duplicate: false });
    await createWebhook(await tenantAdmin("tnt_idem"), { url: "https://receiver.example.com/b", events: ["*"] });
    const second = await api("POST", "/api/v1/events", { token, body });
    expect(second.status).toBe(202);
    expect(second.body).toEqual({ event_id: "evt_idem_1", deliveries: 0, duplicate: true });
    const rows = await allShardRows("SELECT 1 FROM deliveries_live WHERE event_id = 'evt_idem_1'");
    expect(rows).toHaveLength(1);
  });

  it("is also available to other Workers through the WebhooksService entrypoint", async () => {
    const { WebhooksService } = await import("../../../src/index");
    const wh = await createWebhook(await tenantAdmin("tnt_rpc"), {
      url: "https://receiver.example.com/rpc",
      events: ["tenant.updated"],
    });
    const service = new WebhooksService(createExecutionContext(), env);
    const result = await service.publish({
      event_type: "tenant.updated",
      tenant_id: "tnt_rpc",
      resource: { type: "tenant", id: "tnt_rpc" },
      data: { status: "SUSPENDED" },
    });
    expect(result).toMatchObject({ deliveries: 1, duplicate: false });
    const rows = await allShardRows<{ webhook_id: string }>(
      "SELECT webhook_id FROM deliveries_live WHERE event_id = ?",
      result.event_id,
    );
    expect(rows.map((r) => r.webhook_id)).toEqual([wh.id]);
    await expect(
      service.publish({ event_type: "nope.nope", tenant_id: "t", resource: { type: "x", id: "y" }, data: {} }),
    ).rejects.toThrow(/event_type/);
  });
});
