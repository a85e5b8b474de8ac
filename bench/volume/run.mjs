#!/usr/bin/env node
// `npm run bench:volume`: the service with a large delivery history, all on 127.0.0.1, bounded in time.
//
//   1. Storage model: seeds a sample (default 100,000 deliveries of the typical event: 1 KiB payload, fan-out 3,
//      1.2 attempts) into a SQLite file with the project's migrations and measures bytes per delivery per table and
//      index (dbstat), for a delivery in D1 (hot) and for what stays of it once archived (its event's row, until
//      retention). From these: the deliveries/day whose 30 days fit in one 10 GB D1 database.
//   2. An empty database: `wrangler dev` with only the endpoints, for the list's p50 without history (timed alternately
//      with the full one below, so both see the same load).
//   3. A history of --deliveries (default 1,000,000) deliveries with attempts and events over --days (40) days, written
//      straight into wrangler dev's local D1 file, plus deliveries waiting in the queue behind a backlog. Then:
//      the list's p50 with that history; the sweep cron while the consumer is an hour behind (duplicates it sends), and
//      again once the queue watermark passes them (they are lost, so it must send them, and they are delivered); the
//      stats rollup cron until it has caught up; the retention cron (retention + archive) until done or --budget-s;
//      the list again, and a page deep in the archive.
// Writes bench/volume.json. Exits 1 if a run fails (not if a target is missed).
import { spawnSync } from "node:child_process";
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { startLocalReceiver } from "../../scripts/lib/local-receiver.mjs";
import { stopProcessGroup } from "../../scripts/lib/process.mjs";
import { wranglerBin } from "../../scripts/lib/wrangler.mjs";
import { startWranglerDev } from "../../scripts/lib/wrangler-dev.mjs";
import {
  HOUR_MS,
  openDatabase,
  seedHistory,
  seedQueuedDeliveries,
  setCursor,
  storageByObject,
  TYPICAL,
} from "./seed.mjs";

const USAGE = `Usage: npm run bench:volume -- [options]

Options:
  --deliveries <n>   delivery rows of the seeded history (default 1000000)
  --days <n>         days the history spans (default 40)
  --webhooks <n>     endpoints (tenants of 3) the history is spread over (default 30)
  --sample <n>       deliveries of the storage-model sample (default 100000)
  --queued <n>       deliveries waiting in the queue for the sweep runs (default 2000)
  --budget-s <n>     seconds the retention cron may run in all (default 240); rates come from what it did
  --keep             keep the temporary directory and print its path
  --no-write         do not write bench/volume.json
  -h, --help         this help
`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const t0 = Date.now();
const note = (line) => process.stderr.write(`[volume +${((Date.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const { values: opts } = parseArgs({
  options: {
    deliveries: { type: "string", default: "1000000" },
    days: { type: "string", default: "40" },
    webhooks: { type: "string", default: "30" },
    sample: { type: "string", default: "100000" },
    queued: { type: "string", default: "2000" },
    "budget-s": { type: "string", default: "240" },
    keep: { type: "boolean", default: false },
    "no-write": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opts.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const N = Number(opts.deliveries);
const DAYS = Number(opts.days);
const WEBHOOKS = Number(opts.webhooks);
const QUEUED = Number(opts.queued);

/** Cloudflare's D1 limit, in bytes (10 GB, decimal). */
const D1_LIMIT_BYTES = 10e9;
const TARGET_PER_DAY = 1_000_000;
const RETENTION_DAYS = Number(
  /RETENTION_DAYS = "(\d+)"/.exec(readFileSync(join(root, "wrangler.toml"), "utf8"))?.[1] ?? 30,
);
const ARCHIVE_AFTER_HOURS = 48;
const JWT_SECRET = "volume-bench-secret";
const ISSUER = "https://auth.scaikey.local/";
const AUDIENCE = "scaikey-webhooks";
/** The time boxes of src/jobs (RETENTION_BUDGET_MS, ROLLUP_BUDGET_MS), read from the sources. */
const JOB_BUDGET_MS = {
  retention: Number(
    /RETENTION_BUDGET_MS = ([\d_]+)/
      .exec(readFileSync(join(root, "src/jobs/retention.ts"), "utf8"))[1]
      .replaceAll("_", ""),
  ),
  rollup: Number(
    /ROLLUP_BUDGET_MS = ([\d_]+)/
      .exec(readFileSync(join(root, "src/jobs/stats-rollup.ts"), "utf8"))[1]
      .replaceAll("_", ""),
  ),
};
const CRON = { sweep: "* * * * *", rollup: "*/5 * * * *", retention: "*/3 * * * *" };

const workDir = mkdtempSync(join(tmpdir(), "scaikey-volume-"));
// wrangler dev runs a snapshot of the sources, so edits to the tree during a run cannot make it reload the Worker.
const app = join(workDir, "app");
for (const entry of [
  "src",
  "migrations",
  "wrangler.toml",
  "package.json",
  "tsconfig.json",
  "worker-configuration.d.ts",
])
  cpSync(join(root, entry), join(app, entry), { recursive: true });
symlinkSync(realpathSync(join(root, "node_modules")), join(app, "node_modules"));
const children = new Set();
const wrangler = wranglerBin(root);

// ---- 1. Storage model ----

function measureStorage(sample) {
  const file = join(workDir, "storage-model.sqlite");
  const db = openDatabase(file, join(app, "migrations"));
  const now = Date.now();
  seedHistory(db, { deliveries: sample, days: 1, now, webhooks: 300 });
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const DELIVERY_TABLES = ["deliveries", "delivery_attempts", "events"];
  const hot = storageByObject(db).filter((o) => DELIVERY_TABLES.includes(o.table));
  // Without the payloads (what sharding the rows alone would have to hold), then what the archive leaves in D1: the
  // event rows (payload released), no deliveries, no attempts.
  db.exec("UPDATE events SET payload = ''; VACUUM;");
  const withoutPayload = storageByObject(db).filter((o) => DELIVERY_TABLES.includes(o.table));
  db.exec("DELETE FROM delivery_attempts; DELETE FROM deliveries; VACUUM;");
  const cold = storageByObject(db).filter((o) => o.table === "events");
  db.close();
  rmSync(file, { force: true });
  const perDelivery = (objects) => Object.fromEntries(objects.map((o) => [o.name, round(o.bytes / sample, 1)]));
  const sum = (objects) => objects.reduce((n, o) => n + o.bytes, 0) / sample;
  return {
    sample_deliveries: sample,
    typical_event: TYPICAL,
    hot_bytes_per_delivery: round(sum(hot), 1),
    hot_by_object: perDelivery(hot),
    hot_bytes_per_delivery_without_payload: round(sum(withoutPayload), 1),
    archived_bytes_per_delivery_in_d1: round(sum(cold), 1),
    archived_by_object: perDelivery(cold),
  };
}

const round = (x, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

// ---- Local Worker ----

function migrate(stateDir) {
  const result = spawnSync(
    process.execPath,
    [wrangler.bin, "d1", "migrations", "apply", "DB", "--local", "--persist-to", stateDir],
    {
      cwd: app,
      env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
      encoding: "utf8",
    },
  );
  if (result.status !== 0) throw new Error(`applying migrations failed:\n${result.stdout}\n${result.stderr}`);
  const dir = join(stateDir, "v3", "d1", "miniflare-D1DatabaseObject");
  const file = readdirSync(dir).find((f) => f.endsWith(".sqlite"));
  return join(dir, file);
}

async function startWorker(stateDir) {
  const envFile = join(workDir, "volume.env");
  writeFileSync(envFile, "# vars come from --var\n");
  const vars = {
    JWT_SECRET,
    JWT_JWKS_URL: "",
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    ALLOW_INSECURE_URLS: "true",
    ALLOW_PRIVATE_TARGETS: "true",
    SECRET_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString("base64")}`,
  };
  const logs = [];
  const onLine = (line) => {
    const start = line.indexOf('{"level"');
    if (start === -1) return;
    try {
      logs.push(JSON.parse(line.slice(start)));
    } catch {}
  };
  const { child, base } = await startWranglerDev({
    wrangler,
    cwd: app,
    args: ["--test-scheduled"],
    persistTo: stateDir,
    envFile,
    vars,
    logPath: join(workDir, `wrangler-${basename(stateDir)}.log`),
    onLine,
    onStart: (started) => children.add(started),
  });
  return { child, base, logs };
}

async function stopWorker(worker) {
  await stopProcessGroup(worker.child);
  children.delete(worker.child);
}

/** Runs one cron as the scheduler would and waits for its end; returns its log lines. */
async function runCron(worker, cron, timeoutMs = 120_000) {
  const from = worker.logs.length;
  const response = await fetch(`${worker.base}/__scheduled?cron=${encodeURIComponent(cron)}`);
  if (!response.ok) throw new Error(`/__scheduled answered ${response.status}`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const lines = worker.logs.slice(from);
    const end = lines.find((l) => (l.msg === "scheduled job" || l.msg === "scheduled job failed") && l.cron === cron);
    if (end) {
      if (end.msg !== "scheduled job") throw new Error(`cron ${cron} failed: ${end.error}`);
      return { lines, durationMs: end.duration_ms };
    }
    await sleep(50);
  }
  throw new Error(`cron ${cron} did not finish within ${timeoutMs} ms`);
}

const token = () =>
  new SignJWT({ role: "super_admin", scope: "admin:read admin:write" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject("usr_volume")
    .setIssuer(`${ISSUER}tenants/platform`)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(JWT_SECRET));

/** p50 and p90 of `n` sequential GETs (after a few to warm up). */
async function latency(url, auth, n = 150) {
  const times = [];
  let body;
  for (let i = 0; i < n + 10; i++) {
    const started = performance.now();
    const response = await fetch(url, { headers: { authorization: `Bearer ${auth}` } });
    body = await response.json();
    if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${JSON.stringify(body)}`);
    if (i >= 10) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    p50_ms: round(times[Math.floor(n / 2)], 2),
    p90_ms: round(times[Math.floor(n * 0.9)], 2),
    total: body.total,
    items: body.items?.length,
  };
}

/** p50 and p90 of two URLs, requested alternately (so both see the same load on a shared machine). */
async function latencyPair(urlA, urlB, auth, n = 150) {
  const times = [[], []];
  const bodies = [];
  for (let i = 0; i < n + 10; i++) {
    for (const [k, url] of [urlA, urlB].entries()) {
      const started = performance.now();
      const response = await fetch(url, { headers: { authorization: `Bearer ${auth}` } });
      bodies[k] = await response.json();
      if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${JSON.stringify(bodies[k])}`);
      if (i >= 10) times[k].push(performance.now() - started);
    }
  }
  return times.map((t, k) => {
    t.sort((a, b) => a - b);
    return {
      p50_ms: round(t[Math.floor(n / 2)], 2),
      p90_ms: round(t[Math.floor(n * 0.9)], 2),
      total: bodies[k].total,
      items: bodies[k].items?.length,
    };
  });
}

/** A receiver that answers 200 at once and counts what it got. */
async function startReceiver() {
  let received = 0;
  const receiver = await startLocalReceiver(
    (_req, res) => {
      received++;
      res.writeHead(200, { "content-type": "application/json" }).end('{"received":true}');
    },
    { readBody: false },
  );
  return { stop: receiver.stop, url: receiver.url("/hook"), received: () => received };
}

// ---- The run ----

async function main() {
  note(`work dir ${workDir}`);
  note(`storage model: seeding ${opts.sample} deliveries of the typical event`);
  const storage = measureStorage(Number(opts.sample));
  const hot = storage.hot_bytes_per_delivery;
  const cold = storage.archived_bytes_per_delivery_in_d1;
  const daysHot = ARCHIVE_AFTER_HOURS / 24;
  const capacity = {
    d1_only: Math.floor(D1_LIMIT_BYTES / (RETENTION_DAYS * hot)),
    with_archive: Math.floor(D1_LIMIT_BYTES / (daysHot * hot + (RETENTION_DAYS - daysHot) * cold)),
  };
  note(
    `  ${hot} B/delivery in D1, ${cold} B once archived; ${RETENTION_DAYS} days fit ${capacity.d1_only}/day in D1 alone, ${capacity.with_archive}/day with the archive`,
  );

  const receiver = await startReceiver();
  const auth = await token();
  const now = Date.now();

  // 2. Empty database: the endpoints only. It stays up until the full one is, so both lists are timed side by side.
  const emptyState = join(workDir, "empty-state");
  let emptyWorker;
  let emptyWebhook;
  {
    const db = openDatabase(migrate(emptyState));
    emptyWebhook = seedHistory(db, { deliveries: 0, days: DAYS, now, webhooks: WEBHOOKS, urlOf: () => receiver.url })
      .webhooks[0];
    db.exec("PRAGMA journal_mode = DELETE");
    db.close();
    emptyWorker = await startWorker(emptyState);
  }

  // 3. The history.
  const fullState = join(workDir, "full-state");
  const dbFile = migrate(fullState);
  let seeded;
  {
    const db = openDatabase(dbFile);
    const started = Date.now();
    seeded = seedHistory(db, { deliveries: N, days: DAYS, now, webhooks: WEBHOOKS, urlOf: () => receiver.url });
    // Waiting in the queue since 30 minutes; the consumer has received nothing sent in the last hour: a backlog.
    seedQueuedDeliveries(db, {
      webhookId: seeded.webhooks[1],
      tenantId: "ten_00000000",
      count: QUEUED,
      deliverableAt: now - 30 * 60_000,
    });
    setCursor(db, "queue_watermark", now - HOUR_MS, now);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE");
    db.close();
    note(
      `seeded ${seeded.deliveries} deliveries, ${seeded.attempts} attempts, ${seeded.events} events over ${DAYS} days in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  const worker = await startWorker(fullState);
  const listUrl = `${worker.base}/api/v1/admin/webhooks/${seeded.webhooks[0]}/deliveries?per_page=20`;
  const [empty, fullList] = await latencyPair(
    `${emptyWorker.base}/api/v1/admin/webhooks/${emptyWebhook}/deliveries?per_page=20`,
    listUrl,
    auth,
  );
  await stopWorker(emptyWorker);
  note(`empty database: list p50 ${empty.p50_ms} ms`);
  const fullGet = await latency(`${worker.base}/api/v1/admin/webhooks/${seeded.webhooks[0]}`, auth);
  note(`history in D1: list p50 ${fullList.p50_ms} ms (total ${fullList.total}), get webhook p50 ${fullGet.p50_ms} ms`);

  // The sweep behind a backlog, then once the watermark has passed the queued deliveries.
  const backlogSweep = await runCron(worker, CRON.sweep);
  const duplicates = backlogSweep.lines.filter((l) => l.msg === "retry sweep").reduce((n, l) => n + l.enqueued, 0);
  note(`sweep behind a backlog: ${duplicates} deliveries re-enqueued (duplicates)`);
  // The probe the sweep sent is received at once (the local queue is idle): the watermark is now past them, so their
  // messages are lost (this bench never sent them) and the next sweep must send them, and they must be delivered.
  let lostSent = 0;
  for (let i = 0; i < 10 && lostSent === 0; i++) {
    await sleep(1500);
    lostSent = (await runCron(worker, CRON.sweep)).lines
      .filter((l) => l.msg === "retry sweep")
      .reduce((n, l) => n + (l.lost ?? l.enqueued), 0);
  }
  const deliveredBy = Date.now() + 60_000;
  while (receiver.received() < lostSent && Date.now() < deliveredBy) await sleep(250);
  note(`sweep after the watermark: ${lostSent} lost deliveries re-enqueued, ${receiver.received()} delivered`);

  // The rollup from nothing, as the cron would run it, until caught up.
  let rolled = 0;
  let rollupMs = 0;
  for (let run = 0; run < 40; run++) {
    const { lines, durationMs } = await runCron(worker, CRON.rollup, 60_000);
    const line = lines.find((l) => l.msg === "stats rollup");
    rollupMs += durationMs;
    rolled += line?.attempts ?? 0;
    if (!line || line.caught_up) break;
  }
  note(`rollup: ${rolled} attempts in ${rollupMs} ms`);

  // Retention and the archive, until done or out of budget.
  const totals = {
    archive_objects_deleted: 0,
    deliveries_deleted: 0,
    attempts_deleted: 0,
    events_deleted: 0,
    stats_deleted: 0,
    deliveries_archived: 0,
    attempts_archived: 0,
    archive_objects_written: 0,
  };
  let retentionMs = 0;
  let runs = 0;
  let complete = false;
  const budgetMs = Number(opts["budget-s"]) * 1000;
  while (retentionMs < budgetMs && !complete) {
    const { lines, durationMs } = await runCron(worker, CRON.retention, 180_000);
    const line = lines.find((l) => l.msg === "retention");
    for (const key of Object.keys(totals)) totals[key] += line?.[key] ?? 0;
    retentionMs += durationMs;
    runs++;
    complete = line?.complete === true;
    note(`retention run ${runs}: ${JSON.stringify(line)}`);
  }

  const afterList = await latency(listUrl, auth);
  const deepPage = Math.max(1, Math.floor(afterList.total / 20 / 2));
  const deepList = await latency(`${listUrl}&page=${deepPage}`, auth, 40);
  note(
    `after retention and archive: list p50 ${afterList.p50_ms} ms (total ${afterList.total}); page ${deepPage} (archive) p50 ${deepList.p50_ms} ms`,
  );
  await stopWorker(worker);
  await receiver.stop();

  const d1RowsRemoved =
    totals.deliveries_deleted +
    totals.attempts_deleted +
    totals.events_deleted +
    totals.deliveries_archived +
    totals.attempts_archived;
  const perDay = (x) => (x * 10 * TARGET_PER_DAY) / 86_400;
  // A job runs for at most its time box once per cron interval: what it sustains is its rate times that duty cycle.
  const sustained = (rate, budgetMs, everyMinutes) => round(rate * Math.min(1, budgetMs / (everyMinutes * 60_000)), 0);
  const retentionRate = d1RowsRemoved / (retentionMs / 1000);
  const archiveRate = totals.deliveries_archived / (retentionMs / 1000);
  const rollupRate = rolled / (rollupMs / 1000);
  const result = {
    generated_at: new Date().toISOString(),
    command: "npm run bench:volume",
    bytes_per_delivery: hot,
    bytes_per_archived_delivery_in_d1: cold,
    capacity_deliveries_per_day_at_30_days: capacity.with_archive,
    capacity_deliveries_per_day_at_30_days_d1_only: capacity.d1_only,
    retention_rows_per_second: round(retentionRate, 0),
    archive_deliveries_per_second: round(archiveRate, 0),
    rollup_attempts_per_second: round(rollupRate, 0),
    sustained_per_second: {
      retention_rows: sustained(retentionRate, JOB_BUDGET_MS.retention, 3),
      archive_deliveries: sustained(archiveRate, JOB_BUDGET_MS.retention, 3),
      rollup_attempts: sustained(rollupRate, JOB_BUDGET_MS.rollup, 5),
    },
    sweep_duplicates_under_backlog: duplicates,
    sweep_lost_reenqueued: lostSent,
    sweep_lost_delivered: receiver.received(),
    admin_list_latency_ratio_full_vs_empty: round(fullList.p50_ms / empty.p50_ms, 2),
    admin_list_latency_ratio_archived_vs_empty: round(afterList.p50_ms / empty.p50_ms, 2),
    needed_at_10x: {
      retention_rows_per_second: round(perDay(1 + TYPICAL.attemptsPerDelivery + 1 / TYPICAL.fanOut), 0),
      archive_deliveries_per_second: round(perDay(1), 0),
      rollup_attempts_per_second: round(perDay(TYPICAL.attemptsPerDelivery), 0),
    },
    storage,
    history: {
      deliveries: seeded.deliveries,
      attempts: seeded.attempts,
      events: seeded.events,
      days: DAYS,
      webhooks: WEBHOOKS,
      queued_for_sweep: QUEUED,
    },
    latency_ms: {
      list_empty: empty,
      list_full_in_d1: fullList,
      get_webhook_full: fullGet,
      list_after_archive: afterList,
      list_deep_page_in_archive: { page: deepPage, ...deepList },
    },
    rollup: { attempts: rolled, ms: rollupMs },
    retention: { ...totals, runs, ms: retentionMs, complete, budget_s: Number(opts["budget-s"]) },
  };
  if (!opts["no-write"]) writeFileSync(join(root, "bench", "volume.json"), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(
    `${JSON.stringify(Object.fromEntries(Object.entries(result).filter(([, v]) => typeof v !== "object")), null, 2)}\n`,
  );
}

const cleanup = async () => {
  for (const child of children) await stopProcessGroup(child);
  if (!opts.keep) rmSync(workDir, { recursive: true, force: true });
  else note(`kept ${workDir}`);
};
process.on("SIGINT", () => cleanup().then(() => process.exit(130)));
try {
  await main();
  await cleanup();
} catch (err) {
  note(`failed: ${err.stack ?? err}`);
  await cleanup();
  process.exit(1);
}
