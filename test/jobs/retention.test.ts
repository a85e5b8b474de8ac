// The storage cron: everything past RETENTION_DAYS goes (deliveries, attempts, events, archived objects), never what the
// rollup has not counted or a delivery still active; finished deliveries past the hot window move to the archive (R2)
// and the deliveries API reads them back.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { publishEvent } from "../../src/domain/publish";
import worker from "../../src/index";
import { runRetention } from "../../src/jobs/retention";
import { rollUpStats } from "../../src/jobs/stats-rollup";
import { createServices } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { seedDelivery } from "../helpers/deliveries";
import { tenantAdmin } from "../helpers/tokens";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const services = (now = Date.now(), config: Partial<ReturnType<typeof createServices>["config"]> = {}) => {
  const base = createServices(env);
  return { ...base, now: () => now, config: { ...base.config, ...config } };
};
const withoutArchive = (now = Date.now(), config = {}) => ({ ...services(now, config), archive: null });

async function endpoint(tenant: string) {
  const token = await tenantAdmin(tenant);
  return { ...(await createWebhook(token, { events: ["*"] })), token };
}

/** `count` deliveries created at `at` (1 ms apart), each with one attempt then, in `status`. Returns the delivery ids. */
async function seedOld(
  webhookId: string,
  tenant: string,
  at: number,
  count: number,
  status = "success",
): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = await seedDelivery(webhookId, tenant, at + i);
    ids.push(id);
    const active = status === "pending" || status === "retrying";
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt_number, started_at, duration_ms, success) VALUES (?, ?, 1, ?, 10, ?)",
      ).bind(id, webhookId, at + i, status === "success" ? 1 : 0),
      env.DB.prepare(
        "UPDATE deliveries SET status = ?, attempt_count = 1, next_attempt_at = ?, completed_at = ? WHERE id = ?",
      ).bind(status, active ? Date.now() + HOUR : null, active ? null : at + i + 10, id),
    ]);
  }
  return ids;
}

const count = async (sql: string, ...params: unknown[]) =>
  (await env.DB.prepare(sql)
    .bind(...params)
    .first<{ n: number }>())!.n;
const deliveriesOf = (webhookId: string) =>
  count("SELECT count(*) AS n FROM deliveries WHERE webhook_id = ?", webhookId);
const attemptsOf = (webhookId: string) =>
  count("SELECT count(*) AS n FROM delivery_attempts WHERE webhook_id = ?", webhookId);
const eventsOf = (tenant: string) => count("SELECT count(*) AS n FROM events WHERE tenant_id = ?", tenant);
const rolledUp = (webhookId: string) =>
  count("SELECT coalesce(sum(attempts), 0) AS n FROM webhook_stats_hourly WHERE webhook_id = ?", webhookId);

// Deliveries are kept in id order, which follows creation time in production; these tests seed old rows after newer
// ones, so each starts from an empty delivery log.
beforeEach(async () => {
  await env.DB.batch([
    env.DB.prepare("DELETE FROM delivery_attempts"),
    env.DB.prepare("DELETE FROM deliveries"),
    env.DB.prepare("DELETE FROM events"),
  ]);
});

describe("retention", () => {
  it("deletes deliveries, attempts and events past RETENTION_DAYS, keeps newer ones, and the stats stay whole", async () => {
    const tenant = "tnt_ret";
    const wh = await endpoint(tenant);
    const now = Date.now();
    const old = await seedOld(wh.id, tenant, now - 40 * DAY, 25);
    const recent = await seedOld(wh.id, tenant, now - 29 * DAY, 5);
    await rollUpStats(services(now));

    const result = await runRetention(withoutArchive(now), { chunkRows: 10 });
    expect(result).toMatchObject({ deliveriesDeleted: 25, attemptsDeleted: 25, eventsDeleted: 25, complete: true });
    expect(await deliveriesOf(wh.id)).toBe(5);
    expect(await attemptsOf(wh.id)).toBe(5);
    expect(await eventsOf(tenant)).toBe(5);
    expect(await runRetention(withoutArchive(now))).toMatchObject({
      deliveriesDeleted: 0,
      eventsDeleted: 0,
      complete: true,
    });

    const gone = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${old[0]}`, { token: wh.token });
    expect(gone.status).toBe(404);
    const kept = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${recent[0]}`, { token: wh.token });
    expect(kept.body.payload).toMatchObject({ event_type: "user.created" });
    expect(kept.body.attempts).toHaveLength(1);
    // The rollups hold what was deleted.
    expect(await rolledUp(wh.id)).toBe(30);
  });

  it("stops at its time box and resumes from its cursor", async () => {
    const tenant = "tnt_ret_box";
    const wh = await endpoint(tenant);
    const now = Date.now();
    await seedOld(wh.id, tenant, now - 35 * DAY, 6);
    await rollUpStats(services(now));
    expect(await runRetention(withoutArchive(now), { budgetMs: 0 })).toMatchObject({
      deliveriesDeleted: 0,
      complete: false,
    });
    expect(await deliveriesOf(wh.id)).toBe(6);
    expect(await runRetention(withoutArchive(now), { chunkRows: 4 })).toMatchObject({
      deliveriesDeleted: 6,
      complete: true,
    });
    const cursor = await count("SELECT value AS n FROM job_cursors WHERE name = 'retention'");
    expect(cursor).toBeGreaterThan(0);
  });

  it("never deletes what the rollup has not counted, nor a delivery still pending or retrying, nor its event", async () => {
    const tenant = "tnt_ret_keep";
    const wh = await endpoint(tenant);
    const now = Date.now();
    await rollUpStats(services(now));
    const [retrying] = await seedOld(wh.id, tenant, now - 45 * DAY, 1, "retrying");
    const unrolled = await seedOld(wh.id, tenant, now - 44 * DAY, 2);
    expect(await runRetention(withoutArchive(now))).toMatchObject({ deliveriesDeleted: 0, eventsDeleted: 0 });
    expect(await deliveriesOf(wh.id)).toBe(3);

    // Counted now; the active delivery still holds the line (history keeps its order), and keeps its event.
    await rollUpStats(services(now));
    await runRetention(withoutArchive(now));
    expect(await deliveriesOf(wh.id)).toBe(3);
    await env.DB.prepare("UPDATE deliveries SET status = 'failed', next_attempt_at = NULL WHERE id = ?")
      .bind(retrying)
      .run();
    await runRetention(withoutArchive(now));
    expect(await deliveriesOf(wh.id)).toBe(0);
    expect(await eventsOf(tenant)).toBe(0);
    expect(await rolledUp(wh.id)).toBe(3);
    expect(unrolled).toHaveLength(2);
  });

  it("keeps publish idempotent within the window: the event row outlives its archived deliveries", async () => {
    const tenant = "tnt_ret_idem";
    const wh = await endpoint(tenant);
    const s = createServices(env);
    const input = {
      event_id: "evt_volume_idempotent_1",
      event_type: "user.created",
      tenant_id: tenant,
      resource: { type: "user", id: "usr_1" },
      data: {},
    };
    const first = await publishEvent({ ...s, now: () => Date.now() - 5 * DAY }, input);
    expect(first).toMatchObject({ deliveries: 1, duplicate: false });
    await env.DB.prepare(
      "UPDATE deliveries SET status = 'success', in_queue = 0, completed_at = created_at WHERE webhook_id = ?",
    )
      .bind(wh.id)
      .run();
    await rollUpStats(services());
    const archived = await runRetention(services());
    expect(archived.deliveriesArchived).toBeGreaterThanOrEqual(1);
    expect(await deliveriesOf(wh.id)).toBe(0);
    expect(await publishEvent(s, input)).toMatchObject({ deliveries: 0, duplicate: true });
  });

  it("deletes rollups older than STATS_RETENTION_DAYS", async () => {
    const wh = await endpoint("tnt_ret_stats");
    const now = Date.now();
    const hour = (daysAgo: number, i: number) => Math.floor((now - daysAgo * DAY) / HOUR) * HOUR - i * HOUR;
    const insert = (at: number) =>
      env.DB.prepare(
        "INSERT INTO webhook_stats_hourly (webhook_id, hour_start, attempts, latency_histogram) VALUES (?, ?, 1, '[]')",
      ).bind(wh.id, at);
    await env.DB.batch([
      ...Array.from({ length: 7 }, (_, i) => insert(hour(401, i))),
      ...Array.from({ length: 3 }, (_, i) => insert(hour(399, i))),
    ]);
    const result = await runRetention(services(now, { statsRetentionDays: 400 }), { chunkRows: 3 });
    expect(result).toMatchObject({ statsDeleted: 7, complete: true });
    const { results } = await env.DB.prepare("SELECT hour_start FROM webhook_stats_hourly WHERE webhook_id = ?")
      .bind(wh.id)
      .all<{ hour_start: number }>();
    expect(results.map((r) => r.hour_start).sort()).toEqual([0, 1, 2].map((i) => hour(399, i)).sort());
  });

  it("runs from its cron through the scheduled handler", async () => {
    const tenant = "tnt_ret_cron";
    const wh = await endpoint(tenant);
    await seedOld(wh.id, tenant, Date.now() - 60 * DAY, 2);
    await rollUpStats(services());
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/3 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await deliveriesOf(wh.id)).toBe(0);
    expect(await attemptsOf(wh.id)).toBe(0);
  });
});

describe("the archive", () => {
  it("keeps a payload byte for byte: the detail shows its numbers as delivered, before and after archiving", async () => {
    const tenant = "tnt_archive_exact";
    const wh = await endpoint(tenant);
    const now = Date.now();
    const [id] = await seedOld(wh.id, tenant, now - 5 * DAY, 1);
    const payload =
      '{"actor":{"id":null,"type":"system"},"data":{"10":"ten","9":"nine","big":12345678901234567890,' +
      '"e":1e+21,"f":1.0,"neg0":-0.0,"s":"caf\\u00e9"},"event_id":"evt_archive_exact","event_type":"user.created",' +
      '"resource":{"id":"usr_1","type":"user"},"tenant_id":"tnt_archive_exact","timestamp":"2026-01-01T00:00:00.000Z"}';
    await env.DB.prepare("UPDATE events SET payload = ? WHERE id = (SELECT event_id FROM deliveries WHERE id = ?)")
      .bind(payload, id)
      .run();
    const detailText = async () =>
      (
        await exports.default.fetch(
          new Request(`https://webhooks.test${WEBHOOKS}/${wh.id}/deliveries/${id}`, {
            headers: { authorization: `Bearer ${wh.token}` },
          }),
        )
      ).text();
    const before = await detailText();
    expect(before).toContain(`"payload":${payload},"attempts":[`);
    await rollUpStats(services(now));
    expect((await runRetention(services(now))).deliveriesArchived).toBeGreaterThanOrEqual(1);
    expect(await deliveriesOf(wh.id)).toBe(0);
    expect(await detailText()).toBe(before);
  });

  it("moves finished deliveries past the hot window to R2; the deliveries API lists and gets them as before", async () => {
    const tenant = "tnt_archive";
    const wh = await endpoint(tenant);
    const now = Date.now();
    const oldHour = Math.floor((now - 5 * DAY) / HOUR) * HOUR;
    const older = await seedOld(wh.id, tenant, oldHour - HOUR, 3, "failed"); // the hour before
    const old = await seedOld(wh.id, tenant, oldHour, 4);
    const recent = await seedOld(wh.id, tenant, now - HOUR, 2);
    await rollUpStats(services(now));
    const before = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${old[1]}`, { token: wh.token });
    const statsBefore = await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=7d`, { token: wh.token });
    expect(statsBefore.body.deliveries).toMatchObject({ total: 9, success: 6, failed: 3 });
    const listBefore = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?per_page=4`, { token: wh.token });

    const result = await runRetention(services(now));
    expect(result).toMatchObject({ deliveriesArchived: 7, attemptsArchived: 7, complete: true });
    expect(result.archiveObjectsWritten).toBeGreaterThanOrEqual(2); // one per endpoint and hour (other tests' endpoints too)
    expect(await deliveriesOf(wh.id)).toBe(2);
    expect(await attemptsOf(wh.id)).toBe(2);
    const keys = (await env.ARCHIVE.list({ prefix: `deliveries/${wh.id}/` })).objects.map((o) => o.key);
    expect(keys).toHaveLength(2);
    // The event rows stay (idempotent publish), their payloads are released.
    expect(await count("SELECT count(*) AS n FROM events WHERE tenant_id = ? AND payload = ''", tenant)).toBe(7);

    // Read back: the same detail, the same pages, the same totals, newest first across D1 and the archive.
    const after = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${old[1]}`, { token: wh.token });
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before.body);
    // The stats count archived deliveries too.
    expect((await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=7d`, { token: wh.token })).body).toEqual(
      statsBefore.body,
    );
    const listAfter = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?per_page=4`, { token: wh.token });
    expect(listAfter.body).toEqual(listBefore.body);
    expect(listAfter.body.total).toBe(9);
    const ids = [];
    for (let page = 1; page <= 3; page++) {
      const res = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?per_page=4&page=${page}`, { token: wh.token });
      ids.push(...res.body.items.map((d: { id: number }) => d.id));
    }
    expect(ids).toEqual([...recent, ...old, ...older].sort((a, b) => b - a));
    const failed = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?status=failed&per_page=2&page=2`, {
      token: wh.token,
    });
    expect(failed.body).toMatchObject({ total: 3, pages: 2 });
    expect(failed.body.items.map((d: { id: number }) => d.id)).toEqual([older[0]]);

    // History is not retried; another endpoint's id is not found here.
    const retry = await api("POST", `${WEBHOOKS}/${wh.id}/deliveries/${older[0]}/retry`, { token: wh.token });
    expect(retry.status).toBe(409);
    const other = await endpoint("tnt_archive_other");
    expect((await api("GET", `${WEBHOOKS}/${other.id}/deliveries/${old[1]}`, { token: other.token })).status).toBe(404);

    // Past RETENTION_DAYS the objects and their index go.
    const later = now + 40 * DAY;
    const expired = await runRetention(services(later, {}), { chunkRows: 1 });
    expect(expired.archiveObjectsDeleted).toBeGreaterThanOrEqual(2);
    expect((await env.ARCHIVE.list({ prefix: `deliveries/${wh.id}/` })).objects).toHaveLength(0);
    expect(await count("SELECT count(*) AS n FROM delivery_archives WHERE webhook_id = ?", wh.id)).toBe(0);
  });

  it("stops at a delivery still active and at attempts not rolled up", async () => {
    const tenant = "tnt_archive_stop";
    const wh = await endpoint(tenant);
    const now = Date.now();
    await rollUpStats(services(now));
    const [active] = await seedOld(wh.id, tenant, now - 3 * DAY, 1, "retrying");
    await seedOld(wh.id, tenant, now - 3 * DAY + 10, 2);
    await rollUpStats(services(now));
    expect((await runRetention(services(now))).deliveriesArchived).toBe(0);
    await env.DB.prepare("UPDATE deliveries SET status = 'success', next_attempt_at = NULL WHERE id = ?")
      .bind(active)
      .run();
    await seedOld(wh.id, tenant, now - 3 * DAY + 20, 1); // not rolled up yet
    expect((await runRetention(services(now))).deliveriesArchived).toBe(3);
    await rollUpStats(services(now));
    expect((await runRetention(services(now))).deliveriesArchived).toBe(1);
    expect(await deliveriesOf(wh.id)).toBe(0);
  });
});
