// The Worker under test for the fault run: worker.ts (src/index with faults around its bindings), bundled once from a
// snapshot of the tree, run as is by `wrangler dev --no-bundle` on a fresh migrated D1 with the fault vars, its log fed
// line by line to a tally (worker-log.mjs).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { applyLocalMigrations, bundleWorker, snapshotTree, wranglerBin } from "../lib/wrangler.mjs";
import { startWranglerDev } from "../lib/wrangler-dev.mjs";
import { createWorkerLog } from "./worker-log.mjs";

// The entry of the bundle under test: the Worker with the faults wrapped around its bindings (worker.ts, inject.ts), plus
// GET /__scheduled?cron=… (what `wrangler dev --test-scheduled` adds when it bundles; this bundle is run as is).
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

/** A [vars] string of the project's wrangler.toml, or "". */
export function readWranglerVar(root, name) {
  const m = new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m").exec(readFileSync(join(root, "wrangler.toml"), "utf8"));
  return m ? m[1] : "";
}

/**
 * Bundles and starts the Worker in `workDir` with `vars`; resolves once its API answers.
 * Returns { baseUrl, child, tally, logPath, persistDir, stopping(), kill() }: `child` is the wrangler process (its own
 * process group); `kill()` ends it with SIGKILL (wrangler and workerd, nothing flushed), then starts it again on the
 * same port and the same databases (every shard's), and resolves once it answers again.
 */
export async function startFaultWorker({ root, workDir, vars, note }) {
  const wrangler = wranglerBin(root);
  const persistDir = join(workDir, "state");
  const envFile = join(workDir, "faults.env"); // named, so wrangler reads no .dev.vars: the run depends on nothing local
  writeFileSync(envFile, "# vars come from --var\n");
  // The Worker is bundled once, from a copy of the tree, and wrangler dev runs that bundle as is (--no-bundle): edits
  // to the working tree or node_modules during the run cannot make it reload, which would kill attempts in flight
  // (not the fault under test).
  const app = snapshotTree(root, join(workDir, "app"), [
    "src",
    "scripts",
    "migrations",
    "package.json",
    "tsconfig.json",
  ]);
  writeFileSync(join(app, "faults-entry.ts"), SCHEDULED_ENTRY);
  const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
  writeFileSync(join(app, "wrangler.bundle.toml"), toml.replace(/^main\s*=.*$/m, 'main = "faults-entry.ts"'));
  writeFileSync(join(app, "wrangler.toml"), toml.replace(/^main\s*=.*$/m, 'main = "bundle/faults-entry.js"'));
  bundleWorker(wrangler, { cwd: app, config: "wrangler.bundle.toml", outdir: "bundle" });
  applyLocalMigrations(wrangler, { cwd: app, persistTo: persistDir });

  const logPath = join(workDir, "worker.log");
  const { tally, onLine } = createWorkerLog();
  const worker = { baseUrl: undefined, child: null, tally, logPath, persistDir, port: undefined };
  let stopping = false;
  let killing = false;
  const launch = async () => {
    const onStart = (started) => {
      worker.child = started;
      started.once("exit", (code, signal) => {
        // Once it served (a start that fails is reported by the throw below), and not killed on purpose.
        if (!stopping && !killing && worker.baseUrl !== undefined)
          note(`wrangler dev exited early (${code ?? signal}); see ${logPath}`);
      });
    };
    try {
      const started = await startWranglerDev({
        wrangler,
        cwd: app,
        args: ["--no-bundle"],
        persistTo: persistDir,
        envFile,
        vars,
        readyPath: "/openapi.json",
        timeoutMs: 90_000,
        logPath,
        onLine,
        onStart,
        port: worker.port,
      });
      worker.baseUrl = started.base;
      worker.port = started.port;
    } catch (err) {
      stopping = true;
      throw new Error(`${err.message}\n${readFileSync(logPath, "utf8").slice(-3000)}`);
    }
  };
  await launch();
  return Object.assign(worker, {
    stopping: () => (stopping = true),
    /** SIGKILL, then `whileDead()` (the databases as the dead Worker left them), then the same Worker again. */
    async kill(whileDead = async () => {}) {
      killing = true;
      const child = worker.child;
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
      await exited;
      await whileDead();
      killing = false;
      await launch();
    },
  });
}

/**
 * The attempts a killed Worker left in flight: every delivery claimed and not recorded (its lease set), in every shard's
 * database as the Worker left it (read while it is dead). Keys "<webhook_id>/<delivery_id>".
 */
export function inFlightDeliveries(persistDir) {
  const dir = join(persistDir, "v3", "d1", "miniflare-D1DatabaseObject");
  const keys = new Set();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")) {
    const db = new DatabaseSync(join(dir, file), { readOnly: true });
    try {
      for (const row of db
        .prepare("SELECT webhook_id, id FROM deliveries_live WHERE lease_until IS NOT NULL AND completed_at IS NULL")
        .all())
        keys.add(`${row.webhook_id}/${row.id}`);
    } finally {
      db.close();
    }
  }
  return keys;
}
