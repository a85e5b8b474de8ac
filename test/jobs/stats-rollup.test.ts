// The stats rollup cron: hourly buckets per endpoint, incremental, idempotent under repetition and concurrency, bounded.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { rollUpTo } from "../../src/domain/stats/rollup";
import worker from "../../src/index";
import { ROLLUP_FIRST_BATCH, rollUpStats } from "../../src/jobs/stats-rollup";
import { createServices } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { db, seedDelivery } from "../helpers/deliveries";
import { readStatsCursor } from "../helpers/stats";
import { tenantAdmin } from "../helpers/tokens";

const HOUR = 3_600_000;
const services = () => createServices(env);
const rollUp = (opts: Parameters<typeof rollUpStats>[1] = {}) => rollUpStats(services(), opts);

interface SeedAttempt {
  at: number;
  ms: number;
  ok?: boolean;
  cls?: string | null;
  code?: number | null;
}

/** A delivery of `webhookId` with these attempts (numbered 1..n) and this final status, straight into D1. */
async function seedAttempts(
  webhookId: string,
  tenant: string,
  status: string,
  attempts: SeedAttempt[],
): Promise<number> {
  const id = await seedDelivery(webhookId, tenant, attempts[0]?.at ?? Date.now());
  await env.DB.batch([
    ...attempts.map((a, i) =>
      env.DB.prepare(
        `INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt_number, started_at, duration_ms, success, status_code, error_class)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).bind(
        id,
        webhookId,
        i + 1,
        a.at,
        a.ms,
        a.ok ? 1 : 0,
        a.code ?? (a.ok ? 200 : null),
        a.ok ? null : (a.cls ?? null),
      ),
    ),
    env.DB.prepare("UPDATE deliveries SET status = ?, attempt_count = ? WHERE id = ?").bind(
      status,
      attempts.length,
      id,
    ),
  ]);
  return id;
}

async function statsRows(webhookId: string) {
  const { results } = await env.DB.prepare(
    "SELECT * FROM webhook_stats_hourly WHERE webhook_id = ? ORDER BY hour_start",
  )
    .bind(webhookId)
    .all<Record<string, any>>();
  return results.map(
    (r): Record<string, any> => ({ ...r, latency_histogram: JSON.parse(r.latency_histogram) as number[] }),
  );
}

const maxAttemptId = async () =>
  (await env.DB.prepare("SELECT coalesce(max(id), 0) AS id FROM delivery_attempts").first<{ id: number }>())!.id;

async function endpoint(tenant: string) {
  const token = await tenantAdmin(tenant);
  return { ...(await createWebhook(token, { events: ["*"] })), token };
}

/** Histogram with `counts` at the given bucket indexes (23 buckets). */
const histogram = (counts: Record<number, number>) => Array.from({ length: 23 }, (_, i) => counts[i] ?? 0);

describe("stats rollup", () => {
  it("rolls attempts up into hourly buckets: counts, failure classes, ended deliveries, latency and histogram", async () => {
    const wh = await endpoint("tnt_roll");
    const other = await endpoint("tnt_roll_other");
    const h0 = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR;
    // Hour h0: a delivery that failed twice then succeeded; one that ran out of attempts; one still retrying.
    await seedAttempts(wh.id, "tnt_roll", "success", [
      { at: h0 + 1000, ms: 3, cls: "timeout" },
      { at: h0 + 2000, ms: 12, cls: "connection_refused" },
      { at: h0 + 3000, ms: 48, ok: true },
    ]);
    await seedAttempts(wh.id, "tnt_roll", "failed", [
      { at: h0 + 4000, ms: 120, cls: "dns" },
      { at: h0 + 5000, ms: 30_000, cls: "http_4xx", code: 429 },
    ]);
    await seedAttempts(wh.id, "tnt_roll", "retrying", [{ at: h0 + 6000, ms: 999, cls: "http_5xx", code: 503 }]);
    // Hour h0+2: every remaining class, and an unclassified failure.
    for (const cls of ["tls", "network", "redirect", "invalid_response", "blocked_target", null]) {
      await seedAttempts(wh.id, "tnt_roll", "retrying", [{ at: h0 + 2 * HOUR + 59 * 60_000, ms: 7, cls }]);
    }
    await seedAttempts(other.id, "tnt_roll_other", "success", [{ at: h0 + 10, ms: 1, ok: true }]);

    const result = await rollUp();
    expect(result).toMatchObject({ caughtUp: true, cursor: await maxAttemptId() });
    expect(await statsRows(wh.id)).toEqual([
      {
        webhook_id: wh.id,
        hour_start: h0,
        attempts: 6,
        successes: 1,
        failures_timeout: 1,
        failures_connection: 2,
        failures_4xx: 1,
        failures_5xx: 1,
        failures_other: 0,
        deliveries_succeeded: 1,
        deliveries_failed: 1,
        latency_sum_ms: 3 + 12 + 48 + 120 + 30_000 + 999,
        latency_min_ms: 3,
        latency_max_ms: 30_000,
        // 3 → [0,5), 12 → [10,25), 48 → [25,50), 120 → [100,150), 999 → [750,1000), 30000 → [30000, ∞)
        latency_histogram: histogram({ 0: 1, 2: 1, 3: 1, 6: 1, 12: 1, 22: 1 }),
      },
      {
        webhook_id: wh.id,
        hour_start: h0 + 2 * HOUR,
        attempts: 6,
        successes: 0,
        failures_timeout: 0,
        failures_connection: 2,
        failures_4xx: 0,
        failures_5xx: 0,
        failures_other: 4,
        deliveries_succeeded: 0,
        deliveries_failed: 0,
        latency_sum_ms: 42,
        latency_min_ms: 7,
        latency_max_ms: 7,
        latency_histogram: histogram({ 1: 6 }),
      },
    ]);
    expect((await statsRows(other.id)).map((r) => [r.hour_start, r.attempts, r.successes])).toEqual([[h0, 1, 1]]);
  });

  it("is incremental: a later run merges new attempts into existing buckets (counts add, min/max and histograms combine)", async () => {
    const wh = await endpoint("tnt_incr");
    const h = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    await seedAttempts(wh.id, "tnt_incr", "success", [{ at: h + 1, ms: 40, ok: true }]);
    await rollUp();
    const [before] = await statsRows(wh.id);
    expect(before).toMatchObject({
      attempts: 1,
      latency_min_ms: 40,
      latency_max_ms: 40,
      latency_histogram: histogram({ 3: 1 }),
    });

    await seedAttempts(wh.id, "tnt_incr", "success", [{ at: h + 2, ms: 2, ok: true }]);
    await seedAttempts(wh.id, "tnt_incr", "failed", [{ at: h + 3, ms: 400, cls: "http_5xx" }]);
    const second = await rollUp();
    expect(second.attempts).toBe(2);
    expect(await statsRows(wh.id)).toEqual([
      {
        ...before,
        attempts: 3,
        successes: 2,
        failures_5xx: 1,
        deliveries_succeeded: 2,
        deliveries_failed: 1,
        latency_sum_ms: 442,
        latency_min_ms: 2,
        latency_max_ms: 400,
        latency_histogram: histogram({ 0: 1, 3: 1, 10: 1 }),
      },
    ]);
    // Nothing new: nothing changes.
    expect(await rollUp()).toMatchObject({ attempts: 0, batches: 0, caughtUp: true });
  });

  it("counts nothing twice: run again, two runs at once, or a step replayed with a stale bound", async () => {
    const wh = await endpoint("tnt_idem_roll");
    const h = Math.floor(Date.now() / HOUR) * HOUR;
    for (let i = 0; i < 30; i++) {
      await seedAttempts(wh.id, "tnt_idem_roll", i % 3 ? "success" : "retrying", [
        { at: h + i, ms: 10 * i, ok: i % 3 !== 0, cls: "timeout" },
      ]);
    }
    const attemptsBefore = await readStatsCursor(db());
    const [a, b] = await Promise.all([rollUp({ firstBatch: 7, maxBatch: 7 }), rollUp({ firstBatch: 7, maxBatch: 7 })]);
    const cursor = await maxAttemptId();
    expect(a.caughtUp && b.caughtUp).toBe(true);
    expect(a.attempts + b.attempts).toBe(cursor - attemptsBefore);
    const [row] = await statsRows(wh.id);
    expect(row).toMatchObject({ attempts: 30, successes: 20, failures_timeout: 10 });
    expect(row!.latency_histogram.reduce((s: number, n: number) => s + n, 0)).toBe(30);

    // Again, and again concurrently: nothing new.
    expect(await rollUp()).toMatchObject({ attempts: 0 });
    await Promise.all([rollUp(), rollUp(), rollUp()]);
    // A run that read the cursor long ago and only now writes its step: the step finds its range already done.
    expect(await rollUpTo(db(), cursor, Date.now())).toBe(0);
    await Promise.all([rollUpTo(db(), cursor, Date.now()), rollUpTo(db(), cursor - 5, Date.now())]);
    expect(await readStatsCursor(db())).toBe(cursor);
    expect((await statsRows(wh.id))[0]).toEqual(row);
  });

  it("two steps racing over overlapping ranges split them without overlap", async () => {
    const wh = await endpoint("tnt_race_roll");
    await rollUp();
    const start = await readStatsCursor(db());
    const h = Math.floor(Date.now() / HOUR) * HOUR;
    for (let i = 0; i < 10; i++)
      await seedAttempts(wh.id, "tnt_race_roll", "success", [{ at: h + i, ms: 1, ok: true }]);
    const end = await maxAttemptId();
    const counted = await Promise.all([
      rollUpTo(db(), end - 4, Date.now()),
      rollUpTo(db(), end, Date.now()),
      rollUpTo(db(), end - 7, Date.now()),
    ]);
    expect(counted.reduce((s, n) => s + n, 0)).toBe(end - start);
    expect((await statsRows(wh.id))[0]).toMatchObject({ attempts: 10, successes: 10 });
    expect(await readStatsCursor(db())).toBe(end);
  });

  it("is time-boxed: a run stops at its budget, the next one continues from the cursor", async () => {
    const wh = await endpoint("tnt_bound");
    await rollUp();
    const start = await readStatsCursor(db());
    const h = Math.floor(Date.now() / HOUR) * HOUR;
    for (let i = 0; i < 25; i++) await seedAttempts(wh.id, "tnt_bound", "success", [{ at: h + i, ms: 1, ok: true }]);
    const ids = (
      await env.DB.prepare("SELECT id FROM delivery_attempts WHERE id > ? ORDER BY id")
        .bind(start)
        .all<{ id: number }>()
    ).results.map((r) => r.id);
    expect(ids).toHaveLength(25);

    expect(await rollUp({ budgetMs: 0 })).toEqual({ attempts: 0, batches: 0, cursor: start, caughtUp: false });
    expect(await statsRows(wh.id)).toHaveLength(0);
    expect(await rollUp({ firstBatch: 10 })).toEqual({ attempts: 25, batches: 2, cursor: ids[24], caughtUp: true });
    expect((await statsRows(wh.id))[0]!.attempts).toBe(25);
  });

  it("adapts its batches: they grow while D1 answers quickly, up to the maximum", async () => {
    const wh = await endpoint("tnt_bound_default");
    await rollUp();
    const start = await readStatsCursor(db());
    const total = ROLLUP_FIRST_BATCH * 7 + 123; // 1 + 2 + 4 first batches, then the rest
    const deliveryId = await seedDelivery(wh.id, "tnt_bound_default");
    const h = Math.floor(Date.now() / HOUR) * HOUR;
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?4)
       INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt_number, started_at, duration_ms, success)
       SELECT ?1, ?2, i, ?3 + i, i % 100, 1 FROM n`,
    )
      .bind(deliveryId, wh.id, h, total)
      .run();
    const run = await rollUp({ maxBatch: ROLLUP_FIRST_BATCH * 4 });
    expect(run).toMatchObject({ attempts: total, caughtUp: true });
    expect(run.cursor - start).toBe(total); // ids are consecutive here
    // A fixed batch would take 8; growing ones (1, 2, 4, 4 thousand) take 4, or more if D1 was slow.
    expect(run.batches).toBeGreaterThanOrEqual(4);
    expect(run.batches).toBeLessThan(8);
    const rows = await statsRows(wh.id);
    expect(rows.reduce((s, r) => s + r.attempts, 0)).toBe(total);
  });

  it("deleting an endpoint removes its stats, and a later rollup does not bring them back", async () => {
    const wh = await endpoint("tnt_del_stats");
    const h = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    await seedAttempts(wh.id, "tnt_del_stats", "success", [{ at: h, ms: 5, ok: true }]);
    await rollUp();
    expect(await statsRows(wh.id)).toHaveLength(1);
    // Attempts recorded but not yet rolled up when the endpoint goes (e.g. one in flight during the delete).
    await seedAttempts(wh.id, "tnt_del_stats", "success", [{ at: h + HOUR, ms: 5, ok: true }]);
    expect((await api("DELETE", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).status).toBe(204);
    expect(await statsRows(wh.id)).toEqual([]);
    await seedAttempts(wh.id, "tnt_del_stats", "success", [{ at: h + 2 * HOUR, ms: 5, ok: true }]);
    const run = await rollUp();
    expect(run).toMatchObject({ caughtUp: true, cursor: await maxAttemptId() });
    expect(await statsRows(wh.id)).toEqual([]);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}/stats`, { token: wh.token })).status).toBe(404);
  });

  it("runs from the */5 cron through the scheduled handler", async () => {
    const wh = await endpoint("tnt_cron_roll");
    await seedAttempts(wh.id, "tnt_cron_roll", "success", [{ at: Date.now() - 1000, ms: 5, ok: true }]);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await readStatsCursor(db())).toBe(await maxAttemptId());
    expect((await statsRows(wh.id))[0]).toMatchObject({ attempts: 1, successes: 1 });
  });
});
