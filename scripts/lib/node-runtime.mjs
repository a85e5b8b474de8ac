// A Node new enough for wrangler 4 (>= 22.12) for the scripts that run it: `npm start`, `npm run bench`,
// `npm run test:faults`, and `.ci/run`. On an older Node, Node 24 is installed once from the npm registry (the `node`
// package) into ~/.node24 (SCAIKEY_NODE24_DIR overrides it), and the script runs again under it, with one line saying so.
// On Node >= 22.12 nothing happens. Node builtins only, and syntax any Node of the last years parses.
//
// As a command (for .ci/run): `node scripts/lib/node-runtime.mjs --bin-dir` prints the directory of a suitable node
// binary (installing Node 24 first when the running Node is too old).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const MIN_NODE = [22, 12];
const NODE_PACKAGE = "node@24";

/** True when version "x.y.z" is at least MIN_NODE. */
function isRecentNode(version = process.versions.node) {
  const [major, minor] = version.replace(/^v/, "").split(".").map(Number);
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
}

/** Where Node 24 is kept: ~/.node24, shared with .ci/run. */
function node24Dir() {
  return process.env.SCAIKEY_NODE24_DIR || join(homedir(), ".node24");
}

const binOf = (dir) => join(dir, "node_modules", ".bin", process.platform === "win32" ? "node.cmd" : "node");

function versionOf(bin) {
  const out = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return out.status === 0 ? out.stdout.trim() : null;
}

/** npm as the running one was started (`npm run` sets npm_execpath), else the npm on PATH. */
function npmCommand() {
  const execPath = process.env.npm_execpath;
  if (execPath && /\.(c|m)?js$/.test(execPath)) return [process.execPath, [execPath]];
  return [process.platform === "win32" ? "npm.cmd" : "npm", []];
}

/**
 * The path of a Node >= 22.12 binary in the cache, installing Node 24 there first when needed. Installs into a
 * temporary sibling directory and renames it into place, so an interrupted install leaves nothing half-done behind.
 */
function ensureNode24(log = (line) => process.stderr.write(`${line}\n`)) {
  const dir = node24Dir();
  const bin = binOf(dir);
  const cached = existsSync(bin) ? versionOf(bin) : null;
  if (cached && isRecentNode(cached)) return bin;
  log(
    `node-runtime: installing ${NODE_PACKAGE} from the npm registry into ${dir} (once; wrangler needs Node >= ${MIN_NODE.join(".")})`,
  );
  const staging = `${dir}.installing-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const [npm, npmArgs] = npmCommand();
  const result = spawnSync(
    npm,
    [
      ...npmArgs,
      "install",
      "--prefix",
      staging,
      "--no-audit",
      "--no-fund",
      "--no-save",
      "--loglevel=error",
      NODE_PACKAGE,
    ],
    {
      stdio: ["ignore", "ignore", "inherit"], // npm's summary is noise here; its errors still show
      // The install must not inherit this project's npm settings (e.g. npm_config_prefix from `npm run`).
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))),
    },
  );
  const installed = binOf(staging);
  const version = result.status === 0 && existsSync(installed) ? versionOf(installed) : null;
  if (!version || !isRecentNode(version)) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(
      `could not install ${NODE_PACKAGE} with npm (exit ${result.status ?? result.signal}). Install Node ${MIN_NODE.join(".")} or newer ` +
        `yourself (e.g. \`nvm install 24\`), or run: npm i --prefix ${dir} ${NODE_PACKAGE}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return bin;
}

/**
 * Returns when this Node is >= 22.12. Otherwise runs this same script (same arguments, same stdio) under Node 24 from
 * the cache, says so in one line on stderr, and exits with its exit code: nothing after the call runs in this process.
 */
export async function ensureRecentNode(scriptName = "this script") {
  if (isRecentNode()) return;
  let bin;
  try {
    bin = ensureNode24();
  } catch (err) {
    process.stderr.write(`\n${scriptName}: ${err.message}\n\n`);
    process.exit(1);
  }
  process.stderr.write(
    `${scriptName}: Node ${process.versions.node} is older than ${MIN_NODE.join(".")}; running under ${versionOf(bin)} (${bin})\n`,
  );
  const child = spawn(bin, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, PATH: `${dirname(bin)}${delimiter}${process.env.PATH ?? ""}` },
  });
  // The child gets Ctrl-C from the terminal itself; forwarding covers a signal sent to this process alone.
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"];
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of signals) process.on(signal, forward);
  const [code, signal] = await new Promise((resolve) => {
    child.once("error", (err) => {
      process.stderr.write(`${scriptName}: could not start ${bin}: ${err.message}\n`);
      resolve([1, null]);
    });
    child.once("exit", (c, s) => resolve([c, s]));
  });
  for (const s of signals) process.off(s, forward);
  if (signal) process.kill(process.pid, signal);
  process.exit(code ?? 1);
}

// `node scripts/lib/node-runtime.mjs --bin-dir`: for shell scripts (.ci/run).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv[2] !== "--bin-dir") {
    process.stderr.write("usage: node scripts/lib/node-runtime.mjs --bin-dir\n");
    process.exit(2);
  }
  try {
    process.stdout.write(`${isRecentNode() ? dirname(process.execPath) : dirname(ensureNode24())}\n`);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}
