// The storage job (every few minutes, from the cron: jobs/scheduled.ts): make the partitions of this hour and the
// next, seal the hours that left the hot window (history to R2, partitions dropped), archive what outlived its
// partition, and apply retention. Time-boxed and resumable: every part continues where the last run stopped. Runs alone:
// a lease in job_cursors keeps a second run (a slow one overlapping the next) out.
import { createPartitions, DAY_MS, HOUR_MS, hourOf } from "../../db/partitions";
import { logger } from "../../lib/logger";
import type { Services } from "../../lib/services";
import {
  deleteExpiredDays,
  deleteExpiredHours,
  deleteExpiredLookups,
  deleteExpiredStats,
  HOURLY_STATS_KEPT_MS,
} from "./retention";
import { archiveLongStep, sealableHours, sealStep } from "./seal";

/** Wall time one run (every 3 minutes) may take: a third of the interval; every statement in it stays short. */
export const STORAGE_BUDGET_MS = 60_000;
/** Rows (or archived hours) per retention statement. */
const RETENTION_CHUNK_ROWS = 2000;
const LEASE = "storage";

export interface StorageResult {
  /** False when another run held the lease. */
  ran: boolean;
  hoursSealed: number;
  sealSteps: number;
  longRowsArchived: number;
  expiredHours: number;
  expiredDays: number;
  statsDeleted: number;
  /** False when the time box ended the run with work left. */
  complete: boolean;
  durationMs: number;
}

export async function runStorage(
  services: Pick<Services, "db" | "config" | "now" | "archive">,
  opts: { budgetMs?: number } = {},
): Promise<StorageResult> {
  const started = Date.now();
  const budgetMs = opts.budgetMs ?? STORAGE_BUDGET_MS;
  const deadline = started + budgetMs;
  const timeLeft = () => Date.now() < deadline;
  const d1 = services.db.$client;
  const now = services.now();
  const result: StorageResult = {
    ran: false,
    hoursSealed: 0,
    sealSteps: 0,
    longRowsArchived: 0,
    expiredHours: 0,
    expiredDays: 0,
    statsDeleted: 0,
    complete: true,
    durationMs: 0,
  };
  const lease = await d1
    .prepare(
      `INSERT INTO job_cursors (name, value, updated_at) VALUES (?1, ?2, ?3)
       ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
         WHERE job_cursors.value < ?3
       RETURNING name`,
    )
    .bind(LEASE, Date.now() + budgetMs + 60_000, Date.now())
    .first();
  if (!lease) return result;
  result.ran = true;
  try {
    await createPartitions(d1, [hourOf(now), hourOf(now) + 1]);
    const seal = {
      db: services.db,
      archive: services.archive,
      hotWindowMs: services.config.hotWindowHours * HOUR_MS,
      now: services.now,
    };
    for (const hour of await sealableHours(seal)) {
      for (;;) {
        if (!timeLeft()) break;
        result.sealSteps++;
        if (await sealStep(seal, hour)) {
          result.hoursSealed++;
          break;
        }
      }
    }
    while (timeLeft()) {
      const moved = await archiveLongStep(seal);
      result.longRowsArchived += moved;
      if (moved === 0) break;
    }
    const cutoff = now - services.config.retentionDays * DAY_MS;
    for (;;) {
      if (!timeLeft()) break;
      const n = await deleteExpiredHours(services, cutoff, 100);
      result.expiredHours += n;
      if (n === 0) break;
    }
    for (;;) {
      if (!timeLeft()) break;
      const n = await deleteExpiredDays(services, cutoff, RETENTION_CHUNK_ROWS);
      result.expiredDays += n;
      if (n < RETENTION_CHUNK_ROWS) break;
    }
    for (const [table, before] of [
      ["webhook_stats_hourly", now - HOURLY_STATS_KEPT_MS],
      ["webhook_stats_daily", now - services.config.statsRetentionDays * DAY_MS],
    ] as const)
      for (;;) {
        if (!timeLeft()) break;
        const n = await deleteExpiredStats(services, table, before, RETENTION_CHUNK_ROWS);
        result.statsDeleted += n;
        if (n < RETENTION_CHUNK_ROWS) break;
      }
    if (timeLeft()) await deleteExpiredLookups(services, cutoff);
    result.complete = timeLeft();
  } finally {
    await d1.prepare("UPDATE job_cursors SET value = 0 WHERE name = ?1").bind(LEASE).run();
  }
  result.durationMs = Date.now() - started;
  logger.info("storage", {
    hours_sealed: result.hoursSealed,
    seal_steps: result.sealSteps,
    long_rows_archived: result.longRowsArchived,
    expired_hours: result.expiredHours,
    expired_days: result.expiredDays,
    stats_deleted: result.statsDeleted,
    complete: result.complete,
    duration_ms: result.durationMs,
  });
  if (!result.complete)
    logger.warn("storage used its time box with work left; the next run continues", { budget_ms: budgetMs });
  return result;
}
