// POST …/{webhook_id}/replay against the local receiver: what a disabled endpoint missed comes back, once, signed.
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { scaiKeyReceiverAccepts, standardWebhooksAccepts, waitFor } from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";
import { publisher } from "../../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const PARTNER = "prt_engine"; // webhookAtReceiver's

async function publish(tenant: string, eventType = "user.created") {
  const res = await api("POST", "/api/v1/events", {
    token: await publisher(tenant, PARTNER),
    body: {
      event_type: eventType,
      tenant_id: tenant,
      partner_id: PARTNER,
      resource: { type: "user", id: `usr_${uid()}` },
      data: { n: 1 },
    },
  });
  expect(res.status).toBe(202);
  return res.body.event_id as string;
}

/** Waits until nothing new arrives for a while, then answers what the receiver got. */
async function settled(hookKey: string, expected: number) {
  await waitFor(async () => (await recorded(hookKey)).length >= expected);
  await new Promise((r) => setTimeout(r, 1_500)); // room for a duplicate to show up
  return recorded(hookKey);
}

vi.setConfig({ testTimeout: 30_000 }); // each check waits for the receiver to stay quiet

describe("replay", () => {
  it("sends a re-enabled endpoint exactly the events it missed, once each, signed; a second replay sends nothing", async () => {
    const tenant = `tnt_rp${uid()}`;
    const wh = await webhookAtReceiver(tenant);
    const since = new Date(Date.now() - 1_000).toISOString();
    const delivered = await publish(tenant);
    await waitFor(async () => (await recorded(wh.hookKey)).length === 1);

    expect((await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: false } })).status).toBe(
      200,
    );
    const missed = [
      await publish(tenant),
      await publish(tenant, "group.created"),
      await publish(tenant, "user.deleted"),
    ];
    const disabled = await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token });
    expect(disabled.body).toMatchObject({ enabled: false, missed_events_since_disabled: 3 });
    expect(
      (await api("GET", `${WEBHOOKS}/${wh.id}/stats`, { token: wh.token })).body.missed_events_since_disabled,
    ).toBe(3);
    // Another tenant's events are not this endpoint's to miss, nor to replay.
    await publish(`tnt_other${uid()}`);

    const enabled = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    expect(enabled.body).toMatchObject({ enabled: true, missed_events_since_disabled: 0 });
    const replay = await api("POST", `${WEBHOOKS}/${wh.id}/replay`, { token: wh.token, body: { since } });
    expect(replay.status).toBe(202);
    expect(Object.keys(replay.body).sort()).toEqual(["deliveries", "since", "until", "webhook_id"]);
    expect(replay.body).toMatchObject({ webhook_id: wh.id, since: new Date(since).toISOString(), deliveries: 3 });
    expect(Date.parse(replay.body.until)).toBeGreaterThan(Date.parse(since));

    const got = await settled(wh.hookKey, 4);
    expect(got).toHaveLength(4);
    const replayed = got.slice(1);
    expect(replayed.map((r) => r.headers["x-scaikey-event-id"]).sort()).toEqual([...missed].sort());
    expect(got[0]!.headers["x-scaikey-event-id"]).toBe(delivered);
    for (const req of replayed) {
      expect(await scaiKeyReceiverAccepts(req, wh.secret)).toBe(true);
      expect(standardWebhooksAccepts(req, wh.secret)).toBe(true);
      expect(JSON.parse(req.body).event_id).toBe(req.headers["x-scaikey-event-id"]);
    }

    const again = await api("POST", `${WEBHOOKS}/${wh.id}/replay`, { token: wh.token, body: { since } });
    expect(again.status).toBe(202);
    expect(again.body.deliveries).toBe(0);
    expect(await settled(wh.hookKey, 4)).toHaveLength(4);
    const { results } = await env.DB.prepare(
      "SELECT event_id, count(*) AS n FROM deliveries_live WHERE webhook_id = ? GROUP BY event_id",
    )
      .bind(wh.id)
      .all<{ n: number }>();
    expect(results).toHaveLength(4);
    expect(results.every((r) => r.n === 1)).toBe(true);
  });

  it("covers events from before the endpoint existed or subscribed, limited to event_types when given", async () => {
    const tenant = `tnt_rs${uid()}`;
    const since = new Date(Date.now() - 1_000).toISOString();
    const before = [
      await publish(tenant, "user.created"),
      await publish(tenant, "user.updated"),
      await publish(tenant, "group.created"),
    ];
    const wh = await webhookAtReceiver(tenant, {}, { events: ["user.*"] });
    const res = await api("POST", `${WEBHOOKS}/${wh.id}/replay`, {
      token: wh.token,
      body: { since, event_types: ["user.updated"] },
    });
    expect(res.body.deliveries).toBe(1);
    expect((await settled(wh.hookKey, 1)).map((r) => r.headers["x-scaikey-event-id"])).toEqual([before[1]]);
    // The rest of its subscription; group.created stays out until it subscribes to it.
    expect(
      (await api("POST", `${WEBHOOKS}/${wh.id}/replay`, { token: wh.token, body: { since } })).body.deliveries,
    ).toBe(1);
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { events: ["*"] } });
    expect(
      (await api("POST", `${WEBHOOKS}/${wh.id}/replay`, { token: wh.token, body: { since } })).body.deliveries,
    ).toBe(1);
    const got = await settled(wh.hookKey, 3);
    expect(got.map((r) => r.headers["x-scaikey-event-id"]).sort()).toEqual([...before].sort());
  });

  it("leaves out events of the window's end and after it", async () => {
    const tenant = `tnt_ru${uid()}`;
    const wh = await webhookAtReceiver(tenant, {}, { enabled: false });
    const since = new Date(Date.now() - 1_000).toISOString();
    const first = await publish(tenant);
    const cut = await env.DB.prepare("SELECT created_at FROM events_live WHERE owner_key = ? AND event_id = ?")
      .bind(`t:${tenant}`, first)
      .first<number>("created_at");
    await new Promise((r) => setTimeout(r, 5));
    await publish(tenant);
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    const until = new Date(cut! + 1).toISOString();
    const res = await api("POST", `${WEBHOOKS}/${wh.id}/replay`, { token: wh.token, body: { since, until } });
    expect(res.body).toMatchObject({ deliveries: 1, until });
    expect((await settled(wh.hookKey, 1)).map((r) => r.headers["x-scaikey-event-id"])).toEqual([first]);
  });
});
