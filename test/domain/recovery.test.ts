// Large recoveries and replays: the request does one chunk, the cron the rest, and each delivery is touched once.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { continueRecoveries, recoverDeliveries, replayEvents, replayEventTypes } from "../../src/domain/recovery";
import { getVisibleWebhook } from "../../src/domain/webhooks";
import worker from "../../src/index";
import { createServices } from "../../src/lib/services";
import { api, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { db, waitFor } from "../helpers/deliveries";
import { recorded } from "../helpers/receiver";
import { publisher } from "../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const PARTNER = "prt_engine";
const ALL = { kind: "all" } as const;

async function publishMany(tenant: string, n: number) {
  const token = await publisher(tenant, PARTNER);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await api("POST", "/api/v1/events", {
      token,
      body: {
        event_type: "user.created",
        tenant_id: tenant,
        partner_id: PARTNER,
        resource: { type: "user", id: `usr_${i}` },
        data: { i },
      },
    });
    ids.push(res.body.event_id);
  }
  return ids;
}

const openJobs = async (webhookId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM webhook_recoveries WHERE webhook_id = ? AND finished_at IS NULL")
    .bind(webhookId)
    .first<number>("n"))!;

describe("chunked recovery", () => {
  it("a replay larger than a chunk: the first chunk at once, the rest from the cron, every event once", async () => {
    const tenant = `tnt_chunk${uid()}`;
    const wh = await webhookAtReceiver(tenant, {}, { enabled: false });
    const window = { since: Date.now() - 1_000, until: 0 };
    const events = await publishMany(tenant, 7);
    window.until = Date.now() + 1;
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    const webhook = await getVisibleWebhook(db(), wh.id, ALL);
    const services = createServices(env);

    const result = await replayEvents(services, webhook, window, replayEventTypes(webhook, undefined), {
      chunkRows: 3,
    });
    expect(result.deliveries).toBe(7);
    const count = async () =>
      (await env.DB.prepare("SELECT count(*) AS n FROM deliveries WHERE webhook_id = ?")
        .bind(wh.id)
        .first<number>("n"))!;
    expect(await count()).toBe(3);
    expect(await openJobs(wh.id)).toBe(1);

    // Two more chunks of three, one of one: a time box of zero does nothing, then the rest.
    expect(await continueRecoveries(services, { chunkRows: 3, timeBoxMs: 0 })).toEqual({ chunks: 0, open: 1 });
    expect(await continueRecoveries(services, { chunkRows: 3 })).toEqual({ chunks: 2, open: 0 });
    expect(await count()).toBe(7);
    expect(await openJobs(wh.id)).toBe(0);
    const got = await waitFor(async () => {
      const r = await recorded(wh.hookKey);
      return r.length >= 7 && r;
    });
    expect(got.map((r) => r.headers["x-scaikey-event-id"]).sort()).toEqual([...events].sort());
    expect(
      (await replayEvents(services, webhook, window, replayEventTypes(webhook, undefined), { chunkRows: 3 }))
        .deliveries,
    ).toBe(0);
  });

  it("a recover larger than a chunk, continued by the every-minute cron", async () => {
    const tenant = `tnt_chunkrc${uid()}`;
    const wh = await webhookAtReceiver(tenant, {}, { enabled: false });
    const since = Date.now() - 1_000;
    await publishMany(tenant, 5);
    // Deliveries that failed: created here as the engine leaves them.
    await env.DB.prepare(
      `INSERT INTO deliveries (webhook_id, event_id, event_type, status, attempt_count, last_status_code, created_at, updated_at, completed_at)
       SELECT ?1, id, event_type, 'failed', 6, 500, created_at, created_at, created_at FROM events WHERE tenant_id = ?2`,
    )
      .bind(wh.id, tenant)
      .run();
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    const webhook = await getVisibleWebhook(db(), wh.id, ALL);
    const services = createServices(env);

    const result = await recoverDeliveries(services, webhook, { since, until: Date.now() + 1 }, { chunkRows: 2 });
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
    expect(new Set((await recorded(wh.hookKey)).map((r) => r.headers["x-scaikey-webhook-id"])).size).toBe(got.length);
    expect(got).toHaveLength(5);
  });

  it("stops a recovery whose webhook is disabled meanwhile", async () => {
    const tenant = `tnt_chunkstop${uid()}`;
    const wh = await webhookAtReceiver(tenant, {}, { enabled: false });
    const since = Date.now() - 1_000;
    await publishMany(tenant, 3);
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true } });
    const webhook = await getVisibleWebhook(db(), wh.id, ALL);
    const services = createServices(env);
    await replayEvents(services, webhook, { since, until: Date.now() + 1 }, ["user.created"], { chunkRows: 1 });
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: false } });
    expect(await continueRecoveries(services, { chunkRows: 1 })).toMatchObject({ open: 0 });
    expect(await openJobs(wh.id)).toBe(0);
    expect(
      await env.DB.prepare("SELECT count(*) AS n FROM deliveries WHERE webhook_id = ?").bind(wh.id).first<number>("n"),
    ).toBe(1);
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
