// Retention of what lives past the hot window: archive chunks and their index rows past RETENTION_DAYS, hourly stats
// past 26 hours, daily stats past STATS_RETENTION_DAYS. Each function does one bounded chunk and says how much it
// removed (0: nothing left), so the storage job can run them until done or out of time.
import { firstDeliveryIdAt, HOUR_MS, hourOf } from "../../db/partitions";
import { ARCHIVE_KINDS } from "../../db/schema";
import { chunkKey, dayIndexKey, dayOf } from "./format";

/** R2 deletes at most 1,000 keys per call. */
const R2_DELETE_LIMIT = 1000;
/**
 * How long hourly stats are kept: the 24 h window reads from the start of the hour 24 h ago (25 hours at most), and an
 * hour more for runs of the storage job that come late. Days serve every longer window.
 */
export const HOURLY_STATS_KEPT_MS = 26 * HOUR_MS;

export interface RetentionDeps {
  db: { $client: D1Database };
  archive: R2Bucket | null;
}

/** Deletes the chunks of up to `limit` archived hours created before `cutoff` (ms), objects first, then their rows. */
export async function deleteExpiredHours(deps: RetentionDeps, cutoff: number, limit: number): Promise<number> {
  const d1 = deps.db.$client;
  const expired: { kind: (typeof ARCHIVE_KINDS)[number]; hour: number; chunks: string }[] = [];
  for (const kind of ARCHIVE_KINDS) {
    const { results } = await d1
      .prepare("SELECT kind, hour, chunks FROM archive_hours WHERE kind = ?1 AND hour < ?2 ORDER BY hour LIMIT ?3")
      .bind(kind, hourOf(cutoff), limit)
      .all<(typeof expired)[number]>();
    expired.push(...results);
  }
  if (expired.length === 0) return 0;
  const keys = expired.flatMap((h) => Object.keys(JSON.parse(h.chunks)).map((ref) => chunkKey(h.kind, h.hour, ref)));
  if (deps.archive)
    for (let i = 0; i < keys.length; i += R2_DELETE_LIMIT)
      await deps.archive.delete(keys.slice(i, i + R2_DELETE_LIMIT));
  await d1
    .prepare(
      "DELETE FROM archive_hours WHERE (kind, hour) IN (SELECT r.value ->> 'k', r.value ->> 'h' FROM json_each(?1) AS r)",
    )
    .bind(JSON.stringify(expired.map((h) => ({ k: h.kind, h: h.hour }))))
    .run();
  return expired.length;
}

/** Deletes up to `limit` archive_days rows of days before `cutoff`, with their event-id index objects. */
export async function deleteExpiredDays(deps: RetentionDeps, cutoff: number, limit: number): Promise<number> {
  const d1 = deps.db.$client;
  const { results } = await d1
    .prepare("SELECT scope, day, event_hashes IS NULL AS in_r2 FROM archive_days WHERE day < ?1 ORDER BY day LIMIT ?2")
    .bind(dayOf(cutoff), limit)
    .all<{ scope: string; day: number; in_r2: number }>();
  if (results.length === 0) return 0;
  const keys = results.filter((r) => r.in_r2 && !r.scope.startsWith("ev:")).map((r) => dayIndexKey(r.scope, r.day));
  if (deps.archive && keys.length > 0) await deps.archive.delete(keys);
  await d1
    .prepare(
      "DELETE FROM archive_days WHERE (scope, day) IN (SELECT r.value ->> 's', r.value ->> 'd' FROM json_each(?1) AS r)",
    )
    .bind(JSON.stringify(results.map((r) => ({ s: r.scope, d: r.day }))))
    .run();
  return results.length;
}

/** Deletes up to `limit` rows of `table`'s stats (hourly or daily) before `cutoff`. */
export async function deleteExpiredStats(
  deps: RetentionDeps,
  table: "webhook_stats_hourly" | "webhook_stats_daily",
  cutoff: number,
  limit: number,
): Promise<number> {
  const column = table === "webhook_stats_hourly" ? "hour_start" : "day_start";
  const { meta } = await deps.db.$client
    .prepare(
      `DELETE FROM ${table} WHERE (webhook_id, ${column}) IN
         (SELECT webhook_id, ${column} FROM ${table} WHERE ${column} < ?1 ORDER BY ${column} LIMIT ?2)`,
    )
    .bind(cutoff, limit)
    .run();
  return meta.changes;
}

/**
 * Forgets what only history past retention needed, in one batch: the archived deliveries sent again (resent_deliveries),
 * and the hours of pre-0010 delivery ids (legacy_delivery_hours, db/partitions.ts; a few hundred rows at most).
 */
export async function deleteExpiredLookups(deps: RetentionDeps, cutoff: number): Promise<number> {
  const d1 = deps.db.$client;
  const results = await d1.batch([
    // By the resend's id, which names a time even when the original's (a pre-0010 id) does not; it is the later one.
    d1.prepare("DELETE FROM resent_deliveries WHERE resent_as < ?1").bind(firstDeliveryIdAt(cutoff)),
    d1.prepare("DELETE FROM legacy_delivery_hours WHERE hour < ?1").bind(hourOf(cutoff)),
  ]);
  return results.reduce((n, r) => n + r.meta.changes, 0);
}
