// 2. Delivery throughput: events published → 2xx received → recorded as success in D1, per second, bracketed by the
// baseline's queue consumers (before and after): the one that fetches and records each outcome as a D1 row (the least a
// durable delivery costs: the target is judged against it), the one that only fetches, and its raw fetch loop;
// workerd's CPU per delivery for each. And the publish side's CPU alone, on a copy of the Worker without a queue consumer.
import { mapBounded } from "../../scripts/lib/bounded-map.mjs";
import { sleep } from "../../scripts/lib/cli.mjs";
import { api, DELIVERY_TENANT, eventFor, recordedSuccesses, waitFor } from "../client.mjs";
import { cpuDuring, workerdCpuMeter } from "../cpu.mjs";

const DELIVERY_TARGET_RATIO = 0.7;

/** Deliveries per second between 10% and 90% of the run: the steady rate, without ramp-up and tail. */
function sustained(series, total) {
  const at = (fraction) => series.find(([, got]) => got >= total * fraction);
  const a = at(0.1);
  const b = at(0.9);
  if (!a || !b || b[0] <= a[0]) return null;
  return ((b[1] - a[1]) / (b[0] - a[0])) * 1000;
}

const perUnit = (cpu, units) => (cpu.cpu_ms === null ? null : cpu.cpu_ms / units);

/** The baseline's fetch loop: n POSTs from one invocation, no queue. */
async function fetchLoop({ baseline, load }) {
  const r = await api(baseline.base, "POST", `/fetch-loop?n=${load.deliveries}&concurrency=${load.concurrency}`);
  if (r.ok !== load.deliveries) throw new Error(`fetch loop: ${r.ok}/${load.deliveries} answered 2xx`);
  return { deliveries: load.deliveries, seconds: r.ms / 1000, per_second: (load.deliveries / r.ms) * 1000 };
}

/**
 * A baseline queue consumer: enqueue as the publishes would, wait for every POST. `record`: the consumer that also
 * records every outcome in D1 (one statement per batch, before it acknowledges), done once every outcome is recorded,
 * as ours is.
 */
async function queueBaseline({ baseline, load, tagCount }, { record = false } = {}) {
  const tag = record ? "baseline-record" : "baseline";
  const recorded = async () => (await api(baseline.base, "GET", "/d1/outcomes")).recorded;
  const before = await tagCount(tag);
  const recordedBefore = record ? await recorded() : 0;
  const meter = workerdCpuMeter(baseline);
  meter.start();
  const started = performance.now();
  await mapBounded(
    Array.from({ length: load.events }, (_, i) => i),
    load.publishConcurrency,
    () => api(baseline.base, "POST", `/enqueue?n=${load.endpoints}${record ? "&record=1" : ""}`),
  );
  const series = [];
  await waitFor(
    `the baseline consumer${record ? " that records" : ""}`,
    async () => {
      const got = (await tagCount(tag)) - before;
      series.push([performance.now() - started, got]);
      return got >= load.deliveries;
    },
    { timeoutMs: 600_000, everyMs: 100 },
  );
  if (record)
    await waitFor(
      "the baseline's outcomes to be recorded",
      async () => (await recorded()) - recordedBefore >= load.deliveries,
      {
        timeoutMs: 120_000,
        everyMs: 100,
      },
    );
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter.stop();
  return {
    deliveries: load.deliveries,
    seconds,
    per_second: load.deliveries / seconds,
    sustained_per_second: sustained(series, load.deliveries),
    cpu_ms_per_delivery: perUnit(cpu, load.deliveries),
  };
}

/** Ours: publish every event (to `endpoints` endpoints each), until all are received and recorded as success. */
async function subjectRun({ subject, receiver, data, adminToken, load, tagCount, tag, cpuSampling, note }) {
  const before = await tagCount(`${tag}-delivery`);
  const recordedBefore = await recordedSuccesses(subject.base, adminToken, data.delivery);
  const meter = workerdCpuMeter(subject);
  meter.start();
  const started = performance.now();
  let publishedAt = 0;
  const publishing = mapBounded(
    Array.from({ length: load.events }, (_, i) => i),
    load.publishConcurrency,
    (i) => api(subject.base, "POST", "/api/v1/events", eventFor(DELIVERY_TENANT, i), adminToken),
  ).then(() => (publishedAt = performance.now() - started));
  const profiling = cpuSampling
    ? sleep(5000)
        .then(() =>
          cpuDuring(
            [
              { name: "subject", pgid: subject.child.pid },
              { name: "receiver", pid: receiver.child.pid },
              { name: "bench runner", pid: process.pid },
            ],
            10_000,
          ),
        )
        .catch((err) => ({ error: String(err) }))
    : null;
  const series = [];
  let lastNote = Date.now();
  await waitFor(
    "the subject's deliveries",
    async () => {
      const got = (await tagCount(`${tag}-delivery`)) - before;
      series.push([performance.now() - started, got]);
      if (Date.now() - lastNote > 15_000) {
        lastNote = Date.now();
        note(`   ${got}/${load.deliveries} received`);
      }
      return got >= load.deliveries;
    },
    { timeoutMs: 900_000, everyMs: 250 },
  );
  const receivedAt = performance.now() - started;
  await publishing;
  await waitFor(
    "the subject's deliveries to be recorded",
    async () => (await recordedSuccesses(subject.base, adminToken, data.delivery)) - recordedBefore >= load.deliveries,
    {
      timeoutMs: 120_000,
      everyMs: 200,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter.stop(); // includes the read-backs of the recorded check: a few admin requests
  return {
    deliveries: load.deliveries,
    seconds,
    per_second: load.deliveries / seconds,
    sustained_per_second: sustained(series, load.deliveries),
    published_in_s: publishedAt / 1000,
    received_in_s: receivedAt / 1000,
    cpu_ms_per_delivery: perUnit(cpu, load.deliveries),
    profile: profiling ? await profiling : undefined,
  };
}

export async function measureDelivery(ctx) {
  const { load, note } = ctx;
  const baselines = async () => {
    const fetchOnly = await queueBaseline(ctx);
    const fetchAndRecord = await queueBaseline(ctx, { record: true });
    const loop = await fetchLoop(ctx);
    note(
      `   baseline: ${fetchOnly.per_second.toFixed(0)}/s (queue, fetch only), ${fetchAndRecord.per_second.toFixed(0)}/s ` +
        `(queue, fetch and record), ${loop.per_second.toFixed(0)}/s (fetch loop)`,
    );
    return { fetchOnly, fetchAndRecord, loop };
  };
  const before = await baselines();
  const s1 = await subjectRun(ctx);
  note(
    `   subject: ${s1.per_second.toFixed(0)}/s (${s1.seconds.toFixed(0)} s), ${s1.cpu_ms_per_delivery?.toFixed(2)} CPU ms per delivery`,
  );
  const after = await baselines();
  const mean = (a, b) => (a === null || b === null ? null : (a + b) / 2);
  const pair = (key) => {
    const runs = [before[key], after[key]];
    return { runs, per_second: mean(runs[0].per_second, runs[1].per_second) };
  };
  const queue = pair("fetchOnly");
  const record = pair("fetchAndRecord");
  const loop = pair("loop");
  return {
    subject: s1,
    queue_baseline: {
      ...queue,
      cpu_ms_per_delivery: mean(queue.runs[0].cpu_ms_per_delivery, queue.runs[1].cpu_ms_per_delivery),
    },
    fetch_and_record_baseline: {
      ...record,
      cpu_ms_per_delivery: mean(record.runs[0].cpu_ms_per_delivery, record.runs[1].cpu_ms_per_delivery),
    },
    fetch_loop_baseline: loop,
    ratio_vs_queue_baseline: s1.per_second / queue.per_second,
    ratio_vs_fetch_and_record: s1.per_second / record.per_second,
    ratio_vs_fetch_loop: s1.per_second / loop.per_second,
    target_ratio: DELIVERY_TARGET_RATIO,
    events: load.events,
    endpoints: load.endpoints,
  };
}

/**
 * The publish side's CPU per delivery: the same publishes to a copy of the Worker whose queue has no consumer, so
 * workerd does only the publish work (validation, fan-out query, inserts, sendBatch).
 */
export async function measurePublishSideCpu({ publishOnly, adminToken, load }) {
  const meter = workerdCpuMeter(publishOnly);
  meter.start();
  const started = performance.now();
  await mapBounded(
    Array.from({ length: load.events }, (_, i) => i),
    load.publishConcurrency,
    (i) => api(publishOnly.base, "POST", "/api/v1/events", eventFor(DELIVERY_TENANT, i), adminToken),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter.stop();
  return {
    events: load.events,
    deliveries: load.deliveries,
    seconds,
    cpu_ms_per_delivery: perUnit(cpu, load.deliveries),
    cpu_ms_per_event: perUnit(cpu, load.events),
  };
}
