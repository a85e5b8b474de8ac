#!/usr/bin/env node
// `npm run db:migrate:local` / `db:migrate:remote` (and `npm run deploy` before it deploys): the D1 migrations applied to
// every shard's database, the bindings DB, DB_1, DB_2… of wrangler.toml (docs/operations.md#shards). Stops at the first
// failure; applying again is safe (wrangler records what each database has applied). Node builtins only.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { shardBindings, wranglerBin } from "./lib/wrangler.mjs";

const where = process.argv[2];
if (where !== "--local" && where !== "--remote") {
  process.stderr.write("usage: node scripts/migrate.mjs --local|--remote\n");
  process.exit(2);
}
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = wranglerBin(root).bin;
for (const binding of shardBindings(readFileSync(join(root, "wrangler.toml"), "utf8"))) {
  process.stdout.write(`Applying the D1 migrations to ${binding} (${where.slice(2)})...\n`);
  // Non-interactive: CI=true and no stdin make wrangler skip its confirmation prompt.
  const result = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", binding, where], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, CI: "true" },
  });
  if (result.status !== 0) process.exit(result.status || 1);
}
