// GET …/{webhook_id}/deliveries, GET …/deliveries/{delivery_id} and POST …/deliveries/{delivery_id}/retry, with deliveries
// attempted against the local receiver.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { deliveryDeps, deliveryRow, seedDelivery, waitFor } from "../../helpers/deliveries";
import { platformToken, tenantAdmin } from "../../helpers/tokens";

describe("deliveries API", () => {
  it("lists newest first with a status filter, and 404s deliveries of other webhooks", async () => {
    const wh = await webhookAtReceiver("tnt_dapi", { plan: [200, 500] });
    const other = await webhookAtReceiver("tnt_dapi");
    const clock = { now: Date.now() };
    const okId = await seedDelivery(wh.id, "tnt_dapi", clock.now);
    const failingId = await seedDelivery(wh.id, "tnt_dapi", clock.now + 1);
    await attemptDelivery(deliveryDeps(clock), okId);
    await attemptDelivery(deliveryDeps(clock), failingId);
    const all = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries`, { token: wh.token });
    expect(all.body).toMatchObject({ total: 2, page: 1, per_page: 20, pages: 1 });
    expect(all.body.items.map((d: { id: number }) => d.id)).toEqual([failingId, okId]);
    const retrying = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?status=retrying`, { token: wh.token });
    expect(retrying.body.items.map((d: { id: number }) => d.id)).toEqual([failingId]);
    expect(retrying.body.items[0]!.next_attempt_at).not.toBeNull();
    expect((await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?status=bogus`, { token: wh.token })).status).toBe(422);
    expect((await api("GET", `${WEBHOOKS}/${other.id}/deliveries/${okId}`, { token: wh.token })).status).toBe(404);
    expect(
      (await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${okId}`, { token: await tenantAdmin("tnt_stranger") }))
        .status,
    ).toBe(404);
    const bad = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/abc`, { token: wh.token });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].loc).toEqual(["path", "delivery_id"]);
  });

  it("retries failed and cancelled deliveries by hand, and answers 409 otherwise", async () => {
    const wh = await webhookAtReceiver("tnt_manual", { plan: [500, 200] });
    const clock = { now: Date.now() };
    const id = await seedDelivery(wh.id, "tnt_manual", clock.now);
    const retry = () => api("POST", `${WEBHOOKS}/${wh.id}/deliveries/${id}/retry`, { token: wh.token });
    await attemptDelivery(deliveryDeps(clock), id);
    expect((await retry()).status).toBe(409); // retrying: in flight
    await env.DB.prepare("UPDATE deliveries SET status = 'failed', next_attempt_at = NULL WHERE id = ?").bind(id).run();
    const requeued = await retry();
    expect(requeued.status).toBe(200);
    expect(requeued.body).toMatchObject({ id, status: "pending" });
    await waitFor(async () => (await deliveryRow(id))!.status === "success");
    const done = await retry();
    expect(done.status).toBe(409);
    expect(done.body.detail).toBe("Delivery already succeeded");
    expect((await api("POST", `${WEBHOOKS}/${wh.id}/deliveries/999999/retry`, { token: wh.token })).status).toBe(404);
    // A delivery whose payload retention has purged cannot be sent again.
    const purged = await seedDelivery(wh.id, "tnt_manual", clock.now + 5);
    await env.DB.prepare("UPDATE deliveries SET status = 'failed' WHERE id = ?").bind(purged).run();
    await env.DB.prepare("UPDATE events SET payload = '' WHERE id = (SELECT event_id FROM deliveries WHERE id = ?)")
      .bind(purged)
      .run();
    const gone = await api("POST", `${WEBHOOKS}/${wh.id}/deliveries/${purged}/retry`, { token: wh.token });
    expect(gone.status).toBe(409);
    expect(gone.body.detail).toMatch(/purged/);
    await env.DB.prepare("UPDATE deliveries SET status = 'pending', next_attempt_at = NULL WHERE id = ?")
      .bind(purged)
      .run();
    expect(await attemptDelivery(deliveryDeps(clock), purged)).toEqual({ kind: "skipped", reason: "unsendable" });
    expect((await deliveryRow(purged))!).toMatchObject({
      status: "cancelled",
      last_error: "payload purged by retention",
    });
    expect(
      (await api("POST", `${WEBHOOKS}/${wh.id}/deliveries/${id}/retry`, { token: await platformToken("admin:read") }))
        .status,
    ).toBe(403);
  });
});
