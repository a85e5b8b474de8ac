// POST …/{webhook_id}/recover against the local receiver: after an outage, exactly the failed deliveries go out again.
import { describe, expect, it } from "vitest";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import {
  deliveryDeps,
  deliveryRow,
  scaiKeyReceiverAccepts,
  seedDelivery,
  updateDelivery,
  waitFor,
} from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);

describe("recover", () => {
  it("re-sends exactly the deliveries that failed in the window, or were cancelled while disabled; a second call queues nothing", async () => {
    const tenant = `tnt_rc${uid()}`;
    // The outage: three 500s, then the receiver is back.
    const wh = await webhookAtReceiver(tenant, { plan: [500, 500, 500, 200] });
    const clock = { now: Date.now() - 60_000 };
    const since = new Date(clock.now - 1).toISOString();
    const noRetries = deliveryDeps(clock, { retryScheduleSeconds: [] }); // one attempt each: a failure is final
    const failed = [];
    for (let i = 0; i < 3; i++) failed.push(await seedDelivery(wh.id, tenant, clock.now + i));
    const succeeded = await seedDelivery(wh.id, tenant, clock.now + 3);
    for (const id of [...failed, succeeded]) await attemptDelivery(noRetries, id);
    expect((await deliveryRow(failed[0]!))!.status).toBe("failed");
    expect((await deliveryRow(succeeded))!.status).toBe("success");
    // Cancelled because the endpoint was disabled: recoverable. Cancelled because its payload is gone: not.
    const cancelled = await seedDelivery(wh.id, tenant, clock.now + 4);
    const purged = await seedDelivery(wh.id, tenant, clock.now + 5);
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: false } });
    expect(await attemptDelivery(noRetries, cancelled)).toEqual({ kind: "skipped", reason: "unsendable" });
    await updateDelivery(purged, {
      status: "cancelled",
      last_error: "event no longer stored",
      completed_at: clock.now + 5,
    });
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    // Outside the window: a failure from before `since`.
    const older = await seedDelivery(wh.id, tenant, clock.now - 10_000);
    await updateDelivery(older, { status: "failed", completed_at: clock.now - 9_000 });

    const res = await api("POST", `${WEBHOOKS}/${wh.id}/recover`, { token: wh.token, body: { since } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      webhook_id: wh.id,
      since: new Date(since).toISOString(),
      until: expect.any(String),
      deliveries: 4,
    });

    const expected = [...failed, cancelled];
    await waitFor(async () => (await Promise.all(expected.map(deliveryRow))).every((d) => d!.status === "success"));
    await new Promise((r) => setTimeout(r, 1_000));
    const got = await recorded(wh.hookKey);
    expect(got).toHaveLength(4 + 4); // the outage's four attempts, then the four recovered
    expect(
      got
        .slice(4)
        .map((r) => Number(r.headers["x-scaikey-webhook-id"]))
        .sort((a, b) => a - b),
    ).toEqual(expected.map((d) => d.id).sort((a, b) => a - b));
    for (const req of got.slice(4)) expect(await scaiKeyReceiverAccepts(req, wh.secret)).toBe(true);
    expect((await deliveryRow(purged))!.status).toBe("cancelled");
    expect((await deliveryRow(older))!.status).toBe("failed");

    const again = await api("POST", `${WEBHOOKS}/${wh.id}/recover`, { token: wh.token, body: { since } });
    expect(again.body.deliveries).toBe(0);
  });
});
