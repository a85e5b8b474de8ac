// One Worker of the bench under Miniflare's own API: the same workerd as wrangler dev, with no inspector session and
// no dev-only middleware, which is how production runs it. Started by runtimes/miniflare.mjs as its own process (so its
// workerd is a process group of its own, sampled like wrangler dev's), configured by one JSON argument:
//   { appDir, config, bundle, persistTo, port, vars, envFile, extraCompatibilityFlags, noQueueConsumers,
//     producerDelaySeconds, inspector, readyFile }
// `config` is the wrangler.toml wrangler itself derives the Miniflare options from (unstable_getMiniflareWorkerOptions);
// `bundle` is the Worker as `wrangler deploy --dry-run` built it. `producerDelaySeconds` gives every queue producer that
// delivery delay (the profile publishes first and profiles the consumer alone); `inspector` opens workerd's inspector
// on a free port (bench/profile.mjs). Writes {"url": …, "inspector": "ws://…"} to `readyFile` once it serves.
import { renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const spec = JSON.parse(process.argv[2]);
const require = createRequire(join(spec.appDir, "package.json"));
const wrangler = require("wrangler");
// The miniflare wrangler itself runs (it may carry its own copy, with its own workerd).
const { Miniflare, Log, LogLevel, convertV4MiniflareOptions } = createRequire(require.resolve("wrangler/package.json"))(
  "miniflare",
);

const { workerOptions } = wrangler.unstable_getMiniflareWorkerOptions(join(spec.appDir, spec.config), undefined, {
  envFiles: [spec.envFile],
});
const worker = {
  ...workerOptions,
  name: "worker",
  // wrangler's bundle is one ES module.
  modules: [{ type: "ESModule", path: spec.bundle }],
  bindings: { ...workerOptions.bindings, ...spec.vars },
  compatibilityFlags: [...(workerOptions.compatibilityFlags ?? []), ...(spec.extraCompatibilityFlags ?? [])],
  cronTriggers: [],
};
delete worker.rootPath; // wrangler's project root: the bundle's path is absolute
delete worker.modulesRules; // for discovering modules, which a single bundle does not need
if (spec.noQueueConsumers) delete worker.queueConsumers;
if (spec.producerDelaySeconds)
  worker.queueProducers = Object.fromEntries(
    Object.entries(worker.queueProducers ?? {}).map(([binding, producer]) => [
      binding,
      { ...producer, deliveryDelay: spec.producerDelaySeconds },
    ]),
  );

// The options in the shape wrangler hands them over (Miniflare 4's), converted as wrangler itself does.
const mf = new Miniflare(
  convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: spec.port,
    // 0: a free port; workerd's own inspector, every isolate a target (no proxy in between).
    ...(spec.inspector ? { inspectorPort: 0 } : {}),
    // wrangler's --persist-to layout (<dir>/v3), so `wrangler d1 migrations apply --persist-to` prepared this database.
    resourcePersistencePath: join(spec.persistTo, "v3"),
    log: new Log(LogLevel.WARN),
    workers: [worker],
  }),
);

const url = await mf.ready;
const inspector = spec.inspector ? (await mf.getInspectorURL()).href : undefined;
// Whole or not at all: the runner reads it as soon as it exists.
writeFileSync(`${spec.readyFile}.tmp`, JSON.stringify({ url: url.origin, inspector }));
renameSync(`${spec.readyFile}.tmp`, spec.readyFile);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await mf.dispose().catch(() => {});
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
