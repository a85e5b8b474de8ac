// 7. Rate limit: what a receiver sees when a burst meets its webhook's rate limit. Each case publishes its events at once
// to a fresh webhook with `rate_limit` set, and takes every request's arrival time at the receiver: the most in any
// one-second window (the limit, plus 10 % for clock edges, is the contract), the requests in each second, the gaps
// between them against the pace (1.05 s / limit), and how long the burst took against the least it could.
import { api, waitFor } from "../client.mjs";

export const RATE_LIMIT_CASES = [
  { key: "limit_20", limit: 20, events: 200 },
  { key: "limit_100", limit: 100, events: 600 },
];
export const RATE_LIMIT_PUBLISHERS = 8;

const percentile = (xs, p) => {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

/** The most of `times` (ms) in any half-open window [t, t + windowMs). */
function mostInWindow(times, windowMs) {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= windowMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

export async function measureRateLimitCase({ worker, receiver, adminToken, spec, note }) {
  const id = `${spec.key}_${Date.now().toString(36)}`;
  const tenant = `tnt_rl_${id}`;
  const tag = `rl-${id}`;
  const webhook = await api(
    worker.base,
    "POST",
    "/api/v1/admin/webhooks/",
    { url: `${receiver.base}/hook/${tag}/0`, events: ["user.created"], tenant_id: tenant, rate_limit: spec.limit },
    adminToken,
  );
  const events = Array.from({ length: spec.events }, (_, n) => ({
    event_type: "user.created",
    tenant_id: tenant,
    resource: { type: "user", id: `usr_${n}` },
    actor: { id: null, type: "system" },
    data: { n },
  }));
  const publishedAt = Date.now();
  for (let i = 0; i < events.length; i += RATE_LIMIT_PUBLISHERS)
    await Promise.all(
      events.slice(i, i + RATE_LIMIT_PUBLISHERS).map((e) => api(worker.base, "POST", "/api/v1/events", e, adminToken)),
    );
  const publishSeconds = (Date.now() - publishedAt) / 1000;
  const received = await waitFor(
    `${spec.events} deliveries at ${spec.limit} a second`,
    async () => {
      const got = await (await fetch(`${receiver.base}/__received?tag=${tag}`)).json();
      return got.length >= spec.events && got;
    },
    { timeoutMs: 120_000 + (spec.events / spec.limit) * 3_000, everyMs: 200 },
  );
  const times = received.map(([, at]) => at).sort((a, b) => a - b);
  const first = times[0];
  const perSecond = [];
  for (const t of times)
    perSecond[Math.floor((t - first) / 1000)] = (perSecond[Math.floor((t - first) / 1000)] ?? 0) + 1;
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  const stats = await api(
    worker.base,
    "GET",
    `/api/v1/admin/webhooks/${webhook.id}/stats?window=1h`,
    undefined,
    adminToken,
  );
  const durationS = (times.at(-1) - first) / 1000;
  const leastS = ((spec.events - 1) * 1.05) / spec.limit;
  const result = {
    limit: spec.limit,
    events: spec.events,
    requests: times.length,
    published_in_s: Number(publishSeconds.toFixed(1)),
    most_in_any_second: mostInWindow(times, 1000),
    allowed_in_any_second: Math.ceil(spec.limit * 1.1),
    per_second: Array.from(perSecond, (n) => n ?? 0),
    pace_ms: Number((1050 / spec.limit).toFixed(1)),
    gap_ms: { min: Math.min(...gaps), p50: percentile(gaps, 50), p95: percentile(gaps, 95), max: Math.max(...gaps) },
    first_request_after_publish_ms: first - publishedAt,
    duration_s: Number(durationS.toFixed(2)),
    least_duration_s: Number(leastS.toFixed(2)),
    pace_kept: Number((leastS / durationS).toFixed(3)),
    // One attempt each: a wait for the limit is not an attempt.
    attempts: stats.attempts,
    deliveries_succeeded: stats.deliveries.success,
  };
  note(
    `   ${spec.events} events at ${spec.limit}/s: at most ${result.most_in_any_second} in any second (allowed ${result.allowed_in_any_second}), gaps p50 ${result.gap_ms.p50} ms (pace ${result.pace_ms}), ${result.duration_s} s (least ${result.least_duration_s} s)`,
  );
  return result;
}
