// The stats are written with the attempts they count (domain/stats/record.ts): per webhook, hour and UTC day, in the
// batch that records the attempts, under the same guard. So they are exact against the recorded attempts at once: a
// batch run twice or retried counts once, one that fails counts nothing, a duplicate message or a second consumer
// counts nothing more, a deleted webhook's stats go with it. The 1 h and 24 h windows read the hourly rows (kept 26 h),
// the 7 d and 30 d windows the daily rows (kept STATS_RETENTION_DAYS).
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../src/db/client";
import type { AttemptRecord } from "../../src/db/schema";
import { claimDeliveries } from "../../src/domain/delivery/claim";
import { recordAttempts } from "../../src/domain/delivery/record";
import type { SentAttempt } from "../../src/domain/delivery/send";
import type { DeliveryRef } from "../../src/domain/publish";
import { DELIVERY_QUEUE, handleDeliveryBatch } from "../../src/jobs/delivery-consumer";
import { createServices } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import { attemptRows, deliveryRow, messageOf, seedDelivery, webhookDeps } from "../helpers/deliveries";
import { storageAt } from "../helpers/history";
import { recorded } from "../helpers/receiver";
import { d1OfWebhook } from "../helpers/shards";
import { type AttemptSpec, recordHistory, statsRows } from "../helpers/stats";
import { tenantAdmin } from "../helpers/tokens";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const startOfDay = (ms: number) => Math.floor(ms / DAY) * DAY;

async function endpoint(tenant: string) {
  const token = await tenantAdmin(tenant);
  return { ...(await createWebhook(token, { events: ["*"] })), token };
}

/** Histogram with `counts` at the given bucket indexes (23 buckets). */
const histogram = (counts: Record<number, number>) => Array.from({ length: 23 }, (_, i) => counts[i] ?? 0);

// Written out again here, independently of src/domain/stats/.
const FAMILY: Record<string, string> = {
  timeout: "timeout",
  connection_refused: "connection",
  dns: "connection",
  tls: "connection",
  network: "connection",
  http_4xx: "4xx",
  http_5xx: "5xx",
};
const BOUNDS = [
  5, 10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000, 20_000,
  30_000,
];
const bucketOf = (ms: number) => {
  const i = BOUNDS.findIndex((bound) => ms < bound);
  return i === -1 ? BOUNDS.length : i;
};

/**
 * The stats rows `webhookId`'s recorded attempts add up to, by hour or day: from the attempts each delivery row holds.
 * An attempt ends its delivery as failed when it is the last of a failed delivery.
 */
async function statsOfRecordedAttempts(webhookId: string, bucketMs: number) {
  const { results } = await d1OfWebhook(webhookId)
    .prepare("SELECT status, attempt_count, attempts FROM deliveries_live WHERE webhook_id = ?")
    .bind(webhookId)
    .all<{ status: string; attempt_count: number; attempts: string }>();
  const rows = new Map<number, Record<string, any>>();
  for (const d of results)
    for (const a of JSON.parse(d.attempts) as AttemptRecord[]) {
      const start = Math.floor(a.started_at / bucketMs) * bucketMs;
      const row = rows.get(start) ?? {
        webhook_id: webhookId,
        [bucketMs === HOUR ? "hour_start" : "day_start"]: start,
        attempts: 0,
        successes: 0,
        failures_timeout: 0,
        failures_connection: 0,
        failures_4xx: 0,
        failures_5xx: 0,
        failures_other: 0,
        deliveries_succeeded: 0,
        deliveries_failed: 0,
        latency_sum_ms: 0,
        latency_min_ms: a.duration_ms,
        latency_max_ms: a.duration_ms,
        latency_histogram: histogram({}),
      };
      row.attempts++;
      if (a.success) row.successes++, row.deliveries_succeeded++;
      else row[`failures_${FAMILY[a.error_class ?? ""] ?? "other"}`]++;
      if (!a.success && d.status === "failed" && a.attempt === d.attempt_count) row.deliveries_failed++;
      row.latency_sum_ms += a.duration_ms;
      row.latency_min_ms = Math.min(row.latency_min_ms, a.duration_ms);
      row.latency_max_ms = Math.max(row.latency_max_ms, a.duration_ms);
      row.latency_histogram[bucketOf(a.duration_ms)]++;
      rows.set(start, row);
    }
  return [...rows.values()].sort((a, b) => (a.hour_start ?? a.day_start) - (b.hour_start ?? b.day_start));
}

async function expectExactAgainstAttempts(webhookId: string) {
  expect(await statsRows(webhookId, "webhook_stats_hourly")).toEqual(await statsOfRecordedAttempts(webhookId, HOUR));
  expect(await statsRows(webhookId, "webhook_stats_daily")).toEqual(await statsOfRecordedAttempts(webhookId, DAY));
}

describe("stats written with the attempts", () => {
  it("counts each attempt in its hour and its day: outcomes, failure classes, ended deliveries, latency, histogram", async () => {
    const wh = await endpoint("tnt_stats_rec");
    const other = await endpoint("tnt_stats_rec_other");
    // 22:00 two days ago, then 23:00 of that day, then midnight: the third hour is on the next UTC day.
    const a = startOfDay(Date.now()) - DAY - 2 * HOUR;
    const b = a + 2 * HOUR;
    const fails = (at: number, n: number, attempt: Omit<AttemptSpec, "at">) =>
      Array.from({ length: n }, (_, i) => ({ ...attempt, at: at + i * 1000 }));
    await recordHistory(wh.id, "tnt_stats_rec", [
      // Two failures, then a success.
      {
        createdAt: a,
        attempts: [
          { at: a + 1000, ms: 3, cls: "timeout" },
          { at: a + 2000, ms: 12, cls: "connection_refused" },
          { at: a + 3000, ms: 48, ok: true },
        ],
      },
      // Runs out of attempts (six: the schedule's five retries), the last ends it as failed.
      {
        createdAt: a + 1,
        attempts: [
          { at: a + 4000, ms: 120, cls: "dns" },
          ...fails(a + 5000, 5, { ms: 30_000, cls: "http_4xx", code: 429 }),
        ],
      },
      // Still retrying.
      { createdAt: a + 2, attempts: [{ at: a + 10_000, ms: 999, cls: "http_5xx", code: 503 }] },
      // The next hour of the same day.
      { createdAt: a + HOUR, attempts: [{ at: a + HOUR + 5000, ms: 7, ok: true }] },
      // The next day: every remaining class, and a failure without one.
      ...(["tls", "network", "redirect", "invalid_response", "blocked_target", null] as const).map((cls, i) => ({
        createdAt: b + i,
        attempts: [{ at: b + 59 * 60_000, ms: 7, cls }],
      })),
    ]);
    await recordHistory(other.id, "tnt_stats_rec_other", [
      { createdAt: a, attempts: [{ at: a + 10, ms: 1, ok: true }] },
    ]);

    const hourA = {
      webhook_id: wh.id,
      hour_start: a,
      attempts: 10,
      successes: 1,
      failures_timeout: 1,
      failures_connection: 2,
      failures_4xx: 5,
      failures_5xx: 1,
      failures_other: 0,
      deliveries_succeeded: 1,
      deliveries_failed: 1,
      latency_sum_ms: 3 + 12 + 48 + 120 + 5 * 30_000 + 999,
      latency_min_ms: 3,
      latency_max_ms: 30_000,
      // 3 → [0,5), 12 → [10,25), 48 → [25,50), 120 → [100,150), 999 → [750,1000), 30000 → [30000, ∞)
      latency_histogram: histogram({ 0: 1, 2: 1, 3: 1, 6: 1, 12: 1, 22: 5 }),
    };
    const hourAfter = {
      ...hourA,
      hour_start: a + HOUR,
      attempts: 1,
      successes: 1,
      failures_timeout: 0,
      failures_connection: 0,
      failures_4xx: 0,
      failures_5xx: 0,
      deliveries_succeeded: 1,
      deliveries_failed: 0,
      latency_sum_ms: 7,
      latency_min_ms: 7,
      latency_max_ms: 7,
      latency_histogram: histogram({ 1: 1 }),
    };
    const hourB = {
      webhook_id: wh.id,
      hour_start: b,
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
    };
    expect(await statsRows(wh.id, "webhook_stats_hourly")).toEqual([hourA, hourAfter, hourB]);
    // The day adds up its hours: counts add, min and max combine, histograms add bucket by bucket.
    const { hour_start: _a, ...dayOfA } = hourA;
    const { hour_start: _b, ...dayOfB } = hourB;
    expect(await statsRows(wh.id, "webhook_stats_daily")).toEqual([
      {
        ...dayOfA,
        day_start: startOfDay(a),
        attempts: 11,
        successes: 2,
        deliveries_succeeded: 2,
        latency_sum_ms: hourA.latency_sum_ms + 7,
        latency_histogram: histogram({ 0: 1, 1: 1, 2: 1, 3: 1, 6: 1, 12: 1, 22: 5 }),
      },
      { ...dayOfB, day_start: b },
    ]);
    expect(
      (await statsRows(other.id, "webhook_stats_hourly")).map((r) => [r.hour_start, r.attempts, r.successes]),
    ).toEqual([[a, 1, 1]]);
    expect((await statsRows(other.id, "webhook_stats_daily")).map((r) => [r.day_start, r.attempts])).toEqual([
      [startOfDay(a), 1],
    ]);
    await expectExactAgainstAttempts(wh.id);
    await expectExactAgainstAttempts(other.id);
  });

  it("counts an attempt once: a record batch run again, or retried after a D1 error; one failing for good counts nothing", async () => {
    const wh = await webhookAtReceiver("tnt_stats_once");
    const clock = { now: Date.now() };
    const deps = webhookDeps(wh.id, clock);
    const sentOnce = async (ref: DeliveryRef, startedAt: number): Promise<SentAttempt[]> => {
      const { claimed } = await claimDeliveries(deps, [ref]);
      expect(claimed).toHaveLength(1);
      const result = {
        ok: true,
        statusCode: 200,
        durationMs: 9,
        errorClass: null,
        errorMessage: null,
        responseExcerpt: "ok",
        retryAfterSeconds: null,
      };
      return [{ claim: claimed[0]!, result, startedAt, finishedAt: startedAt + 9 }];
    };

    // Recorded, then the same batch once more (a retry of a batch that did commit): the second changes nothing.
    const first = await seedDelivery(wh.id, "tnt_stats_once", clock.now);
    const sent = await sentOnce(first, clock.now);
    await recordAttempts(deps, sent);
    await recordAttempts(deps, sent);
    expect(await attemptRows(first)).toHaveLength(1);

    // A transient D1 error on the record: retried, counted once.
    const second = await seedDelivery(wh.id, "tnt_stats_once", clock.now + 1);
    let batches = 0;
    const blipping = new Proxy(d1OfWebhook(wh.id), {
      get(target, prop) {
        if (prop === "batch")
          return async (statements: D1PreparedStatement[]) => {
            if (++batches === 1) throw new Error("D1_ERROR: transient");
            return target.batch(statements);
          };
        return Reflect.get(target, prop);
      },
    });
    await recordAttempts({ ...deps, db: createDb(blipping) }, await sentOnce(second, clock.now + 1));
    expect(batches).toBe(2);
    expect(await attemptRows(second)).toHaveLength(1);

    // D1 down for every try: nothing recorded, nothing counted; the delivery is attempted again after its lease.
    const third = await seedDelivery(wh.id, "tnt_stats_once", clock.now + 2);
    const down = new Proxy(d1OfWebhook(wh.id), {
      get(target, prop) {
        if (prop === "batch")
          return async () => {
            throw new Error("D1_ERROR: database is unavailable");
          };
        return Reflect.get(target, prop);
      },
    });
    await expect(recordAttempts({ ...deps, db: createDb(down) }, await sentOnce(third, clock.now + 2))).rejects.toThrow(
      /unavailable/,
    );
    expect(await attemptRows(third)).toEqual([]);
    expect((await statsRows(wh.id, "webhook_stats_hourly"))[0]).toMatchObject({ attempts: 2, successes: 2 });
    clock.now = (await deliveryRow(third))!.lease_until + 1;
    await recordAttempts(deps, await sentOnce(third, clock.now));
    expect(await attemptRows(third)).toMatchObject([{ attempt: 2, success: true }]);

    expect((await statsRows(wh.id, "webhook_stats_hourly"))[0]).toMatchObject({ attempts: 3, successes: 3 });
    expect((await statsRows(wh.id, "webhook_stats_daily"))[0]).toMatchObject({ attempts: 3, successes: 3 });
    await expectExactAgainstAttempts(wh.id);
  });

  it("counts nothing more for duplicate messages or a second consumer at once", async () => {
    const wh = await webhookAtReceiver("tnt_stats_dupes", { delayMs: 200 });
    const refs = [await seedDelivery(wh.id, "tnt_stats_dupes"), await seedDelivery(wh.id, "tnt_stats_dupes")];
    const batch = () =>
      createMessageBatch(
        DELIVERY_QUEUE,
        [...refs, ...refs].map((ref, i) => ({
          id: `dupe-${i}-${Math.random()}`,
          timestamp: new Date(),
          attempts: 1,
          body: messageOf(ref),
        })),
      );
    const batches = [batch(), batch()];
    const results = await Promise.all(
      batches.map(async (b) => {
        const ctx = createExecutionContext();
        await handleDeliveryBatch(b, createServices(env), ctx);
        return getQueueResult(b, ctx);
      }),
    );
    for (const result of results) expect(result.explicitAcks).toHaveLength(4);
    expect(await recorded(wh.hookKey)).toHaveLength(2);
    expect((await statsRows(wh.id, "webhook_stats_hourly"))[0]).toMatchObject({ attempts: 2, successes: 2 });
    await expectExactAgainstAttempts(wh.id);
  });

  it("goes with a deleted webhook; an attempt in flight then is not counted", async () => {
    const wh = await webhookAtReceiver("tnt_stats_deleted");
    const now = Date.now();
    await recordHistory(wh.id, "tnt_stats_deleted", [
      { createdAt: now - 3 * DAY, attempts: [{ at: now - 3 * DAY, ms: 5, ok: true }] },
      { createdAt: now - 1000, attempts: [{ at: now - 900, ms: 5, ok: true }] },
    ]);
    expect(await statsRows(wh.id, "webhook_stats_hourly")).toHaveLength(2);
    expect(await statsRows(wh.id, "webhook_stats_daily")).toHaveLength(2);

    // Claimed before the delete, recorded after it.
    const deps = webhookDeps(wh.id, { now });
    const inFlight = await seedDelivery(wh.id, "tnt_stats_deleted", now);
    const { claimed } = await claimDeliveries(deps, [inFlight]);
    expect((await api("DELETE", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).status).toBe(204);
    expect(await statsRows(wh.id, "webhook_stats_hourly")).toEqual([]);
    expect(await statsRows(wh.id, "webhook_stats_daily")).toEqual([]);
    const result = {
      ok: true,
      statusCode: 200,
      durationMs: 5,
      errorClass: null,
      errorMessage: null,
      responseExcerpt: null,
      retryAfterSeconds: null,
    };
    await recordAttempts(deps, [{ claim: claimed[0]!, result, startedAt: now, finishedAt: now + 5 }]);
    expect(await statsRows(wh.id, "webhook_stats_hourly")).toEqual([]);
    expect(await statsRows(wh.id, "webhook_stats_daily")).toEqual([]);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}/stats`, { token: wh.token })).status).toBe(404);
  });

  it("answers 1 h and 24 h from the hourly rows, 7 d and 30 d from the daily rows, each kept for its windows", async () => {
    const wh = await endpoint("tnt_stats_windows");
    const now = Date.now();
    const at = [now - 30 * 60_000, now - 20 * HOUR, now - 3 * DAY, now - 20 * DAY, now - 40 * DAY];
    await recordHistory(
      wh.id,
      "tnt_stats_windows",
      at.map((t) => ({ createdAt: t, attempts: [{ at: t, ms: 5, ok: true }] })),
    );
    expect((await statsRows(wh.id, "webhook_stats_hourly")).map((r) => r.hour_start)).toEqual(
      [...at].reverse().map((t) => Math.floor(t / HOUR) * HOUR),
    );

    // Retention: hourly rows past 26 hours, daily rows past STATS_RETENTION_DAYS (35).
    await storageAt(now);
    expect((await statsRows(wh.id, "webhook_stats_hourly")).map((r) => r.hour_start)).toEqual(
      [at[1]!, at[0]!].map((t) => Math.floor(t / HOUR) * HOUR),
    );
    expect((await statsRows(wh.id, "webhook_stats_daily")).map((r) => r.day_start)).toEqual(
      [at[3]!, at[2]!, at[1]!, at[0]!].map(startOfDay).filter((d, i, all) => all.indexOf(d) === i),
    );

    const stats = async (window: string) =>
      (await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=${window}`, { token: wh.token })).body;
    expect((await stats("1h")).attempts).toBe(1);
    expect((await stats("24h")).attempts).toBe(2);
    // The hourly rows of 3 and 20 days ago are gone: these windows read days.
    const week = await stats("7d");
    expect(week).toMatchObject({ bucket: "day", attempts: 3, success_rate: 1 });
    expect(week.series.map((p: { start: string }) => Date.parse(p.start) % DAY)).toEqual(week.series.map(() => 0));
    expect(week.series.find((p: { start: string }) => Date.parse(p.start) === startOfDay(at[2]!))?.attempts).toBe(1);
    expect((await stats("30d")).attempts).toBe(4);
  });
});
