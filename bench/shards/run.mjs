#!/usr/bin/env node
// `npm run bench:shards`: one run of the instrumented Worker (bench/instrumented.ts) with two shards, under Miniflare's
// own API on fresh databases (bench/harness.mjs), counting D1 round trips and rows written per shard (the D1
// interceptor, scripts/lib/d1-intercept.ts, around each shard's binding). About 2 minutes; everything on 127.0.0.1;
// writes bench/shards.json.
//
// The owners, placed as the directory places them (db/shards.ts: a tenant beside its partner, anyone else by the hash
// of its key; names are chosen here so the hash puts them where the run needs them):
//   tenant_shard_0, tenant_shard_1   a tenant in each shard, no partner;
//   partner_tenant_beside            a tenant in its partner's shard (placed with its partner);
//   partner_tenant_away              a tenant of the same partner in the other shard (placed before its partner was
//                                    assigned), whose events owe the partner's shard a share (domain/partner-fanout.ts).
// Each has one webhook; the partner one partner-level webhook. One phase per owner: its events published, delivered
// (the receiver answers one delivery in five 503 once: 1.2 attempts a delivery) and settled, the counters read and
// reset in between, so each phase's figures are that owner's work alone. Then the crons, in both shards. Capacity from
// bench/volume.json (npm run bench:volume): a shard holds what one database holds.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { mapBounded } from "../../scripts/lib/bounded-map.mjs";
import { intOption, parseCli, progressNote, sleep } from "../../scripts/lib/cli.mjs";
import { ensureRecentNode } from "../../scripts/lib/node-runtime.mjs";
import { stopProcessGroup } from "../../scripts/lib/process.mjs";
import { createRig, eventOf, runBench, STORAGE_CRON, SWEEP_CRON } from "../harness.mjs";

const USAGE = `Usage: npm run bench:shards -- [options]

About 2 minutes (2-core machine); everything on 127.0.0.1. Run it alone:
  flock /tmp/heavy.lock npm run bench:shards

Options:
  --events <n>   events per owner (default 300)
  --keep         keep the temporary directory (logs, databases) and print its path
  --no-write     do not write bench/shards.json
  -h, --help     this help
`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const t0 = Date.now();
const note = progressNote("shards", t0);
const SHARDS = 2;
const FAIL_ONCE_EVERY = 5;
const PUBLISH_CONCURRENCY = 4;

/** db/shards.ts ownerHash: FNV-1a (32 bits) of the key's UTF-8. */
function ownerHash(text) {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
/** A name with `prefix` whose owner key the hash places in `shard`. */
function nameIn(prefix, kind, shard) {
  for (let i = 0; ; i++) if (ownerHash(`${kind}:${prefix}${i}`) % SHARDS === shard) return `${prefix}${i}`;
}

function readOptions() {
  const opts = parseCli({
    usage: USAGE,
    name: "bench:shards",
    allowNegative: true,
    options: {
      events: { type: "string", default: "300" },
      keep: { type: "boolean", default: false },
      write: { type: "boolean", default: true },
    },
  });
  return { events: intOption(opts, "events", 10, 5000), keep: opts.keep, write: opts.write };
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const round = (x, digits = 3) => Number(x.toFixed(digits));
const shardOfId = (id) => Number(/^wh_(\d+)_/.exec(id)?.[1] ?? 0);

/** Each shard's round trips and rows of the buckets whose trigger matches `pattern`. */
function perShard(counters, pattern) {
  const out = {};
  for (let shard = 0; shard < SHARDS; shard++) out[shard] = { d1_round_trips: 0, rows_written: 0, rows_read: 0 };
  for (const [trigger, bucket] of Object.entries(counters.buckets))
    if (pattern.test(trigger))
      for (const [shard, c] of Object.entries(bucket.d1ByShard ?? {})) {
        out[shard].d1_round_trips += c.roundTrips;
        out[shard].rows_written += c.rowsWritten;
        out[shard].rows_read += c.rowsRead;
      }
  return out;
}

async function main(state, options) {
  const rig = await createRig({ root, tool: "bench-shards", note, state, shards: SHARDS });
  const worker = await rig.startWorker("shards", { RETRY_SCHEDULE: "1,1,1" });
  note(`Worker on ${worker.base}, ${SHARDS} shards`);
  const call = worker.call;

  const partner = nameIn("prt_bench_", "p", 0);
  const owners = [
    { label: "tenant_shard_0", tenant: nameIn("tnt_bench_s0_", "t", 0) },
    { label: "tenant_shard_1", tenant: nameIn("tnt_bench_s1_", "t", 1) },
    { label: "partner_tenant_beside", tenant: nameIn("tnt_bench_pb_", "t", 1), partner, placeWithPartner: true },
    { label: "partner_tenant_away", tenant: nameIn("tnt_bench_pa_", "t", 1), partner },
  ];
  const hookOf = (label) => `${rig.receiver.base}/flaky/shards-${label}/${FAIL_ONCE_EVERY}/0/${label}`;
  // The partner first (its own hash puts it in shard 0), then each tenant's webhook: a tenant assigned to its partner
  // before anything else joins the partner's shard; the away tenant gets its webhook (and its shard, by the hash)
  // before the platform assigns it to the partner.
  const partnerWebhook = (
    await call("POST", "/api/v1/admin/webhooks/", {
      url: hookOf("partner"),
      events: ["user.created"],
      partner_id: partner,
    })
  ).id;
  for (const o of owners) {
    if (o.placeWithPartner)
      await call("PUT", `/api/v1/admin/webhooks/tenants/${o.tenant}/partner`, { partner_id: o.partner });
    o.webhook = (
      await call("POST", "/api/v1/admin/webhooks/", {
        url: hookOf(o.label),
        events: ["user.created"],
        tenant_id: o.tenant,
      })
    ).id;
    if (o.partner && !o.placeWithPartner)
      await call("PUT", `/api/v1/admin/webhooks/tenants/${o.tenant}/partner`, { partner_id: o.partner });
    o.shard = shardOfId(o.webhook);
  }
  const partnerShard = shardOfId(partnerWebhook);
  note(
    `placed: ${owners.map((o) => `${o.label} (${o.tenant}) in shard ${o.shard}`).join(", ")}; partner ${partner} in shard ${partnerShard}`,
  );
  await worker.cron(STORAGE_CRON); // this hour's and the next hour's partitions in both shards, as production has them
  await worker.reset();

  const phases = {};
  let expected = 0;
  let attemptsBefore = 0;
  for (const o of owners) {
    const deliveries = options.events * (o.partner ? 2 : 1);
    expected += deliveries;
    const before = (await worker.state()).deliveries_by_status.success ?? 0;
    await mapBounded(
      Array.from({ length: options.events }, (_, n) => n),
      PUBLISH_CONCURRENCY,
      (n) =>
        call("POST", "/api/v1/events", {
          ...eventOf({ tenant: o.tenant, n, bytes: 1024 }),
          ...(o.partner ? { partner_id: o.partner } : {}),
        }),
    );
    const settled = await worker.settled(before + deliveries);
    await sleep(1500); // the last acks
    const counters = await worker.counters();
    await worker.reset();
    const split = perShard(counters, /^(fetch|queue)$/);
    const bucket = (name) => counters.buckets[name] ?? { d1RoundTrips: 0, d1SqlMsByStatement: {} };
    const sqlMs = sum(
      ["fetch", "queue"].flatMap((name) => Object.values(bucket(name).d1SqlMsByStatement).map((e) => e.ms)),
    );
    const allowed = new Set([o.shard, ...(o.partner ? [partnerShard] : [])]);
    const touchedElsewhere = Object.entries(split)
      .filter(([shard]) => !allowed.has(Number(shard)))
      .some(([, c]) => c.d1_round_trips > 0);
    phases[o.label] = {
      tenant: o.tenant,
      shard: o.shard,
      partner_shard: o.partner ? partnerShard : null,
      events: options.events,
      deliveries,
      attempts_per_delivery: round((settled.attempts - attemptsBefore) / deliveries, 2),
      per_shard: split,
      d1_round_trips_per_delivery: round(sum(Object.values(split).map((c) => c.d1_round_trips)) / deliveries),
      // Publish: one batch an event (and the partner's share, for a tenant away from its partner); the consumer: a
      // claim and a record a batch, so what an attempt costs depends on how full the batches are (here, a light load).
      publish_round_trips_per_event: round(bucket("fetch").d1RoundTrips / options.events),
      consumer_round_trips_per_attempt: round(bucket("queue").d1RoundTrips / (settled.attempts - attemptsBefore)),
      d1_sql_ms_per_delivery: round(sqlMs / deliveries),
      rows_written_per_delivery: round(sum(Object.values(split).map((c) => c.rows_written)) / deliveries),
      other_shards_touched: touchedElsewhere,
    };
    attemptsBefore = settled.attempts;
    note(
      `${o.label}: ${deliveries} deliveries; per shard ${JSON.stringify(split)}${touchedElsewhere ? " — TOUCHED ANOTHER SHARD" : ""}`,
    );
  }

  // The crons, in both shards: the retry sweep (with the partner shares left to it) and the storage job.
  await worker.cron(SWEEP_CRON);
  await worker.cron(STORAGE_CRON);
  const crons = perShard(await worker.counters(), /^cron:/);

  const final = await worker.state();
  const succeeded = final.deliveries_by_status.success ?? 0;
  const receiverOk = (await rig.receiver.stats()).okByTag;
  const receivedOk = sum(
    Object.entries(receiverOk)
      .filter(([tag]) => tag.startsWith("shards-"))
      .map(([, n]) => n),
  );
  const lost = Math.max(0, expected - succeeded) + Math.max(0, expected - receivedOk);
  await stopProcessGroup(worker.child);

  const volume = JSON.parse(readFileSync(join(root, "bench", "volume.json"), "utf8"));
  const one = volume.capacity_deliveries_per_day_at_30_days;
  const wholeRun = Object.fromEntries(
    Array.from({ length: SHARDS }, (_, shard) => [
      shard,
      {
        d1_round_trips:
          sum(Object.values(phases).map((p) => p.per_shard[shard].d1_round_trips)) + crons[shard].d1_round_trips,
        rows_written:
          sum(Object.values(phases).map((p) => p.per_shard[shard].rows_written)) + crons[shard].rows_written,
      },
    ]),
  );
  return {
    generated_at: new Date().toISOString(),
    command: "flock /tmp/heavy.lock npm run bench:shards",
    shards: SHARDS,
    per_shard: wholeRun,
    by_owner: phases,
    crons_per_shard: crons,
    no_shard_touched_by_another_owners_work: Object.values(phases).every((p) => !p.other_shards_touched),
    partner_rule:
      "a tenant away from its partner's shard: its publish's batch in its own shard records the partner's share; one batch in the partner's shard gives it (the event, the partner-level webhook's delivery); the sweep of the tenant's shard deletes the share",
    deliveries: expected,
    lost,
    capacity_deliveries_per_day_at_30_days: {
      1: one,
      [SHARDS]: Object.fromEntries(Object.entries(one).map(([k, v]) => [k, v * SHARDS])),
    },
    capacity_source: `bench/volume.json (npm run bench:volume, ${volume.generated_at}): one shard holds what one D1 database holds; the owner directory in shard 0 adds a row per owner`,
    method: {
      receiver: `one delivery in ${FAIL_ONCE_EVERY} answered 503 once, then 200 (RETRY_SCHEDULE 1,1,1)`,
      counting:
        "D1 calls through each shard's binding (bench/instrumented.ts over scripts/lib/d1-intercept.ts): round trips (a batch is one), rows written and read as local D1 reports them; per owner: the publish requests and the queue consumer of that owner's phase alone",
      payload_bytes: 1024,
    },
  };
}

await ensureRecentNode("npm run bench:shards");
const options = readOptions();
await runBench({
  tool: "bench:shards",
  note,
  timeLimitMs: 15 * 60_000,
  keep: options.keep,
  main: (state) => main(state, options),
  async done(result) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (result.lost > 0 || !result.no_shard_touched_by_another_owners_work)
      throw new Error(
        `lost ${result.lost}; another owner's shard touched: ${!result.no_shard_touched_by_another_owners_work}`,
      );
    if (options.write) writeFileSync(join(root, "bench", "shards.json"), `${JSON.stringify(result, null, 2)}\n`);
    note(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  },
});
