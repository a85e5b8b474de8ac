// POST /api/v1/admin/webhooks/{webhook_id}/test: a webhook.test event sent now, answered with the attempt's outcome.
import { describe, expect, it } from "vitest";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { eventuallySucceeds, QUICK_RETRIES, scaiKeyReceiverAccepts } from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";

describe("deliveries API", () => {
  it("sends a test event synchronously and records it", async () => {
    const wh = await webhookAtReceiver("tnt_test", { plan: [200, 500] });
    const ok = await api("POST", `${WEBHOOKS}/${wh.id}/test`, { token: wh.token });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ success: true, status_code: 200, error: null, delivery_status: "success" });
    const [req] = await recorded(wh.hookKey);
    expect(req!.headers["x-scaikey-event-type"]).toBe("webhook.test");
    expect(JSON.parse(req!.body)).toMatchObject({
      event_type: "webhook.test",
      tenant_id: "tnt_test",
      resource: { type: "webhook", id: wh.id },
    });
    expect(await scaiKeyReceiverAccepts(req!, wh.secret)).toBe(true);
    const failed = await api("POST", `${WEBHOOKS}/${wh.id}/test`, { token: wh.token });
    expect(failed.body).toMatchObject({
      success: false,
      status_code: 500,
      error_class: "http_5xx",
      response_body: "ok",
    });
    const listed = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries`, { token: wh.token });
    expect(listed.body.items.map((d: { id: number }) => d.id)).toEqual([failed.body.delivery_id, ok.body.delivery_id]);
  });
});

describe("a failed test event", () => {
  it("is tried again through the queue, like any delivery, until it succeeds", async () => {
    const wh = await webhookAtReceiver("tnt_test_requeue", { plan: [500, 200] });
    // A one-second schedule for the test call, so the retry comes a second later rather than a minute.
    const failed = await api("POST", `${WEBHOOKS}/${wh.id}/test`, { token: wh.token, bindings: QUICK_RETRIES });
    expect(failed.body).toMatchObject({ success: false, status_code: 500, delivery_status: "retrying" });
    // Nobody calls retry: the queue brings the delivery back to the receiver.
    const delivery = await eventuallySucceeds(wh, failed.body.delivery_id);
    expect(delivery.attempts.map((a) => a.status_code)).toEqual([500, 200]);
  });
});
