// Reading the archive: what a webhook's history holds past the hot window, counted from D1 alone (archive_days) and
// read from R2 a section at a time (archive_hours says which chunks hold an hour; a chunk's header, where a scope's
// lines are). An hour's partition chunks count only once its partition is gone (until then the partition is what
// readers see of that hour, domain/archive/seal.ts); chunks of the long tables count at once (their rows left D1 in the
// batch that indexed them).
import { firstDeliveryIdAt, HOUR_MS, listPartitionHours } from "../../db/partitions";
import type { DeliveryFilter } from "../deliveries";
import {
  type ChunkHeader,
  chunkKey,
  dayIndexKey,
  dayOf,
  eventIdHash,
  packedHashesHold,
  parseCombo,
  parseEntryKey,
  readChunkHeader,
  readSection,
} from "./format";
import { type DeliveryLine, type EventLine, eventScope } from "./write";

export interface ArchiveStore {
  db: { $client: D1Database };
  archive: R2Bucket;
}

/** One section of a scope's history: an hour, a chunk, how many of its lines match the filter (null: unknown until read). */
interface Entry {
  hour: number;
  ref: string;
  matching: number | null;
}

/** The combination's filter values against the filter (times and event ids are checked on the lines). */
function comboMatches(combo: string, f: DeliveryFilter): boolean {
  const c = parseCombo(combo);
  return (
    (f.status === undefined || c.status === f.status) &&
    (f.eventType === undefined || c.eventType === f.eventType) &&
    (f.lastStatusCode === undefined || c.statusCode === f.lastStatusCode) &&
    (f.lastErrorClass === undefined || c.errorClass === f.lastErrorClass)
  );
}

function lineMatches(d: DeliveryLine, f: DeliveryFilter): boolean {
  return (
    (f.status === undefined || d.status === f.status) &&
    (f.eventType === undefined || d.eventType === f.eventType) &&
    (f.eventId === undefined || d.eventId === f.eventId) &&
    (f.lastStatusCode === undefined || d.lastStatusCode === f.lastStatusCode) &&
    (f.lastErrorClass === undefined || d.lastErrorClass === f.lastErrorClass) &&
    (f.createdFrom === undefined || d.createdAt >= f.createdFrom) &&
    (f.createdBefore === undefined || d.createdAt < f.createdBefore) &&
    (f.beforeId === undefined || d.id < f.beforeId)
  );
}

interface DayRow {
  day: number;
  counts: string;
  event_hashes: string | null;
}

const DAYS = `SELECT day, counts, event_hashes FROM archive_days WHERE scope = ?1 AND day >= ?2 AND day <= ?3`;

/** The `archive_days` rows of `scope` over the days of `[from, until)`, and the hours whose partitions D1 still holds. */
async function daysAndLiveHours(store: ArchiveStore, scope: string, from: number, until: number) {
  const d1 = store.db.$client;
  const [days, liveHours] = await Promise.all([
    d1
      .prepare(DAYS)
      .bind(scope, dayOf(from), dayOf(until - 1))
      .all<DayRow>(),
    listPartitionHours(d1),
  ]);
  return { days, live: new Set(liveHours) };
}

/**
 * The archived history of webhook `scope` within `[from, until)` (ms), entry by entry, newest hour first, with how
 * many lines of each match `filter` wherever the counts say so without reading: an hour wholly inside the window, and
 * no event id to look for. An event id narrows the entries to those whose hashes hold it (in the row, or the day's
 * index object).
 */
export async function archivedEntries(
  store: ArchiveStore,
  scope: string,
  filter: DeliveryFilter,
  from: number,
  until: number,
): Promise<Entry[]> {
  const { days, live } = await daysAndLiveHours(store, scope, from, until);
  const wanted = filter.eventId === undefined ? null : eventIdHash(filter.eventId);
  const entries = new Map<string, Entry>();
  for (const row of days.results) {
    const counts = JSON.parse(row.counts) as Record<string, Record<string, number>>;
    let candidates: Set<string> | null = null;
    if (wanted !== null) {
      const hashes =
        row.event_hashes !== null
          ? (JSON.parse(row.event_hashes) as Record<string, string>)
          : await readDayIndex(store.archive, scope, row.day);
      candidates = new Set(
        Object.entries(hashes)
          .filter(([, packed]) => packedHashesHold(packed, wanted))
          .map(([k]) => k),
      );
    }
    for (const [combo, byEntry] of Object.entries(counts)) {
      const matches = comboMatches(combo, filter);
      for (const [key, n] of Object.entries(byEntry)) {
        if (candidates && !candidates.has(key)) continue;
        const { hour, ref } = parseEntryKey(row.day, key);
        const start = hour * HOUR_MS;
        if (start + HOUR_MS <= from || start >= until) continue;
        if (live.has(hour) && !ref.startsWith("L")) continue; // still the partition's
        const whole =
          start >= from &&
          start + HOUR_MS <= until &&
          wanted === null &&
          (filter.beforeId === undefined || firstDeliveryIdAt(start + HOUR_MS) <= filter.beforeId);
        const id = `${hour}/${ref}`;
        const entry = entries.get(id) ?? { hour, ref, matching: whole ? 0 : null };
        if (entry.matching !== null && matches) entry.matching += n;
        entries.set(id, entry);
      }
    }
  }
  return [...entries.values()].sort((a, b) => b.hour - a.hour || compareRefs(b.ref, a.ref));
}

/**
 * The archived sections of several webhooks within `[from, until)` (ms), from their archive_days rows in one read:
 * webhook id → its sections (hour, chunk), newest hour first. Counts are left out: the caller reads the sections.
 */
export async function archivedSections(
  store: ArchiveStore,
  webhookIds: readonly string[],
  from: number,
  until: number,
): Promise<Map<string, { hour: number; ref: string }[]>> {
  const sections = new Map<string, { hour: number; ref: string }[]>();
  if (webhookIds.length === 0 || from >= until) return sections;
  const d1 = store.db.$client;
  const [days, liveHours] = await Promise.all([
    d1
      .prepare(
        `SELECT scope, day, counts FROM archive_days
         WHERE scope IN (SELECT value FROM json_each(?1)) AND day >= ?2 AND day <= ?3`,
      )
      .bind(JSON.stringify(webhookIds), dayOf(from), dayOf(until - 1))
      .all<{ scope: string; day: number; counts: string }>(),
    listPartitionHours(d1),
  ]);
  const live = new Set(liveHours);
  for (const row of days.results) {
    const keys = new Set<string>();
    for (const byEntry of Object.values(JSON.parse(row.counts) as Record<string, Record<string, number>>))
      for (const key of Object.keys(byEntry)) keys.add(key);
    for (const key of keys) {
      const { hour, ref } = parseEntryKey(row.day, key);
      if (hour * HOUR_MS + HOUR_MS <= from || hour * HOUR_MS >= until) continue;
      if (live.has(hour) && !ref.startsWith("L")) continue; // still the partition's
      sections.set(row.scope, [...(sections.get(row.scope) ?? []), { hour, ref }]);
    }
  }
  for (const list of sections.values()) list.sort((a, b) => b.hour - a.hour || compareRefs(b.ref, a.ref));
  return sections;
}

// Partition chunks in number order (their ids ascend with it), then the long tables' (ordered by hour anyway).
const compareRefs = (a: string, b: string) =>
  a.startsWith("L") === b.startsWith("L")
    ? a.startsWith("L")
      ? a.localeCompare(b)
      : Number(a) - Number(b)
    : a.startsWith("L")
      ? 1
      : -1;

async function readDayIndex(archive: R2Bucket, scope: string, day: number): Promise<Record<string, string>> {
  const object = await archive.get(dayIndexKey(scope, day));
  return object ? ((await object.json()) as Record<string, string>) : {};
}

// Chunk headers never change once written; an isolate keeps the ones it read, per archive (each shard's part of the
// bucket names its chunks as the others do).
const HEADER_CACHE_LIMIT = 500;
const headerCaches = new WeakMap<R2Bucket, Map<string, Promise<ChunkHeader | null>>>();

function headerOf(archive: R2Bucket, key: string, headerBytes: number): Promise<ChunkHeader | null> {
  const headers = headerCaches.get(archive) ?? new Map<string, Promise<ChunkHeader | null>>();
  headerCaches.set(archive, headers);
  const hit = headers.get(key);
  if (hit) return hit;
  const reading = readChunkHeader(archive, key, headerBytes);
  reading.catch(() => headers.delete(key));
  headers.set(key, reading);
  if (headers.size > HEADER_CACHE_LIMIT) headers.delete(headers.keys().next().value!);
  return reading;
}

/** The chunks of `kind` archived for each of `hours`: ref → [first scope, last scope, header bytes, lines]. */
async function chunksOf(
  store: ArchiveStore,
  kind: "deliveries" | "events",
  hours: readonly number[],
): Promise<Map<number, Record<string, [string, string, number, number]>>> {
  if (hours.length === 0) return new Map();
  const { results } = await store.db.$client
    .prepare("SELECT hour, chunks FROM archive_hours WHERE kind = ?1 AND hour IN (SELECT value FROM json_each(?2))")
    .bind(kind, JSON.stringify([...new Set(hours)]))
    .all<{ hour: number; chunks: string }>();
  return new Map(results.map((r) => [r.hour, JSON.parse(r.chunks)]));
}

/** The lines of `scope` in the given sections, in chunk order. */
async function readSections<T>(
  store: ArchiveStore,
  kind: "deliveries" | "events",
  scope: string,
  sections: readonly { hour: number; ref: string }[],
): Promise<T[]> {
  const chunks = await chunksOf(
    store,
    kind,
    sections.map((s) => s.hour),
  );
  const parts = await Promise.all(
    sections.map(async ({ hour, ref }) => {
      const chunk = chunks.get(hour)?.[ref];
      if (!chunk) return [];
      const key = chunkKey(kind, hour, ref);
      const header = await headerOf(store.archive, key, chunk[2]);
      const section = header?.sections[scope];
      return section ? readSection<T>(store.archive, key, section) : [];
    }),
  );
  return parts.flat();
}

/** Archived deliveries of webhook `webhookId` in the given entries that match `filter`, newest first. */
export async function readArchivedDeliveries(
  store: ArchiveStore,
  webhookId: string,
  entries: readonly { hour: number; ref: string }[],
  filter: DeliveryFilter,
): Promise<DeliveryLine[]> {
  const lines = await readSections<DeliveryLine>(store, "deliveries", webhookId, entries);
  return lines.filter((d) => lineMatches(d, filter)).sort((a, b) => b.id - a.id);
}

/** One archived delivery of the webhook, or null: found through the day and hour its id says it was created in. */
export async function findArchivedDelivery(
  store: ArchiveStore,
  webhookId: string,
  deliveryId: number,
  created: { from: number; until: number },
): Promise<DeliveryLine | null> {
  const entries = await archivedEntries(store, webhookId, {}, created.from, created.until);
  const lines = await readSections<DeliveryLine>(store, "deliveries", webhookId, entries);
  return lines.find((d) => d.id === deliveryId) ?? null;
}

/** The events of `ownerKey` archived for `hour` (sorted by event id). */
export async function readArchivedEvents(store: ArchiveStore, ownerKey: string, hour: number): Promise<EventLine[]> {
  const chunks = (await chunksOf(store, "events", [hour])).get(hour) ?? {};
  const refs = Object.entries(chunks)
    .filter(([, [first, last]]) => first <= ownerKey && ownerKey <= last)
    .map(([ref]) => ({ hour, ref }));
  return readSections<EventLine>(store, "events", ownerKey, refs);
}

/** One archived event (its payload the exact bytes its deliveries sent), or null. */
export async function findArchivedEvent(
  store: ArchiveStore,
  eventHour: number,
  ownerKey: string,
  eventId: string,
): Promise<EventLine | null> {
  return (await readArchivedEvents(store, ownerKey, eventHour)).find((e) => e.eventId === eventId) ?? null;
}

/**
 * The days of an owner's archived events in `[from, until)`: event counts by type, per hour (for replay's count). An
 * hour's partition chunks count only once its partition is gone (until then the partition holds its events).
 */
export async function archivedEventCounts(
  store: ArchiveStore,
  ownerKey: string,
  eventTypes: readonly string[],
  from: number,
  until: number,
): Promise<{ hour: number; n: number }[]> {
  const entries = new Map<number, number>();
  const { days, live } = await daysAndLiveHours(store, eventScope(ownerKey), from, until);
  for (const row of days.results)
    for (const [type, byEntry] of Object.entries(JSON.parse(row.counts) as Record<string, Record<string, number>>)) {
      if (!eventTypes.includes(type)) continue;
      for (const [key, n] of Object.entries(byEntry)) {
        const { hour, ref } = parseEntryKey(row.day, key);
        if (hour * HOUR_MS + HOUR_MS <= from || hour * HOUR_MS >= until) continue;
        if (live.has(hour) && !ref.startsWith("L")) continue;
        entries.set(hour, (entries.get(hour) ?? 0) + n);
      }
    }
  return [...entries].map(([hour, n]) => ({ hour, n })).sort((a, b) => a.hour - b.hour);
}

/** Archived deliveries of webhook `scope` created in the whole hours of `[from, until)`, by status (D1 only). */
export async function archivedStatusCounts(
  store: ArchiveStore,
  scope: string,
  from: number,
  until: number,
): Promise<Record<string, number>> {
  const { days, live } = await daysAndLiveHours(store, scope, from, until);
  const byStatus: Record<string, number> = {};
  for (const row of days.results)
    for (const [combo, byEntry] of Object.entries(JSON.parse(row.counts) as Record<string, Record<string, number>>)) {
      const { status } = parseCombo(combo);
      for (const [key, n] of Object.entries(byEntry)) {
        const { hour, ref } = parseEntryKey(row.day, key);
        if (hour * HOUR_MS < from || hour * HOUR_MS >= until) continue;
        if (live.has(hour) && !ref.startsWith("L")) continue;
        byStatus[status] = (byStatus[status] ?? 0) + n;
      }
    }
  return byStatus;
}

/**
 * What the archive holds in `entries` (from archivedEntries, any filter) for webhook `scope`, counted from the combinations
 * alone (whole hours): all lines of `eventTypes` (or of every type), and the failed and disabled-cancelled ones.
 */
export async function archivedComboCounts(
  store: ArchiveStore,
  scope: string,
  entries: readonly Entry[],
  eventTypes?: readonly string[],
): Promise<{ all: number; failed: number; cancelledDisabled: number }> {
  const wanted = new Set(entries.map((e) => `${e.hour}/${e.ref}`));
  const days = [...new Set(entries.map((e) => dayOf(e.hour * HOUR_MS)))];
  const out = { all: 0, failed: 0, cancelledDisabled: 0 };
  if (days.length === 0) return out;
  const { results } = await store.db.$client
    .prepare(DAYS)
    .bind(scope, Math.min(...days), Math.max(...days))
    .all<DayRow>();
  for (const row of results)
    for (const [combo, byEntry] of Object.entries(JSON.parse(row.counts) as Record<string, Record<string, number>>)) {
      const c = parseCombo(combo);
      if (eventTypes && !eventTypes.includes(c.eventType)) continue;
      for (const [key, n] of Object.entries(byEntry)) {
        const { hour, ref } = parseEntryKey(row.day, key);
        if (!wanted.has(`${hour}/${ref}`)) continue;
        out.all += n;
        if (c.status === "failed") out.failed += n;
        if (c.status === "cancelled" && c.cancelledDisabled) out.cancelledDisabled += n;
      }
    }
  return out;
}
