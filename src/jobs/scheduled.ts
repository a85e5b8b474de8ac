// One scheduled handler: each cron expression in wrangler.toml routes to its job (domain/job-runs names them), and
// every run is recorded in job_runs: its start, its end and how it ended.

import { runStorage } from "../domain/archive/storage-job";
import { sweepDueDeliveries } from "../domain/delivery/sweep";
import { type JobName, jobErrorClass, jobOfCron, recordJobFinish, recordJobStart } from "../domain/job-runs";
import { purgeExpiredPortalSessions } from "../domain/portal-sessions";
import { continueRecoveries } from "../domain/recovery";
import { reencryptSecrets } from "../domain/reencrypt-secrets";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

const JOBS: Record<JobName, (services: Services) => Promise<unknown>> = {
  retry_sweep: async (services) => {
    await sweepDueDeliveries(services);
    await continueRecoveries(services); // large recovers and replays, a chunk at a time
  },
  storage: runStorage,
  secret_reencryption: async (services) => {
    await reencryptSecrets(services); // legacy plaintext rows and rows under a retired master key
    await purgeExpiredPortalSessions(services.db, services.now());
  },
};

export async function runScheduled(cron: string, services: Services): Promise<void> {
  const job = jobOfCron(cron);
  if (!job) {
    logger.warn("no job for cron expression", { cron });
    return;
  }
  const started = Date.now();
  // The record is bookkeeping: a write that fails is logged, and never stops the job itself.
  const record = (write: Promise<void>) =>
    write.catch((err) => logger.warn("job run not recorded", { job: job.name, error: String(err) }));
  await record(recordJobStart(services.db, job.name, services.now()));
  try {
    await JOBS[job.name](services);
  } catch (err) {
    // Every job is idempotent and resumable: the next run picks up where this one stopped.
    const errorClass = jobErrorClass(err);
    logger.error("scheduled job failed", { cron, job: job.name, error_class: errorClass, error: String(err) });
    await record(recordJobFinish(services.db, job.name, services.now(), "failed", errorClass));
    throw err;
  }
  await record(recordJobFinish(services.db, job.name, services.now(), "succeeded"));
  logger.info("scheduled job", { cron, job: job.name, duration_ms: Date.now() - started });
}
