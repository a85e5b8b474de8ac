// Process and port helpers shared by the local harnesses (bench/run.mjs, scripts/faults/run.mjs): each runs wrangler dev
// in its own process group and must leave nothing behind. Node builtins only.
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** The project's own wrangler: its CLI entry, version and package directory. */
export function wranglerBin(root) {
  const require = createRequire(join(root, "package.json"));
  const pkgPath = require.resolve("wrangler/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
  return { bin: join(dirname(pkgPath), typeof pkg.bin === "string" ? pkg.bin : pkg.bin.wrangler), version: pkg.version, dir: dirname(pkgPath) };
}

/** SIGTERM a child's whole process group (wrangler and the workerd it started), SIGKILL after 5 s, and wait. */
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

/** `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapBounded(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i], i);
      }
    }),
  );
  return results;
}
