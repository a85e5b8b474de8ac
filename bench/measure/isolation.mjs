// 6. Isolation: do healthy webhooks' deliveries wait for a receiver that times out? Two cases, each on a Worker of its
// own: 4 healthy webhooks of one tenant plus 1 whose receiver answers only after the timeout; and 1 such webhook among
// 20 of 5 tenants. Each round publishes 100 events at once without the slow webhook ("alone") and the same with it
// ("beside slow"), in alternating order, on fresh webhooks (so the slow one is met for the first time every round), and
// takes every healthy delivery's time from publish to its arrival at the receiver; the rounds' figures are pooled. Then
// it checks that the slow webhook's deliveries were attempted and recorded (a timeout each, a retry scheduled).
import { api, waitFor } from "../client.mjs";

const ISOLATION_TARGET_RATIO = 2;
const EVENTS = 100;

export const ISOLATION_CASES = [
  { key: null, label: "4 healthy webhooks + 1 timing out, 1 tenant", tenants: 1, webhooksPerTenant: 5 },
  { key: "twenty_webhooks", label: "1 timing out among 20 webhooks of 5 tenants", tenants: 5, webhooksPerTenant: 4 },
];

const percentile = (xs, p) => {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

/** One round of one condition: fresh tenants and webhooks, 100 events at once, every healthy arrival timed. */
async function runOnce({ worker, receiver, adminToken, spec, withSlow, slowAnswerMs, id }) {
  const tenants = Array.from({ length: spec.tenants }, (_, t) => `tnt_iso_${id}_${t}`);
  const healthyTag = `iso-${id}-h`;
  const slowTag = `iso-${id}-s`;
  const webhooks = [];
  for (const [t, tenant] of tenants.entries())
    for (let w = 0; w < spec.webhooksPerTenant; w++) {
      const slow = t === 0 && w === spec.webhooksPerTenant - 1;
      if (slow && !withSlow) continue;
      const url = slow
        ? `${receiver.base}/slow/${slowTag}/${w}?after=${slowAnswerMs}`
        : `${receiver.base}/hook/${healthyTag}/${t}-${w}`;
      const created = await api(
        worker.base,
        "POST",
        "/api/v1/admin/webhooks/",
        { url, events: ["user.created"], tenant_id: tenant, description: `isolation ${id}` },
        adminToken,
      );
      webhooks.push({ id: created.id, tenant, slow });
    }
  const healthyPerTenant = (tenant) => webhooks.filter((w) => w.tenant === tenant && !w.slow).length;
  const events = Array.from({ length: EVENTS }, (_, n) => ({
    event_id: `evt_iso_${id}_${n}`,
    event_type: "user.created",
    tenant_id: tenants[n % tenants.length],
    resource: { type: "user", id: `usr_${n}` },
    actor: { id: null, type: "system" },
    data: { n },
  }));
  const expectedHealthy = events.reduce((sum, e) => sum + healthyPerTenant(e.tenant_id), 0);
  const expectedSlow = withSlow ? events.filter((e) => e.tenant_id === tenants[0]).length : 0;

  // All at once, each timed from the moment its request leaves.
  const publishedAt = new Map();
  await Promise.all(
    events.map((e) => {
      publishedAt.set(e.event_id, Date.now());
      return api(worker.base, "POST", "/api/v1/events", e, adminToken);
    }),
  );
  const received = async (tag) => (await fetch(`${receiver.base}/__received?tag=${tag}`)).json();
  const healthy = await waitFor(
    `${expectedHealthy} healthy deliveries (${id})`,
    async () => {
      const got = await received(healthyTag);
      return got.length >= expectedHealthy && got;
    },
    { timeoutMs: 300_000, everyMs: 100 },
  );
  const latencies = healthy.map(([eventId, at]) => at - publishedAt.get(eventId));
  const slowArrivals = (await received(slowTag)).map(([eventId, at]) => at - publishedAt.get(eventId));
  return {
    id,
    healthy_deliveries: latencies.length,
    latencies,
    slow: withSlow
      ? { webhook: webhooks.find((w) => w.slow).id, expected: expectedSlow, arrivals: slowArrivals }
      : null,
  };
}

/** Slow deliveries with their first attempt recorded (a timeout, a retry scheduled), once the timeout has passed. */
async function slowRecorded({ worker, adminToken, runs, timeoutMs, note }) {
  const expected = runs.reduce((n, r) => n + r.slow.expected, 0);
  const count = async () => {
    let n = 0;
    for (const r of runs)
      n += (
        await api(
          worker.base,
          "GET",
          `/api/v1/admin/webhooks/${r.slow.webhook}/deliveries?status=retrying&per_page=1`,
          undefined,
          adminToken,
        )
      ).total;
    return n;
  };
  note(`   waiting for the slow webhook's ${expected} first attempts to be recorded (timeout ${timeoutMs / 1000} s)`);
  let got = 0;
  await waitFor("the slow deliveries' first attempts", async () => (got = await count()) >= expected, {
    timeoutMs: timeoutMs + 60_000,
    everyMs: 1000,
  }).catch(() => {});
  return { expected, recorded: got };
}

/** Both conditions of one case, `rounds` times alternately, on one Worker; pooled figures and their ratio. */
export async function measureIsolationCase({
  worker,
  receiver,
  adminToken,
  spec,
  rounds,
  slowAnswerMs,
  timeoutMs,
  note,
}) {
  // Warm the isolate (and the local D1) first, so neither condition pays for it.
  await runOnce({ worker, receiver, adminToken, spec, withSlow: false, slowAnswerMs, id: `${spec.tenants}w` });
  const alone = [];
  const beside = [];
  for (let round = 1; round <= rounds; round++) {
    // Alone first in odd rounds, beside the slow webhook first in even ones: neither condition always goes second.
    const run = (withSlow) =>
      runOnce({
        worker,
        receiver,
        adminToken,
        spec,
        withSlow,
        slowAnswerMs,
        id: `${spec.tenants}${withSlow ? "b" : "a"}${round}`,
      });
    let a;
    let b;
    if (round % 2 === 1) {
      a = await run(false);
      b = await run(true);
    } else {
      b = await run(true);
      a = await run(false);
    }
    alone.push(a);
    beside.push(b);
    note(
      `   round ${round}: healthy p99 ${percentile(a.latencies, 99)} ms alone, ${percentile(b.latencies, 99)} ms beside the slow webhook`,
    );
  }
  const pooled = (runs) => runs.flatMap((r) => r.latencies);
  const slowFirst = beside.flatMap((r) => r.slow.arrivals);
  const recorded = await slowRecorded({ worker, adminToken, runs: beside, timeoutMs, note });
  const p99Alone = percentile(pooled(alone), 99);
  const p99Beside = percentile(pooled(beside), 99);
  return {
    case: spec.label,
    healthy_p99_ms_alone: p99Alone,
    healthy_p99_ms_beside_slow: p99Beside,
    ratio: p99Beside / p99Alone,
    target_ratio: ISOLATION_TARGET_RATIO,
    healthy_p50_ms_alone: percentile(pooled(alone), 50),
    healthy_p50_ms_beside_slow: percentile(pooled(beside), 50),
    healthy_max_ms_alone: Math.max(...pooled(alone)),
    healthy_max_ms_beside_slow: Math.max(...pooled(beside)),
    healthy_deliveries_per_round: { alone: alone[0].healthy_deliveries, beside_slow: beside[0].healthy_deliveries },
    slow_deliveries: recorded.expected,
    slow_first_attempts_arrived: slowFirst.length,
    slow_first_attempt_p99_ms: percentile(slowFirst, 99),
    slow_first_attempts_recorded: recorded.recorded,
    rounds: alone.map((a, i) => ({
      healthy_p99_ms_alone: percentile(a.latencies, 99),
      healthy_p99_ms_beside_slow: percentile(beside[i].latencies, 99),
    })),
  };
}
