#!/usr/bin/env node
// Writes the OpenAPI document exactly as the Worker serves it: starts the Worker locally (wrangler, in workerd, no
// persistence, no inspector), fetches /openapi.json and writes it to the given path (default dist/openapi/openapi.json).
// `npm run lint:openapi` lints that file and compiles the client types generated from it.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const out = resolve(process.argv[2] ?? resolve(root, "dist/openapi/openapi.json"));

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= "false"; // no Request.cf from the network: the document needs none
const worker = await unstable_startWorker({
  config: resolve(root, "wrangler.toml"),
  envFiles: [], // the document must not depend on a developer's .dev.vars
  dev: {
    server: { hostname: "127.0.0.1", port: 0 },
    inspector: false,
    watch: false,
    persist: false,
    logLevel: "error",
  },
});
try {
  await worker.ready;
  const res = await worker.fetch("http://127.0.0.1/openapi.json");
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}: ${text.slice(0, 500)}`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(JSON.parse(text), null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await worker.dispose();
}
