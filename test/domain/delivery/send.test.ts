// One send (send.ts, http-attempt.ts) against the real local receiver: what a timeout, a redirect and a long answer
// are recorded as.
import { describe, expect, it } from "vitest";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { webhookAtReceiver } from "../../helpers/api";
import { attemptRows, deliveryDeps, seedDelivery } from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";

describe("a send", () => {
  it("records a timeout", async () => {
    const wh = await webhookAtReceiver("tnt_timeout", { delayMs: 3000 });
    const id = await seedDelivery(wh.id, "tnt_timeout");
    const outcome = await attemptDelivery(deliveryDeps({ now: Date.now() }, { deliveryTimeoutMs: 300 }), id);
    expect(outcome).toMatchObject({
      status: "retrying",
      result: { ok: false, errorClass: "timeout", statusCode: null },
    });
  });

  it("treats a redirect as a failure and does not follow it", async () => {
    const wh = await webhookAtReceiver("tnt_redirect", { plan: [302] });
    const id = await seedDelivery(wh.id, "tnt_redirect");
    const outcome = await attemptDelivery(deliveryDeps({ now: Date.now() }), id);
    expect(outcome).toMatchObject({
      status: "retrying",
      result: { ok: false, statusCode: 302, errorClass: "redirect" },
    });
    expect(await recorded(wh.hookKey)).toHaveLength(1);
  });

  it("keeps only the first 4 KiB of the response body", async () => {
    const wh = await webhookAtReceiver("tnt_trunc", { body: "é", repeat: 5000 });
    const id = await seedDelivery(wh.id, "tnt_trunc");
    await attemptDelivery(deliveryDeps({ now: Date.now() }), id);
    const [attempt] = await attemptRows(id);
    expect(new TextEncoder().encode(attempt!.response_body!).byteLength).toBeLessThanOrEqual(4096);
    expect(attempt!.response_body!.length).toBeGreaterThan(2000);
  });
});
