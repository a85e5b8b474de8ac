// GET …/{webhook_id}/deliveries, GET …/deliveries/{delivery_id} and POST …/deliveries/{delivery_id}/retry, with deliveries
// attempted against the local receiver.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { listPartitionHours, partitionName } from "../../../src/db/partitions";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { deliveryDeps, deliveryRow, seedDelivery, updateDelivery, waitFor } from "../../helpers/deliveries";
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
    expect(all.body.items.map((d: { id: number }) => d.id)).toEqual([failingId.id, okId.id]);
    const retrying = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?status=retrying`, { token: wh.token });
    expect(retrying.body.items.map((d: { id: number }) => d.id)).toEqual([failingId.id]);
    expect(retrying.body.items[0]!.next_attempt_at).not.toBeNull();
    expect((await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?status=bogus`, { token: wh.token })).status).toBe(422);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${okId.id}`, { token: wh.token })).status).toBe(200);
    // A delivery id of another webhook is not found under this one.
    expect((await api("GET", `${WEBHOOKS}/${other.id}/deliveries/${okId.id}`, { token: wh.token })).status).toBe(404);
    // Ids are unique per webhook: the other webhook's own delivery of the same id is its own.
    const otherOfSameId = await seedDelivery(other.id, "tnt_dapi", clock.now);
    expect(otherOfSameId.id).toBe(okId.id);
    expect(
      (await api("GET", `${WEBHOOKS}/${other.id}/deliveries/${okId.id}`, { token: other.token })).body,
    ).toMatchObject({ id: okId.id, webhook_id: other.id, status: "pending" });
    expect((await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${okId.id}`, { token: wh.token })).body).toMatchObject({
      id: okId.id,
      webhook_id: wh.id,
      status: "success",
    });
    expect(
      (await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${okId.id}`, { token: await tenantAdmin("tnt_stranger") }))
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
    const retry = () => api("POST", `${WEBHOOKS}/${wh.id}/deliveries/${id.id}/retry`, { token: wh.token });
    await attemptDelivery(deliveryDeps(clock), id);
    expect((await retry()).status).toBe(409); // retrying: in flight
    await updateDelivery(id, { status: "failed", in_queue: 0, completed_at: clock.now });
    const requeued = await retry();
    expect(requeued.status).toBe(200);
    // Within the hot window: the same delivery, queued again in place.
    expect(requeued.body).toMatchObject({ id: id.id, status: "pending", retry_of: null, completed_at: null });
    await waitFor(async () => (await deliveryRow(id))!.status === "success");
    const done = await retry();
    expect(done.status).toBe(409);
    expect(done.body.detail).toBe("Delivery already succeeded");
    expect((await api("POST", `${WEBHOOKS}/${wh.id}/deliveries/999999/retry`, { token: wh.token })).status).toBe(404);
    // A delivery whose event is no longer stored is cancelled, never sent. (History whose payload retention removed
    // answers 409 to a retry: test/jobs/storage.test.ts.)
    const orphan = await seedDelivery(wh.id, "tnt_manual", clock.now + 5);
    const { event_owner, event_id } = (await deliveryRow(orphan))!;
    const removed = await env.DB.batch(
      (await listPartitionHours(env.DB)).map((hour) =>
        env.DB.prepare(`DELETE FROM "${partitionName("events", hour)}" WHERE owner_key = ? AND event_id = ?`).bind(
          event_owner,
          event_id,
        ),
      ),
    );
    expect(removed.reduce((n, r) => n + r.meta.changes, 0)).toBe(1);
    expect(await attemptDelivery(deliveryDeps(clock), orphan)).toEqual({ kind: "skipped", reason: "unsendable" });
    expect((await deliveryRow(orphan))!).toMatchObject({ status: "cancelled", last_error: "event no longer stored" });
    expect(
      (
        await api("POST", `${WEBHOOKS}/${wh.id}/deliveries/${id.id}/retry`, {
          token: await platformToken("admin:read"),
        })
      ).status,
    ).toBe(403);
  });
});
