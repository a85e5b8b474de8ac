// CPU time from /proc: what workerd spends on a piece of work (the figure Workers bills is the isolate's CPU time), and
// where the machine's CPU goes during the throughput run. Linux only; elsewhere the figures are null.
//
// workerd runs every isolate of a local Worker on one thread: ours, and Miniflare's D1 and queue Durable Objects (with
// SQLite). Its CPU is therefore an upper bound of what our Worker alone would be billed.

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { sleep } from "../scripts/lib/cli.mjs";

const TICK_MS = 10; // /proc/<pid>/stat's utime and stime are in clock ticks of 1/100 s

/** CPU milliseconds of each thread of `pid`: schedstat's nanoseconds when the kernel has it, else stat's ticks. */
function threadCpuMs(pid) {
  const threads = {};
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const base = `/proc/${pid}/task/${tid}`;
      try {
        const sched = readFileSync(`${base}/schedstat`, "utf8").split(" ");
        threads[tid] = Number(sched[0]) / 1e6;
      } catch {
        const stat = readFileSync(`${base}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        threads[tid] = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
      }
    }
  } catch {} // exited
  return threads;
}

/** Processes of process group `pgid`, as { pid, comm }. */
function groupMembers(pgid) {
  return spawnSync("ps", ["-eo", "pid=,pgid=,comm="], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter(([, group]) => Number(group) === pgid)
    .map(([pid, , comm]) => ({ pid, comm }));
}

const supported = existsSync("/proc/self/task");

/**
 * A meter of the CPU the workerd processes of `worker` (its process group) use: `start()`, then `stop()` answers
 * { cpu_ms, busiest_thread_ms } since the start (null off Linux).
 */
export function workerdCpuMeter(worker) {
  let pids = [];
  let before = null;
  const snapshot = () => Object.fromEntries(pids.map((pid) => [pid, threadCpuMs(pid)]));
  return {
    start() {
      if (!supported) return;
      pids = groupMembers(worker.child.pid)
        .filter((m) => m.comm === "workerd")
        .map((m) => m.pid);
      before = snapshot();
    },
    stop() {
      if (!supported || !before) return { cpu_ms: null, busiest_thread_ms: null };
      const after = snapshot();
      let total = 0;
      let busiest = 0;
      for (const pid of pids)
        for (const [tid, ms] of Object.entries(after[pid] ?? {})) {
          const used = ms - (before[pid]?.[tid] ?? 0);
          total += used;
          busiest = Math.max(busiest, used);
        }
      return { cpu_ms: total, busiest_thread_ms: busiest };
    },
  };
}

/** `fn()`'s result, with the CPU `worker`'s workerd used meanwhile as `cpu_ms` (and `busiest_thread_ms`). */
export async function withWorkerdCpu(worker, fn) {
  const meter = workerdCpuMeter(worker);
  meter.start();
  const result = await fn();
  return { ...result, ...meter.stop() };
}

/**
 * Where the machine's CPU goes for `ms`: CPU time of each process taking part (from /proc), and of workerd's busiest
 * thread, which runs every isolate of the local pipeline (our Worker, Miniflare's D1 and queue Durable Objects) in
 * turn. `processes`: [{ name, pgid } | { name, pid }].
 */
export async function cpuDuring(processes, ms) {
  const tracked = processes.flatMap(({ name, pgid, pid }) =>
    pgid
      ? groupMembers(pgid).map((m) => ({
          name: `${name} ${m.comm === "workerd" ? "workerd" : "host (node)"}`,
          pid: m.pid,
        }))
      : [{ name, pid: String(pid) }],
  );
  const machine = () => readFileSync("/proc/stat", "utf8").split("\n")[0].split(/\s+/).slice(1).map(Number);
  const machineBefore = machine();
  const before = tracked.map((t) => threadCpuMs(t.pid));
  const started = performance.now();
  await sleep(ms);
  const wallMs = performance.now() - started;
  const machineAfter = machine();
  const byName = {};
  let busiestThread = { name: null, ms: 0 };
  tracked.forEach((t, i) => {
    for (const [tid, cpuMs] of Object.entries(threadCpuMs(t.pid))) {
      const threadMs = cpuMs - (before[i][tid] ?? 0);
      byName[t.name] = (byName[t.name] ?? 0) + threadMs;
      if (t.name.endsWith("workerd") && threadMs > busiestThread.ms) busiestThread = { name: t.name, ms: threadMs };
    }
  });
  const [user, nice, system, idle, iowait] = machineAfter.map((v, i) => v - machineBefore[i]);
  const total = machineAfter.reduce((a, b) => a + b, 0) - machineBefore.reduce((a, b) => a + b, 0);
  return {
    sampled_s: wallMs / 1000,
    cores: cpus().length,
    machine_busy_share: total > 0 ? (user + nice + system) / total : null,
    machine_idle_share: total > 0 ? (idle + iowait) / total : null,
    cores_used_by: Object.entries(byName)
      .map(([name, cpuMs]) => ({ name, cores: cpuMs / wallMs }))
      .sort((a, b) => b.cores - a.cores),
    workerd_busiest_thread: { process: busiestThread.name, cores: busiestThread.ms / wallMs },
  };
}
