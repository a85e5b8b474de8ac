#!/usr/bin/env node
// `npm start` / `npm run dev`: everything a fresh clone needs before `wrangler dev`, then `wrangler dev` itself.
//   1. makes sure it runs on Node >= 22.12 (wrangler 4's minimum), installing Node 24 once when needed (lib/node-runtime.mjs),
//   2. creates .dev.vars from .dev.vars.example with fresh random JWT_SECRET and SECRET_ENCRYPTION_KEY when missing,
//   3. applies the D1 migrations to every shard's local database (no prompt, no network),
//   4. prints where the API is and how to call it,
//   5. runs `wrangler dev --port 8787` plus any arguments given after `--` (e.g. `npm start -- --test-scheduled`).
// Node builtins only: this runs before anything else is known to work.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureRecentNode } from "./lib/node-runtime.mjs";
import { shardBindings, wranglerBin } from "./lib/wrangler.mjs";
import { printPortalLinkWhenReady } from "./portal-link.mjs";

const DEFAULT_PORT = "8787";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

const say = (line = "") => process.stdout.write(`${line}\n`);
const fail = (message, code = 1) => {
  process.stderr.write(`\nnpm start: ${message}\n\n`);
  process.exit(code);
};

// 1. Node version: on an older Node this re-runs the script under Node 24 and never returns.
await ensureRecentNode("npm start");

// The project's own wrangler, run with this Node: no `npx` install prompt, no other Node picked up from PATH.
let wranglerEntry;
try {
  wranglerEntry = wranglerBin(root).bin;
} catch {
  fail("wrangler is not installed. Run `npm install` first (then `npm start`).");
}
const wrangler = (args, options = {}) => [process.execPath, [wranglerEntry, ...args], options];

// 2. Local secrets: generated here, never committed (git ignores .dev.vars).
const devVars = join(root, ".dev.vars");
const example = join(root, ".dev.vars.example");
const generated = {
  JWT_SECRET: () => randomBytes(32).toString("base64url"),
  SECRET_ENCRYPTION_KEY: () => `k1:${randomBytes(32).toString("base64")}`,
};
/** Sets `name` to a fresh value where it is missing or still the change-me placeholder; returns the new text. */
function fillSecret(text, name) {
  const line = new RegExp(`^${name}=(.*)$`, "m");
  const current = line
    .exec(text)?.[1]
    ?.trim()
    .replace(/^(["'])(.*)\1$/, "$2");
  if (current && current !== "change-me") return text;
  const value = generated[name]();
  return line.test(text)
    ? text.replace(line, `${name}=${value}`)
    : `${text}${text.endsWith("\n") || !text ? "" : "\n"}${name}=${value}\n`;
}
{
  const existed = existsSync(devVars);
  if (!existed && !existsSync(example))
    fail(".dev.vars is missing and there is no .dev.vars.example to create it from.");
  const before = readFileSync(existed ? devVars : example, "utf8");
  const after = Object.keys(generated).reduce(fillSecret, before);
  if (!existed || after !== before) {
    writeFileSync(devVars, after, { mode: 0o600 });
    say(
      existed
        ? "Added fresh local secrets to .dev.vars where they were missing (JWT_SECRET / SECRET_ENCRYPTION_KEY)."
        : "Created .dev.vars from .dev.vars.example with a fresh random JWT_SECRET and SECRET_ENCRYPTION_KEY (local only; git ignores it).",
    );
  }
}

// 3. Local D1 migrations, to every shard's database (DB, DB_1…). Non-interactive: CI=true and no stdin make wrangler
// skip its confirmation prompt.
for (const binding of shardBindings(readFileSync(join(root, "wrangler.toml"), "utf8"))) {
  say(`Applying D1 migrations to the local database ${binding}...`);
  const [cmd, args] = wrangler(["d1", "migrations", "apply", binding, "--local"]);
  const result = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, CI: "true" } });
  if (result.error) fail(`could not run wrangler: ${result.error.message}`);
  if (result.status !== 0)
    fail(
      `applying the local D1 migrations to ${binding} failed (exit ${result.status ?? result.signal}); see wrangler's output above.`,
      result.status || 1,
    );
}

// 4. Banner. Honour a --port passed through to wrangler.
const extraArgs = process.argv.slice(2);
const portArg = extraArgs.findIndex((a) => a === "--port" || a.startsWith("--port="));
const port =
  portArg === -1
    ? DEFAULT_PORT
    : extraArgs[portArg].includes("=")
      ? extraArgs[portArg].split("=")[1]
      : extraArgs[portArg + 1];
const base = `http://localhost:${port}`;
say(`
  ScaiKey webhooks, local development
  API        ${base}   (e.g. ${base}/api/v1/admin/webhooks/)
  Docs       ${base}/docs   OpenAPI: ${base}/openapi.json

  Get a development token (another terminal):
    TOKEN=$(npm run -s token -- --role tenant_admin --tenant tnt_demo --scope "admin:read admin:write")
  List webhooks:
    curl -s ${base}/api/v1/admin/webhooks/ -H "Authorization: Bearer $TOKEN"
  (npm run token -- --help for roles, partners and platform tokens)
`);

// 5. wrangler dev, in the foreground. `--no-cron` (ours, not wrangler's) turns off the local cron ticker below.
const noCron = extraArgs.includes("--no-cron");
// The 307 across a trailing slash points at the origin the API is served on (unless `-- --var PUBLIC_ORIGIN:…`).
const ownOrigin = extraArgs.some((a) => a.startsWith("PUBLIC_ORIGIN:")) ? [] : ["--var", `PUBLIC_ORIGIN:${base}`];
const devArgs = [
  "dev",
  ...(portArg === -1 ? ["--port", DEFAULT_PORT] : []),
  ...ownOrigin,
  ...extraArgs.filter((a) => a !== "--no-cron"),
];
const [cmd, args] = wrangler(devArgs);
const child = spawn(cmd, args, { stdio: "inherit" });

// Ctrl-C reaches the whole foreground process group anyway; forwarding covers `kill <pid of npm start>` too.
const forward = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
const signals = ["SIGINT", "SIGTERM", "SIGHUP"];
for (const signal of signals) process.on(signal, forward);

// wrangler dev never fires cron triggers by itself, and a reload drops delayed queue messages; production's cron
// sweep is what recovers those, so run the crons of wrangler.toml here too, on their schedule (minute resolution).
const CRONS = [
  { cron: "* * * * *", every: 1 },
  { cron: "*/3 * * * *", every: 3 },
];
let minute = 0;
const ticker = noCron
  ? null
  : setInterval(() => {
      minute++;
      for (const { cron, every } of CRONS) {
        if (minute % every !== 0) continue;
        fetch(`http://127.0.0.1:${port}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(cron)}`).catch(() => {
          // wrangler is (re)starting: the next tick tries again
        });
      }
    }, 60_000);
ticker?.unref();
if (ticker)
  say(
    "  Local cron: the retry sweep runs every minute, retention and the archive every 3, the stats rollup every 5 (--no-cron to turn off).\n",
  );

// ---- Delivery portal: a ready link for the demo tenant once wrangler dev answers (scripts/portal-link.mjs). ----
printPortalLinkWhenReady(base, say);

child.on("error", (err) => fail(`could not start wrangler dev: ${err.message}`));
child.on("exit", (code, signal) => {
  for (const s of signals) process.off(s, forward);
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
