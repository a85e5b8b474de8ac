// The one launcher of `wrangler dev` for the harnesses (bench, fault run, volume bench, browser suite): on 127.0.0.1
// and free ports, its own process group (wrangler and its workerd), no interactive session, the given vars and state
// directory, ready once a path answers 2xx (by default /openapi.json). `npm start` runs wrangler dev in the foreground for a person instead
// (scripts/start.mjs), and the bench's other runtime is Miniflare's own API (bench/runtimes/miniflare.mjs).
// Node builtins only.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { freePort } from "./port.mjs";
import { quietChildEnv, spawnLogged, stopProcessGroup, waitHttpReady } from "./process.mjs";

/**
 * Starts `wrangler dev [args…]` in `cwd` with `vars` as --var (and `envFile` instead of .dev.vars, when given);
 * resolves once GET `readyPath` answers 2xx. Output goes to `logPath`; with `onLine`, each line is also handed to it
 * (the output then passes through this process, so the bench, which reads none, leaves it out). `onStart` gets the
 * child as soon as it exists (for a caller's final stop). `port` reuses a port (a restart on the same address).
 * Returns { child, base, port, logPath, stop() }.
 */
export async function startWranglerDev({
  wrangler,
  cwd,
  persistTo,
  logPath,
  vars = {},
  envFile,
  args = [],
  readyPath = "/openapi.json", // not /health: it may answer 503 (delivery lagging) with the Worker up
  timeoutMs = 120_000,
  what = "wrangler dev",
  onLine,
  onStart,
  port: wantedPort,
}) {
  const port = wantedPort ?? (await freePort());
  const inspector = await freePort();
  const devArgs = [
    "dev",
    ...args,
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspector),
    "--show-interactive-dev-session=false",
    "--persist-to",
    persistTo,
    ...(envFile ? ["--env-file", envFile] : []),
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const command = [wrangler.bin, ...devArgs];
  const child = onLine
    ? spawn(process.execPath, command, { cwd, env: quietChildEnv(), detached: true, stdio: ["ignore", "pipe", "pipe"] })
    : spawnLogged(process.execPath, command, { cwd, logPath });
  if (onLine) forwardLines(child, logPath, onLine);
  onStart?.(child);
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitHttpReady(`${base}${readyPath}`, { child, timeoutMs, what, logPath });
  } catch (err) {
    await stopProcessGroup(child);
    throw err;
  }
  return { child, base, port, logPath, stop: () => stopProcessGroup(child) };
}

/** Writes the child's stdout and stderr to `logPath` and hands every complete line to `onLine`. */
function forwardLines(child, logPath, onLine) {
  const log = createWriteStream(logPath, { flags: "a" });
  for (const stream of [child.stdout, child.stderr]) {
    let pending = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      log.write(chunk);
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    });
  }
}
