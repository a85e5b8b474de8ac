#!/usr/bin/env node
// `npm run bench:cost`: what a delivery's whole life costs, through the real code, counted by D1 itself. About 2 to 3
// minutes on a shared 2-core machine; everything on 127.0.0.1; writes bench/cost.json.
//
// For each scenario (fan-out 1, fan-out 3, and sparse: fan-out 1 to webhooks that get one delivery each), on a fresh
// database, the instrumented Worker (bench/instrumented.ts) under Miniflare's own API:
//   A. publishes events of 1 KiB to the webhooks; the receiver answers one delivery in five 503 once, then 200 (1.2
//      attempts a delivery; RETRY_SCHEDULE "1,1,1" so retries come within seconds), while the retry sweep runs every
//      20 s; waits until every delivery succeeded;
//   B. moves the Worker's clock (services.now(), bench-only) past HOT_WINDOW_HOURS + 1 h and runs the storage cron until
//      the deliveries' hours are sealed (history in R2, partitions dropped), then checks the list API still sees them;
//   C. moves it past RETENTION_DAYS and STATS_RETENTION_DAYS and runs the storage cron until retention is done.
// Every statement's rows (D1's meta) are attributed to a stage (cost/stages.mjs); a delivery's rows are the sum over
// the stages; per-run costs of the crons and per-hour partition DDL are reported apart (they do not grow with
// deliveries). Dollars from bench/prices.mjs; capacity from bench/volume.json (npm run bench:volume).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { mapBounded } from "../../scripts/lib/bounded-map.mjs";
import { intOption, parseCli, progressNote, sleep } from "../../scripts/lib/cli.mjs";
import { ensureRecentNode } from "../../scripts/lib/node-runtime.mjs";
import { stopProcessGroup } from "../../scripts/lib/process.mjs";
import { workerdCpuMeter } from "../cpu.mjs";
import { createRig, DAY_MS, eventOf, HOUR_MS, runBench, STORAGE_CRON, SWEEP_CRON } from "../harness.mjs";
import { DAYS_PER_MONTH, PRICES, PRICES_CHECKED_ON } from "../prices.mjs";
import { rowsByStage, STAGE_GROUPS, statementTable } from "./stages.mjs";

const USAGE = `Usage: npm run bench:cost -- [options]

About 2 to 3 minutes (2-core machine, others' tests beside it); everything on 127.0.0.1. Run it alone:
  flock /tmp/heavy.lock npm run bench:cost

Options:
  --deliveries <n>   deliveries of the fan-out 1 and fan-out 3 scenarios (default 1200; a multiple of 15)
  --sparse <n>       webhooks of the sparse scenario, one delivery each (default 150; 0: skip it)
  --no-flow-control  skip the flow-control scenarios (a webhook with a rate limit, an ordered one)
  --keep             keep the temporary directory (logs, databases) and print its path
  --no-write         do not write bench/cost.json
  -h, --help         this help
`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const t0 = Date.now();
const note = progressNote("cost", t0);
const TIME_LIMIT_MS = 15 * 60_000;
const PUBLISH_CONCURRENCY = 4;
const SWEEP_EVERY_MS = 20_000;
const FAIL_ONCE_EVERY = 5; // 1.2 attempts a delivery
const WRANGLER_VARS = readFileSync(join(root, "wrangler.toml"), "utf8");
const varOf = (name, fallback) => Number(new RegExp(`^${name} = "(\\d+)"`, "m").exec(WRANGLER_VARS)?.[1] ?? fallback);
const HOT_WINDOW_HOURS = varOf("HOT_WINDOW_HOURS", 4);
const RETENTION_DAYS = varOf("RETENTION_DAYS", 30);
const STATS_RETENTION_DAYS = varOf("STATS_RETENTION_DAYS", 35);
const TARGETS = { rows_fanout_1: 10, rows_fanout_3: 7, dollars_per_million: 8 };
// Flow control's scenarios: a burst (PUBLISH_CONCURRENCY publishers) over a limit of RATE_LIMIT a second, and an
// ordered webhook's line of ORDERED_DELIVERIES.
const RATE_LIMIT = 10;
const ORDERED_DELIVERIES = 45;

function readOptions() {
  const opts = parseCli({
    usage: USAGE,
    name: "bench:cost",
    allowNegative: true,
    options: {
      deliveries: { type: "string", default: "1200" },
      sparse: { type: "string", default: "150" },
      "flow-control": { type: "boolean", default: true },
      keep: { type: "boolean", default: false },
      write: { type: "boolean", default: true },
    },
  });
  const deliveries = intOption(opts, "deliveries", 15, 20_000);
  if (deliveries % 15 !== 0) {
    process.stderr.write("--deliveries must be a multiple of 15\n");
    process.exit(2);
  }
  return {
    deliveries,
    sparse: intOption(opts, "sparse", 0, 1000),
    flowControl: opts["flow-control"],
    keep: opts.keep,
    write: opts.write,
  };
}

/**
 * A scenario's webhooks: `tenants` tenants of `fanOut` webhooks each, `eventsPerTenant` events each; `fields`, more of
 * each webhook's fields. Flow control: a rate limit a burst goes over (its refusals cost a claim, a release and a
 * message each), and an ordered webhook (one delivery at a time: a queue hop each, so fewer of them).
 */
const scenarios = (o) => [
  { name: "fanout_1", fanOut: 1, tenants: 1, eventsPerTenant: o.deliveries },
  { name: "fanout_3", fanOut: 3, tenants: 1, eventsPerTenant: o.deliveries / 3 },
  ...(o.sparse > 0 ? [{ name: "sparse_fanout_1", fanOut: 1, tenants: o.sparse, eventsPerTenant: 1 }] : []),
  ...(o.flowControl
    ? [
        {
          name: "rate_limited_fanout_1",
          fanOut: 1,
          tenants: 1,
          eventsPerTenant: o.deliveries / 8,
          fields: { rate_limit: RATE_LIMIT },
        },
        {
          name: "ordered_fanout_1",
          fanOut: 1,
          tenants: 1,
          eventsPerTenant: ORDERED_DELIVERIES,
          fields: { ordered: true },
        },
      ]
    : []),
];

/** Runs the storage cron until `done(state)` holds after a run (at most `maxRuns` runs). */
async function storageUntil(worker, done, maxRuns) {
  for (let runs = 1; runs <= maxRuns; runs++) {
    await worker.cron(STORAGE_CRON);
    const state = await worker.state();
    if (done(state)) return { runs, state };
  }
  throw new Error(`storage did not finish in ${maxRuns} runs: ${JSON.stringify(await worker.state())}`);
}

async function runScenario(rig, sc, calibrate) {
  const tag = `cost-${sc.name}`;
  const worker = await rig.startWorker(tag, { RETRY_SCHEDULE: "1,1,1" });
  note(`${sc.name}: Worker on ${worker.base}`);
  const deliveries = sc.tenants * sc.fanOut * sc.eventsPerTenant;
  const tenants = Array.from({ length: sc.tenants }, (_, t) => `tnt_cost_${sc.name}_${t}`);
  const webhooks = await mapBounded(
    tenants.flatMap((tenant) => Array.from({ length: sc.fanOut }, (_, i) => ({ tenant, i }))),
    4,
    ({ tenant, i }) =>
      worker.createWebhook(
        tenant,
        `${rig.receiver.base}/flaky/${tag}/${FAIL_ONCE_EVERY}/0/${tenant}-${i}`,
        ["user.created"],
        sc.fields,
      ),
  );
  const calibration = calibrate ? await worker.call("POST", "/__bench/calibrate") : null;
  const schema = await worker.schema();
  await worker.cron(STORAGE_CRON); // this hour's and the next hour's partitions, as production has them beforehand
  await worker.reset();

  // A. Publish and deliver.
  note(
    `${sc.name}: A. ${sc.tenants * sc.eventsPerTenant} events to ${webhooks.length} webhook(s): ${deliveries} deliveries`,
  );
  const meter = workerdCpuMeter(worker);
  meter.start();
  const startedA = Date.now();
  let sweeps = 0;
  let sweeping = Promise.resolve();
  const sweepTimer = setInterval(() => {
    sweeping = sweeping.then(() => worker.cron(SWEEP_CRON).then(() => sweeps++));
  }, SWEEP_EVERY_MS);
  await worker.cron(SWEEP_CRON);
  sweeps++;
  await mapBounded(
    tenants.flatMap((tenant) => Array.from({ length: sc.eventsPerTenant }, (_, n) => ({ tenant, n }))),
    PUBLISH_CONCURRENCY,
    ({ tenant, n }) => worker.call("POST", "/api/v1/events", eventOf({ tenant, n })),
  );
  const settled = await worker.settled(deliveries);
  clearInterval(sweepTimer);
  await sweeping;
  await worker.cron(SWEEP_CRON);
  sweeps++;
  const succeeded = settled.deliveries_by_status.success ?? 0;
  if (succeeded !== deliveries)
    throw new Error(`${sc.name}: ${succeeded} of ${deliveries} succeeded: ${JSON.stringify(settled)}`);
  await sleep(1500); // the last acks
  const cpuA = meter.stop();
  const phaseA = await worker.counters();
  const deliverySeconds = (Date.now() - startedA) / 1000;
  note(
    `${sc.name}:    ${deliveries} succeeded in ${deliverySeconds.toFixed(0)} s, ${settled.attempts} attempts (${(settled.attempts / deliveries).toFixed(2)} a delivery), ${sweeps} sweeps`,
  );
  await worker.reset();

  // B. Past the hot window: seal.
  const sealOffset = (HOT_WINDOW_HOURS + 2) * HOUR_MS + 10 * 60_000;
  await worker.setClock(sealOffset);
  meter.start();
  const sealed = await storageUntil(
    worker,
    (s) => s.sealable_hours.length === 0 && Object.values(s.deliveries_by_status).reduce((a, b) => a + b, 0) === 0,
    40,
  );
  const cpuB = meter.stop();
  const phaseB = await worker.counters();
  note(`${sc.name}: B. sealed in ${sealed.runs} storage run(s): ${JSON.stringify(sealed.state.counts)}`);
  // History stays visible: the list API counts every delivery from the archive.
  const visible = (
    await mapBounded(
      webhooks,
      4,
      async (id) => (await worker.call("GET", `/api/v1/admin/webhooks/${id}/deliveries?per_page=1`)).total,
    )
  ).reduce((a, b) => a + b, 0);
  if (visible !== deliveries)
    throw new Error(`${sc.name}: the list API sees ${visible} of ${deliveries} after sealing`);
  await worker.reset();

  // C. Past retention.
  await worker.setClock((Math.max(RETENTION_DAYS, STATS_RETENTION_DAYS) + 2) * DAY_MS);
  meter.start();
  const retained = await storageUntil(
    worker,
    (s) =>
      s.sealable_hours.length === 0 &&
      s.counts.archive_hours === 0 &&
      s.counts.archive_days === 0 &&
      s.counts.webhook_stats_hourly === 0 &&
      s.counts.webhook_stats_daily === 0,
    40,
  );
  const cpuC = meter.stop();
  const phaseC = await worker.counters();
  note(`${sc.name}: C. retention done in ${retained.runs} storage run(s)`);
  await stopProcessGroup(worker.child);

  return {
    sc,
    deliveries,
    webhooks: webhooks.length,
    attempts: settled.attempts,
    sweeps,
    sealRuns: sealed.runs,
    retentionRuns: retained.runs,
    deliverySeconds,
    cpu: { A: cpuA.cpu_ms, B: cpuB.cpu_ms, C: cpuC.cpu_ms },
    phases: { A: phaseA, B: phaseB, C: phaseC },
    schema,
    calibration,
  };
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const round = (x, digits = 3) => (x === null || x === undefined ? null : Number(x.toFixed(digits)));
const bucketsOf = (phase, pattern) =>
  Object.entries(phase.buckets)
    .filter(([trigger]) => pattern.test(trigger))
    .map(([, b]) => b);

/** Everything one scenario's run says, per delivery. */
function analyse(run) {
  const n = run.deliveries;
  const phases = Object.entries(run.phases).map(([name, counters]) => ({
    name,
    ...rowsByStage(counters, { schema: run.schema }),
  }));
  const fine = {};
  for (const p of phases)
    for (const [stage, v] of Object.entries(p.stages)) {
      fine[stage] ??= { local: 0, all: 0, with_drops: 0, rows_read: 0, statements: 0 };
      for (const k of Object.keys(v)) fine[stage][k] += v[k];
    }
  const group = (key) =>
    Object.fromEntries(
      Object.entries(STAGE_GROUPS).map(([name, stages]) => [
        name,
        round(sum(stages.map((s) => fine[s]?.[key] ?? 0)) / n),
      ]),
    );
  const perDeliveryStages = Object.values(STAGE_GROUPS).flat();
  const local = sum(perDeliveryStages.map((s) => fine[s]?.local ?? 0)) / n;
  const all = sum(perDeliveryStages.map((s) => fine[s]?.all ?? 0)) / n;
  const withDrops = sum(perDeliveryStages.map((s) => fine[s]?.with_drops ?? 0)) / n;
  const rowsRead = sum(perDeliveryStages.map((s) => fine[s]?.rows_read ?? 0)) / n;

  // Fixed costs: per cron run, and per hour (a partition's DDL; the seal of an hour with no deliveries, from phase C).
  const sweepFixed = run.phases.A.buckets[`cron:${SWEEP_CRON}`];
  const sweepFixedRows = sweepFixed
    ? sum(
        Object.entries(sweepFixed.d1ByStatement)
          .filter(([s]) => !/SET in_queue = 1/.test(s))
          .map(([, c]) => c.rowsWritten),
      ) / run.sweeps
    : null;
  const storageRuns = run.sealRuns + run.retentionRuns;
  const cronFixedStorage =
    sum(
      [run.phases.B, run.phases.C].flatMap((p) =>
        Object.entries(p.buckets[`cron:${STORAGE_CRON}`]?.d1ByStatement ?? {})
          .filter(([s]) => /job_cursors|job_runs/.test(s))
          .map(([, c]) => c.rowsWritten),
      ),
    ) / storageRuns;
  const droppedInC = run.phases.C.buckets[`cron:${STORAGE_CRON}`]?.dropped.tables ?? 0;
  const hoursSealedInC = droppedInC / 2;
  const cPhase = phases.find((p) => p.name === "C");
  const partitionDdl = fine.partitions?.local ?? 0;
  const partitionHoursCreated = sum(
    Object.values(run.phases).flatMap((p) =>
      Object.values(p.buckets).flatMap((b) =>
        Object.entries(b.d1ByStatement)
          .filter(([s]) => /^CREATE TABLE IF NOT EXISTS "deliveries_p\*"/.test(s))
          .map(([, c]) => c.calls),
      ),
    ),
  );

  // Queue operations: each message written, read and deleted once (its retry is a new message); probes apart.
  const all3 = Object.values(run.phases);
  const sent = sum(all3.flatMap((p) => Object.values(p.buckets).map((b) => b.queueMessagesSent - b.queueProbesSent)));
  const received = sum(
    all3.flatMap((p) => Object.values(p.buckets).map((b) => b.queueMessagesReceived - b.queueProbesReceived)),
  );
  const queueOps = (sent + 2 * received) / n;
  const r2 = (key) => sum(all3.flatMap((p) => Object.values(p.buckets).map((b) => b[key]))) / n;
  const requests =
    (sum(bucketsOf(run.phases.A, /^fetch$/).map((b) => b.invocations)) +
      sum(bucketsOf(run.phases.A, /^queue$/).map((b) => b.invocations))) /
    n;
  const cpuMs = sum(Object.values(run.cpu).filter((x) => typeof x === "number")) / n;
  const retentionMonths = RETENTION_DAYS / DAYS_PER_MONTH;
  const per = {
    d1_rows_written: local,
    d1_rows_written_all_index_entries: all,
    d1_rows_read: rowsRead,
    queue_operations: queueOps,
    r2_class_a: r2("r2ClassA"),
    r2_class_b: r2("r2ClassB"),
    r2_bytes_stored_for_retention: r2("r2BytesPut"),
    workers_requests: requests,
    workers_cpu_ms_upper_bound: cpuMs,
  };
  const dollars = (rowsWritten) => {
    const parts = {
      d1_rows_written: rowsWritten * PRICES.d1.rows_written_per_million,
      d1_rows_read: per.d1_rows_read * PRICES.d1.rows_read_per_million,
      queues: per.queue_operations * PRICES.queues.operations_per_million,
      r2_operations: per.r2_class_a * PRICES.r2.class_a_per_million + per.r2_class_b * PRICES.r2.class_b_per_million,
      r2_storage: ((per.r2_bytes_stored_for_retention * 1e6) / 1e9) * retentionMonths * PRICES.r2.storage_gb_month,
      workers_requests: per.workers_requests * PRICES.workers.requests_per_million,
      workers_cpu: per.workers_cpu_ms_upper_bound * PRICES.workers.cpu_ms_per_million,
    };
    // Per delivery × 1e6 = per million deliveries; r2_storage is computed per million already.
    const perMillion = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, round(v, 4)]));
    return { total: round(sum(Object.values(parts)), 3), parts: perMillion };
  };
  return {
    deliveries: n,
    webhooks: run.webhooks,
    attempts_per_delivery: round(run.attempts / n),
    delivery_seconds: round(run.deliverySeconds, 1),
    rows_written_per_delivery: round(local),
    rows_written_per_delivery_all_index_entries: round(all),
    rows_written_per_delivery_if_drops_billed_per_row: round(withDrops),
    by_stage: group("local"),
    by_stage_all_index_entries: group("all"),
    by_stage_if_drops_billed_per_row: group("with_drops"),
    by_fine_stage: Object.fromEntries(
      Object.entries(fine).map(([k, v]) => [
        k,
        {
          local: round(v.local / n),
          all: round(v.all / n),
          with_drops: round(v.with_drops / n),
          rows_read: round(v.rows_read / n),
        },
      ]),
    ),
    all_index_extra_per_delivery: Object.fromEntries(
      ["deletes", "drops", "partial_index_exits"].map((k) => [k, round(sum(phases.map((p) => p.extra[k])) / n)]),
    ),
    per_delivery: Object.fromEntries(Object.entries(per).map(([k, v]) => [k, round(v, 4)])),
    dollars_per_million: dollars(local),
    dollars_per_million_all_index_entries: dollars(all),
    dollars_per_million_if_drops_billed_per_row: dollars(withDrops),
    fixed: {
      sweep_rows_per_run: round(sweepFixedRows, 2),
      storage_rows_per_run: round(cronFixedStorage, 2),
      partition_ddl_rows_per_hour: round(partitionDdl / Math.max(1, partitionHoursCreated), 2),
      seal_of_an_empty_hour_rows:
        hoursSealedInC > 0 ? round((cPhase?.stages.archive?.local ?? 0) / hoursSealedInC, 2) : null,
      sweeps: run.sweeps,
      storage_runs: { seal: run.sealRuns, retention: run.retentionRuns },
    },
    statements: {
      A: statementTable(run.phases.A).slice(0, 25),
      B: statementTable(run.phases.B).slice(0, 25),
      C: statementTable(run.phases.C).slice(0, 25),
    },
    cpu_ms: run.cpu,
  };
}

/** The platform's floor per million deliveries: one queue message at 1.2 attempts, one D1 row, one request and its CPU. */
function floor() {
  let baselineCpuMs = 0.54;
  let cpuSource = "assumed 0.54 ms (the bench's queue-only consumer, docs/performance.md)";
  try {
    const results = JSON.parse(readFileSync(join(root, "bench", "results.json"), "utf8"));
    if (typeof results.cpu_ms_per_baseline_delivery === "number") {
      baselineCpuMs = results.cpu_ms_per_baseline_delivery;
      cpuSource = `bench/results.json cpu_ms_per_baseline_delivery (${results.finished_at})`;
    }
  } catch {}
  const parts = {
    queues: 3 * 1.2 * PRICES.queues.operations_per_million,
    d1_one_row: PRICES.d1.rows_written_per_million,
    workers_one_request: PRICES.workers.requests_per_million,
    workers_cpu: baselineCpuMs * PRICES.workers.cpu_ms_per_million,
  };
  return {
    total: round(sum(Object.values(parts)), 3),
    parts: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, round(v, 4)])),
    cpu_source: cpuSource,
  };
}

function capacityFromVolume() {
  try {
    const volume = JSON.parse(readFileSync(join(root, "bench", "volume.json"), "utf8"));
    if (volume.capacity_deliveries_per_day_at_30_days?.fanout_1 !== undefined)
      return {
        value: volume.capacity_deliveries_per_day_at_30_days,
        source: `bench/volume.json (npm run bench:volume, ${volume.generated_at})`,
      };
  } catch {}
  return { value: { fanout_1: null, fanout_3: null }, source: "not measured: run npm run bench:volume first" };
}

async function main(options, state) {
  const rig = await createRig({ root, tool: "cost", note, state });
  const runs = {};
  let calibration = null;
  for (const sc of scenarios(options)) {
    const run = await runScenario(rig, sc, calibration === null);
    calibration ??= run.calibration;
    runs[sc.name] = analyse(run);
    const r = runs[sc.name];
    note(
      `${sc.name}: ${r.rows_written_per_delivery} rows written a delivery (${r.rows_written_per_delivery_all_index_entries} with every index entry); $${r.dollars_per_million.total} per million ($${r.dollars_per_million_all_index_entries.total})`,
    );
  }
  const capacity = capacityFromVolume();
  const byFanOut = (f) => Object.fromEntries(["fanout_1", "fanout_3"].map((k) => [k, f(runs[k])]));
  const fixed = runs.fanout_1.fixed;
  const fixedPerDay =
    fixed.sweep_rows_per_run * 1440 +
    fixed.storage_rows_per_run * 480 +
    24 * (fixed.partition_ddl_rows_per_hour + (fixed.seal_of_an_empty_hour_rows ?? 0));
  const result = {
    generated_at: new Date().toISOString(),
    command: "flock /tmp/heavy.lock npm run bench:cost",
    rows_written_per_delivery: byFanOut((r) => r.rows_written_per_delivery),
    rows_written_per_delivery_all_index_entries: byFanOut((r) => r.rows_written_per_delivery_all_index_entries),
    dollars_per_million_deliveries: byFanOut((r) => r.dollars_per_million.total),
    dollars_per_million_deliveries_all_index_entries: byFanOut((r) => r.dollars_per_million_all_index_entries.total),
    rows_written_per_delivery_if_drops_billed_per_row: byFanOut(
      (r) => r.rows_written_per_delivery_if_drops_billed_per_row,
    ),
    dollars_per_million_deliveries_if_drops_billed_per_row: byFanOut(
      (r) => r.dollars_per_million_if_drops_billed_per_row.total,
    ),
    // What a webhook with flow control pays (fan-out 1, the same receiver): present unless --no-flow-control.
    ...(runs.rate_limited_fanout_1 && runs.ordered_fanout_1
      ? {
          flow_control: Object.fromEntries(
            [
              ["rate_limited", runs.rate_limited_fanout_1, `rate_limit ${RATE_LIMIT}, a burst over it`],
              ["ordered", runs.ordered_fanout_1, "ordered"],
            ].map(([key, r, what]) => [
              key,
              {
                webhook: what,
                deliveries: r.deliveries,
                rows_written_per_delivery: r.rows_written_per_delivery,
                rows_written_per_delivery_all_index_entries: r.rows_written_per_delivery_all_index_entries,
                attempts_per_delivery: r.attempts_per_delivery,
                by_stage: r.by_stage,
                dollars_per_million: r.dollars_per_million.total,
                delivery_seconds: r.delivery_seconds,
              },
            ]),
          ),
        }
      : {}),
    floor_dollars_per_million: floor().total,
    capacity_deliveries_per_day_at_30_days: capacity.value,
    by_stage: byFanOut((r) => r.by_stage),
    by_stage_all_index_entries: byFanOut((r) => r.by_stage_all_index_entries),
    by_stage_if_drops_billed_per_row: byFanOut((r) => r.by_stage_if_drops_billed_per_row),
    targets: {
      rows_written_per_delivery_all_index_entries: { fanout_1: TARGETS.rows_fanout_1, fanout_3: TARGETS.rows_fanout_3 },
      dollars_per_million_deliveries: TARGETS.dollars_per_million,
      met: {
        rows_fanout_1: runs.fanout_1.rows_written_per_delivery_all_index_entries <= TARGETS.rows_fanout_1,
        rows_fanout_3: runs.fanout_3.rows_written_per_delivery_all_index_entries <= TARGETS.rows_fanout_3,
        // As D1 counts the rows it bills (meta.rows_written), and with every index entry removed counted too.
        dollars:
          Math.max(runs.fanout_1.dollars_per_million.total, runs.fanout_3.dollars_per_million.total) <=
          TARGETS.dollars_per_million,
        dollars_all_index_entries:
          Math.max(
            runs.fanout_1.dollars_per_million_all_index_entries.total,
            runs.fanout_3.dollars_per_million_all_index_entries.total,
          ) <= TARGETS.dollars_per_million,
      },
    },
    fixed_costs: {
      ...fixed,
      rows_per_day: round(fixedPerDay, 0),
      rows_per_delivery_at_1m_a_day: round(fixedPerDay / 1e6, 5),
      note: "per cron run (job records, the storage lease, the sweep's cursors and probe) and per hour (a partition pair's DDL; sealing an hour with no deliveries): not in the per-delivery figures",
    },
    floor: floor(),
    capacity_source: capacity.source,
    prices: { checked_on: PRICES_CHECKED_ON, ...PRICES },
    local_d1_counting: calibration,
    method: {
      payload_bytes: 1024,
      attempts: `the receiver answers every ${FAIL_ONCE_EVERY}th delivery 503 once, then 200`,
      retry_schedule: "1,1,1",
      hot_window_hours: HOT_WINDOW_HOURS,
      retention_days: RETENTION_DAYS,
      stats_retention_days: STATS_RETENTION_DAYS,
      stages:
        "publish: POST /api/v1/events; claim: the consumer's claim and reads; record: the delivery's update (and its exit from deliveries_open_idx); health_stats_watermark_sweep: endpoint health, hourly and daily stats, the queue watermark, the sweep's enqueues; archive: sealing (R2 chunks, archive_hours/archive_days upserts, the partition drops); retention: archive rows and stats past their retention",
      all_index_entries:
        "local D1's count plus the index entries it does not count: each deleted row's entries in every non-partial index of its table, and each delivery's removal from deliveries_open_idx when it ends (its last attempt recorded, or cancelled)",
      if_drops_billed_per_row:
        "all_index_entries plus every row and index entry a dropped partition held (counted just before the DROP): D1 bills a DROP TABLE no rows (it writes none; local D1 counts 0), so this is only the bound if it ever did",
      cpu: "workerd CPU from /proc during each phase, over deliveries: an upper bound (workerd also runs the local D1, queues and R2)",
      workers_requests: "publish requests and queue consumer invocations; cron runs are fixed costs",
    },
    scenarios: runs,
    duration_s: Math.round((Date.now() - t0) / 1000),
  };
  return result;
}

await ensureRecentNode("npm run bench:cost");
const options = readOptions();
await runBench({
  tool: "bench:cost",
  note,
  timeLimitMs: TIME_LIMIT_MS,
  keep: options.keep,
  main: (state) => main(options, state),
  done: (result) => {
    for (const k of [
      "rows_written_per_delivery",
      "rows_written_per_delivery_all_index_entries",
      "dollars_per_million_deliveries",
      "dollars_per_million_deliveries_all_index_entries",
      "rows_written_per_delivery_if_drops_billed_per_row",
      "dollars_per_million_deliveries_if_drops_billed_per_row",
      "floor_dollars_per_million",
      "capacity_deliveries_per_day_at_30_days",
      "by_stage",
    ])
      process.stdout.write(`${k}: ${JSON.stringify(result[k])}\n`);
    process.stdout.write(`targets met: ${JSON.stringify(result.targets.met)}\n`);
    if (options.write) {
      writeFileSync(join(root, "bench", "cost.json"), `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write("Wrote bench/cost.json.\n");
    }
  },
});
