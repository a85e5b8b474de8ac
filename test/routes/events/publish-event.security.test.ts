// Publishing across owners: event_id idempotency is per owner, and the service's own event types cannot be forged.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createWebhook } from "../../helpers/api";
import { mintToken, partnerAdmin, platformToken, superAdmin, tenantAdmin } from "../../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const publish = async (token: string, body: Record<string, unknown>) =>
  api("POST", "/api/v1/events", {
    token,
    body: { event_type: "user.created", resource: { type: "user", id: "usr_1" }, data: {}, ...body },
  });

describe("event_id idempotency", () => {
  it("an id another tenant used is refused with a 409 that names nobody, and the other tenant's event is untouched", async () => {
    const u = uid();
    const [a, b] = [`tnt_idem_a${u}`, `tnt_idem_b${u}`];
    const eventId = `evt_shared${u}`;
    await createWebhook(await tenantAdmin(a), { events: ["*"] });
    await createWebhook(await tenantAdmin(b), { events: ["*"] });
    const first = await publish(await tenantAdmin(b), { event_id: eventId, tenant_id: b, data: { from: "b" } });
    expect(first.body).toEqual({ event_id: eventId, deliveries: 1, duplicate: false });
    const reused = await publish(await tenantAdmin(a), { event_id: eventId, tenant_id: a, data: { from: "a" } });
    expect(reused.status).toBe(409);
    expect(reused.body).toEqual({ detail: "event_id is already in use; publish this event under another event_id" });
    expect(JSON.stringify(reused.body)).not.toContain(b);
    const stored = await env.DB.prepare("SELECT tenant_id, payload FROM events WHERE id = ?")
      .bind(eventId)
      .first<{ tenant_id: string; payload: string }>();
    expect(stored!.tenant_id).toBe(b);
    expect(JSON.parse(stored!.payload).data).toEqual({ from: "b" });
  });

  it("a partner-level id is owned by its partner", async () => {
    const u = uid();
    const eventId = `evt_prt${u}`;
    expect(
      (await publish(await partnerAdmin(`prt_x${u}`), { event_id: eventId, partner_id: `prt_x${u}` })).status,
    ).toBe(202);
    expect(
      (await publish(await partnerAdmin(`prt_y${u}`), { event_id: eventId, partner_id: `prt_y${u}` })).status,
    ).toBe(409);
    expect((await publish(await superAdmin(), { event_id: eventId, tenant_id: `tnt_z${u}` })).status).toBe(409);
    expect(
      (await publish(await partnerAdmin(`prt_x${u}`), { event_id: eventId, partner_id: `prt_x${u}` })).body,
    ).toMatchObject({ duplicate: true });
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
