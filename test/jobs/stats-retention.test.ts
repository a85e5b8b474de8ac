// The daily retention cron: old attempts and payloads go in bounded chunks, never attempts the rollup has not counted;
// old rollups go after STATS_RETENTION_DAYS.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { runRetention } from "../../src/jobs/retention";
import { rollUpStats } from "../../src/jobs/stats-rollup";
import { createServices } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { db, seedDelivery } from "../helpers/deliveries";
import { readStatsCursor } from "../helpers/stats";
import { tenantAdmin } from "../helpers/tokens";

const DAY = 24 * 3_600_000;
const services = (now = Date.now()) => ({ ...createServices(env), now: () => now });

async function endpoint(tenant: string) {
  const token = await tenantAdmin(tenant);
  return { ...(await createWebhook(token, { events: ["*"] })), token };
}

/** `count` deliveries created at `at`, each with one attempt then, in `status`. Returns the delivery ids. */
async function seedOld(webhookId: string, tenant: string, at: number, count: number, status = "success"): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = await seedDelivery(webhookId, tenant, at + i);
    ids.push(id);
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt_number, started_at, duration_ms, success) VALUES (?, ?, 1, ?, 10, ?)",
      ).bind(id, webhookId, at + i, status === "success" ? 1 : 0),
      env.DB.prepare("UPDATE deliveries SET status = ?, attempt_count = 1 WHERE id = ?").bind(status, id),
    ]);
  }
  return ids;
}

const attemptsOf = async (webhookId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM delivery_attempts WHERE webhook_id = ?").bind(webhookId).first<{ n: number }>())!.n;
const purgedPayloads = async (webhookId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM events e JOIN deliveries d ON d.event_id = e.id WHERE d.webhook_id = ? AND e.payload = ''")
    .bind(webhookId)
    .first<{ n: number }>())!.n;

describe("retention", () => {
  it("purges attempts and payloads older than RETENTION_DAYS in chunks, keeps newer ones and delivery records", async () => {
    const tenant = "tnt_ret";
    const wh = await endpoint(tenant);
    const now = Date.now();
    const old = await seedOld(wh.id, tenant, now - 40 * DAY, 25);
    const recent = await seedOld(wh.id, tenant, now - 29 * DAY, 5);
    await rollUpStats(services(now));

    // Chunks of 10, at most 2 per kind per run: 20 rows, then the remaining 5.
    const first = await runRetention(services(now), { chunkRows: 10, maxChunks: 2 });
    expect(first).toMatchObject({ attemptsDeleted: 20, payloadsPurged: 20, complete: false });
    expect(await attemptsOf(wh.id)).toBe(30 - 20);
    const second = await runRetention(services(now), { chunkRows: 10, maxChunks: 2 });
    expect(second).toMatchObject({ attemptsDeleted: 5, payloadsPurged: 5, complete: true });
    expect(await attemptsOf(wh.id)).toBe(5);
    expect(await purgedPayloads(wh.id)).toBe(25);
    expect(await runRetention(services(now))).toMatchObject({ attemptsDeleted: 0, payloadsPurged: 0, complete: true });

    // The delivery records stay; a purged one shows no payload and no attempts, a recent one is whole.
    const purged = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${old[0]}`, { token: wh.token });
    expect(purged.status).toBe(200);
    expect(purged.body).toMatchObject({ id: old[0], status: "success", payload: null, attempts: [] });
    const kept = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${recent[0]}`, { token: wh.token });
    expect(kept.body.payload).toMatchObject({ event_type: "user.created" });
    expect(kept.body.attempts).toHaveLength(1);
    // The stats still count what was purged: the rollups hold it.
    const stats = await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=30d`, { token: wh.token });
    expect(stats.body.attempts).toBe(5);
    const { n: rolled } = (await env.DB.prepare("SELECT sum(attempts) AS n FROM webhook_stats_hourly WHERE webhook_id = ?").bind(wh.id).first<{ n: number }>())!;
    expect(rolled).toBe(30);
  });

  it("never purges attempts the rollup has not counted yet", async () => {
    const tenant = "tnt_ret_unrolled";
    const wh = await endpoint(tenant);
    const now = Date.now();
    await rollUpStats(services(now));
    await seedOld(wh.id, tenant, now - 45 * DAY, 4);
    const cursor = await readStatsCursor(db());
    expect((await runRetention(services(now))).attemptsDeleted).toBe(0);
    expect(await attemptsOf(wh.id)).toBe(4);
    // Payloads do not feed the stats: they go.
    expect(await purgedPayloads(wh.id)).toBe(4);

    // Rolled up now (a bounded run takes two of them): only those can go.
    await rollUpStats(services(now), { batchSize: 2, maxBatches: 1 });
    expect(await readStatsCursor(db())).toBeGreaterThan(cursor);
    expect((await runRetention(services(now))).attemptsDeleted).toBe(2);
    await rollUpStats(services(now));
    expect((await runRetention(services(now))).attemptsDeleted).toBe(2);
    const { n } = (await env.DB.prepare("SELECT sum(attempts) AS n FROM webhook_stats_hourly WHERE webhook_id = ?").bind(wh.id).first<{ n: number }>())!;
    expect(n).toBe(4);
  });

  it("keeps the payload of an event with a delivery still pending or retrying", async () => {
    const tenant = "tnt_ret_active";
    const wh = await endpoint(tenant);
    const now = Date.now();
    const [active] = await seedOld(wh.id, tenant, now - 31 * DAY, 1, "retrying");
    const [done] = await seedOld(wh.id, tenant, now - 31 * DAY, 1, "failed");
    await rollUpStats(services(now));
    await runRetention(services(now));
    const payloadOf = async (id: number) =>
      (await env.DB.prepare("SELECT e.payload FROM events e JOIN deliveries d ON d.event_id = e.id WHERE d.id = ?").bind(id).first<{ payload: string }>())!.payload;
    expect(await payloadOf(active!)).not.toBe("");
    expect(await payloadOf(done!)).toBe("");
  });

  it("deletes rollups older than STATS_RETENTION_DAYS, in chunks", async () => {
    const wh = await endpoint("tnt_ret_stats");
    const now = Date.now();
    const hour = (daysAgo: number, i: number) => Math.floor((now - daysAgo * DAY) / 3_600_000) * 3_600_000 - i * 3_600_000;
    const insert = (at: number) =>
      env.DB.prepare("INSERT INTO webhook_stats_hourly (webhook_id, hour_start, attempts, latency_histogram) VALUES (?, ?, 1, '[]')").bind(wh.id, at);
    await env.DB.batch([...Array.from({ length: 7 }, (_, i) => insert(hour(401, i))), ...Array.from({ length: 3 }, (_, i) => insert(hour(399, i)))]);
    const result = await runRetention({ ...services(now), config: { ...createServices(env).config, statsRetentionDays: 400 } }, { chunkRows: 3, maxChunks: 10 });
    expect(result).toMatchObject({ statsDeleted: 7, complete: true });
    const { results } = await env.DB.prepare("SELECT hour_start FROM webhook_stats_hourly WHERE webhook_id = ?").bind(wh.id).all<{ hour_start: number }>();
    expect(results.map((r) => r.hour_start).sort()).toEqual([0, 1, 2].map((i) => hour(399, i)).sort());
  });

  it("honours RETENTION_DAYS from the config", async () => {
    const tenant = "tnt_ret_days";
    const wh = await endpoint(tenant);
    const now = Date.now();
    await seedOld(wh.id, tenant, now - 8 * DAY, 3);
    await rollUpStats(services(now));
    const config = { ...createServices(env).config, retentionDays: 10 };
    await runRetention({ ...services(now), config });
    expect(await attemptsOf(wh.id)).toBe(3);
    await runRetention({ ...services(now), config: { ...config, retentionDays: 7 } });
    expect(await attemptsOf(wh.id)).toBe(0);
  });

  it("runs from the daily cron through the scheduled handler", async () => {
    const tenant = "tnt_ret_cron";
    const wh = await endpoint(tenant);
    await seedOld(wh.id, tenant, Date.now() - 60 * DAY, 2);
    await rollUpStats(services());
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "17 3 * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await attemptsOf(wh.id)).toBe(0);
    expect(await purgedPayloads(wh.id)).toBe(2);
  });
});
