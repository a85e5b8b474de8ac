// The cron jobs and the record of their runs: one job_runs row per job, updated in place when a run starts and when it
// ends (two small writes a run), so the health check and the operations view can tell a job that runs from one that
// stopped, never started or keeps failing.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { type JobOutcome, type JobRunRow, jobRuns } from "../db/schema";

const MINUTE_MS = 60_000;

/** Every cron job: its name, the cron expression that runs it ([triggers] in wrangler.toml) and that expression's period. */
export const SCHEDULED_JOBS = [
  { name: "retry_sweep", cron: "* * * * *", periodMs: MINUTE_MS },
  { name: "storage", cron: "*/3 * * * *", periodMs: 3 * MINUTE_MS },
  { name: "secret_reencryption", cron: "17 3 * * *", periodMs: 24 * 60 * MINUTE_MS },
] as const;
export type ScheduledJob = (typeof SCHEDULED_JOBS)[number];
export type JobName = ScheduledJob["name"];

export const jobOfCron = (cron: string): ScheduledJob | undefined => SCHEDULED_JOBS.find((job) => job.cron === cron);

/** A job that has not completed a run for this many of its periods is overdue. */
const OVERDUE_AFTER_PERIODS = 3;

/**
 * Whether `job` has gone more than three periods without a successful run: counted from its last success, or, if it
 * never succeeded, from when it was registered. A job with no row (no cron has run since the deploy) is not overdue.
 */
export function isOverdue(
  job: ScheduledJob,
  run: Pick<JobRunRow, "registeredAt" | "lastSucceededAt"> | undefined,
  now: number,
) {
  const since = run?.lastSucceededAt ?? run?.registeredAt;
  return since != null && now - since > OVERDUE_AFTER_PERIODS * job.periodMs;
}

/**
 * Records that `name` started. Registers every other job at the same time (a row each, only where missing: nothing is
 * written once they exist), so a job whose cron never fires is noticed from the first run of any cron after a deploy.
 */
export async function recordJobStart(db: Database, name: JobName, now: number): Promise<void> {
  await db.batch([
    db
      .insert(jobRuns)
      .values({ name, registeredAt: now, lastStartedAt: now })
      .onConflictDoUpdate({ target: jobRuns.name, set: { lastStartedAt: now } }),
    db
      .insert(jobRuns)
      .values(SCHEDULED_JOBS.map((job) => ({ name: job.name, registeredAt: now })))
      .onConflictDoNothing(),
  ]);
}

/** Records how a run of `name` ended; a failure keeps the last success, so overdue counts from it. */
export async function recordJobFinish(
  db: Database,
  name: JobName,
  now: number,
  outcome: JobOutcome,
  errorClass: string | null = null,
): Promise<void> {
  await db
    .update(jobRuns)
    .set({
      lastFinishedAt: now,
      lastOutcome: outcome,
      lastErrorClass: errorClass,
      lastSucceededAt: outcome === "succeeded" ? now : sql`${jobRuns.lastSucceededAt}`,
    })
    .where(sql`${jobRuns.name} = ${name}`);
}

/**
 * A thrown error's class, short and free of its message (which may carry ids or SQL): `d1` for D1's own errors
 * (`D1_ERROR…`, `D1_EXEC_ERROR…`, also when drizzle wraps them as the `cause` of its query error), otherwise the
 * error's name in snake case (`error`, `type_error`, `range_error`).
 */
export function jobErrorClass(err: unknown): string {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++)
    if (/^D1_[A-Z_]*ERROR/.test(e.message)) return "d1";
  const name = err instanceof Error ? err.name : typeof err;
  const snake = name
    .replace(/[^A-Za-z0-9]+/g, "_")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/^_+|_+$/g, "")
    .slice(0, 40);
  return snake || "error";
}
