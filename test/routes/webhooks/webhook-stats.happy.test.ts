// GET /api/v1/admin/webhooks/{id}/stats against counts computed straight from the recorded attempts, over randomised
// histories recorded through the real claim and record, before and after the storage job moves them to the archive.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AttemptRecord, ErrorClass } from "../../../src/db/schema";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { LATENCY_BUCKET_BOUNDS_MS } from "../../../src/domain/stats/histogram";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { seedDelivery, updateDeliveries, webhookDeps } from "../../helpers/deliveries";
import { storageAt, whereStored } from "../../helpers/history";
import { hookUrl } from "../../helpers/receiver";
import { d1OfWebhook } from "../../helpers/shards";
import { type AttemptSpec, type DeliverySpec, recordHistory } from "../../helpers/stats";
import { tenantAdmin } from "../../helpers/tokens";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WINDOWS = { "1h": [HOUR, HOUR], "24h": [DAY, HOUR], "7d": [7 * DAY, DAY], "30d": [30 * DAY, DAY] } as const;
const ERROR_CLASSES: (ErrorClass | null)[] = [
  "timeout",
  "connection_refused",
  "dns",
  "tls",
  "invalid_response",
  "redirect",
  "http_4xx",
  "http_5xx",
  "network",
  "blocked_target",
  null,
];
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

/** Deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!,
  };
}

/** A latency: mostly fast, a long tail, some timeouts around 15 s and a few beyond the last bucket bound. */
function latency(r: ReturnType<typeof prng>): number {
  const u = r.next();
  if (u < 0.6) return r.int(0, 300);
  if (u < 0.85) return r.int(300, 3000);
  if (u < 0.97) return r.int(3000, 16_000);
  return r.int(16_000, 45_000);
}

/**
 * Records the attempts of `count` deliveries of `webhookId` with 0..6 attempts each (six failures end one as failed),
 * created at random times over the last 32 days (so some fall outside every window), with random outcomes, error
 * classes and latencies, through the real claim and record; some open ones are then cancelled, as a disable does.
 */
async function seedHistory(
  r: ReturnType<typeof prng>,
  webhookId: string,
  tenant: string,
  count: number,
  now: number,
  edges: number[] = [],
) {
  const deliveries: DeliverySpec[] = [];
  for (let i = 0; i < count + edges.length; i++) {
    const createdAt = i < count ? now - r.int(1_000, 32 * DAY) : edges[i - count]!;
    const n = i < count ? r.pick([0, 1, 1, 1, 2, 3, 6]) : 1;
    const succeeded = n > 0 && n < 6 && r.next() < 0.55;
    const attempts: AttemptSpec[] = [];
    let at = createdAt;
    for (let k = 1; k <= n; k++) {
      const ok = succeeded && k === n;
      attempts.push({ at, ms: latency(r), ok, cls: ok ? null : r.pick(ERROR_CLASSES) });
      at = Math.min(now - 1, at + r.int(0, 3 * HOUR)); // retries may cross into later hours (and days)
    }
    deliveries.push({ createdAt, attempts });
  }
  const refs = await recordHistory(webhookId, tenant, deliveries, { now });
  const open = (d: DeliverySpec) => d.attempts.length < 6 && !d.attempts.some((a) => a.ok);
  const cancelled = refs.filter((_, i) => open(deliveries[i]!) && r.next() < 0.3);
  await updateDeliveries(cancelled, { status: "cancelled", completed_at: now });
}

const bucketOf = (ms: number) => {
  const i = LATENCY_BUCKET_BOUNDS_MS.findIndex((bound) => ms < bound);
  return i === -1 ? LATENCY_BUCKET_BOUNDS_MS.length : i;
};
const round = (x: number, decimals: number) => Math.round(x * 10 ** decimals) / 10 ** decimals;

/** What the endpoint should answer, computed from delivery_attempts and deliveries directly. */
async function expectedStats(webhookId: string, from: number, until: number, bucketMs: number) {
  const { results: rows } = await d1OfWebhook(webhookId)
    .prepare("SELECT status, attempt_count, attempts, created_at FROM deliveries_live WHERE webhook_id = ?")
    .bind(webhookId)
    .all<{ status: string; attempt_count: number; attempts: string; created_at: number }>();
  const attempts = rows.flatMap((d) =>
    (JSON.parse(d.attempts) as AttemptRecord[])
      .filter((a) => a.started_at >= from && a.started_at < until)
      .map((a) => ({ ...a, delivery_status: d.status, attempt_count: d.attempt_count })),
  );
  const deliveries = rows.filter((d) => d.created_at >= from && d.created_at < until);

  const byStatus = { total: deliveries.length, success: 0, failed: 0, pending: 0, retrying: 0, cancelled: 0 } as Record<
    string,
    number
  >;
  for (const d of deliveries) byStatus[d.status]!++;
  const failures = { timeout: 0, connection: 0, "4xx": 0, "5xx": 0, other: 0 } as Record<string, number>;
  for (const a of attempts) if (!a.success) failures[FAMILY[a.error_class ?? ""] ?? "other"]!++;
  const successes = attempts.filter((a) => a.success).length;
  const sorted = attempts.map((a) => a.duration_ms as number).sort((x, y) => x - y);
  const exactPercentile = (pct: number) => sorted[Math.max(1, Math.ceil((pct * sorted.length) / 100)) - 1]!;
  const series = [];
  for (let start = from; start < until; start += bucketMs) {
    const inBucket = attempts.filter((a) => a.started_at >= start && a.started_at < start + bucketMs);
    const ok = inBucket.filter((a) => a.success).length;
    series.push({
      start: new Date(start).toISOString(),
      attempts: inBucket.length,
      successes: ok,
      failures: inBucket.length - ok,
      deliveries_succeeded: ok,
      deliveries_failed: inBucket.filter(
        (a) => !a.success && a.delivery_status === "failed" && a.attempt === a.attempt_count,
      ).length,
      avg_latency_ms: inBucket.length
        ? round(inBucket.reduce((s, a) => s + a.duration_ms, 0) / inBucket.length, 1)
        : null,
    });
  }
  return {
    deliveries: byStatus,
    attempts: attempts.length,
    success_rate: attempts.length ? round(successes / attempts.length, 4) : null,
    avg: attempts.length ? round(sorted.reduce((s, x) => s + x, 0) / sorted.length, 1) : null,
    percentiles: attempts.length
      ? { p50: exactPercentile(50), p95: exactPercentile(95), p99: exactPercentile(99) }
      : null,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    failures,
    series,
  };
}

describe("GET /api/v1/admin/webhooks/{webhook_id}/stats", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each([1, 2, 3])("matches counts computed from the rows over a randomised history (%#)", async (run) => {
    const seed = (Date.now() ^ (run * 0x9e3779b9)) >>> 0;
    const r = prng(seed);
    const tenant = `tnt_stats_${run}`;
    const token = await tenantAdmin(tenant);
    const wh = await createWebhook(token, { events: ["*"] });
    const now = Date.now();
    const lastSuccess = now - 60_000;
    const disabledAt = now - 30_000;

    // Attempts (and deliveries) on the first and last millisecond of hours, days and windows.
    const edges = Object.values(WINDOWS).flatMap(([durationMs, bucketMs]) => {
      const from = Math.floor((now - durationMs) / bucketMs) * bucketMs;
      return [
        from - 1,
        from,
        from + bucketMs - 1,
        from + bucketMs,
        Math.floor(now / bucketMs) * bucketMs - 1,
        Math.floor(now / bucketMs) * bucketMs,
      ];
    });
    // Recorded in two parts, the second in the same hours and days as the first.
    await seedHistory(
      r,
      wh.id,
      tenant,
      120,
      now,
      edges.filter((_, i) => i % 2 === 0),
    );
    await seedHistory(
      r,
      wh.id,
      tenant,
      80,
      now,
      edges.filter((_, i) => i % 2 === 1),
    );

    // Then auto-disabled.
    await d1OfWebhook(wh.id)
      .prepare(
        "UPDATE webhook_endpoints SET last_success_at = ?, last_failure_at = ?, failure_count = 10, enabled = 0, disabled_at = ?, disabled_reason = 'consecutive_failures' WHERE id = ?",
      )
      .bind(lastSuccess, disabledAt, disabledAt, wh.id)
      .run();
    for (const [window, [durationMs, bucketMs]] of Object.entries(WINDOWS)) {
      const res = await api("GET", `${WEBHOOKS}/${wh.id}/stats${window === "24h" ? "" : `?window=${window}`}`, {
        token,
      });
      const label = `seed ${seed}, window ${window}`;
      expect(res.status, label).toBe(200);
      const body = res.body;
      const from = Date.parse(body.from);
      const until = Date.parse(body.to);
      // The window: from the bucket holding now - duration to the end of the current hour.
      expect(until % HOUR, label).toBe(0);
      expect(until - HOUR, label).toBeLessThanOrEqual(Date.now());
      expect(until, label).toBeGreaterThan(now);
      expect(from, label).toBe(Math.floor((until - HOUR - durationMs) / bucketMs) * bucketMs);
      expect(body, label).toMatchObject({ webhook_id: wh.id, window, bucket: bucketMs === HOUR ? "hour" : "day" });

      const expected = await expectedStats(wh.id, from, until, bucketMs);
      expect(body.deliveries, label).toEqual(expected.deliveries);
      expect(body.attempts, label).toBe(expected.attempts);
      expect(body.success_rate, label).toBe(expected.success_rate);
      expect(body.failures_by_class, label).toEqual(expected.failures);
      expect(body.series, label).toEqual(expected.series);
      expect(body.latency.avg, label).toBe(expected.avg);
      if (expected.percentiles === null) {
        expect(body.latency, label).toEqual({ avg: null, p50: null, p95: null, p99: null });
      } else {
        for (const p of ["p50", "p95", "p99"] as const) {
          const exact = expected.percentiles[p];
          // Within the histogram bucket of the exact value, and within the observed range.
          expect(bucketOf(body.latency[p]!), `${label} ${p}: got ${body.latency[p]}, exact ${exact}`).toBe(
            bucketOf(exact),
          );
          expect(body.latency[p]).toBeGreaterThanOrEqual(expected.min!);
          expect(body.latency[p]).toBeLessThanOrEqual(expected.max!);
        }
        expect(body.latency.p50).toBeLessThanOrEqual(body.latency.p95!);
        expect(body.latency.p95).toBeLessThanOrEqual(body.latency.p99!);
      }
      expect(body, label).toMatchObject({
        status: "auto_disabled",
        failure_count: 10,
        last_success_at: new Date(lastSuccess).toISOString(),
        last_failure_at: new Date(disabledAt).toISOString(),
        disabled_at: new Date(disabledAt).toISOString(),
      });
    }

    // The storage job moving the history to the archive (as it will once the window has passed) and applying
    // retention changes no figure: deliveries by status then come from the archive's counts.
    const figures = async () =>
      Promise.all(
        (["1h", "24h", "7d", "30d"] as const).map(
          async (w) => (await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=${w}`, { token })).body,
        ),
      );
    // Six hours on, every hour of the history has left the hot window (4 h and the 5 min margin). The figures at that
    // clock (the route's and the Worker's: same isolate; it stands still, so the hour cannot turn) are the same before
    // and after the storage job runs at it.
    const later = now + 6 * HOUR;
    vi.useFakeTimers({ toFake: ["Date"], now: later });
    const before = await figures();
    await storageAt(later);
    expect((await whereStored(wh.id)).archive, `seed ${seed}`).toBeGreaterThan(50);
    expect(await figures(), `seed ${seed}`).toEqual(before);
  });

  it("is exact right after a delivery, and the same once the storage job has archived it", async () => {
    // The clock stands still (the Worker's included: same isolate), so the hour cannot turn between the reads; at least
    // five minutes before the hour ends, so that both attempts (a minute apart) fall in it.
    const pinned = Math.min(Date.now(), Math.floor(Date.now() / HOUR) * HOUR + HOUR - 5 * 60_000);
    vi.useFakeTimers({ toFake: ["Date"], now: pinned });
    const tenant = "tnt_stats_live";
    const token = await tenantAdmin(tenant);
    const wh = await createWebhook(token, { url: hookUrl({ plan: [503, 200] }).url, events: ["*"] });
    const empty = await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=1h`, { token });
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({
      deliveries: { total: 0, success: 0, failed: 0, pending: 0, retrying: 0, cancelled: 0 },
      attempts: 0,
      success_rate: null,
      latency: { avg: null, p50: null, p95: null, p99: null },
      failures_by_class: { timeout: 0, connection: 0, "4xx": 0, "5xx": 0, other: 0 },
      last_success_at: null,
      last_failure_at: null,
      failure_count: 0,
      disabled_at: null,
      status: "active",
    });
    expect(empty.body.series).toHaveLength(2);
    expect(
      empty.body.series.every(
        (p: { attempts: number; avg_latency_ms: unknown }) => p.attempts === 0 && p.avg_latency_ms === null,
      ),
    ).toBe(true);

    const clock = { now: pinned };
    const id = await seedDelivery(wh.id, tenant, clock.now);
    await attemptDelivery(webhookDeps(wh.id, clock), id); // 503
    clock.now += 61_000;
    await attemptDelivery(webhookDeps(wh.id, clock), id); // 200

    const live = await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=1h`, { token });
    expect(live.body).toMatchObject({
      deliveries: { total: 1, success: 1, failed: 0, pending: 0, retrying: 0, cancelled: 0 },
      attempts: 2,
      success_rate: 0.5,
      failures_by_class: { timeout: 0, connection: 0, "4xx": 0, "5xx": 1, other: 0 },
      failure_count: 0,
    });
    expect(live.body.last_success_at).not.toBeNull();
    expect(live.body.latency.p99).toBeGreaterThanOrEqual(live.body.latency.p50!);
    expect(live.body.series.reduce((s: number, p: { attempts: number }) => s + p.attempts, 0)).toBe(2);

    // Once the hour has left the hot window, the storage job archives the delivery: the figures at the pinned clock
    // (its deliveries by status then from the archive's counts) do not move.
    await storageAt(pinned + 6 * HOUR); // the pinned hour has left the window (4 h and the 5 min margin)
    expect(await whereStored(wh.id)).toEqual({ partitions: 0, table: 0, archive: 1 });
    const archived = await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=1h`, { token });
    expect(Date.parse(archived.body.to)).toBe(Math.floor(pinned / HOUR) * HOUR + HOUR); // the route saw the pinned clock
    expect(archived.body).toEqual(live.body);
  });

  it("is documented in the OpenAPI document", async () => {
    const doc = await api("GET", "/openapi.json");
    const op = doc.body.paths["/api/v1/admin/webhooks/{webhook_id}/stats"].get;
    expect(op.operationId).toBe("getWebhookStats");
    expect(op.parameters.find((p: { name: string }) => p.name === "window").schema).toMatchObject({
      enum: ["1h", "24h", "7d", "30d"],
      default: "24h",
    });
    expect(doc.body.components.schemas.WebhookStats).toBeDefined();
  });
});
