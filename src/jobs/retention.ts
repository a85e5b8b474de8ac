// The storage cron (every few minutes): delete everything older than RETENTION_DAYS (archived objects, deliveries and
// attempts still in D1, events) and hourly stats older than STATS_RETENTION_DAYS, then move finished deliveries older
// than the hot window to the archive. Time-boxed; every part resumes where the last run stopped (a cursor, or the
// oldest-first index), so no run rescans what an earlier one finished.
// The stats stay whole: nothing leaves D1 before the rollup has counted its attempts. A delivery still pending or
// retrying is never deleted or archived, nor is the event it sends.
import { archiveStep, deleteExpiredArchives } from "../domain/archive";
import { DAY_MS, HOUR_MS, STATS_CURSOR } from "../domain/stats/aggregate";
import { logger } from "../lib/logger";
import type { Services } from "../lib/services";

/**
 * Wall time one run (every 3 minutes) may take: a third of the interval, so the archive keeps up with 10 million
 * deliveries a day even when each endpoint's hour holds few (many small objects); every statement stays short, so D1
 * serves everyone else in between.
 */
export const RETENTION_BUDGET_MS = 60_000;
/** Rows per statement: each chunk is one short D1 write. */
export const RETENTION_CHUNK_ROWS = 2000;
/** Deliveries per archive step (one R2 object per endpoint among them, one D1 batch). */
export const ARCHIVE_STEP_ROWS = 5000;
export const RETENTION_CURSOR = "retention";

const cursorValue = (name: string) => `coalesce((SELECT value FROM job_cursors WHERE name = '${name}'), 0)`;

// Deliveries still in D1 past the window (the archive is off, or they finished late), by primary key from the cursor.
const NEXT_EXPIRED = `SELECT d.id, d.status, d.created_at,
    (SELECT max(a.id) FROM delivery_attempts a WHERE a.delivery_id = d.id) AS last_attempt_id
  FROM deliveries d WHERE d.id > ?1 ORDER BY d.id LIMIT ?2`;
const guard = `${cursorValue(RETENTION_CURSOR)} = ?2`;
const DELETE_ATTEMPTS = `DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT value FROM json_each(?1)) AND ${guard}`;
// A delivery retried by hand since it was read is active again and stays (its attempts were history already).
const DELETE_DELIVERIES = `DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(?1))
  AND status NOT IN ('pending', 'retrying') AND ${guard}`;
const MOVE_CURSOR = `INSERT INTO job_cursors (name, value, updated_at) VALUES ('${RETENTION_CURSOR}', ?1, ?3)
  ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at WHERE job_cursors.value = ?2`;
// Oldest first through events_created_idx; an event a delivery in D1 still refers to waits for that delivery.
const DELETE_EVENTS = `DELETE FROM events WHERE id IN (
    SELECT id FROM events e WHERE created_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
    ORDER BY created_at LIMIT ?2)`;
const DELETE_STATS = `DELETE FROM webhook_stats_hourly WHERE rowid IN (
    SELECT rowid FROM webhook_stats_hourly WHERE hour_start < ?1 ORDER BY hour_start LIMIT ?2)`;

export interface RetentionResult {
  archiveObjectsDeleted: number;
  deliveriesDeleted: number;
  attemptsDeleted: number;
  eventsDeleted: number;
  statsDeleted: number;
  deliveriesArchived: number;
  attemptsArchived: number;
  archiveObjectsWritten: number;
  /** False when the time box ended the run with work left. */
  complete: boolean;
  durationMs: number;
}

export async function runRetention(
  services: Pick<Services, "db" | "config" | "now" | "archive">,
  opts: { budgetMs?: number; chunkRows?: number; archiveStepRows?: number } = {},
): Promise<RetentionResult> {
  const started = Date.now();
  const deadline = started + (opts.budgetMs ?? RETENTION_BUDGET_MS);
  const chunkRows = opts.chunkRows ?? RETENTION_CHUNK_ROWS;
  const now = services.now();
  const cutoff = now - services.config.retentionDays * DAY_MS;
  const d1 = services.db.$client;
  const result: RetentionResult = {
    archiveObjectsDeleted: 0,
    deliveriesDeleted: 0,
    attemptsDeleted: 0,
    eventsDeleted: 0,
    statsDeleted: 0,
    deliveriesArchived: 0,
    attemptsArchived: 0,
    archiveObjectsWritten: 0,
    complete: false,
    durationMs: 0,
  };
  const timeLeft = () => Date.now() < deadline;

  // Each part repeats its chunk until it runs dry or the time box closes; `false`: stopped by the time box.
  const untilDone = async (chunk: () => Promise<boolean>): Promise<boolean> => {
    while (timeLeft()) if (!(await chunk())) return true;
    return false;
  };

  const archive = services.archive;
  const parts = [
    // Archived objects past the window.
    () =>
      untilDone(async () => {
        if (!archive) return false;
        const n = await deleteExpiredArchives({ db: services.db, archive }, cutoff, chunkRows);
        result.archiveObjectsDeleted += n;
        return n > 0;
      }),
    // Deliveries (and their attempts) still in D1 past the window.
    () =>
      untilDone(async () => {
        const cursors = await d1
          .prepare(`SELECT ${cursorValue(RETENTION_CURSOR)} AS retention, ${cursorValue(STATS_CURSOR)} AS stats`)
          .first<{ retention: number; stats: number }>();
        const cursor = cursors?.retention ?? 0;
        const { results } = await d1
          .prepare(NEXT_EXPIRED)
          .bind(cursor, chunkRows)
          .all<{ id: number; status: string; created_at: number; last_attempt_id: number | null }>();
        const passed: number[] = [];
        // Stops at the first delivery still young, still active, or with attempts the rollup has not counted.
        for (const row of results) {
          if (
            row.created_at >= cutoff ||
            row.status === "pending" ||
            row.status === "retrying" ||
            (row.last_attempt_id ?? 0) > (cursors?.stats ?? 0)
          )
            break;
          passed.push(row.id);
        }
        if (passed.length === 0) return false;
        const ids = JSON.stringify(passed);
        const [attempts, deleted] = await d1.batch([
          d1.prepare(DELETE_ATTEMPTS).bind(ids, cursor),
          d1.prepare(DELETE_DELIVERIES).bind(ids, cursor),
          d1.prepare(MOVE_CURSOR).bind(passed[passed.length - 1], cursor, now),
        ]);
        result.attemptsDeleted += attempts?.meta.changes ?? 0;
        result.deliveriesDeleted += deleted?.meta.changes ?? 0;
        return passed.length === results.length;
      }),
    () =>
      untilDone(async () => {
        const { meta } = await d1.prepare(DELETE_EVENTS).bind(cutoff, chunkRows).run();
        result.eventsDeleted += meta.changes;
        return meta.changes === chunkRows;
      }),
    () =>
      untilDone(async () => {
        const { meta } = await d1
          .prepare(DELETE_STATS)
          .bind(now - services.config.statsRetentionDays * DAY_MS, chunkRows)
          .run();
        result.statsDeleted += meta.changes;
        return meta.changes === chunkRows;
      }),
    // Last: finished deliveries older than the hot window move to the archive.
    () =>
      untilDone(async () => {
        if (!archive) return false;
        const step = await archiveStep(
          { db: services.db, archive, now },
          now - services.config.archiveAfterHours * HOUR_MS,
          opts.archiveStepRows ?? ARCHIVE_STEP_ROWS,
        );
        result.deliveriesArchived += step.archived;
        result.attemptsArchived += step.attempts;
        result.archiveObjectsWritten += step.objects;
        return step.archived > 0 && (step.stoppedAt === "limit" || step.stoppedAt === "hour");
      }),
  ];
  let complete = true;
  for (const part of parts) complete = (await part()) && complete;
  result.complete = complete;
  result.durationMs = Date.now() - started;

  logger.info("retention", {
    archive_objects_deleted: result.archiveObjectsDeleted,
    deliveries_deleted: result.deliveriesDeleted,
    attempts_deleted: result.attemptsDeleted,
    events_deleted: result.eventsDeleted,
    stats_deleted: result.statsDeleted,
    deliveries_archived: result.deliveriesArchived,
    attempts_archived: result.attemptsArchived,
    archive_objects_written: result.archiveObjectsWritten,
    complete,
    duration_ms: result.durationMs,
  });
  if (!complete)
    logger.warn("retention used its time box with work left; the next run continues", {
      budget_ms: opts.budgetMs ?? RETENTION_BUDGET_MS,
    });
  return result;
}
