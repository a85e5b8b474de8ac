#!/usr/bin/env node
// docs/scaling.md, computed from the measured files: bench/volume.json (bytes per delivery, the capacity model of
// bench/volume/capacity.mjs), bench/cost.json (rows written and dollars per delivery, messages per delivery, fixed rows
// per shard and day, the CPU of sealing), bench/shards.json (D1 round trips per event and per attempt, local SQLite
// time) and bench/prices.mjs. Every figure of the page comes from them through the model below, so the page is written
// whole: `node bench/shards/scaling.mjs` after any of those files is measured again (`--print`: to stdout instead).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCli } from "../../scripts/lib/cli.mjs";
import { DAYS_PER_MONTH, PRICES, PRICES_CHECKED_ON } from "../prices.mjs";
import { bytesAt, capacityPerDay } from "../volume/capacity.mjs";

const USAGE = `Usage: node bench/shards/scaling.mjs [--print]

Writes docs/scaling.md from bench/volume.json, bench/cost.json, bench/shards.json and bench/prices.mjs.
  --print   write the page to stdout instead
`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file) => JSON.parse(readFileSync(join(root, "bench", file), "utf8"));
const volume = read("volume.json");
const cost = read("cost.json");
const shards = read("shards.json");

/** The model's assumptions, besides the measured figures. */
const MODEL = {
  rates: [1e6, 10e6, 100e6],
  fanOuts: [1, 3],
  /** Peak traffic over the day's average. */
  peakFactor: 3,
  /** One queue's limit (messages a second), and the share of it a lane may use at peak before another is added. */
  queueMessagesPerSecond: 5000,
  queueHeadroom: 0.7,
  /** `[limits] cpu_ms` of wrangler.toml: one invocation's CPU, the storage cron's for every shard at once. */
  cronCpuMs: 30_000,
  /** The most `cpu_ms` may be raised to on the paid plan. */
  maxCpuMs: 300_000,
  /** The storage cron's time box (domain/archive/storage-job.ts STORAGE_BUDGET_MS): one isolate's wall time a run. */
  storageBudgetMs: 60_000,
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
const millions = (r, digits = 0) => `${fmt(r / 1e6, digits)}M`;
const day = (iso) => iso.replace(/\.\d+Z$/, "Z");

// The owners bench/shards.json measured: a tenant alone (its publish names no partner: the directory's, then the
// batch), and a tenant beside its partner (its publish names the partner: the batch alone).
const alone = shards.by_owner.tenant_shard_0;
const beside = shards.by_owner.partner_tenant_beside;
/** Local SQLite time a D1 round trip, from the lone tenant's run. */
const sqlMsPerRoundTrip = alone.d1_sql_ms_per_delivery / alone.d1_round_trips_per_delivery;

const scenarioOf = (fanOut) => cost.scenarios[`fanout_${fanOut}`];
/** Messages a delivery: its first message and a message per retry sent through the queue (3 operations each). */
const messagesPerDelivery = (fanOut) => scenarioOf(fanOut).per_delivery.queue_operations / 3;
const capacityAt = (fanOut) => capacityPerDay(volume.units, { ...volume.mix, fanOut }).deliveries_per_day;
/** Sealing's CPU a delivery (cost.json phase B: workerd's CPU while it sealed the scenario's deliveries, an upper bound). */
const sealCpuMs = (fanOut) => scenarioOf(fanOut).cpu_ms.B / scenarioOf(fanOut).deliveries;
/** D1 round trips a delivery: the publish's share of its event's, and the consumer's for each attempt. */
const roundTripsPerDelivery = (fanOut) =>
  alone.publish_round_trips_per_event / fanOut +
  scenarioOf(fanOut).attempts_per_delivery * alone.consumer_round_trips_per_attempt;
/** The rate at which the storage cron's CPU a run reaches `cpuMs` (at peak: `peak` times the average). */
const sealingRateAt = (fanOut, cpuMs, peak = 1) => (cpuMs * MODEL.storageRunsPerDay) / (sealCpuMs(fanOut) * peak);
/** The rate at which a lane's peak reaches `messagesPerSecond`. */
const queueRateAt = (messagesPerSecond) => (messagesPerSecond * 86_400) / (messagesPerDelivery(1) * MODEL.peakFactor);

/** Everything the model says for `rate` deliveries a day at fan-out `fanOut`. */
function modelAt(rate, fanOut) {
  const mix = { ...volume.mix, fanOut };
  const capacity = capacityAt(fanOut);
  const shardCount = Math.ceil(rate / capacity);
  const perShard = rate / shardCount;
  const bytesPerShard = sum(Object.values(bytesAt(volume.units, mix, perShard)));
  const peakMessages = (rate / 86_400) * messagesPerDelivery(fanOut) * MODEL.peakFactor;
  const queues = Math.max(1, Math.ceil(peakMessages / (MODEL.queueMessagesPerSecond * MODEL.queueHeadroom)));
  const peakDeliveriesPerShard = (perShard / 86_400) * MODEL.peakFactor;
  const roundTripsPerShard = peakDeliveriesPerShard * roundTripsPerDelivery(fanOut);
  // The bill: per delivery (D1 rows written and read, queues, R2, Workers: cost.json), D1 storage beyond what the plan
  // includes, the crons' fixed rows in every shard, and the plan.
  const perMonth = rate * DAYS_PER_MONTH;
  const usage = (perMonth / 1e6) * cost.dollars_per_million_deliveries[`fanout_${fanOut}`];
  const usageAllIndex = (perMonth / 1e6) * cost.dollars_per_million_deliveries_all_index_entries[`fanout_${fanOut}`];
  const storedGb = (shardCount * bytesPerShard) / 1e9;
  const storage = Math.max(0, storedGb - MODEL.d1IncludedGb) * PRICES.d1.storage_gb_month;
  const fixedRows = shardCount * cost.fixed_costs.rows_per_day * DAYS_PER_MONTH;
  const fixed = (fixedRows / 1e6) * PRICES.d1.rows_written_per_million;
  // The storage cron seals every shard's hours in one invocation.
  const storageCpuMsPerRun = (rate * sealCpuMs(fanOut)) / MODEL.storageRunsPerDay;
  return {
    rate,
    fanOut,
    shards: shardCount,
    fullness: bytesPerShard / (volume.limit.d1_bytes ?? 10e9),
    storedGb,
    peakMessages,
    queues,
    peakDeliveriesPerShard,
    roundTripsPerShard,
    storageCpuMsPerRun,
    dollars: MODEL.planDollars + usage + storage + fixed,
    dollarsAllIndex: MODEL.planDollars + usageAllIndex + storage + fixed,
    parts: { usage, storage, fixed },
  };
}

/** `text` in lines of at most `width` characters, broken at spaces; the first line after `first`, the rest after `rest`. */
function wrapped(text, first, rest, width = 120) {
  const lines = [];
  let line = first;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const start = line === first || line === rest;
    if (!start && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest;
    }
    line += line === first || line === rest ? word : ` ${word}`;
  }
  return [...lines, line].join("\n");
}

/** Markdown with its paragraphs and list items wrapped at 120 characters (headings and tables as they are). */
function rewrapped(markdown) {
  return markdown
    .split(/\n{2,}/)
    .map((block) => {
      if (/^(#|\|)/.test(block)) return block;
      const items = block.split(/\n(?=- |\d+\. )/);
      return items
        .map((item) => {
          const marker = /^(- |\d+\. )/.exec(item)?.[0] ?? "";
          return wrapped(item.slice(marker.length), marker, " ".repeat(marker.length));
        })
        .join("\n");
    })
    .join("\n\n");
}

/** A Markdown table, its columns padded to their widest cell. */
function markdownTable(header, cells) {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)));
  const line = (row) => `| ${row.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

function tableOf(rows) {
  return markdownTable(
    [
      "Deliveries a day",
      "Fan-out",
      "Shards (each at most 70% full)",
      "Each shard holds",
      "Queue peak (msg/s)",
      "Queue pairs",
      "D1 round trips/s per shard at peak",
      "Storage cron CPU a run (average)",
      "Monthly bill (local count / every index entry)",
    ],
    rows.map((m) => [
      millions(m.rate),
      String(m.fanOut),
      String(m.shards),
      `${fmt(m.fullness * 100)}% (${fmt(m.storedGb / m.shards, 2)} GB)`,
      fmt(m.peakMessages),
      String(m.queues),
      fmt(m.roundTripsPerShard),
      `${fmt(m.storageCpuMsPerRun / 1000, 1)} s`,
      `$${fmt(m.dollars)} / $${fmt(m.dollarsAllIndex)}`,
    ]),
  );
}

/** The page. */
function page() {
  const rows = MODEL.rates.flatMap((r) => MODEL.fanOuts.map((f) => modelAt(r, f)));
  const at = (rate, fanOut) => rows.find((m) => m.rate === rate && m.fanOut === fanOut);
  const [cap1, cap3] = [capacityAt(1), capacityAt(3)];
  const [top1, top3] = [at(100e6, 1), at(100e6, 3)];
  const dollars = cost.dollars_per_million_deliveries;
  const dollarsAll = cost.dollars_per_million_deliveries_all_index_entries;
  const messages = messagesPerDelivery(1);
  const attempts = scenarioOf(1).attempts_per_delivery;
  // A shard at capacity, at peak.
  const fullPeak = (cap1 / 86_400) * MODEL.peakFactor;
  const fullRoundTrips = fullPeak * roundTripsPerDelivery(1);
  const msPerRoundTripAtFull = 1000 / fullRoundTrips;
  const busyLocally = (fullRoundTrips * sqlMsPerRoundTrip) / 1000;
  const fixedPerShard = (cost.fixed_costs.rows_per_day * DAYS_PER_MONTH * PRICES.d1.rows_written_per_million) / 1e6;
  const sealing = {
    peak1: sealingRateAt(1, MODEL.cronCpuMs, MODEL.peakFactor),
    peak3: sealingRateAt(3, MODEL.cronCpuMs, MODEL.peakFactor),
    average1: sealingRateAt(1, MODEL.cronCpuMs),
    average3: sealingRateAt(3, MODEL.cronCpuMs),
    box1: sealingRateAt(1, MODEL.storageBudgetMs),
    box3: sealingRateAt(3, MODEL.storageBudgetMs),
  };
  const bills = [top1.dollars, top1.dollarsAllIndex, top3.dollars, top3.dollarsAllIndex];
  const thousands = (n) => `$${fmt(Math.round(n / 1000) * 1000)}`;
  return `# Scaling

How far the service goes on Cloudflare's own engines, and what it takes at 1, 10 and 100 million deliveries a day. The
state is split across D1 databases, the shards ([architecture.md](architecture.md#shards)); each shard holds the
owners the directory assigned to it, so the platform's size is a number of shards, and a shard's size is what one D1
database holds.

This page is written by \`node bench/shards/scaling.mjs\` from measured files (run it again whenever one of them is
measured again):

- \`bench/volume.json\` (\`npm run bench:volume\`, ${day(volume.generated_at)}): the bytes a delivery, an event, a webhook's
  day of archive index and its stats take in D1, and the capacity model of \`bench/volume/capacity.mjs\`: the deliveries
  a day whose 30 days of history fit in 70% of D1's 10 GB, **${fmt(cap1)} at fan-out 1 and ${fmt(cap3)} at fan-out 3**;
- \`bench/cost.json\` (\`npm run bench:cost\`, ${day(cost.generated_at)}): rows written and dollars per delivery
  (**$${fmt(dollars.fanout_1, 2)} a million at fan-out 1, $${fmt(dollars.fanout_3, 2)} at fan-out 3** as local D1 counts rows; $${fmt(dollarsAll.fanout_1, 2)} and
  $${fmt(dollarsAll.fanout_3, 2)} with every index entry D1 may bill), ${fmt(attempts, 1)} attempts and ${fmt(messages, 1)} queue messages a delivery, the crons'
  fixed ${fmt(cost.fixed_costs.rows_per_day)} rows a day per shard, the CPU of sealing (${fmt(sealCpuMs(1), 2)} ms a delivery at fan-out 1,
  ${fmt(sealCpuMs(3), 2)} ms at fan-out 3);
- \`bench/shards.json\` (\`npm run bench:shards\`, ${day(shards.generated_at)}): D1 round trips per shard, per owner, over
  two shards: a publish naming the tenant alone takes **${fmt(alone.publish_round_trips_per_event, 1)} round trips an event** (the directory's partner
  for the tenant, then the one batch; ${fmt(beside.publish_round_trips_per_event, 1)} when the publisher names the partner), the consumer
  **${fmt(alone.consumer_round_trips_per_attempt, 3)} an attempt** (a claim and a record per batch);
- \`bench/prices.mjs\`: Cloudflare's list prices, checked ${PRICES_CHECKED_ON}.

The model's assumptions: peak traffic is ${MODEL.peakFactor} times the day's average; the mix of webhooks is the volume bench's
(${fmt(volume.mix.busy_share * 100)}% of deliveries to busy webhooks of ${fmt(volume.mix.busy_deliveries_per_webhook_day)} a day, ${fmt(volume.mix.sparse_share * 100)}% to sparse ones of one an hour); every shard
is kept at most 70% full.

## At 1, 10 and 100 million deliveries a day

${tableOf(rows)}

**Shards**: the rate over one shard's capacity, rounded up; each then holds the rate divided among them (the bytes by
\`bytesAt\` of the capacity model). Fan-out 3 needs fewer shards (${top3.shards} against ${top1.shards} at 100M a day): the event, the
largest part of the hot window, is stored once for three deliveries.

**Queues**: a delivery is ${fmt(messages, 1)} messages (its first, and a delayed message per retry within 15 minutes), so the peak is
the rate × ${fmt(messages, 1)} × ${MODEL.peakFactor} / 86,400 a second, whatever the fan-out. One queue takes ${fmt(MODEL.queueMessagesPerSecond)} messages a second; the
rule adds a queue pair once a lane's peak passes ${fmt(MODEL.queueHeadroom * 100)}% of that, ${fmt(MODEL.queueMessagesPerSecond * MODEL.queueHeadroom)} a second, about
**${millions(queueRateAt(MODEL.queueMessagesPerSecond * MODEL.queueHeadroom))} deliveries a day**, with shard n's deliveries on pair n mod Q
([architecture.md](architecture.md#shards)). The slow lane carries only the webhooks whose receivers time out, a small
part of the main lane's.

**D1 round trips per shard at peak**: a shard's deliveries a second at peak (its share of the rate, × ${MODEL.peakFactor}) × the round
trips a delivery: ${fmt(alone.publish_round_trips_per_event, 1)} / fan-out for the publish (one batch an event, plus the directory read of a publish that
names the tenant alone) and ${fmt(attempts, 1)} × ${fmt(alone.consumer_round_trips_per_attempt, 3)} for the consumer. A shard at capacity (${millions(cap1, 2)} a day at fan-out 1)
takes ${fmt(fullPeak)} deliveries a second at peak, and ${fmt(fullRoundTrips)} round trips a second: D1, which runs one query at a time,
then has ${fmt(msPerRoundTripAtFull, 2)} ms for each. The bench measured ${fmt(sqlMsPerRoundTrip, 2)} ms of local SQLite time a round trip
(${fmt(alone.d1_sql_ms_per_delivery, 3)} ms a delivery), so such a shard's database is busy about ${fmt(busyLocally * 100)}% of each second at that load on
local figures.

**Storage cron CPU**: one invocation seals every shard's hours (\`forEachShard\`), every 3 minutes; a run's CPU is the
rate × the CPU of sealing a delivery / ${MODEL.storageRunsPerDay} runs a day. The CPU is workerd's while it sealed, local D1 and R2
included: an upper bound of the Worker's own.

**The monthly bill**: the $${MODEL.planDollars} Workers Paid plan, the deliveries (${DAYS_PER_MONTH} days × the rate × \`cost.json\`'s dollars
a million: D1 rows written and read, queue operations, R2 operations and storage, Workers requests and CPU), D1 storage
past the ${MODEL.d1IncludedGb} GB the plan includes ($${fmt(PRICES.d1.storage_gb_month, 2)} a GB-month: $${fmt(top1.parts.storage)} at 100M a day and fan-out 1, for
${fmt(top1.storedGb)} GB), and the crons' fixed rows in every shard ($${fmt(fixedPerShard, 2)} a shard a month). The first figure counts
rows as local D1 does; the second counts every index entry a write touches, which is what production D1 may bill: the
truth lies between. Deliveries dominate: a shard costs almost nothing by itself, so splitting the state adds no cost
beyond a row per owner in the directory.

## What breaks first

In the order a growing platform meets them:

1. **One owner larger than a shard.** An owner's webhooks, events and deliveries live in one shard, and one owner never
   spans two: a tenant, or a partner whose partner-level webhooks take every event of its tenants, above one shard's
   capacity (**about ${millions(cap1, 1)} deliveries a day at fan-out 1, ${millions(cap3, 1)} at fan-out 3**, at 30 days of history)
   fills its shard past 70% whatever the platform's total. That is the first limit met, as soon as one customer is that
   large: such an owner needs a shorter retention or its own split (by webhook: ids already name their shard, a
   webhook could be placed apart from its owner if publish looked up every shard holding the owner's webhooks; not
   built).
2. **The storage cron's CPU, from about ${millions(sealing.peak1)} a day.** Sealing took ${fmt(sealCpuMs(1), 2)} ms of CPU a delivery at fan-out 1
   (${fmt(sealCpuMs(3), 2)} ms at fan-out 3; an upper bound, above). Against \`[limits] cpu_ms = ${MODEL.cronCpuMs}\`, the hours of a peak
   fall behind from about **${millions(sealing.peak1)} a day at fan-out 1** (${millions(sealing.peak3)} at fan-out 3) and catch up after it (each step
   resumes where the last stopped; nothing is lost, D1 holds the unsealed hours meanwhile), and the average day from
   ${millions(sealing.average1)} (${millions(sealing.average3)}). Configuration moves this: \`cpu_ms\` may go to ${fmt(MODEL.maxCpuMs)} on the paid plan. Then the run's time
   box binds: one isolate runs its JavaScript on one thread, so a run seals at most ${MODEL.storageBudgetMs / 1000} s of CPU, the average day of
   about **${millions(sealing.box1)} at fan-out 1** (${millions(sealing.box3)} at fan-out 3); at 100M a day and fan-out 1 a run needs
   ${fmt(top1.storageCpuMsPerRun / 1000, 1)} s. Past that, the shards' storage is split across invocations (a cron, or a queue message, per group of
   shards; not built).
3. **The queue, at about ${millions(queueRateAt(MODEL.queueMessagesPerSecond * MODEL.queueHeadroom))} a day** (the ${fmt(MODEL.queueHeadroom * 100)}% margin; the hard limit, ${fmt(MODEL.queueMessagesPerSecond)} messages a second at peak, at
   about ${millions(queueRateAt(MODEL.queueMessagesPerSecond))}): the second queue pair of the rule above (not built).
4. **D1's query time per shard.** A full shard at peak leaves D1 ${fmt(msPerRoundTripAtFull, 2)} ms a round trip; locally one took
   ${fmt(sqlMsPerRoundTrip, 2)} ms. Production D1 is slower per query than local SQLite: were a round trip to take more than
   ${fmt(msPerRoundTripAtFull, 2)} ms there, a shard would run out of time before it runs out of bytes. The remedy is the same as
   for bytes, emptier shards: a shard leaves \`NEW_OWNER_SHARDS\` earlier, and more shards share the rate.
5. **Shard 0's extra work** stays small: the directory gets one write per new owner and one read per owner and isolate
   (an isolate remembers an owner's shard), and the portal sessions; it is an ordinary shard otherwise, and may leave
   \`NEW_OWNER_SHARDS\` early to keep room.

Beyond these, the platform's own account limits apply (D1 databases per account, bindings per Worker); ${top1.shards} shards at
100 million a day is far from them.

## The path to 100 million a day

1. Up to about ${millions(cap1, 1)} deliveries a day (fan-out 1) or ${millions(cap3, 1)} (fan-out 3): one shard; the two shards of the
   default configuration leave room.
2. Each further ${millions(cap1, 1)} a day (fan-out 1): one more shard, added with a binding and a deploy; new owners spread over the
   shards that take them (\`NEW_OWNER_SHARDS\`), full shards leave that list, nobody moves
   ([operations.md](operations.md#shards)).
3. Past about ${millions(sealing.peak1)} a day: raise \`[limits] cpu_ms\` (to ${fmt(MODEL.maxCpuMs)}), so the storage cron keeps up with peak hours.
4. Past about ${millions(sealing.box1)} a day (fan-out 1): the storage cron split across invocations, a group of shards each.
5. Past about ${millions(queueRateAt(MODEL.queueMessagesPerSecond * MODEL.queueHeadroom))} a day: a second queue pair for the main lane.
6. At 100 million a day: ${top1.shards} shards (fan-out 1) or ${top3.shards} (fan-out 3), ${top1.queues} queue pairs, about ${thousands(Math.min(...bills))} to
   ${thousands(Math.max(...bills))} a month.
`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts = parseCli({ usage: USAGE, name: "scaling", options: { print: { type: "boolean", default: false } } });
  const text = `${rewrapped(page()).trimEnd()}\n`;
  if (opts.print) process.stdout.write(text);
  else {
    writeFileSync(join(root, "docs", "scaling.md"), text);
    process.stdout.write(
      `docs/scaling.md written from volume.json ${volume.generated_at}, cost.json ${cost.generated_at}, shards.json ${shards.generated_at}\n`,
    );
  }
}
