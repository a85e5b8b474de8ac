#!/usr/bin/env node
// `npm run bench -- [options]`: the project's performance, measured locally against the same runtime's own ceiling.
//
// Starts, all on 127.0.0.1 and all stopped at the end:
//   - a receiver + JWKS server (bench/receiver.mjs, its own process): answers every delivery 200 at once and counts them;
//   - the Worker itself: `wrangler dev` with the project's wrangler.toml, a fresh migrated D1 (--persist-to a temp dir),
//     RS256 tokens verified against the local JWKS, as production does;
//   - the same Worker with counters around its bindings (bench/instrumented.ts), for the cost figures only;
//   - a baseline Worker in the same runtime (bench/baseline/): a bare Hono route, and a queue consumer / fetch loop
//     that only POSTs to the receiver, with the project's batching and consumer concurrency.
// wrangler dev runs a snapshot of the sources (copied to the temp dir), so edits to the tree during a run cannot make it
// reload the Worker (which would drop the local queue's messages).
//
// Measures, interleaving each subject with its baseline so both see the same machine:
//   1. Admin API: req/s, p50/p99 of GET /api/v1/admin/webhooks/{id} and the list, vs the bare route (autocannon);
//   2. Delivery throughput: events published -> 2xx received and recorded as success in D1, per second, vs the baseline;
//   3. Fan-out: one event to 1, 100 and 1,000 endpoints: publish time, D1 round trips/statements and queue calls;
//   4. Publish latency: p50/p99 of POST /api/v1/events under load (autocannon), vs a bare JSON POST route;
//   5. Cost per delivery: D1 round trips, statements, rows read/written, queue operations.
// Prints a Markdown table, writes bench/results.json and bench/results.md. Exits 1 if a run fails (not if a target is missed).
import { spawn, spawnSync } from "node:child_process";
import { webcrypto } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { SignJWT } from "jose";
import { mapBounded } from "../scripts/lib/bounded-map.mjs";
import { freePort } from "../scripts/lib/port.mjs";
import { stopProcessGroup } from "../scripts/lib/process.mjs";
import { wranglerBin } from "../scripts/lib/wrangler.mjs";

const USAGE = `Usage: npm run bench -- [options]

Options:
  --deliveries <n>    deliveries in the throughput run: events x endpoints (default 20000 = 1000 events x 20 endpoints)
  --endpoints <n>     endpoints the throughput events fan out to (default 20)
  --rounds <n>        rounds of the autocannon measures, each alternating subject and baseline (default 2)
  --duration <s>      seconds of each autocannon measure (default 6)
  --connections <n>   autocannon connections (default 8)
  --no-profile        skip sampling where the CPU goes (per process and workerd's busiest thread, from /proc) during the
                      throughput run
  --consumer-concurrency <n>  what-if: run the snapshot (and the baseline) with this CONSUMER_CONCURRENCY instead of the
                      one in src/jobs/delivery-consumer.ts (the tree is not touched)
  --quick             a smoke run: 2000 deliveries, 1 round of 3 s (figures not comparable)
  --no-write          do not write bench/results.json / results.md
  --keep              keep the temporary directory (logs, databases) and print its path
  --render-only       measure nothing: rewrite bench/results.md from bench/results.json (after changing the report)
  --hold <s>          after seeding, keep the Workers up this long (URLs and tokens in <work dir>/hold.json), for
                      poking at them by hand; then measure as usual
  -h, --help          this help
`;

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const t0 = Date.now();
const say = (line = "") => process.stdout.write(`${line}\n`);
const note = (line) => process.stderr.write(`[bench +${((Date.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let opts;
try {
  ({ values: opts } = parseArgs({
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
      profile: { type: "boolean", default: true },
      "consumer-concurrency": { type: "string" },
      "render-only": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    allowNegative: true,
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
// --quick fills in what the command line leaves at its default.
if (opts.quick) for (const [k, v] of Object.entries({ deliveries: "2000", rounds: "1", duration: "3" })) if (!process.argv.includes(`--${k}`)) opts[k] = v;
const DELIVERY_ENDPOINTS = intIn("endpoints", 1, 200);
const DELIVERIES = Math.ceil(intIn("deliveries", 100, 100_000) / DELIVERY_ENDPOINTS) * DELIVERY_ENDPOINTS;
const DELIVERY_EVENTS = DELIVERIES / DELIVERY_ENDPOINTS;
const ROUNDS = intIn("rounds", 1, 10);
const DURATION = intIn("duration", 1, 60);
const CONNECTIONS = intIn("connections", 1, 100);
const PUBLISH_CONCURRENCY = 4; // publishers in flight during the throughput run
const FAN_OUT_SIZES = [1, 100, 1000];
const FAN_OUT_REPEATS = 5;
const COST_EVENTS = 50; // x DELIVERY_ENDPOINTS deliveries through the instrumented Worker
const TIME_LIMIT_MS = 20 * 60_000; // hard stop for the whole run

const ISSUER = "https://auth.scaikey.local/";
const AUDIENCE = "scaikey-webhooks";
const ADMIN_TENANT = "tnt_bench_admin";
const PUBLISH_TENANT = "tnt_bench_publish";
const DELIVERY_TENANT = "tnt_bench_delivery";
const fanOutTenant = (n) => `tnt_bench_fan${n}`;

// ---------------------------------------------------------------------------------------------------------------
// Processes: every child in its own process group, killed as a group at the end.

const children = [];
let workDir = null;
let stopping = false;

async function stopAll() {
  if (stopping) return;
  stopping = true;
  await Promise.all(children.map(stopProcessGroup));
  if (workDir && !opts.keep) rmSync(workDir, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(signal, () => {
    note(`${signal}: stopping`);
    stopAll().finally(() => process.exit(130));
  });

function workerdVersion(wranglerDir) {
  // The workerd that wrangler runs (it may have its own copy beside it).
  const require = createRequire(join(wranglerDir, "package.json"));
  try {
    const bin = join(dirname(require.resolve("workerd/package.json")), "bin", "workerd");
    const out = spawnSync(bin, ["--version"], { encoding: "utf8" });
    return out.stdout.trim() || "unknown";
  } catch {
    return "unknown";
  }
}

const childEnv = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" };

function startWrangler(name, cwd, args, port) {
  const log = join(workDir, `${name}.log`);
  const fd = openSync(log, "a");
  const child = spawn(process.execPath, [wrangler.bin, ...args], { cwd, env: childEnv, detached: true, stdio: ["ignore", fd, fd] });
  children.push(child);
  child.once("exit", (code, signal) => {
    if (!stopping) note(`${name}: wrangler dev exited (${code ?? signal}); see ${log}`);
  });
  return { name, child, log, base: `http://127.0.0.1:${port}` };
}

async function waitReady(worker, path) {
  const by = Date.now() + 120_000;
  for (;;) {
    if (worker.child.exitCode !== null) throw new Error(`${worker.name} exited before it was ready:\n${readFileSync(worker.log, "utf8").slice(-3000)}`);
    try {
      const res = await fetch(`${worker.base}${path}`, { signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {}
    if (Date.now() > by) throw new Error(`${worker.name} did not become ready within 120 s; see ${worker.log}`);
    await sleep(500);
  }
}

async function startReceiver(jwks) {
  const child = spawn(process.execPath, [join(root, "bench", "receiver.mjs")], {
    env: { ...process.env, BENCH_JWKS: JSON.stringify(jwks) },
    detached: true,
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.push(child);
  const port = await new Promise((resolvePort, reject) => {
    let buffered = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      const line = buffered.split("\n")[0];
      if (buffered.includes("\n")) resolvePort(JSON.parse(line).port);
    });
    child.once("exit", () => reject(new Error("the receiver exited before listening")));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    child,
    stats: async () => (await fetch(`${base}/__stats`)).json(),
    reset: async () => void (await fetch(`${base}/__reset`, { method: "POST" })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens: RS256, signed by the key whose public half the receiver serves as the JWKS.

async function makeKeys() {
  const pair = await webcrypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const publicJwk = { ...(await webcrypto.subtle.exportKey("jwk", pair.publicKey)), kid: "bench-rs256", alg: "RS256", use: "sig" };
  delete publicJwk.key_ops;
  delete publicJwk.ext;
  const sign = (claims) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: "bench-rs256", typ: "JWT" })
      .setIssuer(`${ISSUER}tenants/${claims.tenant_id ?? "platform"}`)
      .setAudience(AUDIENCE)
      .setSubject("usr_bench")
      .setIssuedAt()
      .setExpirationTime("3h")
      .sign(pair.privateKey);
  return { jwks: { keys: [publicJwk] }, sign };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP helpers.

let adminToken = "";
async function api(base, method, path, body, token = adminToken) {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (res.status >= 500 && method === "GET" && attempt < 3) {
      await sleep(200 * attempt);
      continue;
    }
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  }
}

const eventFor = (tenant, n) => ({
  event_type: "user.created",
  tenant_id: tenant,
  resource: { type: "user", id: `usr_${n}` },
  actor: { id: null, type: "system" },
  data: { email: `user${n}@example.com`, display_name: "Bench User", n },
});

async function createEndpoints(base, tenant, count, urlOf) {
  return mapBounded(Array.from({ length: count }, (_, i) => i), 8, async (i) => {
    const created = await api(base, "POST", "/api/v1/admin/webhooks/", {
      url: urlOf(i),
      events: ["user.created"],
      tenant_id: tenant,
      description: `bench ${tenant} #${i}`,
    });
    return created.id;
  });
}

/** Successful deliveries recorded in D1, summed over endpoints (through the admin API). */
async function recordedSuccesses(base, ids) {
  const totals = await mapBounded(ids, 4, async (id) => (await api(base, "GET", `/api/v1/admin/webhooks/${id}/deliveries?status=success&per_page=1`)).total);
  return totals.reduce((a, b) => a + b, 0);
}

async function waitFor(what, check, { timeoutMs = 300_000, everyMs = 250 } = {}) {
  const by = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function cannon(name, options) {
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...options });
  const bad = result.errors + result.timeouts + result.non2xx;
  if (bad > 0) throw new Error(`${name}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx of ${result.requests.total}`);
  return {
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
}

/** Several autocannon rounds of one target: total requests over total time, and the median of the rounds' percentiles. */
function combine(rounds) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const requests = rounds.reduce((a, r) => a + r.requests, 0);
  const seconds = rounds.reduce((a, r) => a + r.seconds, 0);
  return { rps: requests / seconds, p50: median(rounds.map((r) => r.p50)), p99: median(rounds.map((r) => r.p99)), rounds };
}

// ---------------------------------------------------------------------------------------------------------------

const wrangler = wranglerBin(root);

async function main() {
  const machine = {
    cpus: cpus().length,
    cpu_model: (readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpus()[0]?.model ?? "unknown").trim(),
    node: process.version,
    wrangler: wrangler.version,
    workerd: workerdVersion(wrangler.dir),
    load_average_at_start: loadavg().map((x) => Number(x.toFixed(2))),
  };
  const nproc = spawnSync("nproc", { encoding: "utf8" }).stdout?.trim();
  if (nproc) machine.cpus = Number(nproc);
  note(`machine: ${machine.cpus} CPUs, ${machine.cpu_model}; node ${machine.node}; ${machine.workerd} (wrangler ${machine.wrangler}); load ${machine.load_average_at_start.join(" ")}`);

  workDir = mkdtempSync(join(tmpdir(), "scaikey-bench-"));
  note(`work dir ${workDir}`);

  // A snapshot of what wrangler builds: later edits to the tree cannot reload a running Worker.
  const app = join(workDir, "app");
  for (const entry of ["src", "migrations", "wrangler.toml", "package.json", "tsconfig.json", "bench/instrumented.ts", "bench/baseline"])
    cpSync(join(root, entry), join(app, entry), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(app, "node_modules"), "dir");
  const consumerFile = join(app, "src/jobs/delivery-consumer.ts");
  const CONCURRENCY_LINE = /export const CONSUMER_CONCURRENCY = (\d+);/;
  let concurrency = CONCURRENCY_LINE.exec(readFileSync(consumerFile, "utf8"))?.[1];
  if (!concurrency) throw new Error("could not read CONSUMER_CONCURRENCY from src/jobs/delivery-consumer.ts");
  if (opts["consumer-concurrency"] !== undefined) {
    concurrency = String(intIn("consumer-concurrency", 1, 100));
    writeFileSync(consumerFile, readFileSync(consumerFile, "utf8").replace(CONCURRENCY_LINE, `export const CONSUMER_CONCURRENCY = ${concurrency};`));
    note(`what-if: CONSUMER_CONCURRENCY = ${concurrency} in the snapshot`);
  }
  const queueSettings = (text, queue) => {
    const block = new RegExp(`\\[\\[queues\\.consumers\\]\\]\\s*\\nqueue = "${queue}"([\\s\\S]*?)(?=\\n\\[|$)`).exec(text)?.[1] ?? "";
    return { max_batch_size: Number(/max_batch_size = (\d+)/.exec(block)?.[1]), max_batch_timeout: Number(/max_batch_timeout = (\d+)/.exec(block)?.[1]) };
  };
  const ours = queueSettings(readFileSync(join(app, "wrangler.toml"), "utf8"), "scaikey-webhook-deliveries");
  const theirs = queueSettings(readFileSync(join(app, "bench/baseline/wrangler.toml"), "utf8"), "scaikey-bench-baseline");
  if (ours.max_batch_size !== theirs.max_batch_size || ours.max_batch_timeout !== theirs.max_batch_timeout)
    throw new Error(`bench/baseline/wrangler.toml's consumer (${JSON.stringify(theirs)}) no longer matches wrangler.toml's (${JSON.stringify(ours)})`);
  const queueConfig = { ...ours, consumer_concurrency: Number(concurrency) };
  note(`delivery queue: ${JSON.stringify(queueConfig)}`);

  const keys = await makeKeys();
  const receiver = await startReceiver(keys.jwks);
  note(`receiver + JWKS on ${receiver.base}`);
  adminToken = await keys.sign({ role: "super_admin", scope: "admin:read admin:write" });
  const tenantToken = await keys.sign({ role: "tenant_admin", tenant_id: ADMIN_TENANT, scope: "admin:read" });

  // Migrations, then the three Workers.
  const stateOf = (name) => join(workDir, `${name}-state`);
  for (const name of ["subject", "instrumented"]) {
    const result = spawnSync(process.execPath, [wrangler.bin, "d1", "migrations", "apply", "DB", "--local", "--persist-to", stateOf(name)], {
      cwd: app,
      env: childEnv,
      encoding: "utf8",
    });
    if (result.status !== 0) throw new Error(`applying migrations (${name}) failed:\n${result.stdout}\n${result.stderr}`);
  }
  const envFile = join(workDir, "bench.env"); // named, so wrangler reads no .dev.vars: the run depends on nothing local
  writeFileSync(envFile, "# vars come from --var\n");
  const vars = {
    JWT_JWKS_URL: `${receiver.base}/jwks`,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    ALLOW_INSECURE_URLS: "true",
    ALLOW_PRIVATE_TARGETS: "true",
    SECRET_ENCRYPTION_KEY: `k1:${Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64")}`,
  };
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const devArgs = async (extra) => {
    const port = await freePort();
    const inspector = await freePort();
    return [port, ["dev", ...extra, "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector), "--show-interactive-dev-session=false"]];
  };
  const [subjectPort, subjectArgs] = await devArgs([]);
  const subject = startWrangler("subject", app, [...subjectArgs, "--persist-to", stateOf("subject"), "--env-file", envFile, ...varArgs], subjectPort);
  const [instPort, instArgs] = await devArgs(["bench/instrumented.ts", "--compatibility-flags", "d1_binding_jsrpc"]);
  const inst = startWrangler("instrumented", app, [...instArgs, "--persist-to", stateOf("instrumented"), "--env-file", envFile, ...varArgs], instPort);
  const [basePort, baseArgs] = await devArgs([]);
  const baseline = startWrangler(
    "baseline",
    app,
    [...baseArgs, "-c", "bench/baseline/wrangler.toml", "--persist-to", stateOf("baseline"), "--var", `RECEIVER_URL:${receiver.base}`, "--var", `CONSUMER_CONCURRENCY:${concurrency}`],
    basePort,
  );
  await Promise.all([waitReady(subject, "/health"), waitReady(inst, "/health"), waitReady(baseline, "/bare")]);
  note(`workers ready: subject ${subject.base}, instrumented ${inst.base}, baseline ${baseline.base}`);

  // Data: the same endpoints in both copies of the Worker; the receiver counts each copy's deliveries under its own tag.
  const seed = async (w, tag) => {
    const hook = (kind) => (i) => `${receiver.base}/hook/${tag}-${kind}/${i}`;
    const admin = await createEndpoints(w.base, ADMIN_TENANT, 25, hook("admin"));
    const publish = await createEndpoints(w.base, PUBLISH_TENANT, 1, hook("publish"));
    const delivery = await createEndpoints(w.base, DELIVERY_TENANT, DELIVERY_ENDPOINTS, hook("delivery"));
    const fan = {};
    for (const n of FAN_OUT_SIZES) fan[n] = await createEndpoints(w.base, fanOutTenant(n), n, hook(`fan${n}`));
    return { admin, publish, delivery, fan };
  };
  const [subjectData, instData] = await Promise.all([seed(subject, "s"), seed(inst, "i")]);
  note(`endpoints created: ${Object.values(subjectData.fan).reduce((a, f) => a + f.length, 30 + DELIVERY_ENDPOINTS)} in each Worker`);
  const tagCount = async (tag) => (await receiver.stats()).byTag[tag] ?? 0;
  const hold = intIn("hold", 0, 3600);
  if (hold > 0) {
    const file = join(workDir, "hold.json");
    writeFileSync(file, JSON.stringify({ subject: subject.base, instrumented: inst.base, baseline: baseline.base, receiver: receiver.base, adminToken, tenantToken, subjectData, instData }, null, 2));
    note(`holding for ${hold} s; see ${file}`);
    await sleep(hold * 1000);
  }

  const results = { machine, queue: queueConfig, settings: { rounds: ROUNDS, duration_s: DURATION, connections: CONNECTIONS } };

  // 1. Admin API vs the bare route, rounds alternating the order.
  // Two more targets split the cost: /events (token check and framework, no D1) and /health (one D1 call, no token).
  note(`1. admin API: ${ROUNDS} round(s) x 5 targets x ${DURATION} s, ${CONNECTIONS} connections`);
  const auth = { authorization: `Bearer ${tenantToken}` };
  const adminTargets = {
    bare: { url: `${baseline.base}/bare` },
    get: { url: `${subject.base}/api/v1/admin/webhooks/${subjectData.admin[0]}`, headers: auth },
    list: { url: `${subject.base}/api/v1/admin/webhooks/`, headers: auth },
    events: { url: `${subject.base}/api/v1/admin/webhooks/events`, headers: auth },
    health: { url: `${subject.base}/health` },
  };
  for (const [name, target] of Object.entries(adminTargets)) await cannon(`warm-up ${name}`, { ...target, duration: 1 });
  const adminRounds = { bare: [], get: [], list: [], events: [], health: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["bare", "get", "list", "events", "health"] : ["health", "events", "list", "get", "bare"];
    for (const name of order) adminRounds[name].push(await cannon(name, adminTargets[name]));
  }
  const admin = Object.fromEntries(Object.entries(adminRounds).map(([k, v]) => [k, combine(v)]));
  results.admin_api = {
    bare: admin.bare,
    get: { ...admin.get, ratio: admin.get.rps / admin.bare.rps },
    list: { ...admin.list, ratio: admin.list.rps / admin.bare.rps },
    events_no_d1: { ...admin.events, ratio: admin.events.rps / admin.bare.rps },
    health_no_token: { ...admin.health, ratio: admin.health.rps / admin.bare.rps },
    target_ratio: 0.5,
  };
  note(`   bare ${admin.bare.rps.toFixed(0)} req/s, get ${admin.get.rps.toFixed(0)}, list ${admin.list.rps.toFixed(0)}, events ${admin.events.rps.toFixed(0)}, health ${admin.health.rps.toFixed(0)}`);

  // 4. Publish latency under load, alternating with a bare JSON POST; each round's deliveries drain before the next.
  note(`4. publish latency: ${ROUNDS} round(s) x ${DURATION} s`);
  const publishBody = JSON.stringify(eventFor(PUBLISH_TENANT, 0));
  const publishTargets = {
    bare: { url: `${baseline.base}/bare`, method: "POST", body: publishBody, headers: { "content-type": "application/json" } },
    publish: {
      url: `${subject.base}/api/v1/events`,
      method: "POST",
      body: publishBody,
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    },
  };
  const publishRounds = { bare: [], publish: [] };
  let published = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["bare", "publish"] : ["publish", "bare"];
    for (const name of order) {
      const r = await cannon(name, publishTargets[name]);
      publishRounds[name].push(r);
      if (name === "publish") {
        published += r.requests;
        await waitFor("the publish rounds' deliveries", async () => (await tagCount("s-publish")) >= published, { timeoutMs: 600_000, everyMs: 500 });
      }
    }
  }
  const pub = Object.fromEntries(Object.entries(publishRounds).map(([k, v]) => [k, combine(v)]));
  results.publish_latency = { bare_post: pub.bare, publish: { ...pub.publish, ratio: pub.publish.rps / pub.bare.rps }, deliveries_per_event: 1 };
  note(`   bare POST ${pub.bare.rps.toFixed(0)} req/s, publish ${pub.publish.rps.toFixed(0)} req/s (p50 ${pub.publish.p50} ms, p99 ${pub.publish.p99} ms)`);

  // 3. Fan-out: time to publish one event to N endpoints (real Worker), and what it costs (instrumented Worker).
  note(`3. fan-out to ${FAN_OUT_SIZES.join(", ")} endpoints, ${FAN_OUT_REPEATS} publishes each`);
  results.fan_out = [];
  for (const n of FAN_OUT_SIZES) {
    const times = [];
    for (let k = 0; k < FAN_OUT_REPEATS; k++) {
      const before = await tagCount(`s-fan${n}`);
      const started = performance.now();
      const answer = await api(subject.base, "POST", "/api/v1/events", eventFor(fanOutTenant(n), k));
      times.push(performance.now() - started);
      if (answer.deliveries !== n) throw new Error(`fan-out ${n}: publish created ${answer.deliveries} deliveries`);
      await waitFor(`fan-out ${n} deliveries`, async () => (await tagCount(`s-fan${n}`)) >= before + n, { timeoutMs: 120_000 });
    }
    await api(inst.base, "POST", "/__bench/reset");
    await api(inst.base, "POST", "/api/v1/events", eventFor(fanOutTenant(n), 0));
    const counters = (await api(inst.base, "GET", "/__bench/counters")).fetch;
    await waitFor(`fan-out ${n} deliveries (instrumented)`, async () => (await tagCount(`i-fan${n}`)) >= n, { timeoutMs: 120_000 });
    const sorted = [...times].sort((a, b) => a - b);
    results.fan_out.push({
      endpoints: n,
      publish_ms_median: sorted[Math.floor(sorted.length / 2)],
      publish_ms_max: sorted.at(-1),
      d1_round_trips: counters.d1RoundTrips,
      d1_statements: counters.d1Statements,
      d1_rows_read: counters.d1RowsRead,
      d1_rows_written: counters.d1RowsWritten,
      queue_calls: counters.queueSendCalls + counters.queueSendBatchCalls,
      queue_messages: counters.queueMessagesSent,
    });
    note(`   ${n}: ${sorted[Math.floor(sorted.length / 2)].toFixed(0)} ms median; ${counters.d1RoundTrips} D1 round trips, ${counters.d1Statements} statements, ${counters.queueSendBatchCalls} sendBatch calls`);
  }

  // 5. Cost per delivery, through the instrumented Worker: publish side (fetch) and consumer side (queue).
  const costDeliveries = COST_EVENTS * DELIVERY_ENDPOINTS;
  note(`5. cost per delivery: ${COST_EVENTS} events x ${DELIVERY_ENDPOINTS} endpoints through the instrumented Worker`);
  await api(inst.base, "POST", "/__bench/reset");
  const costBefore = await tagCount("i-delivery");
  await mapBounded(Array.from({ length: COST_EVENTS }, (_, i) => i), PUBLISH_CONCURRENCY, (i) => api(inst.base, "POST", "/api/v1/events", eventFor(DELIVERY_TENANT, i)));
  await waitFor("the cost run's deliveries", async () => (await tagCount("i-delivery")) >= costBefore + costDeliveries, { timeoutMs: 300_000 });
  // Settled when the consumer has received every message and its counters stop moving.
  let costCounters = null;
  await waitFor("the instrumented consumer to settle", async () => {
    const c = await api(inst.base, "GET", "/__bench/counters");
    const settled = costCounters && c.queue.queueMessagesReceived >= costDeliveries && JSON.stringify(c.queue) === JSON.stringify(costCounters.queue);
    costCounters = c;
    return settled;
  }, { everyMs: 1000, timeoutMs: 60_000 });
  const recordedCost = await recordedSuccesses(inst.base, instData.delivery);
  if (recordedCost !== costDeliveries) throw new Error(`cost run: ${recordedCost} of ${costDeliveries} deliveries recorded as success`);
  // Per-request costs of the admin reads, for the same table.
  const perRequest = {};
  for (const [name, path] of [["get", `/api/v1/admin/webhooks/${instData.admin[0]}`], ["list", "/api/v1/admin/webhooks/"]]) {
    await api(inst.base, "POST", "/__bench/reset");
    for (let i = 0; i < 20; i++) await api(inst.base, "GET", path, undefined, tenantToken);
    const c = (await api(inst.base, "GET", "/__bench/counters")).fetch;
    perRequest[name] = { d1_round_trips: c.d1RoundTrips / 20, d1_statements: c.d1Statements / 20, d1_rows_read: c.d1RowsRead / 20, d1_rows_written: c.d1RowsWritten / 20 };
  }
  const per = (x) => x / costDeliveries;
  const f = costCounters.fetch;
  const q = costCounters.queue;
  results.cost = {
    deliveries: costDeliveries,
    recorded_successes: recordedCost,
    publish_side_per_delivery: {
      d1_round_trips: per(f.d1RoundTrips),
      d1_statements: per(f.d1Statements),
      d1_rows_read: per(f.d1RowsRead),
      d1_rows_written: per(f.d1RowsWritten),
      queue_calls: per(f.queueSendCalls + f.queueSendBatchCalls),
      queue_messages_sent: per(f.queueMessagesSent),
    },
    consumer_side_per_delivery: {
      d1_round_trips: per(q.d1RoundTrips),
      d1_statements: per(q.d1Statements),
      d1_rows_read: per(q.d1RowsRead),
      d1_rows_written: per(q.d1RowsWritten),
      queue_calls: per(q.queueSendCalls + q.queueSendBatchCalls),
      queue_messages_received: per(q.queueMessagesReceived),
      queue_batches: per(q.queueBatchesReceived),
      d1_wait_ms: per(q.d1Ms),
    },
    // One consumer invocation (a queue batch), start to finish, and the part of it spent waiting on D1 (the two round
    // trips) and on the receiver (summed over concurrent requests).
    consumer_per_batch: {
      deliveries: q.queueMessagesReceived / Math.max(1, q.queueBatchesReceived),
      handler_ms: q.handlerMs / Math.max(1, q.queueBatchesReceived),
      d1_wait_ms: q.d1Ms / Math.max(1, q.queueBatchesReceived),
      outbound_ms_summed: costCounters.outbound.ms / Math.max(1, q.queueBatchesReceived),
    },
    outbound: { fetches_per_delivery: per(costCounters.outbound.fetches), ms_per_fetch: costCounters.outbound.ms / Math.max(1, costCounters.outbound.fetches) },
    // Queues bill per 64 KB operation: each message is written once, and read and deleted (acked) once per delivery to the consumer.
    queue_billed_operations_per_delivery: per(f.queueMessagesSent + q.queueMessagesSent + 2 * q.queueMessagesReceived),
    meta_missing: f.d1MetaMissing + q.d1MetaMissing,
    // Where the database's own time goes (D1's meta.duration), per delivery, heaviest first.
    d1_sql_ms_per_delivery: Object.entries({ ...f.d1SqlMsByStatement, ...q.d1SqlMsByStatement })
      .map(([statement]) => {
        const both = [f.d1SqlMsByStatement[statement], q.d1SqlMsByStatement[statement]].filter(Boolean);
        return { statement, calls: both.reduce((n, e) => n + e.calls, 0), ms_per_delivery: per(both.reduce((n, e) => n + e.ms, 0)) };
      })
      .sort((a, b) => b.ms_per_delivery - a.ms_per_delivery),
    per_request: perRequest,
  };
  note(`   per delivery: ${(per(f.d1RoundTrips + q.d1RoundTrips)).toFixed(2)} D1 round trips, ${(per(f.d1Statements + q.d1Statements)).toFixed(2)} statements, ${(per(f.d1RowsRead + q.d1RowsRead)).toFixed(1)} rows read, ${(per(f.d1RowsWritten + q.d1RowsWritten)).toFixed(1)} rows written`);
  const pb = results.cost.consumer_per_batch;
  note(`   per consumer batch (${pb.deliveries.toFixed(1)} deliveries): ${pb.handler_ms.toFixed(1)} ms, of which D1 ${pb.d1_wait_ms.toFixed(1)} ms; requests ${pb.outbound_ms_summed.toFixed(1)} ms summed`);
  for (const e of results.cost.d1_sql_ms_per_delivery.slice(0, 6)) note(`     D1 time ${e.ms_per_delivery.toFixed(3)} ms/delivery (${e.calls} calls): ${e.statement}`);

  // 2. Delivery throughput: baseline, subject, baseline (the subject bracketed by its ceiling), plus the raw fetch loop.
  note(`2. delivery throughput: ${DELIVERY_EVENTS} events x ${DELIVERY_ENDPOINTS} endpoints = ${DELIVERIES} deliveries`);
  const loop = async () => {
    const r = await api(baseline.base, "POST", `/fetch-loop?n=${DELIVERIES}&concurrency=${concurrency}`);
    if (r.ok !== DELIVERIES) throw new Error(`fetch loop: ${r.ok}/${DELIVERIES} answered 2xx`);
    return { deliveries: DELIVERIES, seconds: r.ms / 1000, per_second: (DELIVERIES / r.ms) * 1000 };
  };
  const queueBaseline = async () => {
    const before = await tagCount("baseline");
    const started = performance.now();
    await mapBounded(Array.from({ length: DELIVERY_EVENTS }, (_, i) => i), PUBLISH_CONCURRENCY, () =>
      api(baseline.base, "POST", `/enqueue?n=${DELIVERY_ENDPOINTS}`),
    );
    const series = [];
    await waitFor("the baseline consumer", async () => {
      const got = (await tagCount("baseline")) - before;
      series.push([performance.now() - started, got]);
      return got >= DELIVERIES;
    }, { timeoutMs: 600_000, everyMs: 100 });
    const seconds = (performance.now() - started) / 1000;
    return { deliveries: DELIVERIES, seconds, per_second: DELIVERIES / seconds, sustained_per_second: sustained(series, DELIVERIES) };
  };
  const subjectRun = async () => {
    const before = await tagCount("s-delivery");
    const recordedBefore = await recordedSuccesses(subject.base, subjectData.delivery);
    const started = performance.now();
    let publishedAt = 0;
    const publishing = mapBounded(Array.from({ length: DELIVERY_EVENTS }, (_, i) => i), PUBLISH_CONCURRENCY, (i) =>
      api(subject.base, "POST", "/api/v1/events", eventFor(DELIVERY_TENANT, i)),
    ).then(() => (publishedAt = performance.now() - started));
    const profiling = opts.profile
      ? sleep(5000).then(() => cpuDuring([{ name: "subject", pgid: subject.child.pid }, { name: "receiver", pid: receiver.child.pid }, { name: "bench runner", pid: process.pid }], 10_000)).catch((err) => ({ error: String(err) }))
      : null;
    const series = [];
    let lastNote = Date.now();
    await waitFor("the subject's deliveries", async () => {
      const got = (await tagCount("s-delivery")) - before;
      series.push([performance.now() - started, got]);
      if (Date.now() - lastNote > 15_000) {
        lastNote = Date.now();
        note(`   ${got}/${DELIVERIES} received`);
      }
      return got >= DELIVERIES;
    }, { timeoutMs: 900_000, everyMs: 250 });
    const receivedAt = performance.now() - started;
    await publishing;
    // Recorded: every one of them a success in D1.
    await waitFor("the subject's deliveries to be recorded", async () => (await recordedSuccesses(subject.base, subjectData.delivery)) - recordedBefore >= DELIVERIES, {
      timeoutMs: 120_000,
      everyMs: 200,
    });
    const seconds = (performance.now() - started) / 1000;
    return {
      deliveries: DELIVERIES,
      seconds,
      per_second: DELIVERIES / seconds,
      sustained_per_second: sustained(series, DELIVERIES),
      published_in_s: publishedAt / 1000,
      received_in_s: receivedAt / 1000,
      profile: profiling ? await profiling : undefined,
    };
  };
  const b1 = await queueBaseline();
  const l1 = await loop();
  note(`   baseline: ${b1.per_second.toFixed(0)}/s (queue), ${l1.per_second.toFixed(0)}/s (fetch loop)`);
  const s1 = await subjectRun();
  note(`   subject: ${s1.per_second.toFixed(0)}/s (${s1.seconds.toFixed(0)} s)`);
  const b2 = await queueBaseline();
  const l2 = await loop();
  note(`   baseline: ${b2.per_second.toFixed(0)}/s (queue), ${l2.per_second.toFixed(0)}/s (fetch loop)`);
  const mean = (a, b) => (a + b) / 2;
  results.delivery = {
    subject: s1,
    queue_baseline: { runs: [b1, b2], per_second: mean(b1.per_second, b2.per_second) },
    fetch_loop_baseline: { runs: [l1, l2], per_second: mean(l1.per_second, l2.per_second) },
    ratio_vs_queue_baseline: s1.per_second / mean(b1.per_second, b2.per_second),
    ratio_vs_fetch_loop: s1.per_second / mean(l1.per_second, l2.per_second),
    target_ratio: 0.7,
  };

  results.load_average_at_end = loadavg().map((x) => Number(x.toFixed(2)));
  results.finished_at = new Date().toISOString();
  results.duration_s = Math.round((Date.now() - t0) / 1000);
  return results;
}

/**
 * Where the machine's CPU goes while the subject delivers: CPU time of each process taking part (from /proc), and of
 * workerd's busiest thread, which runs every isolate of the local pipeline (our Worker, miniflare's D1 and queue
 * Durable Objects) in turn. (Per-isolate V8 profiles cannot split that thread: each isolate's profiler counts the time
 * spent in the others, and a second inspector session on our Worker makes wrangler's workerd leak sockets.)
 */
async function cpuDuring(processes, ms) {
  const ticksOf = (pid) => {
    const threads = {};
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        threads[tid] = Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (1/100 s)
      }
    } catch {} // exited
    return threads;
  };
  const members = (group) =>
    spawnSync("ps", ["-eo", "pid=,pgid=,comm="], { encoding: "utf8" })
      .stdout.split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter(([, pgid]) => Number(pgid) === group)
      .map(([pid, , comm]) => ({ pid, comm }));
  const tracked = processes.flatMap(({ name, pgid, pid }) => (pgid ? members(pgid).map((m) => ({ name: `${name} ${m.comm === "workerd" ? "workerd" : "wrangler (node)"}`, pid: m.pid })) : [{ name, pid: String(pid) }]));
  const machineBefore = readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/).slice(1).map(Number);
  const before = tracked.map((t) => ticksOf(t.pid));
  const started = performance.now();
  await sleep(ms);
  const wallMs = performance.now() - started;
  const machineAfter = readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/).slice(1).map(Number);
  const byName = {};
  let busiestThread = { name: null, ms: 0 };
  tracked.forEach((t, i) => {
    const after = ticksOf(t.pid);
    for (const [tid, ticks] of Object.entries(after)) {
      const threadMs = (ticks - (before[i][tid] ?? 0)) * 10;
      byName[t.name] = (byName[t.name] ?? 0) + threadMs;
      if (t.name.endsWith("workerd") && threadMs > busiestThread.ms) busiestThread = { name: t.name, ms: threadMs };
    }
  });
  const [user, nice, system, idle, iowait] = machineAfter.map((v, i) => v - machineBefore[i]);
  const total = machineAfter.reduce((a, b) => a + b, 0) - machineBefore.reduce((a, b) => a + b, 0);
  return {
    sampled_s: wallMs / 1000,
    cores: cpus().length,
    machine_busy_share: total > 0 ? (user + nice + system) / total : null,
    machine_idle_share: total > 0 ? (idle + iowait) / total : null,
    cores_used_by: Object.entries(byName)
      .map(([name, cpuMs]) => ({ name, cores: cpuMs / wallMs }))
      .sort((a, b) => b.cores - a.cores),
    workerd_busiest_thread: { process: busiestThread.name, cores: busiestThread.ms / wallMs },
  };
}

/** Deliveries per second between 10% and 90% of the run: the steady rate, without ramp-up and tail. */
function sustained(series, total) {
  const at = (fraction) => series.find(([, got]) => got >= total * fraction);
  const a = at(0.1);
  const b = at(0.9);
  if (!a || !b || b[0] <= a[0]) return null;
  return ((b[1] - a[1]) / (b[0] - a[0])) * 1000;
}

// ---------------------------------------------------------------------------------------------------------------
// Report.

const fmt = (x, digits = 0) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const yes = (ok) => (ok ? "**met**" : "**not met**");

export function renderMarkdown(r) {
  const m = r.machine;
  const lines = [];
  lines.push(
    `Machine: ${m.cpus} CPUs (${m.cpu_model}), Node ${m.node}, workerd ${m.workerd.replace(/^workerd /, "")} (wrangler ${m.wrangler}); ` +
      `load average ${m.load_average_at_start.join(" ")} at start, ${r.load_average_at_end.join(" ")} at end; ${r.finished_at.slice(0, 16).replace("T", " ")} UTC, ${r.duration_s} s.`,
  );
  lines.push(
    `Settings: autocannon ${r.settings.connections} connections, ${r.settings.rounds} round(s) of ${r.settings.duration_s} s per target, alternating with the baseline; ` +
      `queue max_batch_size ${r.queue.max_batch_size}, max_batch_timeout ${r.queue.max_batch_timeout} s, consumer concurrency ${r.queue.consumer_concurrency}.`,
  );
  lines.push("");
  lines.push("| # | Measure | Ours | Baseline (same runtime) | Ratio | Target |");
  lines.push("|---|---|---|---|---|---|");
  const a = r.admin_api;
  const lat = (x) => `${fmt(x.rps)} req/s, p50 ${fmt(x.p50)} ms, p99 ${fmt(x.p99)} ms`;
  lines.push(`| 1 | Admin API \`GET /api/v1/admin/webhooks/{id}\`, RS256 JWT | ${lat(a.get)} | bare Hono route: ${lat(a.bare)} | ${fmt(a.get.ratio, 2)} | ≥ ${a.target_ratio}: ${yes(a.get.ratio >= a.target_ratio)} |`);
  lines.push(`| 1 | Admin API \`GET /api/v1/admin/webhooks/\` (list, 20 of 25) | ${lat(a.list)} | bare Hono route (same) | ${fmt(a.list.ratio, 2)} | ≥ ${a.target_ratio}: ${yes(a.list.ratio >= a.target_ratio)} |`);
  lines.push(`| 1 | split: \`GET …/webhooks/events\` (token check + framework, no D1) / \`GET /health\` (one D1 call, no token) | ${fmt(a.events_no_d1.rps)} / ${fmt(a.health_no_token.rps)} req/s | bare Hono route (same) | ${fmt(a.events_no_d1.ratio, 2)} / ${fmt(a.health_no_token.ratio, 2)} | – |`);
  const d = r.delivery;
  lines.push(
    `| 2 | Delivery throughput: published → 2xx received → recorded as success in D1 (${fmt(d.subject.deliveries)} deliveries) | ` +
      `${fmt(d.subject.per_second)}/s (${fmt(d.subject.seconds, 1)} s; steady ${fmt(d.subject.sustained_per_second)}/s) | ` +
      `queue consumer that only fetches: ${fmt(d.queue_baseline.per_second)}/s; fetch loop, no queue: ${fmt(d.fetch_loop_baseline.per_second)}/s | ` +
      `${fmt(d.ratio_vs_queue_baseline, 3)} (vs fetch loop ${fmt(d.ratio_vs_fetch_loop, 3)}) | ≥ ${d.target_ratio}: ${yes(d.ratio_vs_queue_baseline >= d.target_ratio)} |`,
  );
  const prof = d.subject.profile;
  if (prof && !prof.error)
    lines.push(
      `| 2 | CPU during the run (${fmt(prof.sampled_s, 1)} s sampled, ${prof.cores} cores: ${fmt(prof.machine_busy_share * 100)}% busy) | ` +
        prof.cores_used_by
          .filter((p) => p.cores >= 0.01)
          .map((p) => `${p.name} ${fmt(p.cores, 2)} cores`)
          .join(", ") +
        `; workerd's busiest thread (every isolate of the local pipeline) ${fmt(prof.workerd_busiest_thread.cores, 2)} | – | – | – |`,
    );
  const fo = r.fan_out;
  const largest = fo.at(-1);
  const flat = fo.every((x) => x.d1_round_trips === fo[0].d1_round_trips);
  lines.push(
    `| 3 | Fan-out: publish one event to ${fo.map((x) => fmt(x.endpoints)).join(" / ")} endpoints (median of 5) | ` +
      `${fo.map((x) => `${fmt(x.publish_ms_median)} ms`).join(" / ")}; D1 round trips ${fo.map((x) => x.d1_round_trips).join(" / ")}, ` +
      `statements ${fo.map((x) => x.d1_statements).join(" / ")}, queue calls ${fo.map((x) => x.queue_calls).join(" / ")} | – | – | ` +
      `round trips sub-linear: ${yes(flat)}; 1,000 in < 1 s: ${yes(largest.publish_ms_median < 1000)} |`,
  );
  const p = r.publish_latency;
  lines.push(`| 4 | Publish \`POST /api/v1/events\` under load (1 delivery each) | ${lat(p.publish)} | bare JSON POST: ${lat(p.bare_post)} | ${fmt(p.publish.ratio, 2)} | – |`);
  const c = r.cost;
  const ps = c.publish_side_per_delivery;
  const cs = c.consumer_side_per_delivery;
  lines.push(
    `| 5 | Cost per successful delivery (publish + consumer) | D1: ${fmt(ps.d1_round_trips + cs.d1_round_trips, 2)} round trips, ${fmt(ps.d1_statements + cs.d1_statements, 2)} statements, ` +
      `${fmt(ps.d1_rows_read + cs.d1_rows_read, 1)} rows read, ${fmt(ps.d1_rows_written + cs.d1_rows_written, 1)} rows written; ` +
      `queue: ${fmt(ps.queue_calls + cs.queue_calls, 2)} calls, ${fmt(c.queue_billed_operations_per_delivery, 0)} billed operations | – | – | – |`,
  );
  lines.push("");
  lines.push("Cost detail (instrumented copy of the Worker, D1's own `meta.rows_read` / `rows_written`):");
  lines.push("");
  lines.push("| Per … | D1 round trips | D1 statements | rows read | rows written | queue calls | queue messages |");
  lines.push("|---|---|---|---|---|---|---|");
  lines.push(`| delivery, publish side | ${fmt(ps.d1_round_trips, 2)} | ${fmt(ps.d1_statements, 2)} | ${fmt(ps.d1_rows_read, 2)} | ${fmt(ps.d1_rows_written, 2)} | ${fmt(ps.queue_calls, 2)} | ${fmt(ps.queue_messages_sent, 2)} sent |`);
  lines.push(`| delivery, consumer side | ${fmt(cs.d1_round_trips, 2)} | ${fmt(cs.d1_statements, 2)} | ${fmt(cs.d1_rows_read, 2)} | ${fmt(cs.d1_rows_written, 2)} | ${fmt(cs.queue_calls, 2)} | ${fmt(cs.queue_messages_received, 2)} received |`);
  for (const x of fo)
    lines.push(`| publish to ${fmt(x.endpoints)} endpoint(s) | ${x.d1_round_trips} | ${x.d1_statements} | ${fmt(x.d1_rows_read)} | ${fmt(x.d1_rows_written)} | ${x.queue_calls} | ${fmt(x.queue_messages)} sent |`);
  for (const [name, x] of Object.entries(c.per_request))
    lines.push(`| admin ${name === "get" ? "GET one" : "list"} request | ${fmt(x.d1_round_trips, 2)} | ${fmt(x.d1_statements, 2)} | ${fmt(x.d1_rows_read, 1)} | ${fmt(x.d1_rows_written, 1)} | 0 | – |`);
  const pb = c.consumer_per_batch;
  if (pb) {
    const sqlMs = c.d1_sql_ms_per_delivery.reduce((n, e) => n + e.ms_per_delivery, 0);
    lines.push("");
    lines.push(
      `One consumer invocation (a queue batch of ${fmt(pb.deliveries, 1)} deliveries) takes ${fmt(pb.handler_ms, 1)} ms, of which ${fmt(pb.d1_wait_ms, 1)} ms waiting on D1 ` +
        `(its two round trips) and ${fmt(pb.outbound_ms_summed, 1)} ms of requests summed over ${r.queue.consumer_concurrency} at a time. ` +
        `D1's own time running the SQL (\`meta.duration\`) is ${fmt(sqlMs, 3)} ms per delivery.`,
    );
  }
  return lines.join("\n");
}

if (opts["render-only"]) {
  const markdown = renderMarkdown(JSON.parse(readFileSync(join(root, "bench", "results.json"), "utf8")));
  writeFileSync(join(root, "bench", "results.md"), `${markdown}\n`);
  say(markdown);
  process.exit(0);
}

let code = 1;
const hardStop = setTimeout(() => {
  note(`time limit of ${TIME_LIMIT_MS / 60_000} min reached: stopping`);
  stopAll().finally(() => process.exit(1));
}, TIME_LIMIT_MS);
try {
  const results = await main();
  const markdown = renderMarkdown(results);
  say("");
  say(markdown);
  if (opts.write) {
    mkdirSync(join(root, "bench"), { recursive: true });
    writeFileSync(join(root, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(root, "bench", "results.md"), `${markdown}\n`);
    say("");
    say("Wrote bench/results.json and bench/results.md.");
  }
  code = 0;
} catch (err) {
  process.stderr.write(`\nbench: ${err.stack ?? err}\n`);
  if (workDir) process.stderr.write(`files kept in ${workDir}\n`);
  opts.keep = true;
} finally {
  clearTimeout(hardStop);
  await stopAll();
  if (opts.keep && workDir) say(`Kept ${workDir} (logs and databases).`);
}
process.exit(code);
