// 7. Where the CPU goes (`npm run bench -- --profile`): V8's sampling profiler, through workerd's own inspector, on
// Workers of their own under Miniflare: ours while (a) the queue consumer delivers, (b) the admin GET and (c) the list
// serve, and (d) the events of (a) are published; the baseline Worker while the floors of (a)-(d) do the same jobs
// (bench/baseline: the consumer that fetches and records, the D1 point read, the D1 page, the sending of the messages).
//
// Our isolate is profiled alone, finely (function by function). Then, for ours and for the floor alike, every isolate
// that serves the Worker is profiled at once, coarsely (each profiler interrupts workerd's thread): how workerd's CPU
// (from /proc, over the same window) splits between the Worker's isolate, the local D1, the queue broker, Miniflare's
// entry and outbound Workers, and what lies outside every isolate. Side by side, the two splits say which part of our
// extra CPU is our isolate's and which the runtime's work for it.
//
// A consumer is profiled alone: the Workers' queue producers delay every message (`producerDelaySeconds`), so the
// messages are all sent before the first is delivered and the profile starts in between.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { mapBounded } from "../../scripts/lib/bounded-map.mjs";
import { sleep } from "../../scripts/lib/cli.mjs";
import { cpuProfilers, inspectorTargets } from "../cdp.mjs";
import {
  ADMIN_TENANT,
  api,
  cannon,
  DELIVERY_TENANT,
  eventFor,
  recordedSuccesses,
  seedEndpoints,
  waitFor,
} from "../client.mjs";
import { workerdCpuMeter } from "../cpu.mjs";
import { bundleModules, summarizeProfile } from "../profile-summary.mjs";

/** How long every queue message waits before it is delivered: the sending must end within it. */
const DELIVERY_DELAY_S = 12;
/** The Worker's own isolate, as workerd names it (the Miniflare host names every Worker "worker"). */
const WORKER_ISOLATE = "core:user:worker";
/**
 * Miniflare's isolates that work for the Worker: its entry Worker, which every request crosses; the local D1 (a
 * Durable Object running SQLite, and its entry); the queue brokers; the outbound service every fetch crosses.
 */
const RUNTIME_ISOLATE = /^(core:entry|d1:db|d1:db:entry|queues:queue(:.*)?|outbound:0)$/;
/** The sampling interval of the passes over every isolate: coarse, since each profiler interrupts workerd's thread. */
const SPLIT_INTERVAL_US = 2000;

/** A Worker with its inspector's targets: `profiled(pass, work, unitsOf)` runs `work` under that pass's profilers. */
async function profiledWorker(worker, intervalUs) {
  const targets = await inspectorTargets(worker.inspector);
  const own = targets.find((t) => t.id === WORKER_ISOLATE);
  if (!own) throw new Error(`no isolate ${WORKER_ISOLATE} among the inspector's targets: ${targets.map((t) => t.id)}`);
  const passes = {
    alone: [{ name: "worker", url: own.webSocketDebuggerUrl, intervalUs }],
    split: targets
      .filter((t) => t === own || RUNTIME_ISOLATE.test(t.id))
      .map((t) => ({ name: t === own ? "worker" : t.id, url: t.webSocketDebuggerUrl, intervalUs: SPLIT_INTERVAL_US })),
  };
  const bundle = worker.bundle
    ? { name: basename(worker.bundle), modules: bundleModules(readFileSync(worker.bundle, "utf8")) }
    : undefined;
  /** `work()` under the profilers of pass `name`, with workerd's CPU meanwhile; answers the summaries per isolate. */
  const profiled = async (name, work, unitsOf) => {
    const pass = passes[name];
    const profilers = await cpuProfilers(pass);
    const meter = workerdCpuMeter(worker);
    await profilers.start();
    meter.start();
    const result = await work();
    const { cpu_ms: cpuMs } = meter.stop();
    const profiles = await profilers.stop();
    const units = unitsOf(result);
    const summaries = Object.fromEntries(
      pass.map((p) => [
        p.name,
        summarizeProfile(profiles[p.name], {
          units,
          intervalUs: p.intervalUs,
          ...(name === "alone" ? { bundle } : { top: 5 }),
        }),
      ]),
    );
    return { result, cpuMsPerUnit: cpuMs === null ? null : cpuMs / units, summaries, raw: profiles.worker };
  };
  return { ...worker, profiled };
}

/** What a pass over every isolate found, per unit of work. */
const splitOf = (run) => ({
  workerd_cpu_ms_per_unit: run.cpuMsPerUnit,
  isolates: Object.fromEntries(Object.entries(run.summaries).map(([name, s]) => [name, s.busy_ms_per_unit])),
  top: Object.fromEntries(Object.entries(run.summaries).map(([name, s]) => [name, s.top])),
});

/** Waits until the receiver has `count` more hooks of `tag` than `before`, then for the last batch's recording. */
async function receivedAll(tagCount, tag, before, count) {
  await waitFor(`the profiled deliveries (${tag})`, async () => (await tagCount(tag)) - before >= count, {
    timeoutMs: 300_000,
    everyMs: 100,
  });
  await sleep(2500); // our last attempts are recorded within RECORD_GATHER_MS (1 s) of their answer
  return { deliveries: count };
}

/**
 * Profiles, after a warm-up round: the consumer over `load.events` × `load.endpoints` deliveries and the publishing of
 * its events; the admin GET and list over `seconds` of autocannon each; and the floors of the same. `start(options)`
 * starts our Worker, `startBaseline(options)` the baseline Worker (seeded with our webhook rows by `seedBaseline`).
 * Answers the summaries (profile-summary.mjs) and, in `raw`, our isolate's profiles.
 */
export async function measureProfile({
  start,
  startBaseline,
  seedBaseline,
  receiver,
  tokens,
  load,
  intervalUs,
  seconds,
  connections,
  tagCount,
  note,
}) {
  const options = { inspector: true, producerDelaySeconds: DELIVERY_DELAY_S };
  const [ours, floor] = await Promise.all([
    start(options).then((w) => profiledWorker(w, intervalUs)),
    startBaseline(options).then((w) => profiledWorker(w, intervalUs)),
  ]);
  const data = await seedEndpoints(ours, {
    token: tokens.admin,
    receiverBase: receiver.base,
    tag: "prof",
    deliveryEndpoints: load.endpoints,
    fanOutSizes: [],
  });
  await seedBaseline(floor);
  const deliveries = (events) => events * load.endpoints;
  const sendAll = (events, send) => async () => {
    const started = performance.now();
    await mapBounded(
      Array.from({ length: events }, (_, i) => i),
      4,
      send,
    );
    const seconds = (performance.now() - started) / 1000;
    if (seconds > DELIVERY_DELAY_S - 2)
      throw new Error(`sending took ${seconds.toFixed(1)} s, past the queue's delay: profile fewer deliveries`);
    return { deliveries: deliveries(events) };
  };
  const publish = (events) =>
    sendAll(events, (i) => api(ours.base, "POST", "/api/v1/events", eventFor(DELIVERY_TENANT, i), tokens.admin));
  const enqueue = (events) => sendAll(events, () => api(floor.base, "POST", `/enqueue?n=${load.endpoints}&record=1`));

  /**
   * Our consumer, its `events` published first; profiled under pass `pass` (none: not profiled), the publishing too
   * (under the same pass) when `profilePublish`.
   */
  const ourConsumer = async (pass, { events = load.events, profilePublish = false } = {}) => {
    const before = await tagCount("prof-delivery");
    const recordedBefore = await recordedSuccesses(ours.base, tokens.admin, data.delivery);
    const published =
      pass && profilePublish
        ? await ours.profiled(pass, publish(events), (r) => r.deliveries)
        : await publish(events)();
    const deliver = () => receivedAll(tagCount, "prof-delivery", before, deliveries(events));
    if (!pass) return deliver();
    const run = await ours.profiled(pass, deliver, (r) => r.deliveries);
    const recorded = (await recordedSuccesses(ours.base, tokens.admin, data.delivery)) - recordedBefore;
    if (recorded < run.result.deliveries)
      note(`   only ${recorded} of ${run.result.deliveries} recorded when the profile stopped`);
    return { ...run, recorded, published };
  };
  /**
   * The floor's consumer (fetch and record), its messages sent first; both profiled over every isolate unless `warmUp`
   * (the sending as `enqueued`).
   */
  const floorConsumer = async ({ events = load.events, warmUp = false } = {}) => {
    const before = await tagCount("baseline-record");
    const enqueued = warmUp
      ? await enqueue(events)()
      : await floor.profiled("split", enqueue(events), (r) => r.deliveries);
    const deliver = () => receivedAll(tagCount, "baseline-record", before, deliveries(events));
    return warmUp ? deliver() : { ...(await floor.profiled("split", deliver, (r) => r.deliveries)), enqueued };
  };
  /** Requests to `path` for `duration` s, profiled under pass `pass` (none: not profiled). */
  const serve =
    (worker, path, headers) =>
    (pass, duration = seconds) => {
      const requests = () => cannon(path, { url: `${worker.base}${path}`, headers, connections, duration });
      return pass ? worker.profiled(pass, requests, (r) => r.requests) : requests();
    };
  const auth = { authorization: `Bearer ${tokens.tenant}` };
  const get = serve(ours, `/api/v1/admin/webhooks/${data.admin[0]}`, auth);
  const list = serve(ours, "/api/v1/admin/webhooks/", auth);
  const pointRead = serve(floor, `/d1/webhooks/${data.admin[0]}`, {});
  const page = serve(floor, `/d1/webhooks?tenant_id=${ADMIN_TENANT}`, {});

  const warmEvents = Math.ceil(load.events / 4);
  note(`profile: warm-up, ${warmEvents} events each (delivered after the ${DELIVERY_DELAY_S} s delay)`);
  await ourConsumer(null, { events: warmEvents });
  await floorConsumer({ events: warmEvents, warmUp: true });
  for (const serveOne of [get, list, pointRead, page]) await serveOne(null, 1);
  note(
    `profile: publishing and the consumer, ${load.events} events x ${load.endpoints} endpoints; the floor's consumer`,
  );
  const consumer = await ourConsumer("alone", { profilePublish: true });
  const consumerSplit = await ourConsumer("split", { profilePublish: true });
  const floorConsumerSplit = await floorConsumer();
  note(`profile: the admin GET and list and their floors, ${seconds} s each, ${connections} connections`);
  const getAlone = await get("alone");
  const getSplit = await get("split");
  const pointReadSplit = await pointRead("split");
  const listAlone = await list("alone");
  const listSplit = await list("split");
  const pageSplit = await page("split");

  const admin = (alone, split, floorSplit) => ({
    requests: alone.result.requests,
    rps: alone.result.rps,
    workerd_cpu_ms_per_request: alone.cpuMsPerUnit,
    worker: alone.summaries.worker,
    split: splitOf(split),
    floor_split: splitOf(floorSplit),
  });
  return {
    summary: {
      sampling_interval_us: intervalUs,
      split_sampling_interval_us: SPLIT_INTERVAL_US,
      consumer: {
        deliveries: consumer.result.deliveries,
        recorded_when_stopped: consumer.recorded,
        workerd_cpu_ms_per_delivery: consumer.cpuMsPerUnit,
        worker: consumer.summaries.worker,
        split: splitOf(consumerSplit),
        floor_split: splitOf(floorConsumerSplit),
      },
      publish: {
        deliveries: consumer.published.result.deliveries,
        workerd_cpu_ms_per_delivery: consumer.published.cpuMsPerUnit,
        worker: consumer.published.summaries.worker,
        split: splitOf(consumerSplit.published),
        floor_split: splitOf(floorConsumerSplit.enqueued),
      },
      admin_get: admin(getAlone, getSplit, pointReadSplit),
      admin_list: admin(listAlone, listSplit, pageSplit),
    },
    raw: {
      consumer: consumer.raw,
      publish: consumer.published.raw,
      admin_get: getAlone.raw,
      admin_list: listAlone.raw,
    },
  };
}
