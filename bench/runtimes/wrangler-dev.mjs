// Starts one of the bench's Workers under `wrangler dev` (its own process group: wrangler and its workerd), as a
// developer runs it: with wrangler's inspector session on the Worker and its dev-only middleware.
import { join } from "node:path";
import { freePort } from "../../scripts/lib/port.mjs";
import { spawnLogged, waitHttpReady } from "../../scripts/lib/process.mjs";

/**
 * `wrangler dev [args…]` in `appDir` on a free port, with `vars` as --var; resolves once GET `readyPath` answers 2xx.
 * Returns { name, runtime, child, base, log }; `child` is pushed onto `children` at once, for the final stop.
 */
export async function startWranglerDevWorker({
  name,
  wrangler,
  appDir,
  workDir,
  args = [],
  persistTo,
  vars = {},
  envFile,
  readyPath,
  children,
}) {
  const port = await freePort();
  const inspector = await freePort();
  const log = join(workDir, `${name}.log`);
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
  const child = spawnLogged(process.execPath, [wrangler.bin, ...devArgs], { cwd: appDir, logPath: log });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitHttpReady(`${base}${readyPath}`, { child, what: `${name} (wrangler dev)`, logPath: log });
  return { name, runtime: "wrangler dev", child, base, log };
}
