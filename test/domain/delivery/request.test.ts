// What a receiver gets: the canonical envelope, signed with both schemes, afresh for every attempt (request.ts,
// signing-keys.ts), through publish, the queue and the real local receiver.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import {
  deliveryDeps,
  scaiKeyReceiverAccepts,
  seedDelivery,
  standardWebhooksAccepts,
  updateDelivery,
  waitFor,
} from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";
import { publisher } from "../../helpers/tokens";

describe("publish → queue → signed delivery", () => {
  it("delivers the canonical envelope with both signature schemes, verifiable as receivers do", async () => {
    const wh = await webhookAtReceiver("tnt_e2e", {}, { headers: { "X-Custom": "yes" } });
    const res = await api("POST", "/api/v1/events", {
      token: await publisher("tnt_e2e", "prt_engine"),
      body: {
        event_type: "user.created",
        tenant_id: "tnt_e2e",
        partner_id: "prt_engine",
        resource: { type: "user", id: "usr_42" },
        actor: { id: "usr_admin", type: "admin" },
        data: { name: "Zoë", roles: ["a", "b"], nested: { z: 1, a: 2 } },
      },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ deliveries: 1, duplicate: false });
    expect(res.body.event_id).toMatch(/^evt_/);

    // The real queue consumer picks the message up.
    const [req] = await waitFor(async () => {
      const got = await recorded(wh.hookKey);
      return got.length > 0 && got;
    });
    const delivery = await waitFor(async () => {
      const row = await env.DB.prepare("SELECT * FROM deliveries_live WHERE webhook_id = ?")
        .bind(wh.id)
        .first<Record<string, any>>();
      return row?.status === "success" && row;
    });
    expect(req!.method).toBe("POST");
    expect(req!.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": "ScaiKey-Webhook/1.0",
      "x-scaikey-webhook-id": String(delivery.id),
      "x-scaikey-event-id": res.body.event_id,
      "x-scaikey-event-type": "user.created",
      "x-custom": "yes",
      "webhook-id": res.body.event_id,
    });
    expect(req!.headers["x-scaikey-timestamp"]).toBe(req!.headers["webhook-timestamp"]);
    expect(req!.headers["x-scaikey-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(req!.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // Canonical: keys sorted at every level, compact, non-ASCII escaped (Python's json.dumps(sort_keys=True)).
    expect(req!.body).toContain('"data":{"name":"Zo\\u00eb","nested":{"a":2,"z":1},"roles":["a","b"]}');
    expect(req!.body.startsWith('{"actor":{"id":"usr_admin","type":"admin"},"data":')).toBe(true);
    expect(await scaiKeyReceiverAccepts(req!, wh.secret)).toBe(true);
    expect(await scaiKeyReceiverAccepts(req!, "whsec_wrong")).toBe(false);
    expect(await scaiKeyReceiverAccepts({ ...req!, body: req!.body.replace("Zo", "Jo") }, wh.secret)).toBe(false);
    expect(standardWebhooksAccepts(req!, wh.secret)).toBe(true);

    const detail = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${delivery.id}`, { token: wh.token });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({
      id: delivery.id,
      status: "success",
      attempt_count: 1,
      event_type: "user.created",
    });
    expect(JSON.stringify(detail.body.payload)).toBe(JSON.stringify(JSON.parse(req!.body)));
    expect(detail.body.attempts).toHaveLength(1);
    expect(detail.body.attempts[0]).toMatchObject({ attempt: 1, success: true, status_code: 200, error_class: null });
  });

  it("signs every attempt afresh with the current timestamp", async () => {
    const wh = await webhookAtReceiver("tnt_fresh", { plan: [500, 200] });
    const clock = { now: Date.now() - 200_000 };
    const id = await seedDelivery(wh.id, "tnt_fresh", clock.now);
    await attemptDelivery(deliveryDeps(clock), id);
    clock.now += 100_000;
    await updateDelivery(id, { due_at: clock.now });
    await attemptDelivery(deliveryDeps(clock), id);
    const [first, second] = await recorded(wh.hookKey);
    expect(Number(second!.headers["x-scaikey-timestamp"]) - Number(first!.headers["x-scaikey-timestamp"])).toBe(100);
    expect(second!.headers["x-scaikey-signature"]).not.toBe(first!.headers["x-scaikey-signature"]);
    expect(second!.body).toBe(first!.body);
    expect(await scaiKeyReceiverAccepts(second!, wh.secret, Math.floor(clock.now / 1000))).toBe(true);
  });
});
