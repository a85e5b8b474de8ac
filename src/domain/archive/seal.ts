// Moving history out of D1. A delivery is history once it finished more than HOT_WINDOW_HOURS ago: from then on it
// never changes (a retry of it is a new delivery, delivery/resend.ts), so it can be copied to R2 while it stays
// readable, and dropped with its hour's partition.
//
// Sealing an hour's partitions, one resumable step at a time (its progress in hot_partitions):
//   1. the deliveries, in primary-key order, a chunk at a time: the finished history to R2, indexed in D1;
//   2. the events, likewise, all of them (their payloads are what archived deliveries sent);
//   3. one batch that moves what must outlive the partition (deliveries still open or recently finished, and the events
//      those send) to the deliveries and events tables, then drops both partitions and redefines the views.
// Until step 3 commits, the partition is what readers see of that hour; after it, the archive (domain/archive/read.ts
// reads an hour's chunks only once its partition is gone), so nothing is ever read twice or missed.
//
// The deliveries and events tables (what outlived its partition, and rows from before partitions existed) are archived
// the same way, a chunk per hour of creation, and their rows deleted in the batch that indexes the chunk; events of an
// hour sealed from its partition are in the archive already, and are only deleted.
import {
  dropPartitionStatements,
  forgetPartition,
  HOUR_MS,
  hourOf,
  listPartitionHours,
  partitionName,
} from "../../db/partitions";
import { EVENT_COLUMNS, type StoredEventRow, withPayloadText } from "../../db/payload";
import { logger } from "../../lib/logger";
import { deliveryRowOf, type RawDeliveryRow } from "../delivery-views";
import { hourStartMs } from "./format";
import { type ArchiveDeps, writeDeliveryChunk, writeEventChunk } from "./write";

/** Rows per chunk (one R2 object, one D1 batch). */
export const CHUNK_ROWS = 2000;
/** Clocks of isolates differ a little: history waits this much longer than the window before it is archived. */
const CLOCK_SKEW_MARGIN_MS = 5 * 60_000;

export interface SealDeps {
  db: ArchiveDeps["db"];
  /** Null: no archive bound, history ends with the hot window (sealing only drops). */
  archive: R2Bucket | null;
  hotWindowMs: number;
  now: () => number;
}

/** The finished deliveries before this are history: they can no longer change. */
const historyBefore = (deps: Pick<SealDeps, "hotWindowMs">, at: number) => at - deps.hotWindowMs - CLOCK_SKEW_MARGIN_MS;

/** The hours whose partitions are due to be sealed at `now`: every one that ended more than the window (and margin) ago. */
export async function sealableHours(deps: SealDeps): Promise<number[]> {
  const limit = historyBefore(deps, deps.now());
  return (await listPartitionHours(deps.db.$client)).filter((h) => hourStartMs(h + 1) <= limit);
}

interface SealCursor {
  /** Deliveries: the last (webhook_id, id) archived, the next chunk number, whether they are all done. */
  dw?: string;
  di?: number;
  dn?: number;
  dd?: boolean;
  /** Events: the last (owner_key, event_id) archived, the next chunk number, whether they are all done. */
  eo?: string;
  ee?: string;
  en?: number;
  ed?: boolean;
}

const START = `INSERT INTO hot_partitions (hour, stage, started_at, cursor) VALUES (?1, 'sealing', ?2, '{}')
  ON CONFLICT (hour) DO NOTHING`;
const READ_STATE = "SELECT started_at, cursor FROM hot_partitions WHERE hour = ?1";
// Guarded by the cursor it read: of two steps over the same rows, the second changes nothing.
const MOVE_CURSOR = "UPDATE hot_partitions SET cursor = ?2 WHERE hour = ?1 AND cursor = ?3";

/**
 * One step of sealing `hour`: a chunk of deliveries, a chunk of events, or the final drop. Returns whether the hour is
 * now sealed (its partitions gone).
 */
export async function sealStep(deps: SealDeps, hour: number): Promise<boolean> {
  const d1 = deps.db.$client;
  const [, state] = await d1.batch<{ started_at: number; cursor: string }>([
    d1.prepare(START).bind(hour, deps.now()),
    d1.prepare(READ_STATE).bind(hour),
  ]);
  const row = state?.results[0];
  if (!row) return false;
  const cursorText = row.cursor;
  const cursor = JSON.parse(cursorText) as SealCursor;
  const before = historyBefore(deps, row.started_at);
  const moveCursor = (next: SealCursor) => d1.prepare(MOVE_CURSOR).bind(hour, JSON.stringify(next), cursorText);

  if (!cursor.dd) {
    const { results } = await d1
      .prepare(
        `SELECT * FROM "${partitionName("deliveries", hour)}" WHERE (webhook_id, id) > (?1, ?2)
         ORDER BY webhook_id, id LIMIT ?3`,
      )
      .bind(cursor.dw ?? "", cursor.di ?? 0, CHUNK_ROWS)
      .all<RawDeliveryRow>();
    if (results.length === 0) {
      await moveCursor({ ...cursor, dd: true }).run();
      return false;
    }
    const history = results.map(deliveryRowOf).filter((r) => r.completedAt !== null && r.completedAt < before);
    const chunkNo = cursor.dn ?? 0;
    const index =
      deps.archive && history.length > 0
        ? await writeDeliveryChunk({ db: deps.db, archive: deps.archive }, hour, String(chunkNo), history)
        : [];
    const last = results[results.length - 1]!;
    await d1.batch([
      ...index,
      moveCursor({ ...cursor, dw: last.webhook_id, di: last.id, dn: index.length > 0 ? chunkNo + 1 : chunkNo }),
    ]);
    return false;
  }

  if (!cursor.ed) {
    const { results: stored } = await d1
      .prepare(
        `SELECT ${EVENT_COLUMNS} FROM "${partitionName("events", hour)}" WHERE (owner_key, event_id) > (?1, ?2)
         ORDER BY owner_key, event_id LIMIT ?3`,
      )
      .bind(cursor.eo ?? "", cursor.ee ?? "", CHUNK_ROWS)
      .all<StoredEventRow>();
    const results = await withPayloadText(stored);
    if (results.length === 0) {
      await moveCursor({ ...cursor, ed: true }).run();
      return false;
    }
    // An event stored again here (a replay of an archived one keeps its created_at) is archived under its own hour.
    const own = results.filter((e) => e.createdAt >= hourStartMs(hour));
    const chunkNo = cursor.en ?? 0;
    const index =
      deps.archive && own.length > 0
        ? await writeEventChunk({ db: deps.db, archive: deps.archive }, hour, String(chunkNo), own)
        : [];
    const last = results[results.length - 1]!;
    await d1.batch([
      ...index,
      moveCursor({ ...cursor, eo: last.ownerKey, ee: last.eventId, en: index.length > 0 ? chunkNo + 1 : chunkNo }),
    ]);
    return false;
  }

  await dropSealed(deps, hour, before, cursorText);
  return true;
}

/**
 * The last step: in one transaction, move to the deliveries table what is not history yet (open, or finished since
 * `before`), and to the events table the events of this hour any of those still need, then drop the partitions. The
 * storage job runs alone (storage-job.ts), so nothing else seals this hour meanwhile.
 */
async function dropSealed(deps: SealDeps, hour: number, before: number, cursorText: string): Promise<void> {
  const d1 = deps.db.$client;
  const deliveries = partitionName("deliveries", hour);
  const events = partitionName("events", hour);
  const notHistory = `(completed_at IS NULL OR completed_at >= ?1)`;
  const hours = await listPartitionHours(d1);
  const results = await d1.batch([
    d1.prepare("DELETE FROM hot_partitions WHERE hour = ?1 AND cursor = ?2").bind(hour, cursorText),
    d1.prepare(`INSERT OR IGNORE INTO deliveries SELECT * FROM "${deliveries}" WHERE ${notHistory}`).bind(before),
    // Deliveries send events of their own partition's hour (fan-out, replay and the test event store the event there).
    d1
      .prepare(
        `INSERT OR IGNORE INTO events SELECT e.* FROM "${events}" e
         WHERE (e.owner_key, e.event_id) IN (SELECT d.event_owner, d.event_id FROM deliveries d WHERE d.event_hour = ?1)`,
      )
      .bind(hour),
    ...(await dropPartitionStatements(d1, hour, hours)),
  ]);
  forgetPartition(d1, hour);
  logger.info("partition sealed", {
    hour: new Date(hour * HOUR_MS).toISOString(),
    moved_deliveries: results[1]?.meta.changes ?? 0,
    moved_events: results[2]?.meta.changes ?? 0,
  });
}

/**
 * One step of archiving the deliveries and events tables (what outlived its partition, and rows from before partitions
 * existed): their history, a chunk per hour of creation under a `L<time>-<n>` ref, deleted in the batch that indexes it.
 * Returns how many rows it moved (0: nothing left).
 */
export async function archiveLongStep(deps: SealDeps): Promise<number> {
  const d1 = deps.db.$client;
  const now = deps.now();
  const before = historyBefore(deps, now);
  const { results } = await d1
    .prepare("SELECT * FROM deliveries WHERE completed_at < ?1 ORDER BY webhook_id, id LIMIT ?2")
    .bind(before, CHUNK_ROWS)
    .all<RawDeliveryRow>();
  let moved = 0;
  if (results.length > 0) {
    const rows = results.map(deliveryRowOf);
    const byHour = groupByHour(rows, (r) => r.createdAt);
    const statements: D1PreparedStatement[] = [];
    let n = 0;
    for (const [hour, list] of byHour)
      if (deps.archive)
        statements.push(
          ...(await writeDeliveryChunk({ db: deps.db, archive: deps.archive }, hour, longRef(now, n++), list)),
        );
    statements.push(
      d1
        .prepare(
          `DELETE FROM deliveries WHERE (webhook_id, id) IN (SELECT r.value ->> 'w', r.value ->> 'i' FROM json_each(?1) AS r)
           AND completed_at < ?2`,
        )
        .bind(JSON.stringify(rows.map((r) => ({ w: r.webhookId, i: r.id }))), before),
    );
    await d1.batch(statements);
    moved += rows.length;
  }
  // Events no delivery in the deliveries table sends any more (deliveries in partitions send their own hour's events).
  const { results: stored } = await d1
    .prepare(
      `SELECT ${EVENT_COLUMNS}
       FROM events WHERE created_at < ?1
         AND (owner_key, event_id) NOT IN (SELECT event_owner, event_id FROM deliveries)
       ORDER BY owner_key, event_id LIMIT ?2`,
    )
    .bind(before, CHUNK_ROWS)
    .all<StoredEventRow>();
  const events = await withPayloadText(stored);
  if (events.length > 0) {
    const statements: D1PreparedStatement[] = [];
    let n = 0;
    const byHour = groupByHour(events, (e) => e.createdAt);
    // An hour sealed from its partition archived every event of it: what is left of those here (events of deliveries
    // that outlived it, or copies a resend stored again) is already in the archive, and is only deleted.
    const { results: sealed } = await d1
      .prepare(
        "SELECT hour, chunks FROM archive_hours WHERE kind = 'events' AND hour IN (SELECT value FROM json_each(?1))",
      )
      .bind(JSON.stringify([...byHour.keys()]))
      .all<{ hour: number; chunks: string }>();
    const archivedWithHour = new Set(
      sealed.filter((h) => Object.keys(JSON.parse(h.chunks)).some((ref) => !ref.startsWith("L"))).map((h) => h.hour),
    );
    for (const [hour, list] of byHour)
      if (deps.archive && !archivedWithHour.has(hour))
        statements.push(
          ...(await writeEventChunk({ db: deps.db, archive: deps.archive }, hour, longRef(now, 100 + n++), list)),
        );
    statements.push(
      d1
        .prepare(
          "DELETE FROM events WHERE (owner_key, event_id) IN (SELECT r.value ->> 'o', r.value ->> 'e' FROM json_each(?1) AS r)",
        )
        .bind(JSON.stringify(events.map((e) => ({ o: e.ownerKey, e: e.eventId })))),
    );
    await d1.batch(statements);
    moved += events.length;
  }
  return moved;
}

/** The ref of a chunk of the long tables: written at `now` (base 36), `n`th of its step. */
const longRef = (now: number, n: number) => `L${now.toString(36)}-${n}`;

function groupByHour<T>(rows: readonly T[], timeOf: (row: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const row of rows) {
    const hour = hourOf(timeOf(row));
    groups.set(hour, [...(groups.get(hour) ?? []), row]);
  }
  return groups;
}
