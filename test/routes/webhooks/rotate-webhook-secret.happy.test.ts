// POST /api/v1/admin/webhooks/{webhook_id}/rotate-secret: both signatures during the grace period, then only the new.
import { describe, expect, it } from "vitest";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { deliveryDeps, scaiKeyReceiverAccepts, seedDelivery, standardWebhooksAccepts } from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";

describe("secret rotation", () => {
  it("signs with both secrets during the grace period, new first and old last, then only the new", async () => {
    const wh = await webhookAtReceiver("tnt_rotate");
    const rotated = await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, { token: wh.token });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(wh.secret);
    const graceEnd = Date.parse(rotated.body.previous_secret_expires_at!);
    expect(graceEnd - Date.now()).toBeGreaterThan(86_000_000);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body).not.toHaveProperty("secret");

    const clock = { now: Date.now() };
    await attemptDelivery(deliveryDeps(clock), await seedDelivery(wh.id, "tnt_rotate", clock.now));
    const [during] = await recorded(wh.hookKey);
    const header = during!.headers["x-scaikey-signature"]!;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect(during!.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    // Receivers that keep only the last v1 still hold the old secret: they verify.
    expect(await scaiKeyReceiverAccepts(during!, wh.secret)).toBe(true);
    // The first v1 is the new secret's.
    expect(
      await scaiKeyReceiverAccepts(
        { ...during!, headers: { ...during!.headers, "x-scaikey-signature": header.split(",").slice(0, 2).join(",") } },
        rotated.body.secret,
      ),
    ).toBe(true);
    expect(standardWebhooksAccepts(during!, wh.secret)).toBe(true);
    expect(standardWebhooksAccepts(during!, rotated.body.secret)).toBe(true);

    clock.now = graceEnd + 1;
    await attemptDelivery(deliveryDeps(clock), await seedDelivery(wh.id, "tnt_rotate", clock.now));
    const after = (await recorded(wh.hookKey))[1]!;
    expect(after.headers["x-scaikey-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(await scaiKeyReceiverAccepts(after, rotated.body.secret, Math.floor(clock.now / 1000))).toBe(true);
  });

  it("expire_previous_in: 0 drops the old secret at once; bad values are 422", async () => {
    const wh = await webhookAtReceiver("tnt_rotate_now");
    const rotated = await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, {
      token: wh.token,
      body: { expire_previous_in: 0 },
    });
    expect(rotated.body.previous_secret_expires_at).toBeNull();
    await attemptDelivery(deliveryDeps({ now: Date.now() }), await seedDelivery(wh.id, "tnt_rotate_now"));
    const [req] = await recorded(wh.hookKey);
    expect(req!.headers["x-scaikey-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(await scaiKeyReceiverAccepts(req!, rotated.body.secret)).toBe(true);
    expect(await scaiKeyReceiverAccepts(req!, wh.secret)).toBe(false);
    for (const body of [{ expire_previous_in: -1 }, { expire_previous_in: "soon" }, { expire_previous_in: 1e9 }]) {
      expect((await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, { token: wh.token, body })).status).toBe(422);
    }
  });

  it("a JSON null body is no body: a rotation with the default grace period", async () => {
    const wh = await webhookAtReceiver("tnt_rotate_null");
    const bodies: { rawBody?: string; headers?: Record<string, string> }[] = [
      { rawBody: "null", headers: { "content-type": "application/json" } },
      { rawBody: " null\n", headers: { "content-type": "application/json; charset=utf-8" } },
      {},
    ];
    for (const body of bodies) {
      const rotated = await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, { token: wh.token, ...body });
      expect(rotated.status, JSON.stringify(body)).toBe(200);
      expect(rotated.body.secret).toMatch(/^whsec_/);
      const grace = Date.parse(rotated.body.previous_secret_expires_at!) - Date.now();
      expect(grace).toBeGreaterThan(86_000_000);
      expect(grace).toBeLessThanOrEqual(86_400_000);
    }
  });

  // The reference's rotate-secret takes no body: whatever is sent that is not the documented object cannot fail it.
  it.each([
    ["malformed JSON", "{", "application/json"],
    ["text/plain", "rotate please", "text/plain"],
    ["a JSON list", "[1]", "application/json"],
    ["no content type", '{"expire_previous_in": 5}', undefined],
    ["bytes that are not UTF-8", "\udcff", "application/json"],
  ])("ignores a body it cannot read (%s) and rotates with the default grace", async (_label, rawBody, type) => {
    const wh = await webhookAtReceiver("tnt_rotate_lenient");
    const res = await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, {
      token: wh.token,
      rawBody,
      headers: type ? { "content-type": type } : {},
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.secret).not.toBe(wh.secret);
    const grace = Date.parse(res.body.previous_secret_expires_at!) - Date.now();
    expect(Math.abs(grace - 86_400_000)).toBeLessThan(60_000);
  });

  it("reads the documented grace period with lax numbers and ignores unknown fields", async () => {
    const wh = await webhookAtReceiver("tnt_rotate_lax");
    const res = await api("POST", `${WEBHOOKS}/${wh.id}/rotate-secret`, {
      token: wh.token,
      body: { expire_previous_in: "3600", colour: "red" },
    });
    expect(res.status).toBe(200);
    const grace = Date.parse(res.body.previous_secret_expires_at!) - Date.now();
    expect(Math.abs(grace - 3_600_000)).toBeLessThan(60_000);
  });
});
