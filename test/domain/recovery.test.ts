// Large recoveries and replays: the request does the first hour of the window, the cron the rest, and each delivery is
// touched once.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { firstDeliveryIdAt, HOUR_MS, hourOf, partitionName } from "../../src/db/partitions";
import { publishEvent } from "../../src/domain/publish";
import { continueRecoveries, recoverDeliveries, replayEvents, replayEventTypes } from "../../src/domain/recovery";
import { getVisibleWebhook } from "../../src/domain/webhooks";
import worker from "../../src/index";
import { createServices } from "../../src/lib/services";
import { api, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { db, waitFor } from "../helpers/deliveries";
import { recorded } from "../helpers/receiver";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const PARTNER = "prt_engine";
const ALL = { kind: "all" } as const;

/** The start of the hour three hours ago: a window from there to now spans four hours (four chunks). */
const threeHoursAgo = () => (hourOf(Date.now()) - 3) * HOUR_MS;

/** Publishes one event of `tenant` at each of `times` (ms), through the real publish path; returns their ids. */
async function publishAt(tenant: string, times: readonly number[]) {
  const ids: string[] = [];
  for (const [i, at] of times.entries()) {
    const published = await publishEvent(
      { ...createServices(env), now: () => at },
      {
        event_type: "user.created",
        tenant_id: tenant,
        partner_id: PARTNER,
        resource: { type: "user", id: `usr_${i}` },
        data: { i },
      },
    );
    ids.push(published.event_id);
  }
  return ids;
}

const openJobs = async (webhookId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM webhook_recoveries WHERE webhook_id = ? AND finished_at IS NULL")
    .bind(webhookId)
    .first<number>("n"))!;
const deliveriesOf = async (webhookId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = ?")
    .bind(webhookId)
    .first<number>("n"))!;

describe("chunked recovery", () => {
  it("a replay of several hours: the first hour at once, the rest from the cron, every event once", async () => {
    const tenant = `tnt_chunk${uid()}`;
    const wh = await webhookAtReceiver(tenant, {}, { enabled: false });
    const since = threeHoursAgo();
    // 3 events in the first hour, 3 in the second, 1 in the third: all missed while the webhook was disabled.
    const events = await publishAt(
      tenant,
      [0, 1, 2, 60, 61, 62, 120].map((minutes) => since + minutes * 60_000 + 1_000),
    );
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    const webhook = await getVisibleWebhook(db(), wh.id, ALL);
    const services = createServices(env);
    const window = { since, until: Date.now() };

    const result = await replayEvents(services, webhook, window, replayEventTypes(webhook, undefined));
    expect(result.deliveries).toBe(7);
    expect(await deliveriesOf(wh.id)).toBe(3);
    expect(await openJobs(wh.id)).toBe(1);

    // A time box of zero does nothing; then the three hours left (the last one empty), one chunk each.
    expect(await continueRecoveries(services, { timeBoxMs: 0 })).toEqual({ chunks: 0, open: 1 });
    expect(await continueRecoveries(services)).toEqual({ chunks: 3, open: 0 });
    expect(await deliveriesOf(wh.id)).toBe(7);
    expect(await openJobs(wh.id)).toBe(0);
    const got = await waitFor(async () => {
      const r = await recorded(wh.hookKey);
      return r.length >= 7 && r;
    });
    expect(got.map((r) => r.headers["x-scaikey-event-id"]).sort()).toEqual([...events].sort());
    // Again up to now (as the API's default `until` does): nothing to create.
    const again = { since, until: Date.now() };
    expect((await replayEvents(services, webhook, again, replayEventTypes(webhook, undefined))).deliveries).toBe(0);
    expect(await continueRecoveries(services)).toEqual({ chunks: 0, open: 0 });
    expect(await deliveriesOf(wh.id)).toBe(7);
  });

  it("a recover of several hours, continued by the every-minute cron", async () => {
    const tenant = `tnt_chunkrc${uid()}`;
    const wh = await webhookAtReceiver(tenant, {}, { enabled: false });
    const since = threeHoursAgo();
    const times = [0, 1, 60, 61, 120].map((minutes) => since + minutes * 60_000 + 1_000);
    await publishAt(tenant, times);
    // Deliveries that failed, in their hours' partitions: created here as the engine leaves them.
    await env.DB.batch(
      [...new Set(times.map(hourOf))].map((hour) =>
        env.DB.prepare(
          `INSERT INTO "${partitionName("deliveries", hour)}" (webhook_id, id, event_owner, event_id, event_hour, event_type,
             status, attempt_count, due_at, in_queue, last_status_code, last_error_class, last_error, attempts,
             created_at, updated_at, completed_at)
           SELECT ?1, created_at * ?3, owner_key, event_id, ?4, event_type, 'failed', 6, created_at, 0, 500, 'http_5xx',
             'http_5xx: HTTP 500', '[]', created_at, created_at + 1000, created_at + 1000
           FROM "${partitionName("events", hour)}" WHERE tenant_id = ?2`,
        ).bind(wh.id, tenant, firstDeliveryIdAt(1), hour),
      ),
    );
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    const webhook = await getVisibleWebhook(db(), wh.id, ALL);
    const services = createServices(env);

    const result = await recoverDeliveries(services, webhook, { since, until: Date.now() });
    expect(result.deliveries).toBe(5);
    expect(await openJobs(wh.id)).toBe(1);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await openJobs(wh.id)).toBe(0);
    const got = await waitFor(async () => {
      const r = await recorded(wh.hookKey);
      return r.length >= 5 && r;
    });
    await new Promise((r) => setTimeout(r, 500));
    // Each failed delivery sent once, in place (they are in the hot window): the same five ids.
    const sent = (await recorded(wh.hookKey)).map((r) => Number(r.headers["x-scaikey-webhook-id"]));
    expect(sent.sort()).toEqual(times.map((t) => firstDeliveryIdAt(t)).sort());
    expect(got).toHaveLength(5);
    expect(await deliveriesOf(wh.id)).toBe(5);
  });

  it("stops a recovery whose webhook is disabled meanwhile", async () => {
    const tenant = `tnt_chunkstop${uid()}`;
    const wh = await webhookAtReceiver(tenant, {}, { enabled: false });
    const since = threeHoursAgo();
    await publishAt(
      tenant,
      [0, 60, 120].map((minutes) => since + minutes * 60_000 + 1_000),
    );
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    const webhook = await getVisibleWebhook(db(), wh.id, ALL);
    const services = createServices(env);
    await replayEvents(services, webhook, { since, until: Date.now() }, ["user.created"]);
    expect(await deliveriesOf(wh.id)).toBe(1);
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: false } });
    expect(await continueRecoveries(services)).toMatchObject({ open: 0 });
    expect(await openJobs(wh.id)).toBe(0);
    expect(await deliveriesOf(wh.id)).toBe(1);
  });
});

describe("replayEventTypes", () => {
  it("leaves the service's own announcements out of a replay by default, even for a webhook subscribed to everything", () => {
    const types = replayEventTypes({ events: ["*"] }, undefined);
    expect(types).toContain("user.created");
    expect(types.filter((t) => t.startsWith("webhook."))).toEqual([]);
    expect(replayEventTypes({ events: ["webhook.*"] }, undefined)).toEqual([]);
  });
});
