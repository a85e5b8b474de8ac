#!/usr/bin/env node
import { spawnSync } from "node:child_process";
// `npm run bench -- [options]`: the project's performance, measured locally against the same runtime's own ceiling,
// in two columns: the Workers run by Miniflare's own API (workerd with no inspector: what production pays; the targets
// are judged here) and by `wrangler dev` (what a developer sees: wrangler's inspector session and dev middleware on).
//
// Starts, all on 127.0.0.1 and all stopped at the end:
//   - a receiver + JWKS server (receiver.mjs, its own process): answers every delivery 200 at once and counts them;
//   - per column, the Worker itself on a fresh migrated D1 (RS256 tokens verified against the local JWKS, as in
//     production) and the baseline Worker (baseline/): a bare Hono route, a bare JSON POST, and a queue consumer /
//     fetch loop that only POSTs to the receiver, with the project's batching and consumer concurrency;
//   - in the Miniflare column also the Worker without a queue consumer (the publish side's CPU alone) and the Worker
//     with counters around its bindings (instrumented.ts, for the cost figures only).
// Every Worker runs a snapshot of the sources (copied to a temp dir), so edits to the tree during a run cannot reload it.
//
// Measures (measure/), each subject interleaved with its baseline so both see the same machine, in each column:
//   1. admin API req/s and latency vs the bare route;  2. delivery throughput vs the queue-only consumer;
//   4. publish latency vs a bare JSON POST;  and workerd's CPU per request and per delivery (cpu.mjs);
// and once: 3. fan-out to 1, 100, 1,000 endpoints;  5. cost per delivery (D1 and queue operations).
// Prints a Markdown table (report.mjs), writes bench/results.json and bench/results.md. Exits 1 if a run fails (not if
// a target is missed).
//
// `--isolation` measures only 6. isolation (measure/isolation.mjs): healthy webhooks' delivery latency beside a receiver
// that times out, against the same without it, on Miniflare; it writes the `isolation` key of bench/results.json and
// keeps every other key as the last full run left it.
//
// `--rate-limit` measures only 7. the rate limit (measure/rate-limit.mjs): the spread of request times at the receiver
// when a burst meets a webhook's rate_limit, on Miniflare; it writes the `rate_limit` key of bench/results.json, likewise.
import { webcrypto } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { intOption, parseCli, progressNote, sleep } from "../scripts/lib/cli.mjs";
import { ensureRecentNode } from "../scripts/lib/node-runtime.mjs";
import { stopProcessGroup } from "../scripts/lib/process.mjs";
import { mintToken } from "../scripts/lib/token.mjs";
import {
  applyLocalMigrations,
  bundleWorker,
  snapshotTree,
  workerdVersion,
  wranglerBin,
} from "../scripts/lib/wrangler.mjs";
import { ADMIN_TENANT, api, seedEndpoints, tagCounter } from "./client.mjs";
import { d1File, runBench, SNAPSHOT_ENTRIES, startReceiver } from "./harness.mjs";
import { measureAdminApi } from "./measure/admin-api.mjs";
import { measureCost } from "./measure/cost.mjs";
import { measureDelivery, measurePublishSideCpu } from "./measure/delivery.mjs";
import { FAN_OUT_SIZES, measureFanOut } from "./measure/fan-out.mjs";
import { ISOLATION_CASES, measureIsolationCase } from "./measure/isolation.mjs";
import { measureProfile } from "./measure/profile.mjs";
import { measurePublishLatency } from "./measure/publish.mjs";
import { measureRateLimitCase, RATE_LIMIT_CASES, RATE_LIMIT_PUBLISHERS } from "./measure/rate-limit.mjs";
import { renderMarkdown, renderProfile, withProfileTables } from "./report.mjs";
import { startMiniflareWorker } from "./runtimes/miniflare.mjs";
import { startWranglerDevWorker } from "./runtimes/wrangler-dev.mjs";

const USAGE = `Usage: npm run bench -- [options]

Options:
  --deliveries <n>    deliveries in the throughput run: events x endpoints (default 20000 = 1000 events x 20 endpoints)
  --endpoints <n>     endpoints the throughput events fan out to (default 20)
  --rounds <n>        rounds of the autocannon measures, each alternating subject and baseline (default 2)
  --duration <s>      seconds of each autocannon measure (default 6)
  --connections <n>   autocannon connections (default 8)
  --no-cpu-sampling   skip sampling where the CPU goes (per process and workerd's busiest thread, from /proc) during the
                      throughput run
  --consumer-concurrency <n>  what-if: run the snapshot (and the baseline) with this CONSUMER_CONCURRENCY instead of the
                      one in src/ (the tree is not touched)
  --quick             a smoke run: 2000 deliveries, 1 round of 3 s (figures not comparable)
  --no-write          do not write bench/results.json / results.md
  --keep              keep the temporary directory (logs, databases) and print its path
  --render-only       measure nothing: rewrite bench/results.md from bench/results.json (after changing the report)
  --isolation         measure only isolation (1-2 min): healthy webhooks' latency beside a receiver that times out,
                      against the same without it (--rounds rounds of each); writes the isolation key of results.json
  --rate-limit        measure only the rate limit (about 1 min): the spread of request times at the receiver when a
                      burst meets a webhook's rate_limit; writes the rate_limit key of results.json
  --profile           measure only where the CPU goes (3 min; also \`npm run bench:profile\`): V8's CPU profile of our
                      Worker's isolate, then of every isolate at once beside the floors', while the queue consumer
                      delivers --deliveries (default 4000), while they are published, and while the admin GET and
                      list serve for --duration s each (default 10); writes bench/profile.json and the tables in
                      docs/performance.md (#where-the-cpu-goes)
  --sampling-interval <us>  the profiler's sampling interval (default 250 µs)
  --hold <s>          after seeding the Miniflare column, keep its Workers up this long (URLs and tokens in
                      <work dir>/hold.json), for poking at them by hand; then measure as usual
  -h, --help          this help
`;

const ISSUER = "https://auth.scaikey.local/";
const AUDIENCE = "scaikey-webhooks";
const PUBLISH_CONCURRENCY = 4; // publishers in flight during the throughput run
const TIME_LIMIT_MS = 20 * 60_000; // hard stop for the whole run
const CONSUMER_CONCURRENCY_LINE = /export const CONSUMER_CONCURRENCY = (\d+);/;
const CPU_MS_PER_DELIVERY_TARGET = 1.0; // workerd's CPU per delivery, publish and consumer, on the Miniflare column
const BASELINE_CONFIG = "bench/baseline/wrangler.toml";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const t0 = Date.now();
const say = (line = "") => process.stdout.write(`${line}\n`);
const note = progressNote("bench", t0);

function readOptions() {
  const opts = parseCli({
    usage: USAGE,
    name: "bench",
    allowNegative: true,
    options: {
      deliveries: { type: "string", default: "20000" },
      endpoints: { type: "string", default: "20" },
      rounds: { type: "string", default: "2" },
      duration: { type: "string", default: "6" },
      connections: { type: "string", default: "8" },
      quick: { type: "boolean", default: false },
      write: { type: "boolean", default: true },
      keep: { type: "boolean", default: false },
      hold: { type: "string", default: "0" },
      "cpu-sampling": { type: "boolean", default: true },
      profile: { type: "boolean", default: false },
      "sampling-interval": { type: "string", default: "250" },
      "consumer-concurrency": { type: "string" },
      "render-only": { type: "boolean", default: false },
      isolation: { type: "boolean", default: false },
      "rate-limit": { type: "boolean", default: false },
    },
  });
  // --quick and --profile fill in what the command line leaves at its default.
  if (opts.profile)
    for (const [k, v] of Object.entries({ deliveries: "4000", duration: "10" }))
      if (!process.argv.includes(`--${k}`)) opts[k] = v;
  if (opts.quick)
    for (const [k, v] of Object.entries({ deliveries: "2000", rounds: "1", duration: "3" }))
      if (!process.argv.includes(`--${k}`)) opts[k] = v;
  const endpoints = intOption(opts, "endpoints", 1, 200);
  const deliveries = Math.ceil(intOption(opts, "deliveries", 100, 100_000) / endpoints) * endpoints;
  return {
    load: { endpoints, deliveries, events: deliveries / endpoints, publishConcurrency: PUBLISH_CONCURRENCY },
    settings: {
      rounds: intOption(opts, "rounds", 1, 10),
      duration: intOption(opts, "duration", 1, 60),
      connections: intOption(opts, "connections", 1, 100),
    },
    hold: intOption(opts, "hold", 0, 3600),
    consumerConcurrency:
      opts["consumer-concurrency"] === undefined ? null : intOption(opts, "consumer-concurrency", 1, 100),
    cpuSampling: opts["cpu-sampling"],
    profile: opts.profile,
    samplingIntervalUs: intOption(opts, "sampling-interval", 50, 10_000),
    write: opts.write,
    keep: opts.keep,
    renderOnly: opts["render-only"],
    isolation: opts.isolation,
    rateLimit: opts["rate-limit"],
  };
}

function machineInfo(wrangler) {
  const nproc = Number(spawnSync("nproc", { encoding: "utf8" }).stdout?.trim()) || cpus().length;
  let cpuModel = cpus()[0]?.model ?? "unknown";
  try {
    cpuModel = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpuModel;
  } catch {}
  return {
    cpus: nproc,
    cpu_model: cpuModel.trim(),
    node: process.version,
    wrangler: wrangler.version,
    workerd: workerdVersion(wrangler.dir),
    load_average_at_start: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** The snapshot every Worker is built from, with the what-if concurrency applied; checks the baseline's batching. */
function prepareSnapshot(workDir, options) {
  const app = snapshotTree(root, join(workDir, "app"), [...SNAPSHOT_ENTRIES, "bench/baseline"]);
  const consumerFile = readdirSync(join(app, "src"), { recursive: true })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(app, "src", f))
    .find((f) => CONSUMER_CONCURRENCY_LINE.test(readFileSync(f, "utf8")));
  let concurrency = consumerFile ? CONSUMER_CONCURRENCY_LINE.exec(readFileSync(consumerFile, "utf8"))?.[1] : undefined;
  if (!concurrency) throw new Error("could not find `export const CONSUMER_CONCURRENCY = n;` in src/");
  if (options.consumerConcurrency !== null) {
    concurrency = String(options.consumerConcurrency);
    writeFileSync(
      consumerFile,
      readFileSync(consumerFile, "utf8").replace(
        CONSUMER_CONCURRENCY_LINE,
        `export const CONSUMER_CONCURRENCY = ${concurrency};`,
      ),
    );
    note(`what-if: CONSUMER_CONCURRENCY = ${concurrency} in the snapshot`);
  }
  const queueSettings = (text, queue) => {
    const block =
      new RegExp(`\\[\\[queues\\.consumers\\]\\]\\s*\\nqueue = "${queue}"([\\s\\S]*?)(?=\\n\\[|$)`).exec(text)?.[1] ??
      "";
    return {
      max_batch_size: Number(/max_batch_size = (\d+)/.exec(block)?.[1]),
      max_batch_timeout: Number(/max_batch_timeout = (\d+)/.exec(block)?.[1]),
    };
  };
  const ours = queueSettings(readFileSync(join(app, "wrangler.toml"), "utf8"), "scaikey-webhook-deliveries");
  for (const queue of ["scaikey-bench-baseline", "scaikey-bench-baseline-record"]) {
    const theirs = queueSettings(readFileSync(join(app, BASELINE_CONFIG), "utf8"), queue);
    if (ours.max_batch_size !== theirs.max_batch_size || ours.max_batch_timeout !== theirs.max_batch_timeout)
      throw new Error(
        `${BASELINE_CONFIG}'s consumer of ${queue} (${JSON.stringify(theirs)}) no longer matches wrangler.toml's (${JSON.stringify(ours)})`,
      );
  }
  return { app, queue: { ...ours, consumer_concurrency: Number(concurrency) } };
}

/** RS256 tokens signed by the key whose public half the receiver serves as the JWKS, as ScaiKey does. */
async function makeTokens() {
  const pair = await webcrypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const publicJwk = {
    ...(await webcrypto.subtle.exportKey("jwk", pair.publicKey)),
    kid: "bench-rs256",
    alg: "RS256",
    use: "sig",
  };
  delete publicJwk.key_ops;
  delete publicJwk.ext;
  const sign = (principal) =>
    mintToken({
      key: pair.privateKey,
      alg: "RS256",
      kid: "bench-rs256",
      subject: "usr_bench",
      issuerPrefix: ISSUER,
      audience: AUDIENCE,
      expiration: "3h",
      ...principal,
    });
  return {
    jwks: { keys: [publicJwk] },
    admin: await sign({ role: "super_admin", scope: "admin:read admin:write" }),
    tenant: await sign({ role: "tenant_admin", tenant: "tnt_bench_admin", scope: "admin:read" }),
  };
}

/** Our Worker's vars: tokens checked against the receiver's JWKS (RS256, as in production), local targets, a fresh key. */
const subjectVars = (receiver) => ({
  JWT_JWKS_URL: `${receiver.base}/jwks`,
  JWT_ISSUER: ISSUER,
  JWT_AUDIENCE: AUDIENCE,
  ALLOW_INSECURE_URLS: "true",
  ALLOW_PRIVATE_TARGETS: "true",
  // The fan-out measure puts its largest size (FAN_OUT_SIZES) in one tenant, past the default limit of 100.
  MAX_WEBHOOKS_PER_OWNER: String(Math.max(...FAN_OUT_SIZES)),
  SECRET_ENCRYPTION_KEY: `k1:${Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64")}`,
});

/**
 * The baseline's D1 floors read the subject's own rows: the admin tenant's webhook_endpoints rows, copied as they are
 * from the subject's local D1 file (read-only, node:sqlite) into the baseline's (same schema, from the same migrations).
 */
async function seedBaselineWebhooks(baseline, subjectPersistTo) {
  const db = new DatabaseSync(d1File(subjectPersistTo), { readOnly: true });
  let rows;
  try {
    rows = db.prepare("SELECT * FROM webhook_endpoints WHERE tenant_id = ?").all(ADMIN_TENANT);
  } finally {
    db.close();
  }
  if (rows.length === 0) throw new Error(`no webhooks of ${ADMIN_TENANT} in the subject's D1 to copy`);
  await api(baseline.base, "POST", "/d1/seed", rows);
}

/** The baseline Worker's vars: the receiver it posts to, and our consumer's concurrency. */
const baselineVars = (receiver, queue) => ({
  RECEIVER_URL: receiver.base,
  CONSUMER_CONCURRENCY: String(queue.consumer_concurrency),
});

/** The measures both columns take: admin API, publish latency, delivery throughput, each with workerd's CPU. */
async function measureColumn(column, ctx) {
  const { subject, baseline, data, tag } = column;
  note(
    `${column.label}: 1. admin API: ${ctx.settings.rounds} round(s) x 5 targets x ${ctx.settings.duration} s, ${ctx.settings.connections} connections`,
  );
  const admin = await measureAdminApi({
    subject,
    baseline,
    data,
    tenantToken: ctx.tokens.tenant,
    settings: ctx.settings,
    note,
  });
  note(`${column.label}: 4. publish latency: ${ctx.settings.rounds} round(s) x ${ctx.settings.duration} s`);
  const publish = await measurePublishLatency({
    subject,
    baseline,
    adminToken: ctx.tokens.admin,
    settings: ctx.settings,
    tagCount: ctx.tagCount,
    tag,
  });
  note(
    `   bare POST ${publish.bare_post.rps.toFixed(0)} req/s, publish ${publish.publish.rps.toFixed(0)} req/s (p50 ${publish.publish.p50} ms, p99 ${publish.publish.p99} ms)`,
  );
  note(
    `${column.label}: 2. delivery throughput: ${ctx.load.events} events x ${ctx.load.endpoints} endpoints = ${ctx.load.deliveries} deliveries`,
  );
  const delivery = await measureDelivery({
    subject,
    baseline,
    receiver: ctx.receiver,
    data,
    adminToken: ctx.tokens.admin,
    tag,
    tagCount: ctx.tagCount,
    cpuSampling: ctx.cpuSampling,
    note,
    load: { ...ctx.load, concurrency: ctx.queue.consumer_concurrency },
  });
  return { admin, publish, delivery };
}

/** The wrangler dev column: subject and baseline under `wrangler dev`, measured, then stopped. */
async function wranglerDevColumn(ctx) {
  const persist = (name) => join(ctx.workDir, `${name}-state`);
  applyLocalMigrations(ctx.wrangler, { cwd: ctx.app, persistTo: persist("wd-subject") });
  applyLocalMigrations(ctx.wrangler, { cwd: ctx.app, persistTo: persist("wd-baseline"), config: BASELINE_CONFIG });
  const common = { wrangler: ctx.wrangler, appDir: ctx.app, workDir: ctx.workDir, children: ctx.children };
  const [subject, baseline] = await Promise.all([
    startWranglerDevWorker({
      ...common,
      name: "wd-subject",
      persistTo: persist("wd-subject"),
      vars: ctx.subjectVars,
      envFile: ctx.envFile,
      readyPath: "/openapi.json", // not /health: it answers 503 while delivery lags, with the Worker up
    }),
    startWranglerDevWorker({
      ...common,
      name: "wd-baseline",
      args: ["-c", BASELINE_CONFIG],
      persistTo: persist("wd-baseline"),
      vars: ctx.baselineVars,
      readyPath: "/bare",
    }),
  ]);
  note(`wrangler dev: subject ${subject.base}, baseline ${baseline.base}`);
  const data = await seedEndpoints(subject, {
    token: ctx.tokens.admin,
    receiverBase: ctx.receiver.base,
    tag: "w",
    deliveryEndpoints: ctx.load.endpoints,
    fanOutSizes: [],
  });
  await seedBaselineWebhooks(baseline, persist("wd-subject"));
  const measured = await measureColumn({ label: "wrangler dev", subject, baseline, data, tag: "w" }, ctx);
  await Promise.all([stopProcessGroup(subject.child), stopProcessGroup(baseline.child)]);
  return measured;
}

/** The Miniflare column: subject, baseline, a publish-only copy and the instrumented copy; plus fan-out and cost. */
async function miniflareColumn(ctx) {
  const persist = (name) => join(ctx.workDir, `${name}-state`);
  const bundle = (name, entry, config) => {
    const outdir = join(ctx.app, "bundles", name); // absolute: wrangler reads a relative one from the config's directory
    bundleWorker(ctx.wrangler, { cwd: ctx.app, entry, config, outdir });
    return join(outdir, `${(entry ?? "index").split("/").pop().replace(/\.ts$/, "")}.js`);
  };
  const bundles = {
    subject: bundle("subject", undefined, "wrangler.toml"),
    instrumented: bundle("instrumented", "bench/instrumented.ts", "wrangler.toml"),
    baseline: bundle("baseline", undefined, BASELINE_CONFIG),
  };
  for (const name of ["mf-subject", "mf-publish-only", "mf-instrumented"])
    applyLocalMigrations(ctx.wrangler, { cwd: ctx.app, persistTo: persist(name) });
  applyLocalMigrations(ctx.wrangler, { cwd: ctx.app, persistTo: persist("mf-baseline"), config: BASELINE_CONFIG });
  const common = { appDir: ctx.app, workDir: ctx.workDir, children: ctx.children, envFile: ctx.envFile };
  const ours = { ...common, config: "wrangler.toml", vars: ctx.subjectVars };
  const [subject, baseline, publishOnly, inst] = await Promise.all([
    startMiniflareWorker({ ...ours, name: "mf-subject", bundle: bundles.subject, persistTo: persist("mf-subject") }),
    startMiniflareWorker({
      ...common,
      name: "mf-baseline",
      config: BASELINE_CONFIG,
      bundle: bundles.baseline,
      persistTo: persist("mf-baseline"),
      vars: ctx.baselineVars,
    }),
    startMiniflareWorker({
      ...ours,
      name: "mf-publish-only",
      bundle: bundles.subject,
      persistTo: persist("mf-publish-only"),
      noQueueConsumers: true,
    }),
    startMiniflareWorker({
      ...ours,
      name: "mf-instrumented",
      bundle: bundles.instrumented,
      persistTo: persist("mf-instrumented"),
      extraCompatibilityFlags: ["d1_binding_jsrpc"],
    }),
  ]);
  note(
    `Miniflare: subject ${subject.base}, baseline ${baseline.base}, publish-only ${publishOnly.base}, instrumented ${inst.base}`,
  );
  const seed = (worker, tag, fanOutSizes) =>
    seedEndpoints(worker, {
      token: ctx.tokens.admin,
      receiverBase: ctx.receiver.base,
      tag,
      deliveryEndpoints: ctx.load.endpoints,
      fanOutSizes,
    });
  const [data, instData, publishOnlyData] = await Promise.all([
    seed(subject, "m", FAN_OUT_SIZES),
    seed(inst, "i", FAN_OUT_SIZES),
    seed(publishOnly, "p", []),
  ]);
  await seedBaselineWebhooks(baseline, persist("mf-subject"));
  note(
    `endpoints created: ${Object.values(data.fan).reduce((a, f) => a + f.length, 26 + ctx.load.endpoints)} in the subject and the instrumented copy`,
  );
  if (ctx.hold > 0) {
    const file = join(ctx.workDir, "hold.json");
    writeFileSync(
      file,
      JSON.stringify(
        {
          subject: subject.base,
          instrumented: inst.base,
          baseline: baseline.base,
          publishOnly: publishOnly.base,
          receiver: ctx.receiver.base,
          tokens: ctx.tokens,
          data,
          instData,
          publishOnlyData,
        },
        null,
        2,
      ),
    );
    note(`holding for ${ctx.hold} s; see ${file}`);
    await sleep(ctx.hold * 1000);
  }
  const measured = await measureColumn({ label: "Miniflare", subject, baseline, data, tag: "m" }, ctx);
  note(`Miniflare: publish side alone: ${ctx.load.events} events to the copy without a queue consumer`);
  const publishSide = await measurePublishSideCpu({ publishOnly, adminToken: ctx.tokens.admin, load: ctx.load });
  note(`3. fan-out to ${FAN_OUT_SIZES.join(", ")} endpoints`);
  const fanOut = await measureFanOut({
    subject,
    subjectTag: "m",
    instrumented: inst,
    adminToken: ctx.tokens.admin,
    tagCount: ctx.tagCount,
    note,
  });
  const cost = await measureCost({
    inst,
    instData,
    adminToken: ctx.tokens.admin,
    tenantToken: ctx.tokens.tenant,
    deliveryEndpoints: ctx.load.endpoints,
    publishConcurrency: ctx.load.publishConcurrency,
    tagCount: ctx.tagCount,
    note,
  });
  await Promise.all([subject, baseline, publishOnly, inst].map((w) => stopProcessGroup(w.child)));
  return { ...measured, publishSide, fanOut, cost };
}

/** CPU per unit of work of one column, from its measures. */
function cpuFigures({ admin, publish, delivery }, publishSide) {
  const mean = (...xs) =>
    xs.some((x) => x === null || x === undefined) ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
  const total = delivery.subject.cpu_ms_per_delivery;
  return {
    per_admin_get: admin.get.cpu_ms_per_request,
    per_admin_list: admin.list.cpu_ms_per_request,
    per_admin_request: mean(admin.get.cpu_ms_per_request, admin.list.cpu_ms_per_request),
    per_publish_request: publish.publish.cpu_ms_per_request,
    per_delivery: total,
    per_delivery_publish_side: publishSide?.cpu_ms_per_delivery ?? null,
    per_delivery_consumer_side:
      publishSide && total !== null && publishSide.cpu_ms_per_delivery !== null
        ? total - publishSide.cpu_ms_per_delivery
        : null,
    baseline_per_bare_get: admin.bare.cpu_ms_per_request,
    baseline_per_d1_point_read: admin.d1_point_read.cpu_ms_per_request,
    baseline_per_d1_page: admin.d1_page.cpu_ms_per_request,
    baseline_per_bare_post: publish.bare_post.cpu_ms_per_request,
    baseline_per_delivery: delivery.queue_baseline.cpu_ms_per_delivery,
    baseline_per_delivery_fetch_and_record: delivery.fetch_and_record_baseline.cpu_ms_per_delivery,
  };
}

async function main(options, state) {
  const wrangler = wranglerBin(root);
  const machine = machineInfo(wrangler);
  note(
    `machine: ${machine.cpus} CPUs, ${machine.cpu_model}; node ${machine.node}; ${machine.workerd} (wrangler ${machine.wrangler}); load ${machine.load_average_at_start.join(" ")}`,
  );
  const workDir = (state.workDir = mkdtempSync(join(tmpdir(), "scaikey-bench-")));
  note(`work dir ${workDir}`);
  const { app, queue } = prepareSnapshot(workDir, options);
  note(`delivery queue: ${JSON.stringify(queue)}`);
  const tokens = await makeTokens();
  const receiver = await startReceiver(root, tokens.jwks, state.children);
  note(`receiver + JWKS on ${receiver.base}`);
  const envFile = join(workDir, "bench.env"); // named, so wrangler reads no .dev.vars: the run depends on nothing local
  writeFileSync(envFile, "# vars come from the runner\n");
  const ctx = {
    ...options,
    wrangler,
    app,
    workDir,
    envFile,
    queue,
    tokens,
    receiver,
    children: state.children,
    tagCount: tagCounter(receiver),
    subjectVars: subjectVars(receiver),
    baselineVars: baselineVars(receiver, queue),
  };

  const mf = await miniflareColumn(ctx);
  const wd = await wranglerDevColumn(ctx);

  const cpu = { miniflare: cpuFigures(mf, mf.publishSide), wrangler_dev: cpuFigures(wd, null) };
  return {
    machine,
    queue,
    settings: {
      rounds: options.settings.rounds,
      duration_s: options.settings.duration,
      connections: options.settings.connections,
    },
    columns: {
      miniflare:
        "Miniflare's own API (new Miniflare with the options wrangler derives from wrangler.toml): workerd, no inspector; the targets are judged here",
      wrangler_dev: "wrangler dev: the same workerd with wrangler's inspector session and dev middleware",
    },
    // What Workers bills: workerd's CPU (all threads, from /proc) per unit of work, Miniflare column. workerd also runs
    // the local D1 and queue simulation on the same thread, so these are upper bounds of our Worker's own CPU.
    cpu_ms_per_delivery: cpu.miniflare.per_delivery,
    cpu_ms_per_delivery_target: CPU_MS_PER_DELIVERY_TARGET,
    cpu_ms_per_delivery_publish_side: cpu.miniflare.per_delivery_publish_side,
    cpu_ms_per_delivery_consumer_side: cpu.miniflare.per_delivery_consumer_side,
    cpu_ms_per_admin_request: cpu.miniflare.per_admin_request,
    cpu_ms_per_baseline_delivery: cpu.miniflare.baseline_per_delivery,
    cpu_ms_per_baseline_delivery_fetch_and_record: cpu.miniflare.baseline_per_delivery_fetch_and_record,
    cpu_ms_per_baseline_request: cpu.miniflare.baseline_per_bare_get,
    cpu,
    admin_api: {
      ...mf.admin,
      get: {
        ...mf.admin.get,
        ratio_wrangler_dev: wd.admin.get.ratio,
        ratio_vs_d1_point_read_wrangler_dev: wd.admin.get.ratio_vs_d1_point_read,
      },
      list: {
        ...mf.admin.list,
        ratio_wrangler_dev: wd.admin.list.ratio,
        ratio_vs_d1_page_wrangler_dev: wd.admin.list.ratio_vs_d1_page,
      },
      wrangler_dev: wd.admin,
    },
    delivery: {
      ...mf.delivery,
      ratio_vs_queue_baseline_wrangler_dev: wd.delivery.ratio_vs_queue_baseline,
      ratio_vs_fetch_and_record_wrangler_dev: wd.delivery.ratio_vs_fetch_and_record,
      ratio_vs_fetch_loop_wrangler_dev: wd.delivery.ratio_vs_fetch_loop,
      publish_side: mf.publishSide,
      wrangler_dev: wd.delivery,
    },
    publish_latency: { ...mf.publish, ratio_wrangler_dev: wd.publish.publish.ratio, wrangler_dev: wd.publish },
    fan_out: mf.fanOut,
    cost: mf.cost,
    load_average_at_end: loadavg().map((x) => Number(x.toFixed(2))),
    finished_at: new Date().toISOString(),
    duration_s: Math.round((Date.now() - t0) / 1000),
  };
}

/**
 * The rig of a measure run on its own (--isolation, --rate-limit, --profile): the machine, a snapshot of the tree with
 * the Worker bundled once, the receiver and the tokens; `startSubject(name)` starts the Worker under Miniflare on a fresh
 * D1.
 */
async function singleMeasureRig(options, state) {
  const wrangler = wranglerBin(root);
  const machine = machineInfo(wrangler);
  note(`machine: ${machine.cpus} CPUs, ${machine.cpu_model}; load ${machine.load_average_at_start.join(" ")}`);
  const workDir = (state.workDir = mkdtempSync(join(tmpdir(), "scaikey-bench-")));
  const { app, queue } = prepareSnapshot(workDir, options);
  const tokens = await makeTokens();
  const receiver = await startReceiver(root, tokens.jwks, state.children);
  const envFile = join(workDir, "bench.env");
  writeFileSync(envFile, "# vars come from the runner\n");
  const outdir = join(app, "bundles", "subject");
  bundleWorker(wrangler, { cwd: app, config: "wrangler.toml", outdir });
  const bundle = join(outdir, "index.js");
  /** The subject as `name`, on a fresh migrated D1, under Miniflare (`extra`: startMiniflareWorker's options). */
  const startSubject = async (name, extra = {}) => {
    const persistTo = join(workDir, `${name}-state`);
    applyLocalMigrations(wrangler, { cwd: app, persistTo });
    const worker = await startMiniflareWorker({
      name,
      appDir: app,
      workDir,
      config: "wrangler.toml",
      bundle,
      persistTo,
      envFile,
      children: state.children,
      vars: subjectVars(receiver),
      ...extra,
    });
    return { ...worker, bundle, persistTo };
  };
  const finished = (results) => ({
    machine,
    ...results,
    load_average_at_end: loadavg().map((x) => Number(x.toFixed(2))),
    finished_at: new Date().toISOString(),
    duration_s: Math.round((Date.now() - t0) / 1000),
  });
  return { machine, wrangler, workDir, app, queue, envFile, tokens, receiver, startSubject, finished };
}

/**
 * `--isolation`: each case on a Miniflare Worker of its own (fresh D1), with the production timeout and a slow receiver
 * that answers only after it. Returns the `isolation` key of results.json.
 */
async function isolationMain(options, state) {
  const { app, tokens, receiver, startSubject, finished } = await singleMeasureRig(options, state);
  const timeoutMs = Number(
    /^DELIVERY_TIMEOUT_MS = "(\d+)"/m.exec(readFileSync(join(app, "wrangler.toml"), "utf8"))?.[1],
  );
  const slowAnswerMs = timeoutMs + 5_000; // the slow receiver still answers, after the timeout
  const results = {
    settings: {
      events: 100,
      rounds: options.settings.rounds,
      delivery_timeout_ms: timeoutMs,
      slow_answer_after_ms: slowAnswerMs,
    },
  };
  for (const spec of ISOLATION_CASES) {
    const worker = await startSubject(`iso-${spec.tenants}`);
    note(`6. isolation: ${spec.label} (${worker.base})`);
    const measured = await measureIsolationCase({
      worker,
      receiver,
      adminToken: tokens.admin,
      spec,
      rounds: options.settings.rounds,
      slowAnswerMs,
      timeoutMs,
      note,
    });
    note(
      `   healthy p99 ${measured.healthy_p99_ms_alone} ms alone, ${measured.healthy_p99_ms_beside_slow} ms beside the slow webhook: ratio ${measured.ratio.toFixed(2)}`,
    );
    if (spec.key) results[spec.key] = measured;
    else Object.assign(results, measured);
    await stopProcessGroup(worker.child);
  }
  return finished(results);
}

/** `--rate-limit`: each case on a fresh webhook of one Miniflare Worker. Returns the `rate_limit` key of results.json. */
async function rateLimitMain(options, state) {
  const { tokens, receiver, startSubject, finished } = await singleMeasureRig(options, state);
  const worker = await startSubject("rate-limit");
  const results = { settings: { publishers: RATE_LIMIT_PUBLISHERS } };
  for (const spec of RATE_LIMIT_CASES) {
    note(
      `7. rate limit: ${spec.events} events at once to a webhook limited to ${spec.limit} a second (${worker.base})`,
    );
    results[spec.key] = await measureRateLimitCase({ worker, receiver, adminToken: tokens.admin, spec, note });
  }
  await stopProcessGroup(worker.child);
  return finished(results);
}

/**
 * `--profile`: a Worker of its own under Miniflare with workerd's inspector open, profiled while the consumer delivers
 * and while the admin GET serves (measure/profile.mjs). Returns bench/profile.json's content and the raw profiles.
 */
async function profileMain(options, state) {
  const { wrangler, workDir, app, queue, envFile, receiver, tokens, startSubject, finished } = await singleMeasureRig(
    options,
    state,
  );
  let subject;
  const startBaseline = async (extra) => {
    const outdir = join(app, "bundles", "baseline");
    bundleWorker(wrangler, { cwd: app, config: BASELINE_CONFIG, outdir });
    const persistTo = join(workDir, "profiled-baseline-state");
    applyLocalMigrations(wrangler, { cwd: app, persistTo, config: BASELINE_CONFIG });
    return startMiniflareWorker({
      name: "profiled-baseline",
      appDir: app,
      workDir,
      config: BASELINE_CONFIG,
      bundle: join(outdir, "index.js"),
      persistTo,
      envFile,
      children: state.children,
      vars: baselineVars(receiver, queue),
      ...extra,
    });
  };
  const { summary, raw } = await measureProfile({
    start: async (extra) => (subject = await startSubject("profiled", extra)),
    startBaseline,
    seedBaseline: (baseline) => seedBaselineWebhooks(baseline, subject.persistTo),
    receiver,
    tokens,
    load: options.load,
    intervalUs: options.samplingIntervalUs,
    seconds: options.settings.duration,
    connections: options.settings.connections,
    tagCount: tagCounter(receiver),
    note,
  });
  return { results: finished(summary), raw };
}

const RESULTS_FILE = join(root, "bench", "results.json");
const PROFILE_FILE = join(root, "bench", "profile.json");
const PERFORMANCE_DOC = join(root, "docs", "performance.md");

await ensureRecentNode("npm run bench");
const options = readOptions();
if (options.renderOnly) {
  const markdown = renderMarkdown(JSON.parse(readFileSync(join(root, "bench", "results.json"), "utf8")));
  writeFileSync(join(root, "bench", "results.md"), `${markdown}\n`);
  say(markdown);
  process.exit(0);
}

if (options.profile)
  await runBench({
    tool: "bench",
    note,
    timeLimitMs: TIME_LIMIT_MS,
    keep: options.keep,
    main: (state) => profileMain(options, state),
    done: ({ results, raw }) => {
      const markdown = renderProfile(results);
      say("");
      say(markdown);
      // The raw profiles open in Chrome DevTools (Performance → Load profile); not committed.
      for (const [name, profile] of Object.entries(raw))
        writeFileSync(join(tmpdir(), `scaikey-${name}.cpuprofile`), JSON.stringify(profile));
      say("");
      say(`The raw profiles: ${join(tmpdir(), "scaikey-{consumer,publish,admin_get,admin_list}.cpuprofile")}.`);
      if (options.write) {
        writeFileSync(PROFILE_FILE, `${JSON.stringify(results, null, 2)}\n`);
        writeFileSync(PERFORMANCE_DOC, withProfileTables(readFileSync(PERFORMANCE_DOC, "utf8"), markdown));
        // The tables as the project's formatter lays them out, so `npm run lint` passes on the written doc.
        spawnSync(join(root, "node_modules", ".bin", "biome"), ["format", "--write", PERFORMANCE_DOC], {
          stdio: "ignore",
        });
        say("Wrote bench/profile.json and the tables in docs/performance.md.");
      }
    },
  });
else
  await runBench({
    tool: "bench",
    note,
    timeLimitMs: TIME_LIMIT_MS,
    keep: options.keep,
    // --isolation and --rate-limit measure only their keys, a full run everything else: each keeps what the others
    // wrote last.
    main: async (state) => {
      const previous = existsSync(RESULTS_FILE) ? JSON.parse(readFileSync(RESULTS_FILE, "utf8")) : {};
      if (options.isolation) return { ...previous, isolation: await isolationMain(options, state) };
      if (options.rateLimit) return { ...previous, rate_limit: await rateLimitMain(options, state) };
      const { isolation, rate_limit } = previous;
      return {
        ...(await main(options, state)),
        ...(isolation ? { isolation } : {}),
        ...(rate_limit ? { rate_limit } : {}),
      };
    },
    done: (results) => {
      const markdown = renderMarkdown(results);
      say("");
      say(markdown);
      if (options.write) {
        mkdirSync(join(root, "bench"), { recursive: true });
        writeFileSync(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
        writeFileSync(join(root, "bench", "results.md"), `${markdown}\n`);
        say("");
        say("Wrote bench/results.json and bench/results.md.");
      }
    },
  });
