// The storage benches' local rig (npm run bench:cost, npm run bench:volume): a snapshot of the tree with the instrumented
// Worker (bench/instrumented.ts) bundled once, each scenario's Worker started under Miniflare's own API on a fresh
// migrated D1 (and local R2 and queues), the local receiver (bench/receiver.mjs), HS256 admin tokens, and the Worker's
// bench-only controls: its clock, its cron jobs and its storage state. Everything on 127.0.0.1.
import { spawn } from "node:child_process";
import { webcrypto } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mulberry32 } from "../scripts/lib/prng.mjs";
import { onStopSignals, stopProcessGroup } from "../scripts/lib/process.mjs";
import { mintToken } from "../scripts/lib/token.mjs";
import { applyLocalMigrations, bundleWorker, snapshotTree, wranglerBin } from "../scripts/lib/wrangler.mjs";
import { api, waitFor } from "./client.mjs";
import { startMiniflareWorker } from "./runtimes/miniflare.mjs";

const ISSUER = "https://auth.scaikey.local/";
const AUDIENCE = "scaikey-webhooks";
export const SWEEP_CRON = "* * * * *";
export const STORAGE_CRON = "*/3 * * * *";
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** What the benches' snapshot of the tree holds: the Worker and the instrumented copy (with what it imports). */
export const SNAPSHOT_ENTRIES = [
  "src",
  "migrations",
  "wrangler.toml",
  "package.json",
  "tsconfig.json",
  "bench/instrumented.ts",
  "scripts/lib/d1-intercept.ts", // imported by instrumented.ts
  "bench/archive-seed.ts",
  "scripts/lib/prng.mjs",
];

/**
 * Runs a bench's `main(state)` under a time limit, then `done(result)`; on a signal, at the limit or at the end, stops
 * every process in `state.children` and removes `state.workDir` (kept with --keep, or when the run failed). Exits.
 */
export async function runBench({ tool, note, timeLimitMs, keep, main, done }) {
  const state = { children: [], workDir: null, keep };
  const stopAll = onStopSignals(async () => {
    await Promise.all(state.children.map(stopProcessGroup));
    if (state.workDir && !state.keep) rmSync(state.workDir, { recursive: true, force: true });
  }, note);
  const hardStop = setTimeout(() => {
    note(`time limit of ${timeLimitMs / 60_000} min reached: stopping`);
    stopAll().finally(() => process.exit(1));
  }, timeLimitMs);
  let code = 1;
  try {
    await done(await main(state));
    code = 0;
  } catch (err) {
    process.stderr.write(`\n${tool}: ${err.stack ?? err}\n`);
    state.keep = true;
  } finally {
    clearTimeout(hardStop);
    await stopAll();
    if (state.keep && state.workDir) process.stdout.write(`Kept ${state.workDir} (logs and databases).\n`);
  }
  process.exit(code);
}

/** The receiver + JWKS server, its own process; resolves once it listens. */
export async function startReceiver(root, jwks, children) {
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
      if (buffered.includes("\n")) resolvePort(JSON.parse(buffered.split("\n")[0]).port);
    });
    child.once("exit", () => reject(new Error("the receiver exited before listening")));
  });
  const base = `http://127.0.0.1:${port}`;
  return { base, child, stats: async () => (await fetch(`${base}/__stats`)).json() };
}

/**
 * wrangler.toml's text with the D1 bindings of the first `shards` shards only (DB, DB_1, …): the storage benches
 * measure one database, so their Worker runs on one shard (docs/scaling.md multiplies it out).
 */
export function withShards(toml, shards) {
  // Sections start at a "[…]" line; a d1_databases section ends where the next section starts.
  const sections = toml.split(/^(?=\[)/m);
  const kept = sections.filter((section) => {
    if (!/^\[\[d1_databases\]\]/.test(section)) return true;
    const binding = /^binding\s*=\s*"([^"]+)"/m.exec(section)?.[1] ?? "";
    return binding === "DB" || !/^DB_\d+$/.test(binding) || Number(binding.slice(3)) < shards;
  });
  return kept.join("");
}

/**
 * The rig: `root`'s snapshot in a temporary directory, the instrumented bundle, the receiver and an admin token.
 * `startWorker(name, vars)` starts one scenario's Worker on fresh databases; `shards` of wrangler.toml's (default 1).
 */
export async function createRig({ root, tool, note, state, shards = 1 }) {
  const { children } = state;
  const wrangler = wranglerBin(root);
  const workDir = (state.workDir = mkdtempSync(join(tmpdir(), `scaikey-${tool}-`)));
  note(`work dir ${workDir}`);
  const app = snapshotTree(root, join(workDir, "app"), SNAPSHOT_ENTRIES);
  writeFileSync(join(app, "wrangler.toml"), withShards(readFileSync(join(app, "wrangler.toml"), "utf8"), shards));
  const outdir = join(app, "bundles", "instrumented");
  bundleWorker(wrangler, { cwd: app, entry: "bench/instrumented.ts", config: "wrangler.toml", outdir });
  const envFile = join(workDir, "bench.env"); // named, so wrangler reads no .dev.vars: the run depends on nothing local
  writeFileSync(envFile, "# vars come from the runner\n");
  const receiver = await startReceiver(root, { keys: [] }, children);
  const secret = Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  const token = await mintToken({
    key: secret,
    role: "super_admin",
    scope: "admin:read admin:write",
    issuerPrefix: ISSUER,
    audience: AUDIENCE,
    expiration: "400d", // outlives the clock moves of the benches (retention: 40 days ahead)
  });
  const baseVars = {
    JWT_SECRET: secret,
    JWT_JWKS_URL: "",
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    ALLOW_INSECURE_URLS: "true",
    ALLOW_PRIVATE_TARGETS: "true",
    SECRET_ENCRYPTION_KEY: `k1:${Buffer.from(webcrypto.getRandomValues(new Uint8Array(32))).toString("base64")}`,
    LOG_LEVEL: "warn",
  };
  const started = [];
  return {
    workDir,
    receiver,
    token,
    /** Starts the instrumented Worker `name` on a fresh database with `vars` over the rig's; answers a worker handle. */
    async startWorker(name, vars = {}) {
      const persistTo = join(workDir, `${name}-state`);
      applyLocalMigrations(wrangler, { cwd: app, persistTo });
      const w = await startMiniflareWorker({
        name,
        appDir: app,
        workDir,
        config: "wrangler.toml",
        bundle: join(outdir, "instrumented.js"),
        persistTo,
        vars: { ...baseVars, ...vars },
        envFile,
        extraCompatibilityFlags: ["d1_binding_jsrpc"],
        children,
      });
      started.push(w);
      return workerHandle(w, persistTo, token);
    },
  };
}

/** The local D1 database file of a Worker persisted in `persistTo` (Miniflare's layout). */
export function d1File(persistTo) {
  const dir = join(persistTo, "v3", "d1", "miniflare-D1DatabaseObject");
  const file = readdirSync(dir).find((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  if (!file) throw new Error(`no D1 database file in ${dir}`);
  return join(dir, file);
}

/** A started Worker with the bench-only controls of bench/instrumented.ts. */
function workerHandle(w, persistTo, token) {
  const call = (method, path, body) => api(w.base, method, path, body, token);
  return {
    ...w,
    persistTo,
    call,
    counters: () => call("GET", "/__bench/counters"),
    reset: () => call("POST", "/__bench/reset"),
    state: () => call("GET", "/__bench/state"),
    schema: () => call("GET", "/__bench/schema"),
    setClock: (offsetMs) => call("POST", "/__bench/clock", { offset_ms: offsetMs }),
    async cron(expression) {
      const res = await fetch(`${w.base}/__bench/cron?cron=${encodeURIComponent(expression)}`, { method: "POST" });
      const body = await res.json();
      if (!body.ok) throw new Error(`cron ${expression}: ${body.error}`);
      return body;
    },
    /** Creates a webhook for `tenant` posting to `url`, subscribed to `events`; answers its id. */
    /** `fields`: more of the webhook's fields (rate_limit, ordered…). */
    async createWebhook(tenant, url, events = ["*"], fields = {}) {
      return (await call("POST", "/api/v1/admin/webhooks/", { url, events, tenant_id: tenant, ...fields })).id;
    },
    /** Waits until the deliveries in D1 are all finished (none pending or retrying), at least `atLeast` of them. */
    async settled(atLeast, timeoutMs = 300_000) {
      return waitFor(
        "every delivery to finish",
        async () => {
          const s = await call("GET", "/__bench/state");
          const by = s.deliveries_by_status;
          const open = (by.pending ?? 0) + (by.retrying ?? 0);
          const all = Object.values(by).reduce((a, b) => a + b, 0);
          return open === 0 && all >= atLeast ? s : null;
        },
        { timeoutMs, everyMs: 500 },
      );
    },
  };
}

const GIVEN = ["María", "Wei", "Amara", "Lukas", "Priya", "Jonas", "Aiko", "Mateo", "Fatima", "Noah", "Olga", "Kwame"];
const FAMILY = [
  "González",
  "Chen",
  "Okafor",
  "Müller",
  "Sharma",
  "Berg",
  "Tanaka",
  "Rossi",
  "Haddad",
  "Smith",
  "Ivanova",
];
const LOCALES = ["es-ES", "zh-CN", "en-GB", "de-DE", "hi-IN", "sv-SE", "ja-JP", "it-IT", "ar-EG", "en-US", "ru-RU"];
const ROLES = ["member", "billing_admin", "auditor", "developer", "support", "owner"];

/**
 * A published event with a canonical payload of about `bytes` bytes: a user as an identity platform sends it (names,
 * ids, timestamps, roles, groups, the changed fields), varied by `n` from a seeded PRNG, then more group memberships up
 * to the size. Realistic text matters: the stored payload is compressed (src/db/payload.ts), and padding of one
 * repeated character would compress to nothing.
 */
export function eventOf({ tenant, type = "user.created", n, bytes = 1024 }) {
  const random = mulberry32(n + 1);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const hex = (len) => Array.from({ length: len }, () => Math.floor(random() * 16).toString(16)).join("");
  const at = (daysAgo) => new Date(Date.UTC(2026, 10, 30) - Math.floor(random() * daysAgo * 86_400_000)).toISOString();
  const [given, family] = [pick(GIVEN), pick(FAMILY)];
  const base = {
    event_type: type,
    tenant_id: tenant,
    resource: { type: "user", id: `usr_${hex(16)}` },
    actor: { id: `usr_${hex(12)}`, type: "user" },
    data: {
      id: `usr_${hex(16)}`,
      email: `${given.toLowerCase()}.${family.toLowerCase()}${n}@example-${hex(4)}.com`,
      email_verified: random() < 0.9,
      display_name: `${given} ${family}`,
      given_name: given,
      family_name: family,
      locale: pick(LOCALES),
      phone_number: `+${Math.floor(random() * 90 + 10)} ${Math.floor(random() * 1e9)}`,
      roles: [pick(ROLES), pick(ROLES)],
      mfa: { enabled: random() < 0.6, methods: random() < 0.5 ? ["totp"] : ["totp", "webauthn"] },
      last_sign_in_at: at(2),
      created_at: at(900),
      updated_at: at(1),
      metadata: { department: pick(["Finance", "Sales", "R&D", "Legal"]), employee_id: `E-${hex(6)}` },
      groups: [],
    },
  };
  // The canonical envelope adds event_id (24 chars) and timestamp (24) to what is posted.
  while (JSON.stringify(base).length + 90 < bytes) base.data.groups.push(`grp_${hex(10)}`);
  return base;
}
