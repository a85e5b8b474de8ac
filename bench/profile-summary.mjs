// A V8 CPU profile (Profiler.stop's Profile) summed up: self time per function, each placed in the module it comes
// from (the bundle's esbuild module comments: `// src/…` is ours, `// …/node_modules/<package>/…` a dependency's),
// and by owner: our code, each dependency, the runtime's JavaScript APIs and V8's builtins, garbage collection; and by
// side, ours (our code and the packages we bundle) or the runtime's.

const SPECIAL = new Set(["(root)", "(program)", "(idle)", "(garbage collector)"]);

/**
 * The bundle's module map: [line, module] pairs, sorted by line, from esbuild's `// <path>` comment before each module.
 * A dependency's path is cut to `<package>/<file>`.
 */
export function bundleModules(source) {
  const modules = [];
  source.split("\n").forEach((line, i) => {
    const m = /^\/\/ ((?:\.\.\/)*[\w@./-]+\.(?:[cm]?js|ts))$/.exec(line);
    if (!m) return;
    const path = m[1];
    const dependency = path.lastIndexOf("node_modules/");
    modules.push([i, dependency === -1 ? path : path.slice(dependency + "node_modules/".length)]);
  });
  return modules;
}

/** The module a 0-based line of the bundle belongs to. */
function moduleAt(modules, line) {
  let lo = 0;
  let hi = modules.length - 1;
  let found = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (modules[mid][0] <= line) {
      found = modules[mid][1];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

const packageOf = (module) => {
  const parts = module.split("/");
  return module.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
};

/** Who a frame's code belongs to, and where it is. */
function placeOf(frame, bundle) {
  const { functionName, url, lineNumber } = frame;
  if (SPECIAL.has(functionName)) return { owner: functionName === "(garbage collector)" ? "GC" : functionName, at: "" };
  if (!url) return { owner: "runtime: V8 builtins and native", at: "(native)" };
  if (bundle && (url === bundle.url || url.endsWith(`/${bundle.name}`) || url === bundle.name)) {
    const module = moduleAt(bundle.modules, lineNumber);
    // Before the first module: esbuild's helpers (__name, __defProp…), of our build.
    if (module === null) return { owner: "esbuild's helpers", at: `bundle:${lineNumber + 1}` };
    if (module.startsWith("src/")) return { owner: "ours (src/)", at: `${module}` };
    if (module.startsWith("bench/") || module.startsWith("scripts/")) return { owner: "bench", at: module };
    return { owner: packageOf(module), at: module };
  }
  return { owner: "runtime: workerd's JavaScript", at: url.replace(/^.*\/\//, "") };
}

/**
 * Whether an owner's code is ours (src/, the packages we bundle, the bundle's helpers) or the runtime's (workerd's
 * JavaScript bindings for D1, fetch and queues, V8's builtins and natives, garbage collection, V8's own work).
 */
export const isRuntime = (owner) => owner.startsWith("runtime: ") || owner === "GC" || owner === "(program)";

/** The sampler's real tick: the median gap between consecutive samples near the interval asked for. */
function samplerTick(deltas, intervalUs) {
  const near = deltas.filter((d) => d >= intervalUs / 2 && d <= intervalUs * 2).sort((a, b) => a - b);
  return near.length >= 10 ? near[near.length >> 1] : intervalUs;
}

/**
 * Self time per function of `profile`, and per owner. `units`: the work done meanwhile (deliveries, requests), for
 * per-unit figures; `intervalUs`: the sampling interval; `bundle`: { url?, name, modules } to place the bundle's frames.
 */
export function summarizeProfile(profile, { units, intervalUs, bundle, top = 15 }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // V8 samples only while workerd holds this isolate's lock (running it), so the time between two samples includes
  // whatever ran meanwhile elsewhere: each sample stands for one tick of the sampler instead. The tick is longer than
  // the interval asked for (the sampler's own work); the gaps between consecutive samples are multiples of it.
  const tickUs = samplerTick(profile.timeDeltas, intervalUs);
  const selfUs = new Map();
  for (const id of profile.samples) selfUs.set(id, (selfUs.get(id) ?? 0) + tickUs);
  const functions = new Map();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id).callFrame;
    totalUs += us;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const name = frame.functionName || "(anonymous)";
    const key = `${name}\n${frame.url}\n${frame.lineNumber}\n${frame.columnNumber}`;
    const entry = functions.get(key) ?? { function: name, ...placeOf(frame, bundle), line: frame.lineNumber, us: 0 };
    entry.us += us;
    functions.set(key, entry);
  }
  const busyUs = totalUs - idleUs;
  const row = (name, us, extra = {}) => ({
    ...extra,
    ...(name === null ? {} : { name }),
    self_ms: us / 1000,
    share: busyUs > 0 ? us / busyUs : null,
    ms_per_unit: units > 0 ? us / 1000 / units : null,
  });
  const owners = new Map();
  for (const f of functions.values()) owners.set(f.owner, (owners.get(f.owner) ?? 0) + f.us);
  return {
    sampler_tick_us: tickUs,
    sampled_ms: totalUs / 1000,
    busy_ms: busyUs / 1000,
    units,
    busy_ms_per_unit: units > 0 ? busyUs / 1000 / units : null,
    by_owner: [...owners].sort((a, b) => b[1] - a[1]).map(([owner, us]) => row(owner, us)),
    by_side: ["ours", "runtime"].map((side) =>
      row(
        side,
        [...owners].filter(([owner]) => isRuntime(owner) === (side === "runtime")).reduce((n, [, us]) => n + us, 0),
      ),
    ),
    top: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => row(null, f.us, { function: f.function, owner: f.owner, at: f.at })),
  };
}
