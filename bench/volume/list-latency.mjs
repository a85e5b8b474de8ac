// The list API over 30 days of a webhook with a large history: the history seeded through the real archive code
// (bench/archive-seed.ts, an hour at a time as the seal writes it), a few hours of hot deliveries published for real,
// then GET /api/v1/admin/webhooks/{id}/deliveries timed with each filter, its first page and a page halfway through.
import { mapBounded } from "../../scripts/lib/bounded-map.mjs";
import { DAY_MS, eventOf, HOUR_MS, STORAGE_CRON } from "../harness.mjs";

const HOT_WINDOW_HOURS = 4;
const RETENTION_DAYS = 30;
const SEED_HOURS_PER_CALL = 24;
const HOT_HOURS = 4; // hours of hot deliveries, the newest the current one
const HOT_PER_HOUR = 50;
const EVENT_TYPES = ["user.created", "user.updated", "session.created", "group.member_added"];

/** Nearest-rank percentile. */
const percentile = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
};
const ms = (x) => Number(x.toFixed(1));

export async function measureListLatency(rig, { history, runs, note }) {
  const w = await rig.startWorker("volume-list");
  const tenant = "tnt_vol_list";
  const webhook = await w.createWebhook(tenant, `${rig.receiver.base}/hook/vol-list/0`);
  // Hot deliveries first, published for real in each of the last hours: the Worker's clock moves forward an hour at a
  // time (tokens are not valid before they were issued), a storage run early in each hour making its partitions.
  let hot = 0;
  for (let k = 0; k < HOT_HOURS; k++) {
    await w.setClock(k * HOUR_MS);
    await w.cron(STORAGE_CRON);
    const made = await mapBounded(
      Array.from({ length: HOT_PER_HOUR }, (_, n) => n),
      4,
      async (n) =>
        (await w.call("POST", "/api/v1/events", eventOf({ tenant, n, type: EVENT_TYPES[n % EVENT_TYPES.length] })))
          .deliveries,
    );
    hot += made.reduce((a, b) => a + b, 0);
    await w.settled(0);
  }
  const offset = (HOT_HOURS - 1) * HOUR_MS; // the Worker's clock from here on
  // History: every hour of the retention period older than the hot window (and the hour the storage cron leaves).
  const nowHour = Math.floor((Date.now() + offset) / HOUR_MS);
  const first = nowHour - RETENTION_DAYS * 24 + 1;
  const last = nowHour - HOT_HOURS - HOT_WINDOW_HOURS - 2;
  const hours = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  const perHour = Math.ceil(history / hours.length);
  note(`list: seeding ${(perHour * hours.length).toLocaleString()} archived deliveries over ${hours.length} hours`);
  const seedStarted = Date.now();
  const samples = [];
  for (let i = 0; i < hours.length; i += SEED_HOURS_PER_CALL) {
    const answer = await w.call("POST", "/__bench/archive-seed", {
      hours: hours.slice(i, i + SEED_HOURS_PER_CALL),
      webhooks: [{ webhook_id: webhook, tenant_id: tenant, per_hour: perHour }],
      seed: 7,
    });
    samples.push(...answer.samples);
    if ((i / SEED_HOURS_PER_CALL) % 10 === 9) note(`list:   ${i + SEED_HOURS_PER_CALL} hours seeded`);
  }
  const seedSeconds = (Date.now() - seedStarted) / 1000;
  const now = Date.now() + offset;
  const iso = (t) => new Date(t).toISOString();
  // An event id of about ten days ago (seeded lines are deterministic).
  const sample = samples.find((s) => s.hour >= Math.floor((now - 10 * DAY_MS) / HOUR_MS)) ?? samples[0];
  const filters = {
    none: "",
    status: "status=failed",
    event_type: "event_type=user.updated",
    event_id: `event_id=${sample.event_id}`,
    status_code: "status_code=503",
    error_class: "error_class=timeout",
    since_until: `since=${iso(now - 10 * DAY_MS + 17 * 60_000)}&until=${iso(now - 7 * DAY_MS + 43 * 60_000)}`,
    status_and_event_type: "status=failed&event_type=session.created",
    status_code_and_window: `status_code=500&since=${iso(now - 20 * DAY_MS + 17 * 60_000)}&until=${iso(now - 5 * DAY_MS + 43 * 60_000)}`,
  };
  const path = (query, page) => `/api/v1/admin/webhooks/${webhook}/deliveries?${query}${query ? "&" : ""}page=${page}`;
  const time = async (query, page) => {
    const started = performance.now();
    const body = await w.call("GET", path(query, page));
    return { ms: performance.now() - started, body };
  };
  const measure = async (query, page) => {
    await w.reset();
    const cold = await time(query, page);
    const times = [];
    for (let i = 0; i < runs; i++) times.push((await time(query, page)).ms);
    const c = (await w.counters()).fetch;
    return {
      page,
      items: cold.body.items.length,
      cold_ms: ms(cold.ms),
      p50_ms: ms(percentile(times, 50)),
      p95_ms: ms(percentile(times, 95)),
      r2_reads_per_request: Number((c.r2ClassB / (runs + 1)).toFixed(1)),
      d1_rows_read_per_request: Math.round(c.d1RowsRead / (runs + 1)),
      body: cold.body,
    };
  };
  const requests = {};
  for (const [name, query] of Object.entries(filters)) {
    const { body, ...first } = await measure(query, 1);
    const deepPage = Math.ceil(body.pages / 2);
    const deep = deepPage > 1 ? await measure(query, deepPage) : null;
    if (deep) delete deep.body;
    requests[name] = { query, total: body.total, pages: body.pages, first, deep };
    note(
      `list ${name}: total ${body.total}; first page p50 ${first.p50_ms} ms, p95 ${first.p95_ms} ms; deep page ${deep ? `${deep.page}: p50 ${deep.p50_ms} ms, p95 ${deep.p95_ms} ms` : "-"}`,
    );
  }
  const seeded = perHour * hours.length;
  if (requests.none.total !== seeded + hot)
    throw new Error(`list: the unfiltered total is ${requests.none.total}, not ${seeded} archived + ${hot} hot`);
  const worst = Math.max(...Object.values(requests).flatMap((r) => [r.first.p95_ms, r.deep?.p95_ms ?? 0]));
  return {
    history: { archived: seeded, hours: hours.length, per_hour: perHour, hot, days: RETENTION_DAYS },
    seed_seconds: Math.round(seedSeconds),
    runs_per_request: runs,
    per_page: 20,
    timing:
      "client-side wall time of one GET on 127.0.0.1 (the Worker under Miniflare, local D1 and R2), after one untimed request (cold_ms); p50/p95 of the timed runs",
    requests,
    worst_p95_ms: ms(worst),
    all_within_1s: worst < 1000,
  };
}
