#!/usr/bin/env node
// `npm run test:faults -- [options]`: the "nothing lost" fault-injection run against the real Worker.
//
//   1. starts the Worker under `wrangler dev` on fresh migrated D1 databases, one per shard of wrangler.toml (two), on
//      127.0.0.1 and a free port (worker.mjs), with a compressed retry schedule, short orphan grace, and faults injected
//      inside the Worker: D1 errors in every shard (FAULT_D1_ERROR_RATE) and duplicate queue messages
//      (FAULT_DUPLICATE_RATE), see worker.ts and inject.ts;
//   2. starts a farm of misbehaving local receivers (farm.mjs) and registers one endpoint per receiver (scenario.mjs),
//      the first tenant placed before its partner is known, so its partner's share of its events crosses shards;
//   3. publishes the isolation probes (events only healthy endpoints get, then events that also go to receivers that time
//      out), then the event mix, through POST /api/v1/events, calling the retry-sweep cron (/__scheduled) every few
//      seconds; kills the Worker with SIGKILL (wrangler and workerd) while it publishes, and again while its consumer
//      sends, and starts it again on the same databases (the local queue's messages die with it);
//   4. waits until every delivery is success or failed (or the time bound), then checks, against the receivers' own logs
//      and through the admin API, that nothing was lost, that the timing-out receivers held no healthy delivery up, and
//      that every ordered endpoint got its deliveries one at a time in publish order (invariants.mjs), and that the
//      stats endpoint agrees;
//   5. prints a report (report.mjs), stops everything it started, and exits 1 on any loss or violated invariant.
// Everything listens on 127.0.0.1 and is bounded in count and time.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { mapBounded } from "../lib/bounded-map.mjs";
import { intOption, numberOption, parseCli, progressNote, sleep } from "../lib/cli.mjs";
import { ensureRecentNode } from "../lib/node-runtime.mjs";
import { mulberry32 } from "../lib/prng.mjs";
import { onStopSignals, stopProcessGroup } from "../lib/process.mjs";
import { mintToken } from "../lib/token.mjs";
import { createAdminClient } from "./admin-client.mjs";
import { startFarm } from "./farm.mjs";
import { checkInvariants, checkNotHeldUp, checkOrdered, checkStats } from "./invariants.mjs";
import { printReport } from "./report.mjs";
import { buildScenario } from "./scenario.mjs";
import { inFlightDeliveries, readWranglerVar, startFaultWorker } from "./worker.mjs";

const USAGE = `Usage: npm run test:faults -- [options]

Runs the Worker under wrangler dev against misbehaving local receivers, with D1 errors and duplicate queue
messages injected, and checks that no delivery is lost. Exits 1 on any loss or violated invariant.

Options:
  --events <n>            events to publish (default 2000, at most 20000)
  --tenants <n>           tenants, 16 endpoints each, plus one partner-level endpoint per partner (default 4, at most 8)
  --timeout <s>           time bound for publishing + settling (default 300)
  --d1-error-rate <p>     probability that a D1 call fails (default 0.05)
  --duplicate-rate <p>    probability that a processed message is delivered again (default 0.1)
  --seed <n>              seed for the event mix, the receivers and the injected faults (default: random)
  --publish-concurrency <n>  publish requests in flight (default 6)
  --no-kill               do not kill -9 the Worker (by default: once while publishing, once while delivering)
  --keep                  keep the temporary directory (database, worker.log, requests.jsonl) and print its path
  -h, --help              this help
`;

const RETRY_SCHEDULE = "1,1,2,2,3"; // 6 attempts within ~10 s
const DELIVERY_TIMEOUT_MS = 1500;
const ORPHAN_GRACE_SECONDS = 20;
const IN_FLIGHT_MARGIN_SECONDS = 10;
const SWEEP_EVERY_MS = 3000;
const STORAGE_EVERY_MS = 60_000;
const POLL_EVERY_MS = 8000;
const QUIET_MS = 4000; // after settling: no receiver traffic for this long (late duplicates would show here)

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const t0 = Date.now();
const say = (line = "") => process.stdout.write(`${line}\n`);
const note = progressNote("faults", t0);

function readOptions() {
  const opts = parseCli({
    usage: USAGE,
    name: "test:faults",
    options: {
      events: { type: "string", default: "2000" },
      tenants: { type: "string", default: "4" },
      timeout: { type: "string", default: "300" },
      "d1-error-rate": { type: "string", default: "0.05" },
      "duplicate-rate": { type: "string", default: "0.1" },
      seed: { type: "string" },
      "publish-concurrency": { type: "string", default: "6" },
      keep: { type: "boolean", default: false },
      "no-kill": { type: "boolean", default: false },
    },
  });
  return {
    events: intOption(opts, "events", 1, 20_000),
    tenants: intOption(opts, "tenants", 1, 8),
    timeoutMs: intOption(opts, "timeout", 10, 1800) * 1000,
    publishConcurrency: intOption(opts, "publish-concurrency", 1, 32),
    d1ErrorRate: numberOption(opts, "d1-error-rate", 0, 0.5),
    duplicateRate: numberOption(opts, "duplicate-rate", 0, 0.5),
    seed: opts.seed === undefined ? randomBytes(4).readUInt32BE() % 1_000_000 : intOption(opts, "seed", 0, 2 ** 31 - 1),
    keep: opts.keep,
    kill: !opts["no-kill"],
  };
}

/** The Worker's vars: a fresh secret, compressed timings, no auto-disable, and the faults. */
function workerVars(options, jwt) {
  return {
    JWT_SECRET: jwt.secret,
    SECRET_ENCRYPTION_KEY: `faults:${randomBytes(32).toString("base64")}`,
    JWT_JWKS_URL: "",
    JWT_ISSUER: jwt.issuer,
    JWT_AUDIENCE: jwt.audience,
    ALLOW_INSECURE_URLS: "true",
    ALLOW_PRIVATE_TARGETS: "true",
    RETRY_SCHEDULE,
    DELIVERY_TIMEOUT_MS: String(DELIVERY_TIMEOUT_MS),
    FAILURE_THRESHOLD: "1000000", // no auto-disable: always-failing receivers keep their endpoint
    ORPHAN_GRACE_SECONDS: String(ORPHAN_GRACE_SECONDS),
    IN_FLIGHT_MARGIN_SECONDS: String(IN_FLIGHT_MARGIN_SECONDS),
    FAULT_D1_ERROR_RATE: String(options.d1ErrorRate),
    FAULT_DUPLICATE_RATE: String(options.duplicateRate),
    FAULT_SEED: String(options.seed),
  };
}

/**
 * One endpoint per receiver of the farm, through the admin API. The first tenant's first endpoint is created without
 * its partner, which places the tenant by the hash of its key (db/shards.ts) before the platform assigns it to its
 * partner: a tenant away from its partner's shard, whose partner's share of its events crosses shards.
 */
async function registerEndpoints(client, farm, endpoints, scenario) {
  const register = async (e, withPartner = true) => {
    const body = { url: farm.urlOf(e.name), events: e.events, description: `faults: ${e.behaviour}` };
    if (e.ordered) body.ordered = true;
    if (e.tenant_id) body.tenant_id = e.tenant_id;
    if (e.partner_id && withPartner) body.partner_id = e.partner_id;
    e.id = (await client.createEndpoint(e, body)).body.id;
    farm.setWebhookId(e.name, e.id);
  };
  const away = scenario.tenants[0];
  const first = endpoints.find((e) => e.tenant_id === away.id);
  await register(first, false);
  await client.api("PUT", `/api/v1/admin/webhooks/tenants/${away.id}/partner`, { partner_id: away.partner });
  await mapBounded(
    endpoints.filter((e) => e !== first),
    4,
    (e) => register(e),
  );
}

/** The shard that holds each tenant's and each partner's endpoints, from their ids (wh_<n>_…: shard n). */
function placement(scenario) {
  const shardOf = (id) => Number(/^wh_(\d+)_/.exec(id)?.[1] ?? 0);
  const of = (pick) =>
    Object.fromEntries(scenario.endpoints.filter(pick).map((e) => [e.tenant_id ?? e.partner_id, shardOf(e.id)]));
  const tenants = of((e) => e.tenant_id);
  const partners = of((e) => !e.tenant_id);
  const away = scenario.tenants.filter((t) => tenants[t.id] !== partners[t.partner]).map((t) => t.id);
  return { tenants, partners, away, shards: new Set([...Object.values(tenants), ...Object.values(partners)]).size };
}

/** Drives the crons as the platform would: the retry sweep every few seconds, the storage job now and then. */
function startCronLoop(client) {
  let stopped = false;
  const loop = (async () => {
    let lastStorage = Date.now();
    while (!stopped) {
      await client.cron("* * * * *");
      if (Date.now() - lastStorage > STORAGE_EVERY_MS) {
        lastStorage = Date.now();
        await client.cron("*/3 * * * *");
      }
      await sleep(SWEEP_EVERY_MS);
    }
  })();
  return { stop: () => ((stopped = true), loop) };
}

/** Publishes every event until the deadline; marks the accepted ones. `midway()` runs once, at 40 % of them. */
async function publishEvents(client, events, { concurrency, deadline, midway }) {
  const startedAt = Date.now();
  const retriedBefore = client.stats.retried5xx;
  let published = 0;
  let deliveriesCreated = 0;
  await mapBounded(events, concurrency, async (event) => {
    if (Date.now() > deadline) return;
    const sentAt = Date.now();
    const res = await client.api("POST", "/api/v1/events", event);
    event.published_at = sentAt; // after: the body must hold only the envelope
    deliveriesCreated += res.body.deliveries;
    event.accepted = true;
    published++;
    if (midway && published === Math.ceil(events.length * 0.4)) void midway();
    if (published % 500 === 0) note(`${published}/${events.length} events published`);
  });
  const publishedInMs = Date.now() - startedAt;
  note(`${published} events published in ${(publishedInMs / 1000).toFixed(0)} s (${deliveriesCreated} deliveries)`);
  return {
    startedAt,
    published,
    publishedInMs,
    deliveriesCreated,
    publishRetries: client.stats.retried5xx - retriedBefore,
  };
}

/**
 * The isolation probes, one phase after the other: events only healthy endpoints get, then events that also go to the
 * always-hanging ones; each phase is waited for until every healthy delivery it creates has reached its receiver.
 */
async function publishProbes(client, farm, scenario, { concurrency, deadline }) {
  const healthy = new Set(scenario.endpoints.filter((e) => e.behaviour === "healthy"));
  for (const phase of ["alone", "beside"]) {
    const events = scenario.probes[phase];
    await publishEvents(client, events, { concurrency, deadline });
    const wanted = new Set(
      events.flatMap((ev) =>
        scenario
          .targetsOf(ev)
          .filter((e) => healthy.has(e))
          .map((e) => `${e.id} ${ev.event_id}`),
      ),
    );
    const by = Math.min(deadline, Date.now() + 60_000);
    while (Date.now() < by && [...wanted].some((k) => !farm.log.some((r) => `${r.webhook_id} ${r.event_id}` === k)))
      await sleep(200);
    note(`isolation probe "${phase}": ${events.length} events, ${wanted.size} healthy deliveries`);
  }
}

/**
 * Waits until no delivery is pending or retrying anywhere; returns when that was (null if never before the deadline).
 * Publishing is over, so no delivery can be created any more: an endpoint seen with none open stays settled (were one
 * to reopen, the final read-back would still show it), and only the others are polled again.
 */
async function waitSettled(client, endpoints, farm, deadline) {
  let unsettled = [...endpoints];
  let open = Number.POSITIVE_INFINITY;
  while (Date.now() < deadline) {
    const counts = await mapBounded(unsettled, 2, async (e) => {
      let n = 0;
      for (const status of ["pending", "retrying"])
        n += (await client.api("GET", `/api/v1/admin/webhooks/${e.id}/deliveries?status=${status}&per_page=1`)).body
          .total;
      return n;
    });
    open = counts.reduce((a, b) => a + b, 0);
    unsettled = unsettled.filter((_, i) => counts[i] > 0);
    note(
      `${open} deliveries pending or retrying at ${unsettled.length} endpoints; receivers got ${farm.log.length} requests`,
    );
    if (open === 0) return { settledAt: Date.now(), open };
    await sleep(POLL_EVERY_MS);
  }
  return { settledAt: null, open };
}

/** Late duplicates (and anything else still moving) must show up before the books are checked. */
async function waitReceiversQuiet(farm, deadline) {
  for (let last = farm.log.length, quietSince = Date.now(); Date.now() - quietSince < QUIET_MS; ) {
    await sleep(500);
    if (farm.log.length !== last) {
      last = farm.log.length;
      quietSince = Date.now();
    }
    if (Date.now() > deadline + 30_000) break;
  }
}

/** Every delivery of every endpoint, with its attempts, through the admin API. */
async function readBackDeliveries(client, endpoints) {
  const deliveries = [];
  await mapBounded(endpoints, 2, async (e) => {
    for (let page = 1; ; page++) {
      const res = await client.api("GET", `/api/v1/admin/webhooks/${e.id}/deliveries?per_page=100&page=${page}`);
      for (const d of res.body.items) deliveries.push(d);
      if (page >= res.body.pages) break;
    }
  });
  await mapBounded(deliveries, 8, async (d) => {
    const res = await client.api("GET", `/api/v1/admin/webhooks/${d.webhook_id}/deliveries/${d.id}`);
    d.attempts = res.body.attempts.map((a) => ({ ...a, started_at: Date.parse(a.started_at) }));
  });
  return deliveries;
}

/** The invariants over the books, plus what the Worker's log and the crons must show. */
function checkRun({ deliveries, requests, expected, tally, client, options, scenario, kills }) {
  // The at-least-once window: attempts whose recording failed for good, and those a kill -9 left in flight.
  const unrecordedWindow = new Set([...tally.recordLost, ...kills.flatMap((k) => [...k.inFlight])]);
  const { violations, counts } = checkInvariants({
    deliveries,
    requests,
    expected,
    opts: {
      maxAttempts: RETRY_SCHEDULE.split(",").length + 1,
      timeoutMs: DELIVERY_TIMEOUT_MS,
      scheduleSeconds: RETRY_SCHEDULE.split(",").map(Number),
      unrecordedWindow,
    },
  });
  const placed = placement(scenario);
  if (placed.shards < 2) violations.push(`the endpoints are in ${placed.shards} shard(s): the run did not span shards`);
  if (placed.away.length === 0) violations.push("no tenant is away from its partner's shard: no share crossed shards");
  const isolation = checkNotHeldUp({
    requests,
    probes: scenario.probes,
    healthyWebhookIds: new Set(scenario.endpoints.filter((e) => e.behaviour === "healthy").map((e) => e.id)),
    timeoutMs: DELIVERY_TIMEOUT_MS,
  });
  violations.push(...isolation.violations);
  const ordered = checkOrdered({
    requests,
    deliveries,
    orderedWebhookIds: new Set(scenario.endpoints.filter((e) => e.ordered).map((e) => e.id)),
  });
  violations.push(...ordered.violations);
  if (!tally.faultsOn && (options.d1ErrorRate > 0 || options.duplicateRate > 0))
    violations.push("the Worker never reported fault injection ON: were the FAULT_* vars passed?");
  if (client.cronRuns.ok === 0)
    violations.push(
      `the cron trigger (/__scheduled) never answered 200 (${client.cronRuns.failed} failures): the retry sweep did not run`,
    );
  // Every recorded attempt is logged right after it is recorded, so the two agree unless the Worker was stopped in
  // between (a reload) — the run must not reload, so that is reported as a violation too.
  if (tally.reloads > 0) violations.push(`wrangler dev reloaded the Worker ${tally.reloads} time(s) during the run`);
  // A Worker killed between recording attempts and logging them logged fewer than it recorded; never more.
  if (
    kills.length === 0
      ? tally.attemptsLogged !== counts.attempts_recorded
      : tally.attemptsLogged > counts.attempts_recorded
  )
    violations.push(
      `the Worker logged ${tally.attemptsLogged} recorded attempts, the API lists ${counts.attempts_recorded}`,
    );
  return { violations, counts, isolation: isolation.figures, ordered: ordered.figures };
}

/** The stats endpoint of every endpoint against its deliveries; returns a summary line and adds to `violations`. */
async function checkStatsEndpoint(client, endpoints, deliveries, violations) {
  const probe = await fetch(`${client.baseUrl}/api/v1/admin/webhooks/${endpoints[0].id}/stats?window=24h`, {
    headers: { authorization: `Bearer ${client.token}` },
  });
  await probe.text();
  if (probe.status === 404) return "not available in this build";
  let checked = 0;
  let mismatches = 0;
  await mapBounded(endpoints, 4, async (e) => {
    const res = await client.api("GET", `/api/v1/admin/webhooks/${e.id}/stats?window=24h`);
    const problems = checkStats(
      res.body,
      deliveries.filter((d) => d.webhook_id === e.id),
    );
    checked++;
    if (problems.length > 0) {
      mismatches++;
      violations.push(...problems.map((p) => `stats of ${e.name} (${e.id}): ${p}`));
    }
  });
  return `${checked - mismatches}/${checked} endpoints match`;
}

async function main(options, resources) {
  const scenario = buildScenario({
    tenantCount: options.tenants,
    eventCount: options.events,
    random: mulberry32(options.seed),
    runId: `${options.seed.toString(36)}${Date.now().toString(36)}`,
  });
  const { endpoints, events } = scenario;
  const workDir = (resources.workDir = mkdtempSync(join(tmpdir(), "scaikey-faults-")));
  say(
    `fault-injection run: seed ${options.seed}, ${events.length} events, ${endpoints.length} endpoints (${options.tenants} tenants, ${scenario.partners.length} partners)`,
  );
  note(`work dir ${workDir}`);

  const jwt = {
    secret: randomBytes(32).toString("base64url"),
    issuer: readWranglerVar(root, "JWT_ISSUER") || "https://auth.scaikey.local/",
    audience: readWranglerVar(root, "JWT_AUDIENCE") || "scaikey-webhooks",
  };
  const farm = (resources.farm = await startFarm(endpoints, { seed: options.seed }));
  const worker = (resources.worker = await startFaultWorker({ root, workDir, vars: workerVars(options, jwt), note }));
  note(`worker ready on ${worker.baseUrl}`);
  const token = await mintToken({
    key: jwt.secret,
    subject: "usr_faults",
    issuerPrefix: jwt.issuer,
    audience: jwt.audience,
    expiration: "3h",
  });
  // While a killed Worker restarts, the harness's calls wait for it (and then retry what failed, as publishers do).
  let restarting = null;
  const client = createAdminClient(worker.baseUrl, token, { gate: () => restarting ?? Promise.resolve() });
  const kills = [];
  /** kill -9 the Worker, note what it left in flight (its claimed, unrecorded attempts), start it again. */
  const killWorker = (when) => {
    if (restarting) return restarting;
    const kill = { when, at: Date.now(), inFlight: new Set(), restartMs: 0 };
    kills.push(kill);
    note(`kill -9 ${when}`);
    restarting = worker
      .kill(async () => {
        kill.inFlight = inFlightDeliveries(worker.persistDir);
      })
      .then(() => {
        kill.restartMs = Date.now() - kill.at;
        note(
          `Worker started again after ${(kill.restartMs / 1000).toFixed(1)} s (${kill.inFlight.size} attempts were in flight)`,
        );
        restarting = null;
      });
    return restarting;
  };

  await registerEndpoints(client, farm, endpoints, scenario);
  const placed = placement(scenario);
  note(
    `${endpoints.length} endpoints registered in ${placed.shards} shards; tenants away from their partner: ${placed.away.join(", ") || "none"}`,
  );
  const crons = startCronLoop(client);
  const deadline = Date.now() + options.timeoutMs;
  await publishProbes(client, farm, scenario, { concurrency: options.publishConcurrency, deadline });
  const run = await publishEvents(client, events, {
    concurrency: options.publishConcurrency,
    deadline,
    midway: options.kill ? () => killWorker("while publishing") : undefined,
  });
  if (options.kill) {
    // While the consumer sends: the moment a receiver has just been sent a request.
    await restarting;
    const busyBy = Date.now() + 30_000;
    const seen = farm.log.length;
    while (Date.now() < busyBy && farm.log.length === seen) await sleep(20);
    await killWorker("while delivering");
  }
  const expected = [...scenario.probes.alone, ...scenario.probes.beside, ...events]
    .filter((e) => e.accepted)
    .flatMap((ev) => scenario.targetsOf(ev).map((e) => ({ webhook_id: e.id, event_id: ev.event_id })));

  const { settledAt, open } = await waitSettled(client, endpoints, farm, deadline);
  await waitReceiversQuiet(farm, deadline);
  await crons.stop();
  note(
    settledAt
      ? `settled after ${((settledAt - run.startedAt) / 1000).toFixed(0)} s; reading back every delivery`
      : `NOT settled within the time bound (${open} open)`,
  );

  const deliveries = await readBackDeliveries(client, endpoints);
  const requests = farm.log.map((r) => ({ ...r }));
  writeFileSync(join(workDir, "requests.jsonl"), requests.map((r) => JSON.stringify(r)).join("\n"));
  writeFileSync(join(workDir, "deliveries.json"), JSON.stringify(deliveries));

  const { violations, counts, isolation, ordered } = checkRun({
    deliveries,
    requests,
    expected,
    tally: worker.tally,
    client,
    options,
    scenario,
    kills,
  });
  const statsNote = await checkStatsEndpoint(client, endpoints, deliveries, violations);
  if (violations.length > 0) options.keep = true;
  printReport(say, {
    placed: placement(scenario),
    kills,
    seed: options.seed,
    eventCount: events.length,
    run: { ...run, settledAt, wholeRunS: (Date.now() - t0) / 1000 },
    tally: worker.tally,
    client,
    counts,
    isolation,
    ordered,
    deliveries,
    requests,
    endpoints,
    expected,
    statsNote,
    violations,
    workDir,
    keep: options.keep,
  });
  return violations.length === 0 && settledAt !== null ? 0 : 1;
}

await ensureRecentNode("npm run test:faults");
const options = readOptions();
const resources = { workDir: null, farm: null, worker: null };
const cleanup = onStopSignals(async () => {
  resources.worker?.stopping();
  await stopProcessGroup(resources.worker?.child);
  if (resources.farm) await resources.farm.stop();
  if (resources.workDir && !options.keep) rmSync(resources.workDir, { recursive: true, force: true });
}, note);

let code = 1;
try {
  code = await main(options, resources);
} catch (err) {
  process.stderr.write(`\ntest:faults: ${err.stack ?? err}\n`);
  if (resources.workDir) process.stderr.write(`files kept in ${resources.workDir}\n`);
  options.keep = true;
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
