// 410 Gone: the receiver says the endpoint no longer exists, so it is disabled at once and announced, with no retry.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { deliveryRow, waitFor } from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";
import { publisher } from "../../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const PARTNER = "prt_engine";

async function publish(tenant: string) {
  const res = await api("POST", "/api/v1/events", {
    token: await publisher(tenant, PARTNER),
    body: {
      event_type: "user.created",
      tenant_id: tenant,
      partner_id: PARTNER,
      resource: { type: "user", id: "usr_1" },
      data: {},
    },
  });
  expect(res.status).toBe(202);
  return res.body.event_id as string;
}

describe("410 Gone", () => {
  it("disables the endpoint at the first 410, announces it with reason gone, and sends it nothing more", async () => {
    const tenant = `tnt_gone${uid()}`;
    const gone = await webhookAtReceiver(tenant, { plan: [410] }, { events: ["user.*"] });
    const observer = await webhookAtReceiver(tenant, {}, { events: ["webhook.auto_disabled"] });
    const eventId = await publish(tenant);

    const announcement = await waitFor(async () => (await recorded(observer.hookKey))[0]);
    const body = JSON.parse(announcement.body);
    expect(body).toMatchObject({
      event_type: "webhook.auto_disabled",
      tenant_id: tenant,
      resource: { type: "webhook", id: gone.id },
    });
    expect(body.data).toMatchObject({ webhook_id: gone.id, reason: "gone", status_code: 410 });
    expect(body.data).not.toHaveProperty("url"); // a URL can carry secrets; the announcement reaches other subscribers

    const after = await api("GET", `${WEBHOOKS}/${gone.id}`, { token: gone.token });
    expect(after.body).toMatchObject({
      enabled: false,
      status: "auto_disabled",
      disabled_reason: "gone",
      missed_events_since_disabled: 0,
    });
    const delivery = await env.DB.prepare("SELECT * FROM deliveries_live WHERE webhook_id = ? AND event_id = ?")
      .bind(gone.id, eventId)
      .first<Record<string, any>>();
    // Final at once: no retry is scheduled.
    expect(delivery).toMatchObject({
      status: "failed",
      attempt_count: 1,
      last_status_code: 410,
      last_error_class: "http_4xx",
      lease_until: null,
    });
    expect(delivery!.completed_at).not.toBeNull();
    const shown = await api("GET", `${WEBHOOKS}/${gone.id}/deliveries/${delivery!.id}`, { token: gone.token });
    expect(shown.body).toMatchObject({ status: "failed", next_attempt_at: null });

    // Nothing further reaches it; what it misses is counted.
    await publish(tenant);
    await publish(tenant);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await recorded(gone.hookKey)).toHaveLength(1);
    expect((await api("GET", `${WEBHOOKS}/${gone.id}`, { token: gone.token })).body.missed_events_since_disabled).toBe(
      2,
    );
    expect((await api("GET", `${WEBHOOKS}/${gone.id}/stats`, { token: gone.token })).body).toMatchObject({
      status: "auto_disabled",
      missed_events_since_disabled: 2,
    });
    expect(await recorded(observer.hookKey)).toHaveLength(1); // one announcement
  });

  it("is reported by the test endpoint without disabling (the caller is watching)", async () => {
    const wh = await webhookAtReceiver(`tnt_gonetest${uid()}`, { plan: [410] });
    const res = await api("POST", `${WEBHOOKS}/${wh.id}/test`, { token: wh.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: false, status_code: 410, error_class: "http_4xx" });
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body).toMatchObject({
      enabled: true,
      status: "active",
      disabled_reason: null,
    });
    expect((await deliveryRow({ webhookId: wh.id, id: res.body.delivery_id }))!.last_status_code).toBe(410);
  });
});
