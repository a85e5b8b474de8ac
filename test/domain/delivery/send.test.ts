// One send (send.ts, http-attempt.ts) against the real local receiver: what a timeout, a redirect and a long answer
// are recorded as.
import { describe, expect, it } from "vitest";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { SUCCESS_BODY_KEPT_CHARS } from "../../../src/domain/delivery/record";
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

  it("keeps the first 4 KiB of a failure's response body, and 256 characters of a success's", async () => {
    const failing = await webhookAtReceiver("tnt_trunc_fail", { plan: [500], body: "é", repeat: 5000 });
    const failed = await seedDelivery(failing.id, "tnt_trunc_fail");
    await attemptDelivery(deliveryDeps({ now: Date.now() }), failed);
    const [failure] = await attemptRows(failed);
    expect(failure!.success).toBe(false);
    expect(new TextEncoder().encode(failure!.response_body!).byteLength).toBeLessThanOrEqual(4096);
    expect(failure!.response_body!.length).toBeGreaterThan(2000);

    const ok = await webhookAtReceiver("tnt_trunc_ok", { body: "é", repeat: 5000 });
    const succeeded = await seedDelivery(ok.id, "tnt_trunc_ok");
    await attemptDelivery(deliveryDeps({ now: Date.now() }), succeeded);
    const [success] = await attemptRows(succeeded);
    expect(success!.success).toBe(true);
    expect(success!.response_body).toBe("é".repeat(SUCCESS_BODY_KEPT_CHARS));
  });
});
