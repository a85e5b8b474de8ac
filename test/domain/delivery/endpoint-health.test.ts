// Endpoint health (endpoint-health.ts): 410 Gone disables an endpoint at once and announces it, with no retry;
// consecutive failed deliveries disable it at the threshold, a success resets the count, and a group's outcomes count
// in the order they happened.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { payloadText, type StoredPayload } from "../../../src/db/payload";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { claimDeliveries } from "../../../src/domain/delivery/claim";
import { recordAttempts } from "../../../src/domain/delivery/record";
import type { DeliveryRef } from "../../../src/domain/publish";
import { api, createWebhook, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import {
  ANSWERED_200,
  deliveryDeps,
  deliveryRow,
  seedDelivery,
  updateDeliveries,
  updateDelivery,
  waitFor,
} from "../../helpers/deliveries";
import { hookUrl, recorded } from "../../helpers/receiver";
import { publisher, tenantAdmin } from "../../helpers/tokens";

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

describe("consecutive failures", () => {
  it("auto-disables after consecutive failed deliveries, announces it, and a success resets the count", async () => {
    const wh = await webhookAtReceiver("tnt_health", { plan: [500] });
    const listener = await createWebhook(await tenantAdmin("tnt_health", "prt_engine"), {
      url: "https://receiver.example.com/ops",
      events: ["webhook.auto_disabled"],
    });
    // A query-string secret in the failing webhook's URL must not reach the other subscribers.
    await env.DB.prepare(
      "UPDATE webhook_endpoints SET failure_count = 9, url = url || '&token=SUPERSECRET123' WHERE id = ?",
    )
      .bind(wh.id)
      .run();
    const clock = { now: Date.now() };
    const id = await seedDelivery(wh.id, "tnt_health", clock.now);
    await updateDelivery(id, { attempt_count: 5 }); // the last attempt
    const outcome = await attemptDelivery(deliveryDeps(clock), id);
    expect(outcome).toMatchObject({ status: "failed", autoDisabled: true });
    const got = await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token });
    expect(got.body).toMatchObject({
      enabled: false,
      status: "auto_disabled",
      failure_count: 10,
      disabled_reason: "consecutive_failures",
    });
    expect(got.body.disabled_at).not.toBeNull();

    // The webhook.auto_disabled event and its deliveries were stored in the same batch as the disable.
    expect((outcome as { announcementDeliveries: DeliveryRef[] }).announcementDeliveries).toMatchObject([
      { webhookId: listener.id },
    ]);
    const announcedRow = await env.DB.prepare(
      `SELECT e.payload FROM deliveries_live d
       JOIN events_live e ON e.owner_key = d.event_owner AND e.event_id = d.event_id
       WHERE d.event_type = 'webhook.auto_disabled' AND d.webhook_id = ?`,
    )
      .bind(listener.id)
      .first<{ payload: StoredPayload }>();
    const announced = { payload: await payloadText(announcedRow!.payload) };
    expect(JSON.parse(announced!.payload)).toMatchObject({
      resource: { type: "webhook", id: wh.id },
      data: { reason: "consecutive_failures" },
    });
    expect(JSON.parse(announced!.payload).data).toEqual({
      webhook_id: wh.id,
      reason: "consecutive_failures",
      threshold: 10,
    });
    expect(announced!.payload).not.toContain("SUPERSECRET123");

    // Re-enabled, then one success resets the count.
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true, url: hookUrl().url } });
    await env.DB.prepare("UPDATE webhook_endpoints SET failure_count = 4 WHERE id = ?").bind(wh.id).run();
    const ok = await seedDelivery(wh.id, "tnt_health", clock.now + 1);
    expect(await attemptDelivery(deliveryDeps(clock), ok)).toMatchObject({ status: "success" });
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body).toMatchObject({
      failure_count: 0,
      status: "active",
    });
  });

  it("adds up one endpoint's outcomes in a group in the order they happened", async () => {
    const deps = deliveryDeps({ now: Date.now() });
    const ok = (at: number) => ({ result: ANSWERED_200, startedAt: at, finishedAt: at });
    const lastFailure = (at: number) => ({
      result: {
        ok: false,
        statusCode: 500,
        durationMs: 3,
        errorClass: "http_5xx" as const,
        errorMessage: "HTTP 500",
        responseExcerpt: null,
        retryAfterSeconds: null,
      },
      startedAt: at,
      finishedAt: at,
    });
    for (const [order, expected] of [
      ["success, then a final failure", { failure_count: 1, enabled: true }],
      ["a final failure, then success", { failure_count: 0, enabled: false }],
    ] as const) {
      const wh = await webhookAtReceiver(`tnt_order_${order.length}`);
      await env.DB.prepare("UPDATE webhook_endpoints SET failure_count = 9 WHERE id = ?").bind(wh.id).run();
      const ids = [await seedDelivery(wh.id, "tnt_order"), await seedDelivery(wh.id, "tnt_order")];
      await updateDeliveries(ids, { attempt_count: 5 }); // last attempts
      const { claimed } = await claimDeliveries(deps, ids);
      const t = Date.now();
      const outcomes = order.startsWith("success")
        ? [
            { claim: claimed[0]!, ...ok(t) },
            { claim: claimed[1]!, ...lastFailure(t + 1) },
          ]
        : [
            { claim: claimed[0]!, ...lastFailure(t) },
            { claim: claimed[1]!, ...ok(t + 1) },
          ];
      const recordedOutcomes = await recordAttempts(deps, outcomes);
      expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body, order).toMatchObject(expected);
      expect(
        recordedOutcomes.some((o) => o.autoDisabled),
        order,
      ).toBe(!expected.enabled);
    }
  });
});
