// One scheduled handler: each cron expression in wrangler.toml routes to its job (domain/job-runs names them), and
// every run is recorded in job_runs (in shard 0): its start, its end and how it ended. Every job works in every shard
// (db/shards.ts forEachShard), each within its share of the job's time box, so a slow shard never starves the others.

import { forEachShard } from "../db/shards";
import { runStorage, STORAGE_BUDGET_MS } from "../domain/archive/storage-job";
import { SWEEP_BUDGET_MS, sweepDueDeliveries } from "../domain/delivery/sweep";
import { type JobName, jobErrorClass, jobOfCron, recordJobFinish, recordJobStart } from "../domain/job-runs";
import { sweepPartnerShares } from "../domain/partner-fanout";
import { purgeExpiredPortalSessions } from "../domain/portal-sessions";
import { continueRecoveries, RECOVERY_TIME_BOX_MS } from "../domain/recovery";
import { reencryptSecrets } from "../domain/reencrypt-secrets";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

/** Part of a shard's sweep share that partner shares may use first (they are few: only what a publish left). */
const PARTNER_SHARES_PART = 0.25;

const JOBS: Record<JobName, (services: Services, turn: number) => Promise<unknown>> = {
  retry_sweep: async (services, turn) => {
    const sweepFailure = await forEachShard(services, SWEEP_BUDGET_MS, turn, async (shard, budgetMs) => {
      const started = Date.now();
      // A partner's shard that is down holds back its shares, never this shard's own sweep.
      const sharesFailure = await sweepPartnerShares(shard, {
        deadline: started + budgetMs * PARTNER_SHARES_PART,
      }).then(
        () => null,
        (err: unknown) => ({ err }),
      );
      await sweepDueDeliveries(shard, { budgetMs: Math.max(1000, started + budgetMs - Date.now()) });
      if (sharesFailure) throw sharesFailure.err;
    }).then(
      () => null,
      (err: unknown) => ({ err }),
    );
    // Large recovers and replays, a chunk at a time, even when a shard's sweep failed.
    await forEachShard(services, RECOVERY_TIME_BOX_MS, turn, (shard, timeBoxMs) =>
      continueRecoveries(shard, { timeBoxMs }),
    );
    if (sweepFailure) throw sweepFailure.err;
  },
  storage: (services, turn) =>
    forEachShard(services, STORAGE_BUDGET_MS, turn, (shard, budgetMs) => runStorage(shard, { budgetMs })),
  secret_reencryption: async (services, turn) => {
    // Legacy plaintext rows and rows under a retired master key, in every shard.
    await forEachShard(services, STORAGE_BUDGET_MS, turn, (shard) => reencryptSecrets(shard));
    await purgeExpiredPortalSessions(services.db, services.now()); // portal sessions live in shard 0
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
    // The shard a job starts from moves on every minute (db/shards.ts forEachShard).
    await JOBS[job.name](services, Math.floor(started / 60_000));
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
