// Claiming (claim.ts): a delivery is sent once however many of its messages arrive, and not at all once its endpoint
// is disabled.
import { describe, expect, it } from "vitest";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { consumeDeliveries } from "../../helpers/consumer";
import { attemptRows, deliveryRow, seedDelivery } from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";

describe("claiming", () => {
  it("does not send an already-successful delivery again when its message is redelivered", async () => {
    const wh = await webhookAtReceiver("tnt_redeliver");
    const id = await seedDelivery(wh.id, "tnt_redeliver");
    const first = await consumeDeliveries([id]);
    expect(first.explicitAcks).toHaveLength(1);
    expect((await deliveryRow(id))!.status).toBe("success");
    const again = await consumeDeliveries([id, id], 2);
    expect(again.explicitAcks).toHaveLength(2);
    expect(again.retryMessages).toEqual([]);
    expect(await recorded(wh.hookKey)).toHaveLength(1);
    expect(await attemptRows(id)).toHaveLength(1);
  });

  it("sends a delivery only once when two copies of its message arrive together", async () => {
    const wh = await webhookAtReceiver("tnt_dupe", { delayMs: 200 });
    const id = await seedDelivery(wh.id, "tnt_dupe");
    await consumeDeliveries([id, id, id]);
    expect(await recorded(wh.hookKey)).toHaveLength(1);
    expect((await deliveryRow(id))!).toMatchObject({ status: "success", attempt_count: 1 });
  });

  it("cancels instead of sending when the endpoint was disabled or deleted", async () => {
    const wh = await webhookAtReceiver("tnt_cancel");
    const id = await seedDelivery(wh.id, "tnt_cancel");
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: false } });
    await consumeDeliveries([id]);
    expect((await deliveryRow(id))!).toMatchObject({ status: "cancelled", last_error: "endpoint disabled" });
    expect(await recorded(wh.hookKey)).toHaveLength(0);
  });
});
