// One scheduled handler: each cron expression in wrangler.toml routes to its job.
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";
import { sweepDueDeliveries } from "./retry-sweep";

export const CRON_RETRY_SWEEP = "* * * * *";

export async function runScheduled(cron: string, services: Services): Promise<void> {
  switch (cron) {
    case CRON_RETRY_SWEEP:
      await sweepDueDeliveries(services);
      return;
    default:
      logger.warn("no job for cron expression", { cron });
  }
}
