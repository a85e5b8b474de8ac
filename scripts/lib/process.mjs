// Child processes of the local harnesses: each runs in its own process group (wrangler and the workerd it starts, or a
// Miniflare host) and is stopped as a group, so a run leaves nothing behind. Node builtins only.
import { spawn } from "node:child_process";
import { openSync } from "node:fs";

/** Environment for wrangler and workerd children: no prompts, no telemetry, no colours in the logs. */
export const quietChildEnv = (extra = {}) => ({
  ...process.env,
  CI: "true",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
  FORCE_COLOR: "0",
  ...extra,
});

/** Spawns `command args` detached (its own process group), stdout and stderr appended to `logPath`. */
export function spawnLogged(command, args, { cwd, env = quietChildEnv(), logPath, stdin = "ignore" }) {
  const fd = openSync(logPath, "a");
  return spawn(command, args, { cwd, env, detached: true, stdio: [stdin, fd, fd] });
}

/** SIGTERM a child's whole process group, SIGKILL after 5 s, and wait for the child to exit. */
export async function stopProcessGroup(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  const kill = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {}
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
  kill("SIGKILL"); // anything of that group still around
}

/**
 * Runs `cleanup` once on SIGINT, SIGTERM or SIGHUP, then exits 130. Returns the guarded cleanup, for the normal path.
 */
export function onStopSignals(cleanup, note = (line) => process.stderr.write(`${line}\n`)) {
  let running = null;
  const once = () => (running ??= Promise.resolve().then(cleanup));
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"])
    process.on(signal, () => {
      note(`${signal}: stopping`);
      once().finally(() => process.exit(130));
    });
  return once;
}

/** Resolves once GET `url` answers 2xx; rejects when `child` exits first or after `timeoutMs`. */
export async function waitHttpReady(url, { child, timeoutMs = 120_000, what = url, logPath } = {}) {
  const by = Date.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${what} exited before it was ready${logPath ? `; see ${logPath}` : ""}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {}
    if (Date.now() > by)
      throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s${logPath ? `; see ${logPath}` : ""}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
