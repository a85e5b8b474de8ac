#!/usr/bin/env node
// `npm run bench:volume`: how much one D1 database holds, and how fast a large history reads. About 3 to 5 minutes on
// a shared 2-core machine; everything on 127.0.0.1; writes bench/volume.json.
//
// 1. Storage, from a real run (the instrumented Worker, bench/instrumented.ts, under Miniflare's own API, its clock
//    moved hour by hour): a UTC day of traffic through the real code (publish, deliver with retries, some deliveries
//    failing for good, some cancelled by a webhook delete), the storage cron after every hour, and the hours after it
//    until everything is sealed. Busy webhooks (tenants of 3) get --busy-per-hour deliveries an hour each, sparse ones
//    one an hour. Bytes per unit come from dbstat over the local D1 file (every table and index, no VACUUM), measured
//    at the high-water mark (the last hour delivered, HOT_WINDOW_HOURS + 2 hours of partitions live) and once all is
//    sealed: a hot delivery and event, an archive_days row of a busy and of a sparse webhook-day (and of their
//    owners' events), archive_hours rows, stats rows, webhooks, and the free pages partition drops leave.
//    From them (volume/capacity.mjs): the deliveries a day whose 30 days fit in 70% of 10 GB, at fan-out 1 and 3, for
//    the stated mix (90% of deliveries to busy webhooks, 10% to sparse ones).
// 2. A filtered list over 30 days of a webhook with 1M deliveries: the history seeded hour by hour through the real
//    archive code (bench/archive-seed.ts: writeDeliveryChunk, as the seal calls it; a seeded mix of statuses, event
//    types, status codes and error classes), a few hours of hot deliveries published for real, then the list API timed
//    with each filter, first page and a deep page.
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { mapBounded } from "../../scripts/lib/bounded-map.mjs";
import { intOption, parseCli, progressNote } from "../../scripts/lib/cli.mjs";
import { ensureRecentNode } from "../../scripts/lib/node-runtime.mjs";
import { stopProcessGroup } from "../../scripts/lib/process.mjs";
import { createRig, DAY_MS, eventOf, HOUR_MS, runBench, STORAGE_CRON } from "../harness.mjs";
import { capacityPerDay, D1_LIMIT_BYTES, USABLE_SHARE } from "./capacity.mjs";
import { measureListLatency } from "./list-latency.mjs";
import { archiveDaysUnits, measureFile } from "./storage.mjs";

const USAGE = `Usage: npm run bench:volume -- [options]

About 3 to 5 minutes (2-core machine, others' tests beside it); everything on 127.0.0.1. Run it alone:
  flock /tmp/heavy.lock npm run bench:volume

Options:
  --busy-per-hour <n>  deliveries an hour to each busy webhook in the storage run (default 40)
  --sparse <n>         sparse webhooks (one delivery an hour each) in the storage run (default 40)
  --history <n>        archived deliveries of the listed webhook (default 1000000)
  --runs <n>           timed runs of each list request (default 10, after one untimed)
  --keep               keep the temporary directory (logs, databases) and print its path
  --no-write           do not write bench/volume.json
  -h, --help           this help
`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const t0 = Date.now();
const note = progressNote("volume", t0);
const TIME_LIMIT_MS = 25 * 60_000;
const BUSY_TENANTS = 2;
const BUSY_FAN_OUT = 3;
const DOOMED_PER_HOUR = 5; // deliveries of a webhook deleted at once: cancelled
const TRAFFIC_HOURS = 24; // one UTC day
const EVENT_TYPES = ["user.created", "user.updated", "session.created", "group.member_added"];
const HOT_WINDOW_HOURS = 4; // wrangler.toml's; checked against the Worker's config below
const TARGET_PER_DAY = 10_000_000;

function readOptions() {
  const opts = parseCli({
    usage: USAGE,
    name: "bench:volume",
    allowNegative: true,
    options: {
      "busy-per-hour": { type: "string", default: "40" },
      sparse: { type: "string", default: "40" },
      history: { type: "string", default: "1000000" },
      runs: { type: "string", default: "10" },
      keep: { type: "boolean", default: false },
      write: { type: "boolean", default: true },
    },
  });
  return {
    busyPerHour: intOption(opts, "busy-per-hour", 3, 2000),
    sparse: intOption(opts, "sparse", 1, 1000),
    history: intOption(opts, "history", 1000, 5_000_000),
    runs: intOption(opts, "runs", 1, 50),
    keep: opts.keep,
    write: opts.write,
  };
}

/** Part 1: a day of traffic through the real code, hour by hour, and what the database holds of it. */
async function storageRun(rig, o) {
  const w = await rig.startWorker("volume-storage", { RETRY_SCHEDULE: "1" });
  note(`storage run: Worker on ${w.base}`);
  const hook = (kind, i) => `${rig.receiver.base}/flaky/vol-${kind}/5/50/${i}`; // 1 in 5 fails once, 1 in 50 for good
  const busyTenants = Array.from({ length: BUSY_TENANTS }, (_, t) => `tnt_vol_busy_${t}`);
  const sparseTenants = Array.from({ length: o.sparse }, (_, t) => `tnt_vol_sparse_${t}`);
  const busy = await mapBounded(
    busyTenants.flatMap((tenant) => Array.from({ length: BUSY_FAN_OUT }, (_, i) => ({ tenant, i }))),
    4,
    async ({ tenant, i }) => ({ tenant, id: await w.createWebhook(tenant, hook("busy", `${tenant}-${i}`)) }),
  );
  const sparse = await mapBounded(sparseTenants, 4, async (tenant) => ({
    tenant,
    id: await w.createWebhook(tenant, hook("sparse", tenant)),
  }));
  const busyEventsPerHour = o.busyPerHour; // each reaches the tenant's 3 webhooks
  // Hour 0 is the next UTC midnight (at least an hour ahead), so the day's archive_days rows hold the whole day.
  const day0 = Math.ceil((Date.now() + HOUR_MS) / DAY_MS) * DAY_MS;
  const moveTo = (k, minute = 5) => w.setClock(day0 + k * HOUR_MS + minute * 60_000 - Date.now());
  let published = 0;
  let cancelledByDelete = 0;
  let doomedDeliveries = 0; // of webhooks deleted right after (not in any list afterwards)
  let n = 0;
  let highWater = null;
  for (let k = 0; k < TRAFFIC_HOURS; k++) {
    // As in production, a storage run early in the hour makes the next hour's partitions (and seals nothing yet).
    await moveTo(k, 2);
    await w.cron(STORAGE_CRON);
    await moveTo(k);
    const events = [
      ...busyTenants.flatMap((tenant) => Array.from({ length: busyEventsPerHour }, () => tenant)),
      ...sparseTenants,
    ].map((tenant) => eventOf({ tenant, n: n++, type: EVENT_TYPES[n % EVENT_TYPES.length] }));
    const made = await mapBounded(events, 4, async (e) => (await w.call("POST", "/api/v1/events", e)).deliveries);
    published += made.reduce((a, b) => a + b, 0);
    // A webhook deleted with its deliveries unsent: they are cancelled (and stay in the history).
    const doomedTenant = `tnt_vol_doomed_${k}`;
    const doomed = await w.createWebhook(doomedTenant, hook("doomed", k));
    const cancelledBefore = (await w.state()).deliveries_by_status.cancelled ?? 0;
    for (let i = 0; i < DOOMED_PER_HOUR; i++)
      doomedDeliveries += (await w.call("POST", "/api/v1/events", eventOf({ tenant: doomedTenant, n: n++ })))
        .deliveries;
    await w.call("DELETE", `/api/v1/admin/webhooks/${doomed}`);
    const settled = await w.settled(0);
    cancelledByDelete += (settled.deliveries_by_status.cancelled ?? 0) - cancelledBefore;
    if (k === TRAFFIC_HOURS - 1) {
      // The high-water mark: the last hour delivered, its storage run not yet done.
      highWater = { state: settled, file: measureFile(w.persistTo) };
    }
    await w.cron(STORAGE_CRON);
    if (k % 6 === 5) note(`storage run: hour ${k + 1} of ${TRAFFIC_HOURS}, ${published} deliveries so far`);
  }
  // The hours after the day, until every hour of it is sealed.
  for (let k = TRAFFIC_HOURS; k <= TRAFFIC_HOURS + HOT_WINDOW_HOURS + 2; k++) {
    await moveTo(k);
    for (let runs = 0; runs < 10; runs++) {
      await w.cron(STORAGE_CRON);
      if ((await w.state()).sealable_hours.length === 0) break;
    }
  }
  const end = await w.state();
  if (Object.values(end.deliveries_by_status).reduce((a, b) => a + b, 0) !== 0)
    throw new Error(`storage run: deliveries left in D1 after sealing: ${JSON.stringify(end)}`);
  // Everything published is in the history the API reads (the deleted webhooks' lists are gone with them).
  const visible = (
    await mapBounded(
      [...busy, ...sparse],
      4,
      async ({ id }) => (await w.call("GET", `/api/v1/admin/webhooks/${id}/deliveries?per_page=1`)).total,
    )
  ).reduce((a, b) => a + b, 0);
  const sealed = measureFile(w.persistTo);
  const units = archiveDaysUnits(w.persistTo, {
    busyScopes: busy.map((b) => b.id),
    sparseScopes: sparse.map((s) => s.id),
    busyOwners: busyTenants.map((t) => `ev:t:${t}`),
    sparseOwners: sparseTenants.map((t) => `ev:t:${t}`),
  });
  const receiver = await rig.receiver.stats();
  await stopProcessGroup(w.child);
  return {
    published: published + doomedDeliveries,
    doomedDeliveries,
    visible,
    cancelledByDelete,
    busyPerHour: o.busyPerHour,
    sparse: o.sparse,
    webhooks: { busy: busy.length, sparse: sparse.length, doomed: TRAFFIC_HOURS },
    highWater,
    sealed,
    units,
    attemptsAnswered: receiver.byTag,
  };
}

const round = (x, digits = 1) => (x === null || x === undefined ? null : Number(x.toFixed(digits)));

/** The bytes per unit from the storage run. */
function unitsOf(run) {
  const hw = run.highWater.file;
  const sum = (objects) => objects.reduce((a, o) => a + o.bytes, 0);
  const partition = (kind) => hw.objects.filter((o) => new RegExp(`^${kind}_p\\d+`).test(o.table));
  const rowsOf = (kind) =>
    hw.rowCounts.filter((r) => new RegExp(`^${kind}_p\\d+$`).test(r.table)).reduce((a, r) => a + r.rows, 0);
  const hotDeliveries = rowsOf("deliveries");
  const hotEvents = rowsOf("events");
  const partitionBytes = sum(partition("deliveries")) + sum(partition("events"));
  const otherBytes = sum(hw.objects) - partitionBytes;
  // What the partitions take in the file: their pages and the free pages (left by drops, not yet reused).
  const hotOverhead = (hw.fileBytes - otherBytes) / partitionBytes;
  const tableBytes = (name) => sum(run.sealed.objects.filter((o) => o.table === name));
  const rows = (name) => run.sealed.rowCounts.find((r) => r.table === name)?.rows ?? 0;
  return {
    hot_delivery_bytes: round(sum(partition("deliveries")) / hotDeliveries),
    hot_event_bytes: round(sum(partition("events")) / hotEvents),
    hot_overhead_factor: round(hotOverhead, 3),
    ...run.units,
    stats_hourly_row_bytes: round(tableBytes("webhook_stats_hourly") / rows("webhook_stats_hourly")),
    stats_daily_row_bytes: round(tableBytes("webhook_stats_daily") / rows("webhook_stats_daily")),
    webhook_bytes: round(tableBytes("webhook_endpoints") / rows("webhook_endpoints")),
    at_high_water: {
      hot_deliveries: hotDeliveries,
      hot_events: hotEvents,
      file_bytes: hw.fileBytes,
      free_bytes: hw.freeBytes,
      partition_bytes: partitionBytes,
      other_bytes: otherBytes,
    },
    once_sealed: {
      file_bytes: run.sealed.fileBytes,
      free_bytes: run.sealed.freeBytes,
      by_table: Object.fromEntries(
        [...new Set(run.sealed.objects.map((o) => o.table))]
          .map((t) => [t, { bytes: tableBytes(t), rows: rows(t) }])
          .filter(([, v]) => v.bytes > 4096 || v.rows > 0),
      ),
    },
  };
}

async function main(o, state) {
  const rig = await createRig({ root, tool: "volume", note, state });
  const run = await storageRun(rig, o);
  if (run.visible !== run.published - run.doomedDeliveries)
    throw new Error(
      `storage run: the list API sees ${run.visible} of ${run.published - run.doomedDeliveries} deliveries`,
    );
  const units = unitsOf(run);
  note(
    `units: hot delivery ${units.hot_delivery_bytes} B, hot event ${units.hot_event_bytes} B (x${units.hot_overhead_factor} in the file); archive_days busy ${units.archive_days_row_bytes.busy_webhook_day} B, sparse ${units.archive_days_row_bytes.sparse_webhook_day} B`,
  );
  const mix = {
    busy_share: 0.9,
    busy_deliveries_per_webhook_day: o.busyPerHour * 24,
    sparse_share: 0.1,
    sparse_deliveries_per_webhook_day: 24,
    hot_window_hours: HOT_WINDOW_HOURS,
    peak_hours_in_d1: HOT_WINDOW_HOURS + 2,
    retention_days: 30,
    stats_hourly_kept_hours: 26, // HOURLY_STATS_KEPT_MS
    stats_daily_kept_days: 35,
  };
  const capacity = Object.fromEntries([1, 3].map((f) => [`fanout_${f}`, capacityPerDay(units, { ...mix, fanOut: f })]));
  note(
    `capacity at 30 days: fan-out 1 ${capacity.fanout_1.deliveries_per_day.toLocaleString()}/day, fan-out 3 ${capacity.fanout_3.deliveries_per_day.toLocaleString()}/day`,
  );
  const list = await measureListLatency(rig, { history: o.history, runs: o.runs, note });
  return {
    generated_at: new Date().toISOString(),
    command: "flock /tmp/heavy.lock npm run bench:volume",
    capacity_deliveries_per_day_at_30_days: {
      fanout_1: capacity.fanout_1.deliveries_per_day,
      fanout_3: capacity.fanout_3.deliveries_per_day,
    },
    target: {
      deliveries_per_day_fanout_1: TARGET_PER_DAY,
      met: capacity.fanout_1.deliveries_per_day >= TARGET_PER_DAY,
      list_within_ms: 1000,
      list_met: list.all_within_1s,
    },
    limit: { d1_bytes: D1_LIMIT_BYTES, usable_share: USABLE_SHARE },
    mix,
    units,
    capacity,
    storage_run: {
      deliveries: run.published,
      of_deleted_webhooks: run.doomedDeliveries,
      cancelled_by_webhook_delete: run.cancelledByDelete,
      visible_through_the_api: run.visible,
      webhooks: run.webhooks,
      busy_deliveries_per_webhook_hour: run.busyPerHour,
      receiver_requests_by_kind: run.attemptsAnswered,
      deliveries_by_status_at_high_water: run.highWater.state.deliveries_by_status,
    },
    list_latency: list,
    duration_s: Math.round((Date.now() - t0) / 1000),
  };
}

await ensureRecentNode("npm run bench:volume");
const options = readOptions();
await runBench({
  tool: "bench:volume",
  note,
  timeLimitMs: TIME_LIMIT_MS,
  keep: options.keep,
  main: (state) => main(options, state),
  done: (result) => {
    process.stdout.write(
      `capacity_deliveries_per_day_at_30_days: ${JSON.stringify(result.capacity_deliveries_per_day_at_30_days)}\n`,
    );
    process.stdout.write(`targets: ${JSON.stringify(result.target)}\n`);
    for (const [name, r] of Object.entries(result.list_latency.requests))
      process.stdout.write(
        `list ${name}: first page p50 ${r.first.p50_ms} ms p95 ${r.first.p95_ms} ms; deep page (${r.deep?.page ?? "-"}) p50 ${r.deep?.p50_ms ?? "-"} ms p95 ${r.deep?.p95_ms ?? "-"} ms; total ${r.total}\n`,
      );
    if (options.write) {
      writeFileSync(join(root, "bench", "volume.json"), `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write("Wrote bench/volume.json.\n");
    }
  },
});
