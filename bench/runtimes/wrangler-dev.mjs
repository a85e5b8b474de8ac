// Starts one of the bench's Workers under `wrangler dev` (scripts/lib/wrangler-dev.mjs: its own process group, wrangler
// and its workerd), as a developer runs it: with wrangler's inspector session on the Worker and its dev-only middleware.
import { join } from "node:path";
import { startWranglerDev } from "../../scripts/lib/wrangler-dev.mjs";

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
  const log = join(workDir, `${name}.log`);
  const { child, base } = await startWranglerDev({
    wrangler,
    cwd: appDir,
    args,
    persistTo,
    vars,
    envFile,
    readyPath,
    logPath: log,
    what: `${name} (wrangler dev)`,
    onStart: (started) => children.push(started),
  });
  return { name, runtime: "wrangler dev", child, base, log };
}
