// Writing the archive: a chunk of deliveries or events to R2, and the D1 rows that index it (archive_hours, one per kind
// and hour; archive_days, one per scope and day). The object is written first and the rows after, in the caller's
// batch: a chunk no row names is never read, and writing it again (same key, same lines) changes nothing.
import type { DeliveryRow, EventRow } from "../../db/schema";
import {
  type BuiltChunk,
  buildChunk,
  chunkKey,
  comboOf,
  dayIndexKey,
  dayOf,
  entryKey,
  eventIdHash,
  hourStartMs,
  INLINE_HASHES_PER_DAY,
  packHashes,
} from "./format";

/** A delivery line of the archive: the row as it was when archived (camelCase, as drizzle types it). */
export type DeliveryLine = DeliveryRow;
/** An event line of the archive: the row, its payload the exact bytes every delivery sent. */
export type EventLine = EventRow;

export interface ArchiveDeps {
  db: { $client: D1Database };
  archive: R2Bucket;
}

const UPSERT_HOUR = `INSERT INTO archive_hours (kind, hour, chunks) VALUES (?1, ?2, json_object(?3, json(?4)))
  ON CONFLICT (kind, hour) DO UPDATE SET chunks = json_set(chunks, '$."' || ?3 || '"', json(?4))`;
// json_patch merges nested objects key by key, so writing the same entry twice sets it twice (never adds it twice).
const UPSERT_DAY = `INSERT INTO archive_days (scope, day, counts, event_hashes) VALUES (?1, ?2, json(?3), ?4)
  ON CONFLICT (scope, day) DO UPDATE SET counts = json_patch(counts, json(?3)),
    event_hashes = CASE WHEN ?5 = 1 THEN NULL ELSE json_patch(event_hashes, json(?4)) END`;

/** One scope's part of a chunk, ready to index: its entry counts by combination, and its lines' event id hashes. */
interface ScopePart {
  scope: string;
  day: number;
  counts: Record<string, Record<string, number>>;
  hashes: Record<string, string> | null;
  lines: number;
}

/**
 * Writes a chunk of deliveries of `hour` (rows sorted by webhook, then id) as `deliveries/<hour>/<ref>.ndjson` and
 * returns the statements that index it. Rows may have been created in other hours than `hour` only for the long
 * table's chunks, which are written one per hour of creation.
 */
export async function writeDeliveryChunk(
  deps: ArchiveDeps,
  hour: number,
  ref: string,
  rows: readonly DeliveryLine[],
): Promise<D1PreparedStatement[]> {
  const byWebhook = groupBy(rows, (r) => r.webhookId);
  const chunk = buildChunk(
    "deliveries",
    [...byWebhook].map(([webhookId, list]) => [webhookId, list.map((r) => JSON.stringify(r))]),
  );
  await put(deps.archive, chunkKey("deliveries", hour, ref), chunk);
  const entry = entryKey(hour, ref);
  const parts: ScopePart[] = [...byWebhook].map(([webhookId, list]) => {
    const counts: ScopePart["counts"] = {};
    for (const r of list) {
      const combo = comboOf({
        status: r.status,
        event_type: r.eventType,
        last_status_code: r.lastStatusCode,
        last_error_class: r.lastErrorClass,
        last_error: r.lastError,
      });
      counts[combo] = { [entry]: (counts[combo]?.[entry] ?? 0) + 1 };
    }
    return {
      scope: webhookId,
      day: dayOf(hourStartMs(hour)),
      counts,
      hashes: { [entry]: packHashes(list.map((r) => eventIdHash(r.eventId))) },
      lines: list.length,
    };
  });
  return [
    hourStatement(deps, "deliveries", hour, ref, chunk, rows[0]!.webhookId, rows[rows.length - 1]!.webhookId),
    ...(await dayStatements(deps, parts)),
  ];
}

/** Writes a chunk of events of `hour` (rows sorted by owner, then event id) and returns the statements that index it. */
export async function writeEventChunk(
  deps: ArchiveDeps,
  hour: number,
  ref: string,
  rows: readonly EventLine[],
): Promise<D1PreparedStatement[]> {
  const byOwner = groupBy(rows, (r) => r.ownerKey);
  const chunk = buildChunk(
    "events",
    [...byOwner].map(([owner, list]) => [owner, list.map((r) => JSON.stringify(r))]),
  );
  await put(deps.archive, chunkKey("events", hour, ref), chunk);
  const entry = entryKey(hour, ref);
  const parts: ScopePart[] = [...byOwner].map(([owner, list]) => {
    const counts: ScopePart["counts"] = {};
    for (const r of list) counts[r.eventType] = { [entry]: (counts[r.eventType]?.[entry] ?? 0) + 1 };
    return { scope: eventScope(owner), day: dayOf(hourStartMs(hour)), counts, hashes: null, lines: list.length };
  });
  return [
    hourStatement(deps, "events", hour, ref, chunk, rows[0]!.ownerKey, rows[rows.length - 1]!.ownerKey),
    ...(await dayStatements(deps, parts)),
  ];
}

/** The archive_days scope of an event owner's events. */
export const eventScope = (ownerKey: string) => `ev:${ownerKey}`;

function hourStatement(
  deps: ArchiveDeps,
  kind: "deliveries" | "events",
  hour: number,
  ref: string,
  chunk: BuiltChunk,
  firstScope: string,
  lastScope: string,
): D1PreparedStatement {
  const entry = JSON.stringify([firstScope, lastScope, chunk.headerBytes, chunk.lines]);
  return deps.db.$client.prepare(UPSERT_HOUR).bind(kind, hour, ref, entry);
}

/**
 * The archive_days upserts of a chunk's scopes. While a day's lines stay few, their event id hashes ride in the row;
 * past INLINE_HASHES_PER_DAY they move to the day's index object in R2 (read, merged, written back: the storage job
 * runs alone, see archive/storage-job.ts).
 */
async function dayStatements(deps: ArchiveDeps, parts: readonly ScopePart[]): Promise<D1PreparedStatement[]> {
  const d1 = deps.db.$client;
  const withHashes = parts.filter((p) => p.hashes !== null);
  const existing = new Map<string, { lines: number; hashes: Record<string, string> | null }>();
  if (withHashes.length > 0) {
    const { results } = await d1
      .prepare(
        `SELECT d.scope, d.day, d.counts, d.event_hashes FROM archive_days d
         JOIN json_each(?1) AS k ON d.scope = k.value ->> 's' AND d.day = k.value ->> 'd'`,
      )
      .bind(JSON.stringify(withHashes.map((p) => ({ s: p.scope, d: p.day }))))
      .all<{ scope: string; day: number; counts: string; event_hashes: string | null }>();
    for (const r of results)
      existing.set(`${r.scope}\n${r.day}`, {
        lines: totalLines(JSON.parse(r.counts)),
        hashes: r.event_hashes === null ? null : JSON.parse(r.event_hashes),
      });
  }
  const statements: D1PreparedStatement[] = [];
  for (const part of parts) {
    let inline: Record<string, string> | null = part.hashes;
    let moveOut = false;
    if (part.hashes !== null) {
      const before = existing.get(`${part.scope}\n${part.day}`);
      const stillInline = before === undefined || before.hashes !== null;
      if (!stillInline || (before?.lines ?? 0) + part.lines > INLINE_HASHES_PER_DAY) {
        await mergeDayIndex(deps.archive, part.scope, part.day, { ...(before?.hashes ?? {}), ...part.hashes });
        inline = null;
        moveOut = true;
      }
    }
    statements.push(
      d1
        .prepare(UPSERT_DAY)
        .bind(
          part.scope,
          part.day,
          JSON.stringify(part.counts),
          inline === null ? null : JSON.stringify(inline),
          moveOut ? 1 : 0,
        ),
    );
  }
  return statements;
}

async function mergeDayIndex(archive: R2Bucket, scope: string, day: number, hashes: Record<string, string>) {
  const key = dayIndexKey(scope, day);
  const current = await archive.get(key);
  const merged = { ...(current ? ((await current.json()) as Record<string, string>) : {}), ...hashes };
  await archive.put(key, JSON.stringify(merged), { httpMetadata: { contentType: "application/json" } });
}

const totalLines = (counts: Record<string, Record<string, number>>) =>
  Object.values(counts).reduce((n, byEntry) => n + Object.values(byEntry).reduce((m, x) => m + x, 0), 0);

async function put(archive: R2Bucket, key: string, chunk: BuiltChunk) {
  await archive.put(key, chunk.body, { httpMetadata: { contentType: "application/x-ndjson" } });
}

function groupBy<T>(rows: readonly T[], keyOf: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) groups.set(keyOf(row), [...(groups.get(keyOf(row)) ?? []), row]);
  return groups;
}
