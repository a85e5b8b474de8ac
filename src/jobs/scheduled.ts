// One scheduled handler: each cron expression in wrangler.toml routes to its job.

import { purgeExpiredPortalSessions } from "../domain/portal-sessions";
import { continueRecoveries } from "../domain/recovery";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";
import { reencryptSecrets } from "./reencrypt-secrets";
import { sweepDueDeliveries } from "./retry-sweep";
import { runStorage } from "./storage";

export const CRON_RETRY_SWEEP = "* * * * *";
export const CRON_STORAGE = "*/3 * * * *";
export const CRON_DAILY = "17 3 * * *";

export async function runScheduled(cron: string, services: Services): Promise<void> {
  const started = Date.now();
  try {
    await runJob(cron, services);
    logger.info("scheduled job", { cron, duration_ms: Date.now() - started });
  } catch (err) {
    // Every job is idempotent and resumable: the next run picks up where this one stopped.
    logger.error("scheduled job failed", { cron, error: String(err) });
    throw err;
  }
}

async function runJob(cron: string, services: Services): Promise<void> {
  switch (cron) {
    case CRON_RETRY_SWEEP:
      await sweepDueDeliveries(services);
      await continueRecoveries(services); // large recovers and replays, a chunk at a time
      return;
    case CRON_STORAGE:
      await runStorage(services);
      return;
    case CRON_DAILY:
      await reencryptSecrets(services); // legacy plaintext rows and rows under a retired master key
      await purgeExpiredPortalSessions(services.db, services.now());
      return;
    default:
      logger.warn("no job for cron expression", { cron });
  }
}
