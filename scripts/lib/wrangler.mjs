// The project's own wrangler, as the harnesses run it: the CLI with this Node (no npx prompt, no other Node from PATH),
// a snapshot of the tree to run it on, bundling, local migrations, and the workerd it brings. Node builtins only.
import { spawnSync } from "node:child_process";
import { cpSync, readFileSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { quietChildEnv } from "./process.mjs";

/** wrangler's CLI entry, version and package directory, as installed in `root`. */
export function wranglerBin(root) {
  const require = createRequire(join(root, "package.json"));
  const pkgPath = require.resolve("wrangler/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
  return {
    bin: join(dirname(pkgPath), typeof pkg.bin === "string" ? pkg.bin : pkg.bin.wrangler),
    version: pkg.version,
    dir: dirname(pkgPath),
  };
}

/** `workerd --version` of the workerd wrangler runs (it may have its own copy beside it). */
export function workerdVersion(wranglerDir) {
  try {
    const require = createRequire(join(wranglerDir, "package.json"));
    const bin = join(dirname(require.resolve("workerd/package.json")), "bin", "workerd");
    return spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout.trim() || "unknown";
  } catch {
    return "unknown";
  }
}

/** Runs wrangler to completion in `cwd`; throws with its output when it fails. */
function runWrangler(wrangler, args, { cwd, what = `wrangler ${args[0]}` }) {
  const result = spawnSync(process.execPath, [wrangler.bin, ...args], { cwd, env: quietChildEnv(), encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${what} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * Copies `entries` of `root` to `dir` and links node_modules: wrangler then builds a snapshot, so edits to the tree
 * during a run cannot make it reload the Worker (which would drop the local queue's messages).
 */
export function snapshotTree(root, dir, entries) {
  for (const entry of entries) cpSync(join(root, entry), join(dir, entry), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

/** Bundles the Worker of `config` (optionally with another `entry`) into `outdir` as wrangler deploy would. */
export function bundleWorker(wrangler, { cwd, config = "wrangler.toml", entry, outdir }) {
  runWrangler(wrangler, ["deploy", ...(entry ? [entry] : []), "--dry-run", "-c", config, "--outdir", outdir], {
    cwd,
    what: `bundling ${entry ?? config}`,
  });
}

/**
 * The D1 bindings of the shards in a wrangler.toml's text ([[d1_databases]] bindings `DB`, `DB_1`, `DB_2`…, in order):
 * every one gets every migration (docs/operations.md#shards).
 */
export function shardBindings(toml) {
  const bindings = toml
    .split(/^\[\[d1_databases\]\]\s*$/m)
    .slice(1)
    .map((block) => /^binding\s*=\s*"([^"]+)"/m.exec(block)?.[1])
    .filter((b) => b === "DB" || /^DB_\d+$/.test(b ?? ""));
  return bindings.sort((a, b) => (a === "DB" ? -1 : b === "DB" ? 1 : Number(a.slice(3)) - Number(b.slice(3))));
}

/** Applies the D1 migrations of `cwd`'s wrangler.toml to every shard's local database, kept in `persistTo`. */
export function applyLocalMigrations(wrangler, { cwd, persistTo, config = "wrangler.toml" }) {
  for (const binding of shardBindings(readFileSync(join(cwd, config), "utf8")))
    runWrangler(wrangler, ["d1", "migrations", "apply", binding, "--local", "--persist-to", persistTo, "-c", config], {
      cwd,
      what: `applying the D1 migrations to ${binding}`,
    });
}
