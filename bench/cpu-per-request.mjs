// workerd CPU per request, route by route, against the Workers a `npm run bench -- --hold <s>` run keeps up: the bare
// route (baseline), our routes with and without D1 and token, and one D1 round trip straight on the binding (the
// instrumented copy's d1-probe). Sequential requests, `concurrency` at a time; CPU from /proc of the workerd that
// serves each URL (every thread: the Worker, its local D1 and queue). Linux only.
//   node bench/cpu-per-request.mjs <work dir>/hold.json [--requests 300] [--concurrency 4] [--rounds 3]
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: "string", default: "300" },
    concurrency: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
  },
});
if (positionals.length !== 1) {
  console.error(
    "usage: node bench/cpu-per-request.mjs <work dir>/hold.json [--requests n] [--concurrency n] [--rounds n]",
  );
  process.exit(2);
}
const hold = JSON.parse(readFileSync(positionals[0], "utf8"));
const [requests, concurrency, rounds] = [values.requests, values.concurrency, values.rounds].map(Number);

/** The pid listening on the URL's port (the Worker's workerd). */
function pidServing(base) {
  const out = execFileSync("ss", ["-ltnpH", `sport = :${new URL(base).port}`], { encoding: "utf8" });
  const match = /pid=(\d+)/.exec(out);
  if (!match) throw new Error(`nothing listens for ${base}`);
  return Number(match[1]);
}

function cpuMs(pid) {
  let ms = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ms += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
    } catch {} // thread exited
  }
  return ms;
}

async function perRequest(base, path, token) {
  const pid = pidServing(base);
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const get = async () => {
    const res = await fetch(base + path, { headers });
    await res.arrayBuffer();
    if (res.status >= 500 || (res.status >= 400 && res.status !== 404)) throw new Error(`GET ${path}: ${res.status}`);
  };
  for (let i = 0; i < 20; i++) await get(); // warm: JWKS fetched, isolate compiled
  const before = cpuMs(pid);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < requests) await get();
    }),
  );
  return (cpuMs(pid) - before) / requests;
}

/** One request running `n` D1 round trips (`SELECT 1` on the binding) in the instrumented copy: CPU per round trip. */
async function perD1RoundTrip(n = 500) {
  const pid = pidServing(hold.instrumented);
  const before = cpuMs(pid);
  const res = await fetch(`${hold.instrumented}/__bench/d1-probe?n=${n}`);
  await res.arrayBuffer();
  return (cpuMs(pid) - before) / n;
}

const admin = hold.tokens.admin;
const targets = [
  ["bare route (baseline)", hold.baseline, "/bare", null],
  ["404 (our app: request log, no token, no D1)", hold.subject, "/no-such-route", null],
  ["GET …/webhooks/events (token, no D1)", hold.subject, "/api/v1/admin/webhooks/events", admin],
  ["GET /health (one D1 call, no token)", hold.subject, "/health", null],
  ["admin GET one", hold.subject, `/api/v1/admin/webhooks/${hold.data.admin[0]}`, admin],
  ["admin list", hold.subject, "/api/v1/admin/webhooks/", admin],
];
const figures = Object.fromEntries(
  [...targets.map(([name]) => name), "D1 round trip on the binding"].map((n) => [n, []]),
);
for (let round = 0; round < rounds; round++) {
  for (const [name, base, path, token] of targets)
    figures[name].push(await perRequest(base, path, token === null ? undefined : token));
  figures["D1 round trip on the binding"].push(await perD1RoundTrip());
}
const bare = figures[targets[0][0]];
console.log(
  `CPU ms per request (${rounds} rounds of ${requests}, ${concurrency} at a time); ratio = bare / this, round by round`,
);
for (const [name, ms] of Object.entries(figures)) {
  const ratios = name.startsWith("D1") ? "" : `  ratio ${ms.map((m, i) => (bare[i] / m).toFixed(2)).join(" / ")}`;
  console.log(`${name.padEnd(46)} ${ms.map((m) => m.toFixed(2)).join(" / ")} ms${ratios}`);
}
