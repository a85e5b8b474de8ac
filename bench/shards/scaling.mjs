#!/usr/bin/env node
// The tables of docs/scaling.md, computed from the measured files: bench/volume.json (bytes per delivery, the capacity
// model of bench/volume/capacity.mjs), bench/cost.json (rows written and dollars per delivery, messages per delivery,
// fixed rows per shard and day), bench/shards.json (D1 round trips per event and per attempt) and bench/prices.mjs.
// `node bench/shards/scaling.mjs` prints them as Markdown; run it again after any of those files is measured again.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DAYS_PER_MONTH, PRICES } from "../prices.mjs";
import { bytesAt, capacityPerDay } from "../volume/capacity.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file) => JSON.parse(readFileSync(join(root, "bench", file), "utf8"));
const volume = read("volume.json");
const cost = read("cost.json");
const shards = read("shards.json");

/** The model's assumptions, besides the measured figures. */
export const MODEL = {
  rates: [1e6, 10e6, 100e6],
  fanOuts: [1, 3],
  /** Peak traffic over the day's average. */
  peakFactor: 3,
  /** One queue's limit (messages a second), and the share of it a lane may use at peak before another is added. */
  queueMessagesPerSecond: 5000,
  queueHeadroom: 0.7,
  /** `[limits] cpu_ms` of wrangler.toml: one invocation's CPU, the storage cron's for every shard at once. */
  cronCpuMs: 30_000,
  /** Storage runs a day (every 3 minutes). */
  storageRunsPerDay: 480,
  /** D1 storage the Workers Paid plan includes, GB (once per account). */
  d1IncludedGb: 5,
  /** The Workers Paid plan, per month. */
  planDollars: 5,
};

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const fmt = (n, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const millions = (r) => `${r / 1e6}M`;

/** Everything the model says for `rate` deliveries a day at fan-out `fanOut`. */
export function modelAt(rate, fanOut) {
  const mix = { ...volume.mix, fanOut };
  const capacity = capacityPerDay(volume.units, mix).deliveries_per_day;
  const shardCount = Math.ceil(rate / capacity);
  const perShard = rate / shardCount;
  const bytesPerShard = sum(Object.values(bytesAt(volume.units, mix, perShard)));
  const scenario = cost.scenarios[`fanout_${fanOut}`];
  // Messages a delivery: its first message and a message per retry sent through the queue (3 operations each).
  const messagesPerDelivery = scenario.per_delivery.queue_operations / 3;
  const peakMessages = (rate / 86_400) * messagesPerDelivery * MODEL.peakFactor;
  const queues = Math.max(1, Math.ceil(peakMessages / (MODEL.queueMessagesPerSecond * MODEL.queueHeadroom)));
  // D1 round trips a delivery, as bench/shards.json measured them: a publish naming the tenant alone (its partner read
  // from the directory, then the batch: 2 an event; 1 when the publisher names the partner), and the consumer's claim
  // and record per batch, for each attempt.
  const publishPerEvent = shards.by_owner.tenant_shard_0.publish_round_trips_per_event;
  const consumerPerAttempt = shards.by_owner.tenant_shard_0.consumer_round_trips_per_attempt;
  const attempts = scenario.attempts_per_delivery;
  const roundTripsPerDelivery = publishPerEvent / fanOut + attempts * consumerPerAttempt;
  const peakDeliveriesPerShard = (perShard / 86_400) * MODEL.peakFactor;
  const roundTripsPerShard = peakDeliveriesPerShard * roundTripsPerDelivery;
  // The bill: per delivery (D1 rows written and read, queues, R2, Workers: cost.json), D1 storage beyond what the plan
  // includes, the crons' fixed rows in every shard, and the plan.
  const perMonth = rate * DAYS_PER_MONTH;
  const usage = (perMonth / 1e6) * cost.dollars_per_million_deliveries[`fanout_${fanOut}`];
  const usageAllIndex = (perMonth / 1e6) * cost.dollars_per_million_deliveries_all_index_entries[`fanout_${fanOut}`];
  const storedGb = (shardCount * bytesPerShard) / 1e9;
  const storage = Math.max(0, storedGb - MODEL.d1IncludedGb) * PRICES.d1.storage_gb_month;
  const fixedRows = shardCount * cost.fixed_costs.rows_per_day * DAYS_PER_MONTH;
  const fixed = (fixedRows / 1e6) * PRICES.d1.rows_written_per_million;
  // The storage cron seals every shard's hours in one invocation: its CPU (cost.json, phase B: workerd's CPU while it
  // sealed the scenario's deliveries, an upper bound) against the invocation's limit.
  const sealCpuMsPerDelivery = scenario.cpu_ms.B / scenario.deliveries;
  const storageCpuMsPerRun = (rate * sealCpuMsPerDelivery) / MODEL.storageRunsPerDay;
  // A peak hour (peakFactor times the average) is sealed by the runs of one hour.
  const storageCpuMsPerRunAtPeak = storageCpuMsPerRun * MODEL.peakFactor;
  return {
    rate,
    fanOut,
    capacity,
    storageCpuMsPerRun,
    storageCpuMsPerRunAtPeak,
    storageCpuShare: storageCpuMsPerRun / MODEL.cronCpuMs,
    shards: shardCount,
    fullness: bytesPerShard / (volume.limit.d1_bytes ?? 10e9),
    storedGb,
    messagesPerDelivery,
    peakMessages,
    queues,
    roundTripsPerDelivery,
    peakDeliveriesPerShard,
    roundTripsPerShard,
    dollars: MODEL.planDollars + usage + storage + fixed,
    dollarsAllIndex: MODEL.planDollars + usageAllIndex + storage + fixed,
    parts: { usage, storage, fixed },
  };
}

function table() {
  const rows = MODEL.rates.flatMap((r) => MODEL.fanOuts.map((f) => modelAt(r, f)));
  const lines = [
    "| Deliveries a day | Fan-out | Shards (each at most 70% full) | Each shard holds | Queue peak (msg/s) | Queue pairs | D1 round trips/s per shard at peak | Monthly bill (local count / every index entry) |",
    "| ---------------- | ------- | ------------------------------ | ---------------- | ------------------ | ----------- | ---------------------------------- | ---------------------------------------------- |",
    ...rows.map(
      (m) =>
        `| ${millions(m.rate)} | ${m.fanOut} | ${m.shards} | ${fmt(m.fullness * 100)}% (${fmt(m.storedGb / m.shards, 2)} GB) | ${fmt(m.peakMessages)} | ${m.queues} | ${fmt(m.roundTripsPerShard)} | $${fmt(m.dollars)} / $${fmt(m.dollarsAllIndex)} |`,
    ),
  ];
  return { rows, markdown: lines.join("\n") };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows, markdown } = table();
  process.stdout.write(`${markdown}\n\n`);
  for (const m of rows)
    process.stdout.write(
      `${millions(m.rate)} f${m.fanOut}: capacity ${fmt(m.capacity)}/day/shard, ${fmt(m.messagesPerDelivery, 2)} msg/delivery, ` +
        `${fmt(m.roundTripsPerDelivery, 3)} rt/delivery, ${fmt(m.peakDeliveriesPerShard, 1)} deliveries/s/shard at peak, ` +
        `usage $${fmt(m.parts.usage)}, storage $${fmt(m.parts.storage)}, fixed $${fmt(m.parts.fixed, 2)}, ` +
        `storage cron CPU ${fmt(m.storageCpuMsPerRun / 1000, 1)} s a run (${fmt(m.storageCpuShare * 100)}% of cpu_ms), ` +
        `${fmt(m.storageCpuMsPerRunAtPeak / 1000, 1)} s sealing a peak hour\n`,
    );
  process.stdout.write(
    `\nsources: volume.json ${volume.generated_at}, cost.json ${cost.generated_at}, shards.json ${shards.generated_at}\n`,
  );
}
