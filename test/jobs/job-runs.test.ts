// Every cron run is recorded in job_runs (start, finish, outcome, error class), one row per job updated in place; the
// jobs named in code are exactly the crons wrangler.toml triggers.
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { interceptD1 } from "../../scripts/lib/d1-intercept";
import { createDb } from "../../src/db/client";
import { jobErrorClass, SCHEDULED_JOBS } from "../../src/domain/job-runs";
import worker from "../../src/index";
import { runScheduled } from "../../src/jobs/scheduled";
import wranglerToml from "../../wrangler.toml?raw";
import { keepingQueue, servicesAt } from "../helpers/pipeline";
import { shardD1s } from "../helpers/shards";

const jobRuns = async () =>
  (await env.DB.prepare("SELECT * FROM job_runs ORDER BY name").all<Record<string, unknown>>()).results;
const jobRun = async (name: string) => (await jobRuns()).find((r) => r.name === name);

beforeEach(async () => {
  await env.DB.prepare("DELETE FROM job_runs").run();
});
afterEach(() => vi.restoreAllMocks());

describe("the scheduled jobs", () => {
  it("are exactly the crons of wrangler.toml's [triggers]", () => {
    const crons = /^crons\s*=\s*\[(.*)\]/m.exec(wranglerToml)?.[1]?.match(/"[^"]+"/g);
    expect(crons?.map((c) => JSON.parse(c) as string).sort()).toEqual(SCHEDULED_JOBS.map((job) => job.cron).sort());
  });
});

describe("a cron run", () => {
  it("through the Worker's scheduled handler records its start and its successful finish", async () => {
    const before = Date.now();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/3 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const run = await jobRun("storage");
    expect(run).toMatchObject({ last_outcome: "succeeded", last_error_class: null });
    expect(run!.last_started_at).toBeGreaterThanOrEqual(before);
    expect(run!.last_finished_at).toBeGreaterThanOrEqual(run!.last_started_at as number);
    expect(run!.last_succeeded_at).toBe(run!.last_finished_at);
    // The first run of any job registers them all, from then on.
    expect((await jobRuns()).map((r) => [r.name, r.registered_at])).toEqual(
      SCHEDULED_JOBS.map((job) => [job.name, run!.registered_at]).sort(),
    );
  });

  it("that throws is recorded as failed with its error class, keeps the last success, and still throws", async () => {
    const clock = { now: 1_000_000 };
    await runScheduled("*/3 * * * *", servicesAt(clock));
    clock.now += 180_000;
    const broken = interceptD1(env.DB, {
      statement: (_op, statement, _args, call) =>
        (statement as unknown as { statement: string }).statement.includes("FROM events")
          ? Promise.reject(new Error("D1_ERROR: no such table: events: SQLITE_ERROR"))
          : call(),
    });
    await expect(runScheduled("*/3 * * * *", servicesAt(clock, { db: createDb(broken) }))).rejects.toThrow(
      /no such table/,
    );
    expect(await jobRun("storage")).toMatchObject({
      last_started_at: 1_180_000,
      last_finished_at: 1_180_000,
      last_outcome: "failed",
      last_error_class: "d1",
      last_succeeded_at: 1_000_000,
    });
  });

  it("writes one job_runs row when it starts and one when it ends; registering the others writes nothing more", async () => {
    const clock = { now: Date.now() };
    const run = () => runScheduled("* * * * *", servicesAt(clock, { queue: keepingQueue(clock).queue }));
    await run(); // the first run registers every job
    let written = 0;
    const counting = interceptD1(env.DB, {
      statement: async (_op, statement, _args, call) => {
        const result = (await call()) as D1Result;
        if ((statement as unknown as { statement: string }).statement.includes("job_runs"))
          written += result.meta.rows_written;
        return result;
      },
      batch: async (statements, call) => {
        const results = await call();
        statements.forEach((s, i) => {
          if ((s as unknown as { statement: string }).statement.includes("job_runs"))
            written += results[i]!.meta.rows_written;
        });
        return results;
      },
    });
    await runScheduled("* * * * *", servicesAt(clock, { db: createDb(counting), queue: keepingQueue(clock).queue }));
    expect(written).toBe(2);
    expect(await jobRuns()).toHaveLength(SCHEDULED_JOBS.length);
  });

  it("of a cron no job has is logged, and recorded nowhere", async () => {
    const warnings: string[] = [];
    vi.spyOn(console, "warn").mockImplementation((line: string) => void warnings.push(line));
    await runScheduled("*/7 * * * *", servicesAt({ now: Date.now() }));
    expect(warnings.map((l) => JSON.parse(l))).toEqual([
      { level: "warn", msg: "no job for cron expression", cron: "*/7 * * * *" },
    ]);
    expect(await jobRuns()).toEqual([]);
  });

  it("runs its job even when its start cannot be recorded", async () => {
    const clock = { now: Date.now() };
    const noJobRuns = interceptD1(env.DB, {
      batch: (statements, call) =>
        statements.some((s) => (s as unknown as { statement: string }).statement.includes("job_runs"))
          ? Promise.reject(new Error("D1_ERROR: overloaded"))
          : call(),
    });
    const queue = keepingQueue(clock);
    await runScheduled("* * * * *", servicesAt(clock, { db: createDb(noJobRuns), queue: queue.queue }));
    expect(queue.take()).toHaveLength(shardD1s().length); // the sweep ran in every shard and each sent its probe
  });
});

describe("an error's class", () => {
  it.each([
    [new Error("D1_ERROR: database is unavailable"), "d1"],
    [new Error("D1_EXEC_ERROR: Error in line 1"), "d1"],
    [new Error("Failed query: SELECT 1", { cause: new Error("D1_ERROR: overloaded") }), "d1"],
    [new TypeError("x is not a function"), "type_error"],
    [new RangeError("too far"), "range_error"],
    [new Error("anything at all"), "error"],
    ["a string", "string"],
  ])("%s → %s", (err, errorClass) => {
    expect(jobErrorClass(err)).toBe(errorClass);
  });
});
