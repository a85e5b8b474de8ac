// Publishing across owners: event ids belong to their owner, and the service's own event types cannot be forged.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { allShardRows } from "../../helpers/shards";
import { mintToken, partnerAdmin, platformToken, superAdmin, tenantAdmin } from "../../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const publish = async (token: string, body: Record<string, unknown>) =>
  api("POST", "/api/v1/events", {
    token,
    body: { event_type: "user.created", resource: { type: "user", id: "usr_1" }, data: {}, ...body },
  });

describe("event_id idempotency", () => {
  it("the same event_id from two tenants is two events, each delivered to its own tenant, and no answer tells of the other", async () => {
    const u = uid();
    const [a, b] = [`tnt_idem_a${u}`, `tnt_idem_b${u}`];
    const eventId = `evt_shared${u}`;
    const hookA = await createWebhook(await tenantAdmin(a), { events: ["*"] });
    const hookB = await createWebhook(await tenantAdmin(b), { events: ["*"] });
    const first = await publish(await tenantAdmin(b), { event_id: eventId, tenant_id: b, data: { from: "b" } });
    expect(first.body).toEqual({ event_id: eventId, deliveries: 1, duplicate: false });
    // The answer is the one a fresh id gets: it tells tenant a nothing about tenant b.
    const reused = await publish(await tenantAdmin(a), { event_id: eventId, tenant_id: a, data: { from: "a" } });
    expect(reused.status).toBe(202);
    expect(reused.body).toEqual({ event_id: eventId, deliveries: 1, duplicate: false });
    const stored = await allShardRows<{ owner_key: string; tenant_id: string; payload: string }>(
      "SELECT owner_key, tenant_id, payload FROM events_live WHERE event_id = ?",
      eventId,
    );
    stored.sort((x, y) => x.owner_key.localeCompare(y.owner_key));
    expect(stored.map((e) => [e.owner_key, e.tenant_id, JSON.parse(e.payload).data])).toEqual([
      [`t:${a}`, a, { from: "a" }],
      [`t:${b}`, b, { from: "b" }],
    ]);
    // Each webhook has the delivery of its own tenant's event only.
    const sent = await allShardRows<{ webhook_id: string; event_owner: string }>(
      "SELECT webhook_id, event_owner FROM deliveries_live WHERE event_id = ?",
      eventId,
    );
    sent.sort((x, y) => x.event_owner.localeCompare(y.event_owner));
    expect(sent).toEqual([
      { webhook_id: hookA.id, event_owner: `t:${a}` },
      { webhook_id: hookB.id, event_owner: `t:${b}` },
    ]);
    // Each tenant sees its own delivery under the one event_id, never the other's.
    for (const [tenant, hook, from] of [
      [a, hookA, "a"],
      [b, hookB, "b"],
    ] as const) {
      const listed = await api("GET", `${WEBHOOKS}/${hook.id}/deliveries?event_id=${eventId}`, {
        token: await tenantAdmin(tenant),
      });
      expect(listed.body.items).toHaveLength(1);
      expect(listed.body.items[0]).toMatchObject({ event_id: eventId });
      const detail = await api("GET", `${WEBHOOKS}/${hook.id}/deliveries/${listed.body.items[0]!.id}`, {
        token: await tenantAdmin(tenant),
      });
      expect(detail.body.payload).toMatchObject({ event_id: eventId, tenant_id: tenant, data: { from } });
    }
    // Publishing again is a duplicate for each owner alone.
    for (const tenant of [a, b])
      expect((await publish(await tenantAdmin(tenant), { event_id: eventId, tenant_id: tenant })).body).toEqual({
        event_id: eventId,
        deliveries: 0,
        duplicate: true,
      });
  });

  it("a partner-level id is its partner's: another partner or a tenant using it publishes another event", async () => {
    const u = uid();
    const eventId = `evt_prt${u}`;
    expect(
      (await publish(await partnerAdmin(`prt_x${u}`), { event_id: eventId, partner_id: `prt_x${u}` })).body,
    ).toMatchObject({ duplicate: false });
    expect(
      (await publish(await partnerAdmin(`prt_y${u}`), { event_id: eventId, partner_id: `prt_y${u}` })).body,
    ).toMatchObject({ duplicate: false });
    expect((await publish(await superAdmin(), { event_id: eventId, tenant_id: `tnt_z${u}` })).body).toMatchObject({
      duplicate: false,
    });
    expect(
      (await publish(await partnerAdmin(`prt_x${u}`), { event_id: eventId, partner_id: `prt_x${u}` })).body,
    ).toMatchObject({ duplicate: true });
    const owners = await allShardRows<{ owner_key: string }>(
      "SELECT owner_key FROM events_live WHERE event_id = ?",
      eventId,
    );
    expect(owners.map((r) => r.owner_key).sort()).toEqual([`p:prt_x${u}`, `p:prt_y${u}`, `t:tnt_z${u}`]);
  });

  it("the same owner publishing again is still a duplicate, whoever publishes", async () => {
    const u = uid();
    const tenant = `tnt_dup${u}`;
    const eventId = `evt_dup${u}`;
    await createWebhook(await tenantAdmin(tenant), { events: ["*"] });
    expect((await publish(await tenantAdmin(tenant), { event_id: eventId, tenant_id: tenant })).body).toMatchObject({
      deliveries: 1,
      duplicate: false,
    });
    expect((await publish(await superAdmin(), { event_id: eventId, tenant_id: tenant })).body).toEqual({
      event_id: eventId,
      deliveries: 0,
      duplicate: true,
    });
  });
});

describe("reserved service event types", () => {
  const reserved = ["webhook.auto_disabled", "webhook.test"];
  const publishers: [string, () => Promise<string>][] = [
    ["a tenant admin", () => tenantAdmin("tnt_forger")],
    ["a publisher token", () => mintToken({ role: null, tenant: "tnt_forger", scope: "webhooks:publish" })],
    ["a super admin", () => superAdmin()],
    ["a platform token", () => platformToken("admin:write")],
  ];
  it.each(reserved.flatMap((type) => publishers.map(([label, token]) => [type, label, token] as const)))(
    "%s from %s is a 422",
    async (type, _label, token) => {
      const res = await publish(await token(), {
        event_type: type,
        tenant_id: "tnt_forger",
        actor: { id: null, type: "system" },
      });
      expect(res.status).toBe(422);
      expect(res.body.detail).toEqual([
        {
          type: "value_error",
          loc: ["body", "event_type"],
          msg: `Value error, ${type} is sent only by the webhook service itself`,
          input: type,
          ctx: { error: {} },
        },
      ]);
    },
  );

  it.each(reserved)("%s over the service binding is refused", async (type) => {
    const { WebhooksService } = await import("../../../src/index");
    const service = new WebhooksService(createExecutionContext(), env);
    await expect(
      service.publish({
        event_type: type,
        tenant_id: "tnt_forger",
        resource: { type: "webhook", id: "wh_1" },
        data: {},
      }),
    ).rejects.toThrow(/sent only by the webhook service/);
  });

  it("can still be subscribed to", async () => {
    expect(
      (await createWebhook(await tenantAdmin("tnt_forger"), { events: ["webhook.auto_disabled", "webhook.test"] }))
        .events,
    ).toEqual(["webhook.auto_disabled", "webhook.test"]);
  });
});
