// Starts one of the bench's Workers under Miniflare's own API (miniflare-host.mjs, its own process group).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sleep } from "../../scripts/lib/cli.mjs";
import { freePort } from "../../scripts/lib/port.mjs";
import { spawnLogged } from "../../scripts/lib/process.mjs";

const HOST = join(dirname(fileURLToPath(import.meta.url)), "miniflare-host.mjs");

/**
 * Runs `bundle` (built from `config`, relative to `appDir`) with the given vars; resolves once it serves.
 * Returns { name, runtime, child, base, log, inspector }; `child` is pushed onto `children` at once, for the final stop;
 * `inspector` (with `inspector: true`) is workerd's inspector, ws://127.0.0.1:<port>.
 */
export async function startMiniflareWorker({
  name,
  appDir,
  workDir,
  config,
  bundle,
  persistTo,
  vars = {},
  envFile,
  extraCompatibilityFlags = [],
  noQueueConsumers = false,
  producerDelaySeconds = 0,
  inspector = false,
  children,
}) {
  const port = await freePort();
  const readyFile = join(workDir, `${name}.ready.json`);
  const log = join(workDir, `${name}.log`);
  const spec = {
    appDir,
    config,
    bundle,
    persistTo,
    port,
    vars,
    envFile,
    extraCompatibilityFlags,
    noQueueConsumers,
    producerDelaySeconds,
    inspector,
    readyFile,
  };
  const child = spawnLogged(process.execPath, [HOST, JSON.stringify(spec)], { cwd: appDir, logPath: log });
  children.push(child);
  const by = Date.now() + 120_000;
  while (!existsSync(readyFile)) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${name} (Miniflare) exited before it was ready:\n${readFileSync(log, "utf8").slice(-3000)}`);
    if (Date.now() > by) throw new Error(`${name} (Miniflare) did not become ready within 120 s; see ${log}`);
    await sleep(200);
  }
  const ready = JSON.parse(readFileSync(readyFile, "utf8"));
  return { name, runtime: "miniflare", child, base: `http://127.0.0.1:${port}`, log, inspector: ready.inspector };
}
