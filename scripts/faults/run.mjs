#!/usr/bin/env node
// `npm run test:faults -- [options]`: the "nothing lost" fault-injection run against the real Worker.
//
//   1. applies the D1 migrations to a fresh temporary directory and starts `wrangler dev` on it (127.0.0.1, a free port)
//      with a compressed retry schedule, short orphan grace, and faults injected inside the Worker: D1 errors
//      (FAULT_D1_ERROR_RATE) and duplicate queue messages (FAULT_DUPLICATE_RATE), see worker.ts and inject.ts;
//   2. starts a farm of misbehaving local receivers (farm.mjs) and registers one endpoint per receiver through the admin API;
//   3. publishes events through POST /api/v1/events, calling the retry-sweep cron (/__scheduled) every few seconds;
//   4. waits until every delivery is success or failed (or the time bound), then checks, against the receivers' own logs
//      and through the admin API, that nothing was lost (invariants.mjs), and that the stats endpoint agrees;
//   5. prints a report, stops everything it started, and exits 1 on any loss or violated invariant.
// Node builtins only. Everything listens on 127.0.0.1 and is bounded in count and time.
import { spawn, spawnSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { cpSync, createWriteStream, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFarm, mulberry32 } from "./farm.mjs";
import { checkInvariants, checkStats } from "./invariants.mjs";
import { freePort, mapBounded, stopProcessGroup, wranglerBin } from "../lib/local-worker.mjs";

const USAGE = `Usage: npm run test:faults -- [options]

Runs the Worker under wrangler dev against misbehaving local receivers, with D1 errors and duplicate queue
messages injected, and checks that no delivery is lost. Exits 1 on any loss or violated invariant.

Options:
  --events <n>            events to publish (default 2000, at most 20000)
  --tenants <n>           tenants, 14 endpoints each, plus one partner-level endpoint per partner (default 4, at most 8)
  --timeout <s>           time bound for publishing + settling (default 300)
  --d1-error-rate <p>     probability that a D1 call fails (default 0.05)
  --duplicate-rate <p>    probability that a processed message is delivered again (default 0.1)
  --seed <n>              seed for the event mix, the receivers and the injected faults (default: random)
  --publish-concurrency <n>  publish requests in flight (default 6)
  --keep                  keep the temporary directory (database, worker.log, requests.jsonl) and print its path
  -h, --help              this help
`;

// The entry of the bundle under test: the Worker, plus GET /__scheduled?cron=… (what `wrangler dev --test-scheduled` adds
// when it bundles; this bundle is run as is).
const SCHEDULED_ENTRY = `import worker from "./scripts/faults/worker";
export * from "./scripts/faults/worker";
export default {
  ...worker,
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname !== "/__scheduled") return worker.fetch(request, env, ctx);
    await worker.scheduled({ cron: url.searchParams.get("cron") ?? "", scheduledTime: Date.now(), noRetry() {} }, env, ctx);
    return new Response("Ran scheduled event");
  },
};
`;

const RETRY_SCHEDULE = "1,1,2,2,3"; // 6 attempts within ~10 s
const DELIVERY_TIMEOUT_MS = 1500;
const ORPHAN_GRACE_SECONDS = 20;
const IN_FLIGHT_MARGIN_SECONDS = 10;
const SWEEP_EVERY_MS = 3000;
const ROLLUP_EVERY_MS = 60_000;
const POLL_EVERY_MS = 8000;
const QUIET_MS = 4000; // after settling: no receiver traffic for this long (late duplicates would show here)

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const say = (line = "") => process.stdout.write(`${line}\n`);
const note = (line) => process.stderr.write(`[faults +${((Date.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const t0 = Date.now();

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      events: { type: "string", default: "2000" },
      tenants: { type: "string", default: "4" },
      timeout: { type: "string", default: "300" },
      "d1-error-rate": { type: "string", default: "0.05" },
      "duplicate-rate": { type: "string", default: "0.1" },
      seed: { type: "string" },
      "publish-concurrency": { type: "string", default: "6" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (err) {
  process.stderr.write(`${USAGE}\n${err.message}\n`);
  process.exit(2);
}
if (opts.help) {
  say(USAGE);
  process.exit(0);
}
const intIn = (name, lo, hi) => {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n < lo || n > hi) {
    process.stderr.write(`--${name} must be an integer from ${lo} to ${hi}\n`);
    process.exit(2);
  }
  return n;
};
const rateOf = (name) => {
  const n = Number(opts[name]);
  if (!(n >= 0 && n <= 0.5)) {
    process.stderr.write(`--${name} must be a number from 0 to 0.5\n`);
    process.exit(2);
  }
  return n;
};
const EVENTS = intIn("events", 1, 20_000);
const TENANTS = intIn("tenants", 1, 8);
const TIMEOUT_MS = intIn("timeout", 10, 1800) * 1000;
const PUBLISH_CONCURRENCY = intIn("publish-concurrency", 1, 32);
const D1_ERROR_RATE = rateOf("d1-error-rate");
const DUPLICATE_RATE = rateOf("duplicate-rate");
const SEED = opts.seed === undefined ? randomBytes(4).readUInt32BE() % 1_000_000 : intIn("seed", 0, 2 ** 31 - 1);
const random = mulberry32(SEED);

// ---------------------------------------------------------------------------------------------------------------
// The scenario: tenants (two partners), endpoints with a behaviour and a subscription each, and a weighted event mix.

// Each event type reaches about one endpoint of its tenant, so the load is set by the event count; the slow failures
// (hangs, stalled bodies) each hold a consumer slot for a whole timeout, so they get the rarest events.
const EVENT_MIX = [
  ["user.created", 0.2],
  ["user.updated", 0.12],
  ["user.deleted", 0.05],
  ["group.created", 0.04],
  ["group.updated", 0.04],
  ["group.member_added", 0.06],
  ["application.created", 0.05],
  ["application.updated", 0.05],
  ["session.created", 0.08],
  ["session.revoked", 0.04],
  ["authentication.succeeded", 0.1],
  ["authentication.failed", 0.08],
  ["tenant.updated", 0.03],
  ["tenant.created", 0.02],
  ["authentication.locked_out", 0.01],
  ["registration.requested", 0.01],
  ["registration.approved", 0.02],
];
const TENANT_ENDPOINTS = [
  ["healthy", ["user.created"]],
  ["flapping", ["user.updated"]],
  ["slow-ok", ["user.deleted"]],
  ["fail-then-ok", ["group.created", "group.updated"]],
  ["huge", ["group.member_added"]],
  ["rate-limited", ["application.*"]],
  ["reset-then-ok", ["session.created"]],
  ["redirect-then-ok", ["session.revoked"]],
  ["chaos", ["authentication.succeeded", "authentication.failed"]],
  ["always-500", ["tenant.updated"]],
  ["always-redirect", ["tenant.created"]],
  ["hang-then-ok", ["authentication.locked_out"]],
  ["slow-timeout-then-ok", ["registration.requested"]],
  ["healthy", ["user.*", "group.*", "registration.approved"], { onlyEvenTenants: true }], // overlapping subscriptions
];
// Partner-level endpoints get their partner's events from every tenant.
const PARTNER_ENDPOINTS = [["healthy", ["session.*"]]];

const partners = ["prt_faults_a", "prt_faults_b"];
const tenants = Array.from({ length: TENANTS }, (_, i) => ({ id: `tnt_faults_${i}`, partner: partners[i % partners.length] }));
const endpoints = [];
for (const [i, t] of tenants.entries()) {
  for (const [behaviour, events, flags] of TENANT_ENDPOINTS) {
    if (flags?.onlyEvenTenants && i % 2 === 1) continue;
    endpoints.push({ name: `${t.id}-${endpoints.length}-${behaviour}`, behaviour, events, tenant_id: t.id, partner_id: t.partner });
  }
}
for (const p of partners)
  for (const [behaviour, events] of PARTNER_ENDPOINTS)
    endpoints.push({ name: `${p}-${endpoints.length}-${behaviour}`, behaviour, events, tenant_id: null, partner_id: p });

const subscribed = (patterns, type) => patterns.some((p) => p === "*" || p === type || p === `${type.slice(0, type.indexOf("."))}.*`);
/** The endpoints an event must reach (publish.ts's FAN_OUT, restated): its tenant's, and its partner's partner-level ones. */
const targetsOf = (event) =>
  endpoints.filter(
    (e) =>
      subscribed(e.events, event.event_type) &&
      (e.tenant_id ? e.tenant_id === event.tenant_id && (!e.partner_id || e.partner_id === event.partner_id) : e.partner_id === event.partner_id),
  );

const pickType = () => {
  let r = random();
  for (const [type, weight] of EVENT_MIX) if ((r -= weight) < 0) return type;
  return EVENT_MIX[0][0];
};
const runId = `${SEED.toString(36)}${Date.now().toString(36)}`;
const events = Array.from({ length: EVENTS }, (_, n) => {
  const tenant = tenants[Math.floor(random() * tenants.length)];
  const type = pickType();
  return {
    event_id: `evt_faults_${runId}_${n}`,
    event_type: type,
    tenant_id: tenant.id,
    partner_id: tenant.partner,
    resource: { type: type.slice(0, type.indexOf(".")), id: `res_${n}` },
    actor: { id: null, type: "system" },
    data: { n, note: "fault-injection run" },
  };
});

// ---------------------------------------------------------------------------------------------------------------
// Processes, ports, files.

let workerProcess = null;
let farm = null;
let workDir = null;
let cleaningUp = false;

async function cleanup() {
  if (cleaningUp) return;
  cleaningUp = true;
  await stopProcessGroup(workerProcess);
  if (farm) await farm.stop();
  if (workDir && !opts.keep) rmSync(workDir, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(signal, () => {
    note(`${signal}: stopping`);
    cleanup().finally(() => process.exit(130));
  });

function readWranglerVar(name) {
  const m = new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m").exec(readFileSync(join(root, "wrangler.toml"), "utf8"));
  return m ? m[1] : "";
}

// ---------------------------------------------------------------------------------------------------------------
// The Worker's log: counts of what it reports about faults, and the at-least-once window.

const workerLog = {
  d1Errors: 0,
  d1ErrorsByOp: {},
  duplicates: 0,
  attemptsLogged: 0,
  recordRetries: 0,
  recordLost: new Set(), // delivery ids: sent, recording failed for good
  processingFailed: 0,
  deadLettered: 0,
  enqueueFailed: 0,
  sweepEnqueued: 0,
  rolledUp: 0,
  reloads: 0,
  uncaught: 0,
  otherErrors: [],
  faultsOn: false,
};
function onWorkerLine(raw) {
  const line = raw.replace(/\x1b\[[0-9;]*m/g, ""); // wrangler colours the lines of console.warn/error
  const start = line.indexOf('{"level":');
  if (/Reloading local server/.test(line)) workerLog.reloads++;
  if (start === -1) {
    if (/Uncaught|✘ \[ERROR\]/.test(line)) {
      workerLog.uncaught++;
      if (workerLog.otherErrors.length < 5) workerLog.otherErrors.push(line.trim().slice(0, 300));
    }
    return;
  }
  let entry;
  try {
    entry = JSON.parse(line.slice(start));
  } catch {
    return;
  }
  switch (entry.msg) {
    case "fault injection is ON":
      workerLog.faultsOn = true;
      break;
    case "fault injected":
      if (entry.fault === "d1_error") {
        workerLog.d1Errors++;
        workerLog.d1ErrorsByOp[entry.op] = (workerLog.d1ErrorsByOp[entry.op] ?? 0) + 1;
      } else if (entry.fault === "duplicate_message") workerLog.duplicates++;
      break;
    case "delivery attempt":
      workerLog.attemptsLogged++;
      break;
    case "recording attempts failed; retrying":
      workerLog.recordRetries++;
      break;
    case "recording attempts failed for good; they were sent but are not recorded":
      for (const id of entry.delivery_ids ?? []) workerLog.recordLost.add(id);
      break;
    case "delivery processing failed; message will be retried":
      workerLog.processingFailed++;
      break;
    case "deliveries dead-lettered":
      workerLog.deadLettered += entry.count ?? 0;
      break;
    case "enqueue failed; the retry sweep will pick these deliveries up":
      workerLog.enqueueFailed++;
      break;
    case "retry sweep":
      workerLog.sweepEnqueued += entry.enqueued ?? 0;
      break;
    case "stats rollup":
      workerLog.rolledUp += entry.attempts ?? 0;
      break;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The admin API, as a client that retries what injected D1 errors turn into (500s).

const apiStats = { requests: 0, retried5xx: 0 };
const cronRuns = { ok: 0, failed: 0 };
let baseUrl = "";
let adminToken = "";

function mintToken(secret, issuerPrefix, audience) {
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: "usr_faults",
    role: "super_admin",
    scope: "admin:read admin:write",
    iat: now,
    exp: now + 3 * 3600,
    iss: `${issuerPrefix.endsWith("/") ? issuerPrefix : `${issuerPrefix}/`}tenants/platform`,
    aud: audience,
  };
  const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

async function api(method, path, body, { tries = 12 } = {}) {
  for (let i = 1; ; i++) {
    apiStats.requests++;
    let res;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      if (i >= tries) throw new Error(`${method} ${path}: ${err.message}`);
      await sleep(200 * i);
      continue;
    }
    const text = await res.text();
    if (res.status >= 500 && i < tries) {
      apiStats.retried5xx++;
      await sleep(50 * 2 ** Math.min(i, 5));
      continue;
    }
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const wrangler = wranglerBin(root).bin;
  workDir = mkdtempSync(join(tmpdir(), "scaikey-faults-"));
  const persistDir = join(workDir, "state");
  const envFile = join(workDir, "faults.env"); // named, so wrangler reads no .dev.vars: the run depends on nothing local
  writeFileSync(envFile, "# vars come from --var\n");
  const jwtSecret = randomBytes(32).toString("base64url");
  const issuer = readWranglerVar("JWT_ISSUER") || "https://auth.scaikey.local/";
  const audience = readWranglerVar("JWT_AUDIENCE") || "scaikey-webhooks";
  const childEnv = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" };

  say(`fault-injection run: seed ${SEED}, ${EVENTS} events, ${endpoints.length} endpoints (${TENANTS} tenants, ${partners.length} partners)`);
  note(`work dir ${workDir}`);
  // The Worker is bundled once, from a copy of the tree, and wrangler dev runs that bundle as is (--no-bundle): edits
  // to the working tree or node_modules during the run cannot make it reload, which would kill attempts in flight
  // (not the fault under test). The bundle's entry adds what --test-scheduled would: GET /__scheduled?cron=… runs the
  // scheduled handler.
  const app = join(workDir, "app");
  for (const entry of ["src", "scripts/faults", "migrations", "package.json", "tsconfig.json"]) cpSync(join(root, entry), join(app, entry), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(app, "node_modules"), "dir");
  writeFileSync(join(app, "faults-entry.ts"), SCHEDULED_ENTRY);
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  writeFileSync(join(app, "wrangler.bundle.toml"), toml.replace(/^main\s*=.*$/m, 'main = "faults-entry.ts"'));
  writeFileSync(join(app, "wrangler.toml"), toml.replace(/^main\s*=.*$/m, 'main = "bundle/faults-entry.js"'));
  const run = (args, what) => {
    const result = spawnSync(process.execPath, [wrangler, ...args], { cwd: app, env: childEnv, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`${what} failed:\n${result.stdout}\n${result.stderr}`);
  };
  run(["deploy", "--dry-run", "-c", "wrangler.bundle.toml", "--outdir", "bundle"], "bundling the Worker");
  run(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir], "applying the D1 migrations");

  farm = await startFarm(endpoints, { seed: SEED });

  const port = await freePort();
  const inspectorPort = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  adminToken = mintToken(jwtSecret, issuer, audience);
  const vars = {
    JWT_SECRET: jwtSecret,
    SECRET_ENCRYPTION_KEY: `faults:${randomBytes(32).toString("base64")}`,
    JWT_JWKS_URL: "",
    JWT_ISSUER: issuer,
    JWT_AUDIENCE: audience,
    ALLOW_INSECURE_URLS: "true",
    ALLOW_PRIVATE_TARGETS: "true",
    RETRY_SCHEDULE,
    DELIVERY_TIMEOUT_MS: String(DELIVERY_TIMEOUT_MS),
    FAILURE_THRESHOLD: "1000000", // no auto-disable: always-failing receivers keep their endpoint
    ORPHAN_GRACE_SECONDS: String(ORPHAN_GRACE_SECONDS),
    IN_FLIGHT_MARGIN_SECONDS: String(IN_FLIGHT_MARGIN_SECONDS),
    FAULT_D1_ERROR_RATE: String(D1_ERROR_RATE),
    FAULT_DUPLICATE_RATE: String(DUPLICATE_RATE),
    FAULT_SEED: String(SEED),
  };
  const args = [
    wrangler, "dev",
    "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort),
    "--no-bundle", "--persist-to", persistDir, "--env-file", envFile, "--show-interactive-dev-session=false",
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const logFile = createWriteStream(join(workDir, "worker.log"));
  workerProcess = spawn(process.execPath, args, { cwd: app, env: childEnv, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  for (const stream of [workerProcess.stdout, workerProcess.stderr]) {
    let pending = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      logFile.write(chunk);
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onWorkerLine(line);
    });
  }
  let workerExit = null;
  workerProcess.once("exit", (code, signal) => {
    workerExit = code ?? signal;
    if (!cleaningUp) note(`wrangler dev exited early (${workerExit}); see ${join(workDir, "worker.log")}`);
  });

  // Ready when the API answers.
  const readyBy = Date.now() + 90_000;
  for (;;) {
    if (workerExit !== null) throw new Error(`wrangler dev exited (${workerExit}) before it was ready:\n${readFileSync(join(workDir, "worker.log"), "utf8").slice(-3000)}`);
    try {
      const res = await fetch(`${baseUrl}/openapi.json`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {}
    if (Date.now() > readyBy) throw new Error("wrangler dev did not become ready within 90 s");
    await sleep(500);
  }
  note(`worker ready on ${baseUrl}`);

  // Endpoints.
  await mapBounded(endpoints, 4, async (e) => {
    const body = { url: farm.urlOf(e.name), events: e.events, description: `faults: ${e.behaviour}` };
    if (e.tenant_id) body.tenant_id = e.tenant_id;
    if (e.partner_id) body.partner_id = e.partner_id;
    const created = await api("POST", "/api/v1/admin/webhooks/", body, { tries: 1 }).catch(async (err) => {
      // A 500 (injected) may or may not have created it; creation is not idempotent, so look before trying again.
      if (!/: 5\d\d /.test(err.message)) throw err;
      return createAfterError(e, body);
    });
    e.id = created.body.id;
    farm.setWebhookId(e.name, e.id);
  });
  note(`${endpoints.length} endpoints registered`);

  // Drive the crons as the platform would: the retry sweep every few seconds, the stats rollup now and then.
  let stopCron = false;
  const cron = async (expr) => {
    try {
      const res = await fetch(`${baseUrl}/__scheduled?cron=${encodeURIComponent(expr).replaceAll("%20", "+")}`, { signal: AbortSignal.timeout(30_000) });
      await res.text();
      cronRuns[res.ok ? "ok" : "failed"]++;
    } catch {
      cronRuns.failed++;
    }
  };
  const cronLoop = (async () => {
    let lastRollup = Date.now();
    while (!stopCron) {
      await cron("* * * * *");
      if (Date.now() - lastRollup > ROLLUP_EVERY_MS) {
        lastRollup = Date.now();
        await cron("*/5 * * * *");
      }
      await sleep(SWEEP_EVERY_MS);
    }
  })();

  // Publish.
  const runStarted = Date.now();
  const deadline = runStarted + TIMEOUT_MS;
  let published = 0;
  let publishRetries = 0;
  let deliveriesCreated = 0;
  const before = apiStats.retried5xx;
  await mapBounded(events, PUBLISH_CONCURRENCY, async (event) => {
    if (Date.now() > deadline) return;
    const res = await api("POST", "/api/v1/events", event);
    deliveriesCreated += res.body.deliveries;
    event.accepted = true;
    published++;
    if (published % 500 === 0) note(`${published}/${EVENTS} events published`);
  });
  publishRetries = apiStats.retried5xx - before;
  const publishedIn = Date.now() - runStarted;
  note(`${published} events published in ${(publishedIn / 1000).toFixed(0)} s (${deliveriesCreated} deliveries)`);

  const expected = events.filter((e) => e.accepted).flatMap((ev) => targetsOf(ev).map((e) => ({ webhook_id: e.id, event_id: ev.event_id })));

  // Settle: no pending or retrying delivery anywhere, then quiet receivers.
  // Publishing is over, so no delivery can be created any more: an endpoint seen with none open stays settled
  // (were one to reopen, the final read-back would still show it), and only the others are polled again.
  let settledAt = null;
  let open = Number.POSITIVE_INFINITY;
  let unsettled = [...endpoints];
  while (Date.now() < deadline) {
    const counts = await mapBounded(unsettled, 2, async (e) => {
      let n = 0;
      for (const status of ["pending", "retrying"])
        n += (await api("GET", `/api/v1/admin/webhooks/${e.id}/deliveries?status=${status}&per_page=1`)).body.total;
      return n;
    });
    open = counts.reduce((a, b) => a + b, 0);
    unsettled = unsettled.filter((_, i) => counts[i] > 0);
    note(`${open} deliveries pending or retrying at ${unsettled.length} endpoints; receivers got ${farm.log.length} requests`);
    if (open === 0) {
      settledAt = Date.now();
      break;
    }
    await sleep(POLL_EVERY_MS);
  }
  // Late duplicates (and anything else still moving) must show up before the books are checked.
  for (let last = farm.log.length, quietSince = Date.now(); Date.now() - quietSince < QUIET_MS; ) {
    await sleep(500);
    if (farm.log.length !== last) {
      last = farm.log.length;
      quietSince = Date.now();
    }
    if (Date.now() > deadline + 30_000) break;
  }
  stopCron = true;
  await cronLoop;
  await cron("*/5 * * * *"); // a last rollup: the stats then come from rollups plus an empty tail
  note(settledAt ? `settled after ${((settledAt - runStarted) / 1000).toFixed(0)} s; reading back every delivery` : `NOT settled within the time bound (${open} open)`);

  // Read everything back through the admin API.
  const deliveries = [];
  await mapBounded(endpoints, 2, async (e) => {
    for (let page = 1; ; page++) {
      const res = await api("GET", `/api/v1/admin/webhooks/${e.id}/deliveries?per_page=100&page=${page}`);
      for (const d of res.body.items) deliveries.push(d);
      if (page >= res.body.pages) break;
    }
  });
  await mapBounded(deliveries, 8, async (d) => {
    const res = await api("GET", `/api/v1/admin/webhooks/${d.webhook_id}/deliveries/${d.id}`);
    d.attempts = res.body.attempts.map((a) => ({ ...a, started_at: Date.parse(a.started_at) }));
  });
  const requests = farm.log.map((r) => ({ ...r }));
  writeFileSync(join(workDir, "requests.jsonl"), requests.map((r) => JSON.stringify(r)).join("\n"));
  writeFileSync(join(workDir, "deliveries.json"), JSON.stringify(deliveries));

  const { violations, counts } = checkInvariants({
    deliveries,
    requests,
    expected,
    opts: {
      maxAttempts: RETRY_SCHEDULE.split(",").length + 1,
      timeoutMs: DELIVERY_TIMEOUT_MS,
      scheduleSeconds: RETRY_SCHEDULE.split(",").map(Number),
      unrecordedWindow: workerLog.recordLost,
    },
  });
  if (!workerLog.faultsOn && (D1_ERROR_RATE > 0 || DUPLICATE_RATE > 0)) violations.push("the Worker never reported fault injection ON: were the FAULT_* vars passed?");
  if (cronRuns.ok === 0) violations.push(`the cron trigger (/__scheduled) never answered 200 (${cronRuns.failed} failures): the retry sweep did not run`);
  // Every recorded attempt is logged right after it is recorded, so the two agree unless the Worker was stopped in
  // between (a reload) — the run must not reload, so that is reported as a violation too.
  if (workerLog.reloads > 0) violations.push(`wrangler dev reloaded the Worker ${workerLog.reloads} time(s) during the run`);
  if (workerLog.attemptsLogged !== counts.attempts_recorded)
    violations.push(`the Worker logged ${workerLog.attemptsLogged} recorded attempts, the API lists ${counts.attempts_recorded}`);

  // Stats endpoint, if this build has it.
  let statsChecked = 0;
  let statsMismatches = 0;
  let statsNote = "";
  const probe = await fetch(`${baseUrl}/api/v1/admin/webhooks/${endpoints[0].id}/stats?window=24h`, { headers: { authorization: `Bearer ${adminToken}` } });
  await probe.text();
  if (probe.status === 404) statsNote = "not available in this build";
  else {
    await mapBounded(endpoints, 4, async (e) => {
      const res = await api("GET", `/api/v1/admin/webhooks/${e.id}/stats?window=24h`);
      const problems = checkStats(res.body, deliveries.filter((d) => d.webhook_id === e.id));
      statsChecked++;
      if (problems.length > 0) {
        statsMismatches++;
        violations.push(...problems.map((p) => `stats of ${e.name} (${e.id}): ${p}`));
      }
    });
    statsNote = `${statsChecked - statsMismatches}/${statsChecked} endpoints match`;
  }

  // Report.
  const duration = (Date.now() - t0) / 1000;
  const byBehaviour = {};
  for (const d of deliveries) {
    const e = endpoints.find((x) => x.id === d.webhook_id);
    const b = (byBehaviour[e.behaviour] ??= { deliveries: 0, success: 0, failed: 0, attempts: 0 });
    b.deliveries++;
    if (d.status === "success") b.success++;
    if (d.status === "failed") b.failed++;
    b.attempts += d.attempts.length;
  }
  const twoXX = requests.filter((r) => r.sent2xx).length;
  const lost = counts.lost + counts.not_settled;
  const ops = Object.entries(workerLog.d1ErrorsByOp).map(([k, v]) => `${k} ${v}`).join(", ");
  say("");
  say(`== ScaiKey webhooks, fault injection: seed ${SEED} ==`);
  say(`  faults      ${workerLog.d1Errors} D1 errors injected (${ops || "none"}), ${workerLog.duplicates} duplicate queue messages`);
  say(`              ${workerLog.processingFailed} messages retried by the queue, ${workerLog.recordRetries} attempt records retried, ${workerLog.deadLettered} dead-lettered, ${workerLog.uncaught} uncaught error lines (e.g. a cron run whose D1 call failed); the harness retried ${apiStats.retried5xx} API 5xx`);
  for (const line of workerLog.otherErrors) say(`              error line: ${line}`);
  say(`  crons       ${cronRuns.ok} cron runs (${cronRuns.failed} failed): the sweep re-enqueued ${workerLog.sweepEnqueued} deliveries, the rollup took ${workerLog.rolledUp} attempts`);
  say(`  events      ${published}/${EVENTS} published in ${(publishedIn / 1000).toFixed(0)} s (${publishRetries} publish calls retried after a 5xx)`);
  say(`  deliveries  ${expected.length} expected, ${deliveries.length} created: ${counts.success} success, ${counts.failed} failed (${counts.dead_lettered} dead-lettered), ${counts.not_settled} not settled`);
  say(`  attempts    ${counts.attempts_recorded} recorded; receivers logged ${requests.length} requests (${counts.attempts_unreached} attempts refused while a receiver was down)`);
  say(`  receivers   ${twoXX} 2xx sent, all recorded as success unless listed below; ${counts.borderline_timeouts} borderline timeouts`);
  say(`  duplicates  ${counts.sends_after_success} sends after a success, ${counts.duplicate_event_sends} events sent twice to one endpoint, ${counts.unrecorded_requests} sent-but-unrecorded attempts (at-least-once window: ${workerLog.recordLost.size})`);
  say(`  stats       ${statsNote}`);
  say(`  by receiver ${Object.entries(byBehaviour).map(([k, v]) => `${k} ${v.success}/${v.deliveries} ok, ${v.attempts} att`).join("; ")}`);
  say(`  lost        ${lost}`);
  say(`  time        settled ${settledAt ? `after ${((settledAt - runStarted) / 1000).toFixed(0)} s` : "NOT within the bound"}; whole run ${duration.toFixed(0)} s`);
  if (violations.length > 0) {
    say(`  FAIL: ${violations.length} violation(s):`);
    for (const v of violations.slice(0, 40)) say(`    - ${v}`);
    if (violations.length > 40) say(`    … ${violations.length - 40} more`);
    opts.keep = true;
  } else say("  PASS: nothing lost, every invariant holds");
  if (opts.keep) say(`  files       ${workDir} (worker.log, requests.jsonl, deliveries.json, state/)`);
  return violations.length === 0 && settledAt !== null ? 0 : 1;
}

// POST create is not idempotent: after a 500, find the endpoint by its (unique) URL before creating it again.
async function createAfterError(e, body) {
  for (let i = 0; i < 10; i++) {
    const owner = e.tenant_id ? `tenant_id=${e.tenant_id}` : `partner_id=${e.partner_id}`;
    const list = await api("GET", `/api/v1/admin/webhooks/?${owner}&per_page=100`);
    const found = list.body.items.find((w) => w.url === body.url);
    if (found) return { status: 200, body: found };
    try {
      return await api("POST", "/api/v1/admin/webhooks/", body, { tries: 1 });
    } catch (err) {
      if (!/: 5\d\d /.test(err.message)) throw err;
    }
  }
  throw new Error(`could not create endpoint ${e.name}`);
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`\ntest:faults: ${err.stack ?? err}\n`);
  if (workDir) process.stderr.write(`files kept in ${workDir}\n`);
  opts.keep = true;
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
