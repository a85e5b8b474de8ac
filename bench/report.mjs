// bench/results.md from bench/results.json: the summary table (Miniflare column, with the wrangler dev ratios beside
// it), the wrangler dev figures, CPU per unit of work, and the cost detail.
import { isRuntime } from "./profile-summary.mjs";

const fmt = (x, digits = 0) =>
  x === null || x === undefined || Number.isNaN(x)
    ? "–"
    : Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const yes = (ok) => (ok ? "**met**" : "**not met**");
const lat = (x) => `${fmt(x.rps)} req/s, p50 ${fmt(x.p50)} ms, p99 ${fmt(x.p99)} ms`;
const ms = (x) => (x === null || x === undefined ? "–" : `${fmt(x, 2)} ms`);

function header(r) {
  const m = r.machine;
  return [
    `Machine: ${m.cpus} CPUs (${m.cpu_model}), Node ${m.node}, workerd ${m.workerd.replace(/^workerd /, "")} (wrangler ${m.wrangler}); ` +
      `load average ${m.load_average_at_start.join(" ")} at start, ${r.load_average_at_end.join(" ")} at end; ${r.finished_at.slice(0, 16).replace("T", " ")} UTC, ${r.duration_s} s.`,
    `Settings: autocannon ${r.settings.connections} connections, ${r.settings.rounds} round(s) of ${r.settings.duration_s} s per target, alternating with the baseline; ` +
      `queue max_batch_size ${r.queue.max_batch_size}, max_batch_timeout ${r.queue.max_batch_timeout} s, consumer concurrency ${r.queue.consumer_concurrency}.`,
    `Columns: **Miniflare** = ${r.columns.miniflare}. **wrangler dev** = ${r.columns.wrangler_dev}. Both columns measure the same subject, baseline and receiver in the same run.`,
  ];
}

function summary(r) {
  const a = r.admin_api;
  const d = r.delivery;
  const p = r.publish_latency;
  const c = r.cost;
  const ps = c.publish_side_per_delivery;
  const cs = c.consumer_side_per_delivery;
  const fo = r.fan_out;
  const largest = fo.at(-1);
  const flat = fo.every((x) => x.d1_round_trips === fo[0].d1_round_trips);
  const lines = [
    "| # | Measure | Ours (Miniflare) | Baseline, same runtime (Miniflare) | Ratio: Miniflare | Ratio: wrangler dev | Target (on Miniflare) |",
    "|---|---|---|---|---|---|---|",
    `| 1 | Admin API \`GET /api/v1/admin/webhooks/{id}\`, RS256 JWT | ${lat(a.get)} | one D1 row by primary key, as JSON: ${lat(a.d1_point_read)} | ${fmt(a.get.ratio_vs_d1_point_read, 2)} (vs bare route ${fmt(a.get.ratio, 2)}) | ${fmt(a.get.ratio_vs_d1_point_read_wrangler_dev, 2)} (${fmt(a.get.ratio_wrangler_dev, 2)}) | ≥ ${a.get.target_ratio_vs_d1_point_read} of the D1 read: ${yes(a.get.ratio_vs_d1_point_read >= a.get.target_ratio_vs_d1_point_read)} |`,
    `| 1 | Admin API \`GET /api/v1/admin/webhooks/\` (list, 20 of 25) | ${lat(a.list)} | a D1 page of 20 and its count, one round trip: ${lat(a.d1_page)} | ${fmt(a.list.ratio_vs_d1_page, 2)} (vs bare route ${fmt(a.list.ratio, 2)}) | ${fmt(a.list.ratio_vs_d1_page_wrangler_dev, 2)} (${fmt(a.list.ratio_wrangler_dev, 2)}) | ≥ ${a.list.target_ratio_vs_d1_page} of the D1 page: ${yes(a.list.ratio_vs_d1_page >= a.list.target_ratio_vs_d1_page)} |`,
    `| 1 | split: \`GET …/webhooks/events\` (token check + framework, no D1) / \`GET /health\` (one D1 call, no token) | ${fmt(a.events_no_d1.rps)} / ${fmt(a.health_no_token.rps)} req/s | bare Hono route: ${lat(a.bare)} | ${fmt(a.events_no_d1.ratio, 2)} / ${fmt(a.health_no_token.ratio, 2)} | ${fmt(a.wrangler_dev.events_no_d1.ratio, 2)} / ${fmt(a.wrangler_dev.health_no_token.ratio, 2)} | – |`,
    `| 2 | Delivery throughput: published → 2xx received → recorded as success in D1 (${fmt(d.subject.deliveries)} deliveries) | ` +
      `${fmt(d.subject.per_second)}/s (${fmt(d.subject.seconds, 1)} s; steady ${fmt(d.subject.sustained_per_second)}/s) | ` +
      `queue consumer that fetches and records each outcome as a D1 row (one statement per batch): ${fmt(d.fetch_and_record_baseline.per_second)}/s; ` +
      `that only fetches: ${fmt(d.queue_baseline.per_second)}/s; fetch loop, no queue: ${fmt(d.fetch_loop_baseline.per_second)}/s | ` +
      `${fmt(d.ratio_vs_fetch_and_record, 3)} (vs fetch only ${fmt(d.ratio_vs_queue_baseline, 3)}) | ${fmt(d.ratio_vs_fetch_and_record_wrangler_dev, 3)} (${fmt(d.ratio_vs_queue_baseline_wrangler_dev, 3)}) | ≥ ${d.target_ratio} of fetch and record: ${yes(d.ratio_vs_fetch_and_record >= d.target_ratio)} |`,
  ];
  const prof = d.subject.profile;
  if (prof && !prof.error)
    lines.push(
      `| 2 | CPU during the run (${fmt(prof.sampled_s, 1)} s sampled, ${prof.cores} cores: ${fmt(prof.machine_busy_share * 100)}% busy) | ` +
        prof.cores_used_by
          .filter((x) => x.cores >= 0.01)
          .map((x) => `${x.name} ${fmt(x.cores, 2)} cores`)
          .join(", ") +
        `; workerd's busiest thread (every isolate of the local pipeline) ${fmt(prof.workerd_busiest_thread.cores, 2)} | – | – | – | – |`,
    );
  lines.push(
    `| 3 | Fan-out: publish one event to ${fo.map((x) => fmt(x.endpoints)).join(" / ")} endpoints (median of 5) | ` +
      `${fo.map((x) => `${fmt(x.publish_ms_median)} ms`).join(" / ")}; D1 round trips ${fo.map((x) => x.d1_round_trips).join(" / ")}, ` +
      `statements ${fo.map((x) => x.d1_statements).join(" / ")}, queue calls ${fo.map((x) => x.queue_calls).join(" / ")} | – | – | – | ` +
      `round trips sub-linear: ${yes(flat)}; 1,000 in < 1 s: ${yes(largest.publish_ms_median < 1000)} |`,
    `| 4 | Publish \`POST /api/v1/events\` under load (1 delivery each) | ${lat(p.publish)} | bare JSON POST: ${lat(p.bare_post)} | ${fmt(p.publish.ratio, 2)} | ${fmt(p.ratio_wrangler_dev, 2)} | – |`,
    `| 5 | Cost per successful delivery (publish + consumer) | CPU: ${ms(r.cpu_ms_per_delivery)} (publish side ${ms(r.cpu_ms_per_delivery_publish_side)}, consumer side ${ms(r.cpu_ms_per_delivery_consumer_side)}); ` +
      `D1: ${fmt(ps.d1_round_trips + cs.d1_round_trips, 2)} round trips, ${fmt(ps.d1_statements + cs.d1_statements, 2)} statements, ` +
      `${fmt(ps.d1_rows_read + cs.d1_rows_read, 1)} rows read, ${fmt(ps.d1_rows_written + cs.d1_rows_written, 1)} rows written; ` +
      `queue: ${fmt(ps.queue_calls + cs.queue_calls, 2)} calls, ${fmt(c.queue_billed_operations_per_delivery, 0)} billed operations | ` +
      `CPU: ${ms(r.cpu_ms_per_baseline_delivery_fetch_and_record)} per delivery (queue consumer that fetches and records), ${ms(r.cpu_ms_per_baseline_delivery)} (that only fetches) | – | – | ` +
      `CPU ≤ ${fmt(r.cpu_ms_per_delivery_target, 1)} ms: ${yes(r.cpu_ms_per_delivery <= r.cpu_ms_per_delivery_target)} |`,
    `| 5 | Cost per admin request (GET one / list) | CPU: ${ms(r.cpu.miniflare.per_admin_get)} / ${ms(r.cpu.miniflare.per_admin_list)}; ` +
      `D1: ${fmt(c.per_request.get.d1_round_trips, 2)} / ${fmt(c.per_request.list.d1_round_trips, 2)} round trips, ${fmt(c.per_request.get.d1_rows_read, 1)} / ${fmt(c.per_request.list.d1_rows_read, 1)} rows read | ` +
      `CPU: ${ms(r.cpu.miniflare.baseline_per_d1_point_read)} / ${ms(r.cpu.miniflare.baseline_per_d1_page)} (the D1 read / page); ${ms(r.cpu_ms_per_baseline_request)} per bare route request | – | – | – |`,
  );
  return lines;
}

function wranglerDevDetail(r) {
  const a = r.admin_api.wrangler_dev;
  const d = r.delivery.wrangler_dev;
  const p = r.publish_latency.wrangler_dev;
  return [
    "The wrangler dev column (same run):",
    "",
    "| Measure | Ours (wrangler dev) | Baseline (wrangler dev) | Ratio |",
    "|---|---|---|---|",
    `| Admin GET one | ${lat(a.get)} | D1 read: ${lat(a.d1_point_read)}; bare: ${lat(a.bare)} | ${fmt(a.get.ratio_vs_d1_point_read, 2)} (${fmt(a.get.ratio, 2)}) |`,
    `| Admin list | ${lat(a.list)} | D1 page: ${lat(a.d1_page)} | ${fmt(a.list.ratio_vs_d1_page, 2)} (${fmt(a.list.ratio, 2)}) |`,
    `| Delivery throughput | ${fmt(d.subject.per_second)}/s (steady ${fmt(d.subject.sustained_per_second)}/s) | fetch and record: ${fmt(d.fetch_and_record_baseline.per_second)}/s; fetch only: ${fmt(d.queue_baseline.per_second)}/s; fetch loop: ${fmt(d.fetch_loop_baseline.per_second)}/s | ${fmt(d.ratio_vs_fetch_and_record, 3)} (${fmt(d.ratio_vs_queue_baseline, 3)}) |`,
    `| Publish under load | ${lat(p.publish)} | ${lat(p.bare_post)} | ${fmt(p.publish.ratio, 2)} |`,
  ];
}

function cpuTable(r) {
  const m = r.cpu.miniflare;
  const w = r.cpu.wrangler_dev;
  return [
    "CPU per unit of work: workerd's CPU time (all its threads, from /proc) divided by the work done. workerd also runs the local D1 and " +
      "queue simulation on the same thread, so these are upper bounds of what our Worker alone is billed.",
    "",
    "| CPU ms per … | Miniflare | wrangler dev |",
    "|---|---|---|",
    `| admin GET one request | ${ms(m.per_admin_get)} | ${ms(w.per_admin_get)} |`,
    `| admin list request | ${ms(m.per_admin_list)} | ${ms(w.per_admin_list)} |`,
    `| publish request (1 delivery; its delivery runs meanwhile) | ${ms(m.per_publish_request)} | ${ms(w.per_publish_request)} |`,
    `| delivery, publish + consumer | ${ms(m.per_delivery)} | ${ms(w.per_delivery)} |`,
    `| delivery, publish side (copy without a consumer) | ${ms(m.per_delivery_publish_side)} | – |`,
    `| delivery, consumer side (the difference) | ${ms(m.per_delivery_consumer_side)} | – |`,
    `| baseline: bare route request | ${ms(m.baseline_per_bare_get)} | ${ms(w.baseline_per_bare_get)} |`,
    `| baseline: one D1 row by primary key, as JSON | ${ms(m.baseline_per_d1_point_read)} | ${ms(w.baseline_per_d1_point_read)} |`,
    `| baseline: a D1 page of 20 and its count | ${ms(m.baseline_per_d1_page)} | ${ms(w.baseline_per_d1_page)} |`,
    `| baseline: bare JSON POST | ${ms(m.baseline_per_bare_post)} | ${ms(w.baseline_per_bare_post)} |`,
    `| baseline: delivery by the queue consumer that fetches and records | ${ms(m.baseline_per_delivery_fetch_and_record)} | ${ms(w.baseline_per_delivery_fetch_and_record)} |`,
    `| baseline: delivery by the queue consumer that only fetches | ${ms(m.baseline_per_delivery)} | ${ms(w.baseline_per_delivery)} |`,
  ];
}

function costDetail(r) {
  const c = r.cost;
  const ps = c.publish_side_per_delivery;
  const cs = c.consumer_side_per_delivery;
  const lines = [
    "Cost detail (instrumented copy of the Worker, D1's own `meta.rows_read` / `rows_written`):",
    "",
    "| Per … | D1 round trips | D1 statements | rows read | rows written | queue calls | queue messages |",
    "|---|---|---|---|---|---|---|",
    `| delivery, publish side | ${fmt(ps.d1_round_trips, 2)} | ${fmt(ps.d1_statements, 2)} | ${fmt(ps.d1_rows_read, 2)} | ${fmt(ps.d1_rows_written, 2)} | ${fmt(ps.queue_calls, 2)} | ${fmt(ps.queue_messages_sent, 2)} sent |`,
    `| delivery, consumer side | ${fmt(cs.d1_round_trips, 2)} | ${fmt(cs.d1_statements, 2)} | ${fmt(cs.d1_rows_read, 2)} | ${fmt(cs.d1_rows_written, 2)} | ${fmt(cs.queue_calls, 2)} | ${fmt(cs.queue_messages_received, 2)} received |`,
  ];
  for (const x of r.fan_out)
    lines.push(
      `| publish to ${fmt(x.endpoints)} endpoint(s) | ${x.d1_round_trips} | ${x.d1_statements} | ${fmt(x.d1_rows_read)} | ${fmt(x.d1_rows_written)} | ${x.queue_calls} | ${fmt(x.queue_messages)} sent |`,
    );
  for (const [name, x] of Object.entries(c.per_request))
    lines.push(
      `| admin ${name === "get" ? "GET one" : "list"} request | ${fmt(x.d1_round_trips, 2)} | ${fmt(x.d1_statements, 2)} | ${fmt(x.d1_rows_read, 1)} | ${fmt(x.d1_rows_written, 1)} | 0 | – |`,
    );
  const pb = c.consumer_per_batch;
  if (pb) {
    const sqlMs = c.d1_sql_ms_per_delivery.reduce((n, e) => n + e.ms_per_delivery, 0);
    lines.push(
      "",
      `One consumer invocation (a queue batch of ${fmt(pb.deliveries, 1)} deliveries) takes ${fmt(pb.handler_ms, 1)} ms, of which ${fmt(pb.d1_wait_ms, 1)} ms waiting on D1 ` +
        `and ${fmt(pb.outbound_ms_summed, 1)} ms of requests summed over ${r.queue.consumer_concurrency} at a time. ` +
        `D1's own time running the SQL (\`meta.duration\`) is ${fmt(sqlMs, 3)} ms per delivery.`,
    );
  }
  return lines;
}

/** 6. Isolation (`npm run bench -- --isolation`, a run of its own): healthy latency beside a timing-out receiver. */
function isolation(r) {
  const i = r.isolation;
  if (!i) return [];
  const row = (x) =>
    `| ${x.case} | ${fmt(x.healthy_p99_ms_alone)} ms (p50 ${fmt(x.healthy_p50_ms_alone)}) | ${fmt(x.healthy_p99_ms_beside_slow)} ms (p50 ${fmt(x.healthy_p50_ms_beside_slow)}) | ${fmt(x.ratio, 2)} | ≤ ${x.target_ratio}: ${yes(x.ratio <= x.target_ratio)} | ${x.slow_first_attempts_arrived}/${x.slow_deliveries} (p99 ${fmt(x.slow_first_attempt_p99_ms)} ms); ${x.slow_first_attempts_recorded}/${x.slow_deliveries} |`;
  return [
    `Isolation (\`npm run bench -- --isolation\`, Miniflare, ${i.finished_at.slice(0, 16).replace("T", " ")} UTC, ${i.duration_s} s, load average ${i.machine.load_average_at_start.join(" ")} at start): ` +
      `${i.settings.events} events published at once, ${i.settings.rounds} round(s) of each condition on fresh webhooks; the slow receiver answers after ${fmt(i.settings.slow_answer_after_ms / 1000)} s, past the ${fmt(i.settings.delivery_timeout_ms / 1000)} s timeout.`,
    "",
    "| Case | Healthy p99, publish → receipt, alone | … beside the slow webhook | Ratio | Target | Slow deliveries: first attempts arrived (by the last healthy one); recorded |",
    "|---|---|---|---|---|---|",
    row(i),
    row(i.twenty_webhooks),
  ];
}

/** 7. Rate limit (`npm run bench -- --rate-limit`, a run of its own): requests at the receiver under a webhook's limit. */
function rateLimit(r) {
  const l = r.rate_limit;
  if (!l) return [];
  const row = (x) =>
    `| ${x.events} at ${x.limit}/s | ${x.most_in_any_second} (≤ ${x.allowed_in_any_second}: ${yes(x.most_in_any_second <= x.allowed_in_any_second)}) | ${x.per_second.join(", ")} | ${x.gap_ms.min} / ${x.gap_ms.p50} / ${x.gap_ms.p95} / ${x.gap_ms.max} ms (pace ${x.pace_ms}) | ${fmt(x.duration_s)} s (least ${fmt(x.least_duration_s)} s) | ${x.attempts} for ${x.deliveries_succeeded} |`;
  return [
    `Rate limit (\`npm run bench -- --rate-limit\`, Miniflare, ${l.finished_at.slice(0, 16).replace("T", " ")} UTC, ${l.duration_s} s, load average ${l.machine.load_average_at_start.join(" ")} at start): ` +
      `each case's events published at once (${l.settings.publishers} publishers) to a fresh webhook with that rate_limit; arrival times at the receiver.`,
    "",
    "| Burst | Most in any second | Requests in each second from the first | Gap between requests: min / p50 / p95 / max | First to last | Attempts |",
    "|---|---|---|---|---|---|",
    ...RATE_LIMIT_KEYS.filter((k) => l[k]).map((k) => row(l[k])),
  ];
}
const RATE_LIMIT_KEYS = ["limit_20", "limit_100"];

export function renderMarkdown(r) {
  return [
    ...header(r),
    "",
    ...summary(r),
    "",
    ...cpuTable(r),
    "",
    ...wranglerDevDetail(r),
    "",
    ...costDetail(r),
    ...(r.isolation ? ["", ...isolation(r)] : []),
    ...(r.rate_limit ? ["", ...rateLimit(r)] : []),
  ].join("\n");
}

const side = (owner) => (isRuntime(owner) ? "runtime" : "ours");

/** One profiled isolate: ours against the runtime's, by owner, then the top functions by self time. */
function isolateTables(isolate, unit) {
  const per = (x) => fmt(x.ms_per_unit, 3);
  const pct = (x) => `${fmt(x.share * 100, 1)}%`;
  const [ours, runtime] = isolate.by_side;
  return [
    `Of the isolate's busy time, **ours** (src/ and the packages we bundle) ${per(ours)} ms per ${unit} (${pct(ours)}), ` +
      `**the runtime's** (workerd's bindings, V8's builtins and natives, GC) ${per(runtime)} ms (${pct(runtime)}).`,
    "",
    `| Owner | Side | ms per ${unit} | Share |`,
    "|---|---|---|---|",
    ...isolate.by_owner
      .filter((o) => o.share >= 0.001)
      .map((o) => `| ${o.name} | ${side(o.name)} | ${per(o)} | ${pct(o)} |`),
    "",
    `| # | Function (self time) | Where | Side | ms per ${unit} | Share |`,
    "|---|---|---|---|---|---|",
    ...isolate.top.map(
      (f, i) =>
        `| ${i + 1} | \`${f.function.replace(/\|/g, "\\|")}\` | ${f.at ? `\`${f.at}\`` : "–"} (${f.owner}) | ${side(f.owner)} | ${per(f)} | ${pct(f)} |`,
    ),
  ];
}

const ISOLATE_ROLES = {
  worker: "**the Worker's own isolate**",
  "d1:db": "the local D1's Durable Object (SQLite, and the JSON of every statement and result)",
  "d1:db:entry": "the Worker in front of the local D1",
  "core:entry": "Miniflare's entry Worker (every request crosses it)",
  "outbound:0": "Miniflare's outbound service (every fetch crosses it)",
  "queues:queue": "the local queue broker",
};

/**
 * Where workerd's CPU per unit went, ours beside the floor's (the baseline doing the least the job needs): each
 * isolate's busy time, and what is left outside them; the last column is our extra.
 */
function isolateSplit(ours, floor, unit, floorName, intervalUs) {
  const names = [...new Set([...Object.keys(ours.isolates), ...Object.keys(floor.isolates)])]
    .filter((n) => Math.max(ours.isolates[n] ?? 0, floor.isolates[n] ?? 0) >= 0.001)
    .sort((a, b) => (ours.isolates[b] ?? 0) - (ours.isolates[a] ?? 0));
  const outside = (x) => x.workerd_cpu_ms_per_unit - Object.values(x.isolates).reduce((n, ms) => n + ms, 0);
  const row = (label, a, b) => `| ${label} | ${fmt(a, 3)} | ${fmt(b, 3)} | ${fmt(a - b, 3)} |`;
  return [
    `| workerd's CPU, ms per ${unit} (every isolate sampled each ${fmt(intervalUs / 1000, 0)} ms) | Ours | ${floorName} | Ours − floor |`,
    "|---|---|---|---|",
    ...names.map((n) => row(ISOLATE_ROLES[n] ?? `\`${n}\``, ours.isolates[n] ?? 0, floor.isolates[n] ?? 0)),
    row("workerd outside every isolate (HTTP, sockets, timers, locks, scheduling)", outside(ours), outside(floor)),
    row("**workerd in all (/proc, every thread)**", ours.workerd_cpu_ms_per_unit, floor.workerd_cpu_ms_per_unit),
  ];
}

/**
 * Our extra CPU over the floors, per unit, summed over `parts` (jobs profiled over every isolate beside their floor):
 * our JavaScript (the profile of our isolate alone: src/ and the packages we bundle), the rest of our isolate's extra,
 * the local D1, Miniflare's other Workers (entry, outbound, queue brokers), and workerd outside every isolate.
 */
function extraOverFloors(parts) {
  const sum = (f) => parts.reduce((n, x) => n + f(x), 0);
  const busy = (split, pick) => Object.entries(split.isolates).reduce((n, [name, ms]) => n + (pick(name) ? ms : 0), 0);
  const extra = (pick) => sum((x) => busy(x.split, pick) - busy(x.floor_split, pick));
  const all = sum((x) => x.split.workerd_cpu_ms_per_unit - x.floor_split.workerd_cpu_ms_per_unit);
  const isolate = extra((n) => n === "worker");
  const d1 = extra((n) => n.startsWith("d1:"));
  const ourJs = sum((x) => x.worker.by_side.find((side) => side.name === "ours").ms_per_unit);
  return {
    ourJs,
    restOfIsolate: isolate - ourJs,
    d1,
    miniflare: extra((n) => n !== "worker" && !n.startsWith("d1:")),
    outside: all - extra(() => true),
    all,
  };
}

/** Whose is our extra over each floor: ours (our JavaScript) or the runtime's, per delivery and per admin request. */
function extraTable(p) {
  const columns = [
    ["Delivery (consumer + publishing), ms per delivery", [p.consumer, p.publish]],
    ["Admin `GET`, ms per request", [p.admin_get]],
    ["Admin list, ms per request", [p.admin_list]],
  ].filter(([, parts]) => parts.every((x) => x?.split && x.floor_split));
  if (columns.length === 0) return [];
  const extras = columns.map(([, parts]) => extraOverFloors(parts));
  const row = (label, side, key) => `| ${label} | ${side} | ${extras.map((e) => fmt(e[key], 3)).join(" | ")} |`;
  return [
    "**Our extra CPU over each floor, and whose it is** (workerd's CPU over every isolate, ours minus the floor's; our " +
      "JavaScript from the profile of our isolate alone):",
    "",
    `| Extra over the floor | Side | ${columns.map(([name]) => name).join(" | ")} |`,
    `|---|---|${columns.map(() => "---|").join("")}`,
    row(
      "our JavaScript in our isolate (src/ and the packages we bundle; the floor's own is not taken off)",
      "ours",
      "ourJs",
    ),
    row(
      "the rest of our isolate's extra (V8's builtins and natives, workerd's bindings, GC)",
      "runtime",
      "restOfIsolate",
    ),
    row(
      "the local D1 (SQLite in a Durable Object, and the Worker in front of it) running our statements",
      "runtime",
      "d1",
    ),
    row("Miniflare's entry and outbound Workers, the queue brokers", "runtime", "miniflare"),
    row("workerd outside every isolate (HTTP, sockets, timers, scheduling)", "runtime", "outside"),
    row("**all of our extra**", "", "all"),
    `| **ours, as a share of the extra** | | ${extras.map((e) => (e.all > 0 ? `${fmt((e.ourJs / e.all) * 100)}%` : "–")).join(" | ")} |`,
    "",
  ];
}

/** The tables of `npm run bench -- --profile` (bench/profile.json), as docs/performance.md shows them. */
export function renderProfile(p) {
  const alone = (x, unit) =>
    `Our isolate profiled alone (a sample every ${fmt(x.worker.sampler_tick_us)} µs): busy ${fmt(x.worker.busy_ms_per_unit, 3)} ms per ${unit}, ` +
    `of workerd's ${fmt(x[`workerd_cpu_ms_per_${unit}`], 3)} ms.`;
  const section = (title, x, unit, floorName) => [
    `${title} ${alone(x, unit)}`,
    "",
    ...isolateTables(x.worker, unit),
    ...(x.split ? ["", ...isolateSplit(x.split, x.floor_split, unit, floorName, p.split_sampling_interval_us)] : []),
    "",
  ];
  const c = p.consumer;
  return [
    `Profile of ${p.finished_at.slice(0, 16).replace("T", " ")} UTC (\`npm run bench -- --profile\`, Miniflare; ` +
      `load average ${p.machine.load_average_at_start.join(" ")} at start, ${p.load_average_at_end.join(" ")} at end).`,
    "",
    ...extraTable(p),
    ...section(
      `**The consumer**: ${fmt(c.deliveries)} deliveries, published before the profile began (${fmt(c.recorded_when_stopped)} recorded by its end).`,
      c,
      "delivery",
      "Floor: fetch and record",
    ),
    ...section(
      `**The admin GET**: ${fmt(p.admin_get.requests)} requests (${fmt(p.admin_get.rps)} req/s, RS256 token, one D1 round trip).`,
      p.admin_get,
      "request",
      "Floor: D1 point read",
    ),
    ...section(
      `**The admin list** (a page of 20 of 25): ${fmt(p.admin_list.requests)} requests (${fmt(p.admin_list.rps)} req/s).`,
      p.admin_list,
      "request",
      "Floor: D1 page",
    ),
    ...section(
      `**Publishing** the consumer's events (${fmt(p.publish.deliveries)} deliveries, 20 webhooks an event, 4 publishes at a time), the queue's consumer held back.`,
      p.publish,
      "delivery",
      "Floor: enqueue",
    ),
  ]
    .join("\n")
    .trimEnd();
}

const PROFILE_START = "<!-- profile tables: written by `npm run bench -- --profile` -->";
const PROFILE_END = "<!-- end of profile tables -->";

/** docs/performance.md with the profile tables between their markers replaced by `markdown`. */
export function withProfileTables(doc, markdown) {
  const from = doc.indexOf(PROFILE_START);
  const to = doc.indexOf(PROFILE_END);
  if (from === -1 || to < from) throw new Error("docs/performance.md lacks the profile tables' markers");
  return `${doc.slice(0, from + PROFILE_START.length)}\n\n${markdown}\n\n${doc.slice(to)}`;
}
