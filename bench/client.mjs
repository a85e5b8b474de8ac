// The bench's HTTP side: the admin API client, the events it publishes, endpoint seeding, waiting, and autocannon.
import autocannon from "autocannon";
import { mapBounded } from "../scripts/lib/bounded-map.mjs";
import { sleep } from "../scripts/lib/cli.mjs";

export const ADMIN_TENANT = "tnt_bench_admin";
export const PUBLISH_TENANT = "tnt_bench_publish";
export const DELIVERY_TENANT = "tnt_bench_delivery";
export const fanOutTenant = (n) => `tnt_bench_fan${n}`;

/** One JSON call; GETs are retried on 5xx; throws on 4xx/5xx. */
export async function api(base, method, path, body, token) {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (res.status >= 500 && method === "GET" && attempt < 3) {
      await sleep(200 * attempt);
      continue;
    }
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  }
}

export const eventFor = (tenant, n) => ({
  event_type: "user.created",
  tenant_id: tenant,
  resource: { type: "user", id: `usr_${n}` },
  actor: { id: null, type: "system" },
  data: { email: `user${n}@example.com`, display_name: "Bench User", n },
});

async function createEndpoints(base, token, tenant, count, urlOf) {
  return mapBounded(
    Array.from({ length: count }, (_, i) => i),
    8,
    async (i) => {
      const created = await api(
        base,
        "POST",
        "/api/v1/admin/webhooks/",
        { url: urlOf(i), events: ["user.created"], tenant_id: tenant, description: `bench ${tenant} #${i}` },
        token,
      );
      return created.id;
    },
  );
}

/**
 * The bench's endpoints in one copy of the Worker, each pointing at the receiver under `tag` (so the receiver counts
 * each copy's deliveries apart): 25 for the admin reads, 1 for publish latency, `deliveryEndpoints`, and the fan-outs.
 */
export async function seedEndpoints(worker, { token, receiverBase, tag, deliveryEndpoints, fanOutSizes }) {
  const hook = (kind) => (i) => `${receiverBase}/hook/${tag}-${kind}/${i}`;
  const admin = await createEndpoints(worker.base, token, ADMIN_TENANT, 25, hook("admin"));
  const publish = await createEndpoints(worker.base, token, PUBLISH_TENANT, 1, hook("publish"));
  const delivery = await createEndpoints(worker.base, token, DELIVERY_TENANT, deliveryEndpoints, hook("delivery"));
  const fan = {};
  for (const n of fanOutSizes) fan[n] = await createEndpoints(worker.base, token, fanOutTenant(n), n, hook(`fan${n}`));
  return { admin, publish, delivery, fan };
}

/** Successful deliveries recorded in D1, summed over endpoints (through the admin API). */
export async function recordedSuccesses(base, token, ids) {
  const totals = await mapBounded(
    ids,
    4,
    async (id) =>
      (await api(base, "GET", `/api/v1/admin/webhooks/${id}/deliveries?status=success&per_page=1`, undefined, token))
        .total,
  );
  return totals.reduce((a, b) => a + b, 0);
}

/** Polls `check` until it returns something truthy, which it returns; throws after `timeoutMs`. */
export async function waitFor(what, check, { timeoutMs = 300_000, everyMs = 250 } = {}) {
  const by = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** One autocannon measure; any error, timeout or non-2xx fails the run. */
export async function cannon(name, options) {
  const result = await autocannon(options);
  const bad = result.errors + result.timeouts + result.non2xx;
  if (bad > 0)
    throw new Error(
      `${name}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx of ${result.requests.total}`,
    );
  return {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

/**
 * Several rounds of one target: total requests over total time, the median of the rounds' percentiles, and the workerd
 * CPU per request when the rounds carry `cpu_ms`.
 */
export function combine(rounds) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const requests = rounds.reduce((a, r) => a + r.requests, 0);
  const seconds = rounds.reduce((a, r) => a + r.seconds, 0);
  const cpuMs = rounds.every((r) => typeof r.cpu_ms === "number") ? rounds.reduce((a, r) => a + r.cpu_ms, 0) : null;
  return {
    rps: requests / seconds,
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    cpu_ms_per_request: cpuMs === null ? null : cpuMs / requests,
    rounds,
  };
}

/** A receiver counter for `tag`. */
export const tagCounter = (receiver) => async (tag) => (await receiver.stats()).byTag[tag] ?? 0;
