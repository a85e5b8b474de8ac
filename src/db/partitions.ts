// The hot store's partitions: deliveries and events live in one table per hour of creation (`deliveries_p<hour>`,
// `events_p<hour>`, where <hour> is hours since the epoch), copies of the `deliveries` and `events` tables made from
// their own DDL. A partition is dropped whole once archived (a DROP writes no rows, where deleting them one by one would
// write one each); what must outlive it moves to the `deliveries` and `events` tables themselves.
//
// Reads go through two views, `deliveries_live` and `events_live` (each table UNION ALL its partitions), which SQLite
// reads partition by partition through each one's own keys. Writes name their table: a delivery's id tells its hour
// (ids are its creation time in ms × ID_TIME_FACTOR), and that hour's partition holds it until the partition is dropped.
// This module is the one seam where a table is chosen; a database handle is chosen by the caller.

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
/** A delivery id is its creation time in ms × this, plus one per earlier delivery of the same webhook in that ms. */
export const ID_TIME_FACTOR = 1024;

export type PartitionedTable = "deliveries" | "events";
const PARTITIONED_TABLES: readonly PartitionedTable[] = ["deliveries", "events"];

export const hourOf = (ms: number) => Math.floor(ms / HOUR_MS);
/** The creation time of a delivery, from its id (ms). */
const deliveryIdTime = (id: number) => Math.floor(id / ID_TIME_FACTOR);
/** Ids below this are AUTOINCREMENT ids from before migration 0010, which do not name their time. */
const FIRST_TIMED_DELIVERY_ID = Date.UTC(2024, 0, 1) * ID_TIME_FACTOR;
const hourOfDeliveryId = (id: number) => hourOf(deliveryIdTime(id));
/**
 * When delivery `id` was created, as a window [from, until) of ms: its ms for an id that names it; for an id from before
 * migration 0010, the hour legacy_delivery_hours gives and the hours either side (ids and creation times of concurrent
 * publishes may cross at an hour's edge); null if that table does not know it (past retention).
 */
export async function deliveryTimeWindow(d1: D1Database, id: number): Promise<{ from: number; until: number } | null> {
  if (id >= FIRST_TIMED_DELIVERY_ID) return { from: deliveryIdTime(id), until: deliveryIdTime(id) + 1 };
  const row = await d1
    .prepare("SELECT hour FROM legacy_delivery_hours WHERE last_id >= ?1 ORDER BY last_id LIMIT 1")
    .bind(id)
    .first<{ hour: number }>();
  return row ? { from: (row.hour - 1) * HOUR_MS, until: (row.hour + 2) * HOUR_MS } : null;
}
/** The lowest id a delivery created at `ms` may have. */
export const firstDeliveryIdAt = (ms: number) => ms * ID_TIME_FACTOR;

export const partitionName = (table: PartitionedTable, hour: number) => `${table}_p${hour}`;
const viewName = (table: PartitionedTable) => `${table}_live`;
const PARTITION_PATTERN = /^(deliveries|events)_p(\d+)$/;

/**
 * The partitions a write may name. An hour is live if this isolate saw its partitions, or if it is no earlier than
 * the hour the isolate last looked: partitions are only ever created for the current hour and the next, so one made
 * since by another isolate is one of those. A statement naming a dropped one fails ("no such table"), and the write is
 * run again after a fresh look (withPartitions).
 */
export interface LivePartitions {
  has(hour: number): boolean;
  /** The hours seen to have partitions, oldest first. */
  readonly hours: readonly number[];
}

interface PartitionCache {
  hours: Set<number>;
  /** The hour of the last look at sqlite_master. */
  lookedAt: number;
  loaded: Promise<void> | null;
}
const caches = new WeakMap<D1Database, PartitionCache>();

function cacheOf(d1: D1Database): PartitionCache {
  let cache = caches.get(d1);
  if (!cache) caches.set(d1, (cache = { hours: new Set(), lookedAt: 0, loaded: null }));
  return cache;
}

const liveOf = (cache: PartitionCache): LivePartitions => {
  const hours = [...cache.hours].sort((a, b) => a - b);
  return { hours, has: (hour) => cache.hours.has(hour) || hour >= cache.lookedAt };
};

/** The hours that have partitions, as sqlite_master says. */
export async function listPartitionHours(d1: D1Database): Promise<number[]> {
  const { results } = await d1
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'deliveries_p[0-9]*'")
    .all<{ name: string }>();
  return results
    .map((r) => PARTITION_PATTERN.exec(r.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[2]))
    .sort((a, b) => a - b);
}

/** Loads (or reloads) the partitions this isolate knows of. */
export async function refreshPartitions(d1: D1Database): Promise<LivePartitions> {
  const cache = cacheOf(d1);
  const lookedAt = hourOf(Date.now());
  const loading = listPartitionHours(d1).then((hours) => {
    cache.hours = new Set(hours);
    cache.lookedAt = lookedAt;
  });
  cache.loaded = loading;
  try {
    await loading;
  } catch (err) {
    // A failed look (D1 unavailable for a moment) is not kept: the next caller looks again.
    if (cache.loaded === loading) cache.loaded = null;
    throw err;
  }
  return liveOf(cache);
}

/** The partitions as this isolate last saw them (looking once, the first time). */
export async function livePartitions(d1: D1Database): Promise<LivePartitions> {
  const cache = cacheOf(d1);
  if (!cache.loaded) return refreshPartitions(d1);
  await cache.loaded;
  return liveOf(cache);
}

/** Whether a D1 error says a statement named a table that is not (or no longer) there. */
export const isMissingTable = (err: unknown) => /no such table/i.test(String((err as Error)?.message ?? err));

/**
 * Runs `write` with the partitions this isolate knows of; if it names a table that was dropped (or not yet created) in
 * the meantime, reloads them and runs it once more. `write` must be safe to run again (every write here is one batch,
 * which D1 runs as one transaction: a failed one changed nothing).
 */
export async function withPartitions<T>(d1: D1Database, write: (live: LivePartitions) => Promise<T>): Promise<T> {
  try {
    return await write(await livePartitions(d1));
  } catch (err) {
    if (!isMissingTable(err)) throw err;
    return write(await refreshPartitions(d1));
  }
}

/** The table that holds delivery `id`: its hour's partition while that exists, else `deliveries`. */
export const deliveryTable = (live: LivePartitions, id: number) => {
  const hour = hourOfDeliveryId(id);
  return live.has(hour) ? partitionName("deliveries", hour) : "deliveries";
};

/** Items grouped by the table that holds the delivery each names (see deliveryTable). */
export function groupByTable<T>(
  live: LivePartitions,
  items: readonly T[],
  idOf: (item: T) => number,
): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const table = deliveryTable(live, idOf(item));
    groups.set(table, [...(groups.get(table) ?? []), item]);
  }
  return groups;
}

/** Every table of `table`'s kind that holds rows: the table itself, then the partitions of `hours`, oldest first. */
export const tablesOf = (table: PartitionedTable, hours: readonly number[]) => [
  table,
  ...[...hours].sort((a, b) => a - b).map((h) => partitionName(table, h)),
];

// ---- DDL ----

interface TemplateDdl {
  type: "table" | "index";
  name: string;
  tbl_name: PartitionedTable;
  sql: string;
}

/** The statements that create `table`'s partition for `hour`, made from the table's own DDL (names substituted). */
function partitionDdl(templates: readonly TemplateDdl[], table: PartitionedTable, hour: number): string[] {
  const partition = partitionName(table, hour);
  const quoted = "[`\"']?";
  return templates
    .filter((t) => t.tbl_name === table)
    .sort((a, b) => (a.type === b.type ? 0 : a.type === "table" ? -1 : 1))
    .map((t) =>
      t.type === "table"
        ? t.sql.replace(
            new RegExp(`^CREATE TABLE\\s+${quoted}\\w+${quoted}`, "i"),
            `CREATE TABLE IF NOT EXISTS "${partition}"`,
          )
        : t.sql.replace(
            new RegExp(`^CREATE (UNIQUE )?INDEX\\s+${quoted}(\\w+)${quoted}\\s+ON\\s+${quoted}\\w+${quoted}`, "i"),
            (_m, unique: string | undefined, name: string) =>
              `CREATE ${unique ?? ""}INDEX IF NOT EXISTS "${partition}_${name}" ON "${partition}"`,
          ),
    );
}

/**
 * D1 compiles a compound SELECT of at most this many terms ("too many terms in compound SELECT" past it), and a view
 * is one: the hot window alone has more partitions than that. A view over more tables is therefore a tree of views
 * (`<view>_<n>`) of at most this many terms each; SQLite still reads each partition through its own keys and merges
 * ordered reads through the nested views without sorting.
 */
export const COMPOUND_SELECT_LIMIT = 5;

const unionOf = (names: readonly string[]) => names.map((t) => `SELECT * FROM "${t}"`).join(" UNION ALL ");

/** The statements that replace `table`'s view (and its inner views, `subViews`, as they are now) with one over `hours`. */
function viewDdl(table: PartitionedTable, hours: readonly number[], subViews: readonly string[]): string[] {
  const view = viewName(table);
  const creates: string[] = [];
  let terms = tablesOf(table, hours);
  let n = 0;
  while (terms.length > COMPOUND_SELECT_LIMIT) {
    const next: string[] = [];
    for (let i = 0; i < terms.length; i += COMPOUND_SELECT_LIMIT) {
      const group = terms.slice(i, i + COMPOUND_SELECT_LIMIT);
      if (group.length === 1) {
        next.push(group[0]!);
        continue;
      }
      const inner = `${view}_${++n}`;
      // Dropped first even if `subViews` did not list it: another isolate may have created it since that read.
      creates.push(`DROP VIEW IF EXISTS "${inner}"`, `CREATE VIEW "${inner}" AS ${unionOf(group)}`);
      next.push(inner);
    }
    terms = next;
  }
  return [
    `DROP VIEW IF EXISTS "${view}"`,
    ...subViews.filter((v) => v.startsWith(`${view}_`)).map((v) => `DROP VIEW IF EXISTS "${v}"`),
    ...creates,
    `CREATE VIEW "${view}" AS ${unionOf(terms)}`,
  ];
}

/** The inner views of the partitioned tables' views as they are now (see viewDdl). */
async function listSubViews(d1: D1Database): Promise<string[]> {
  const { results } = await d1
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'view' AND (name GLOB 'deliveries_live_[0-9]*' OR name GLOB 'events_live_[0-9]*')",
    )
    .all<{ name: string }>();
  return results.map((r) => r.name);
}

async function templates(d1: D1Database): Promise<TemplateDdl[]> {
  const { results } = await d1
    .prepare(
      "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name IN ('deliveries', 'events') AND type IN ('table', 'index') AND sql IS NOT NULL",
    )
    .all<TemplateDdl>();
  return results;
}

/**
 * Creates the partitions of `hours` that do not exist yet, and redefines the views over all of them, in one batch.
 * Idempotent; two isolates doing it at once both end with the same tables and views.
 */
export async function createPartitions(d1: D1Database, hours: readonly number[]): Promise<void> {
  const existing = new Set(await listPartitionHours(d1));
  const missing = hours.filter((h) => !existing.has(h));
  const cache = cacheOf(d1);
  if (missing.length === 0) {
    cache.hours = existing;
    return;
  }
  const [ddl, subViews] = await Promise.all([templates(d1), listSubViews(d1)]);
  const all = [...new Set([...existing, ...missing])].sort((a, b) => a - b);
  await d1.batch(
    [
      ...missing.flatMap((h) => PARTITIONED_TABLES.flatMap((t) => partitionDdl(ddl, t, h))),
      ...PARTITIONED_TABLES.flatMap((t) => viewDdl(t, all, subViews)),
    ].map((s) => d1.prepare(s)),
  );
  cache.hours = new Set(all);
}

/**
 * Makes sure the partitions of the hour of `now` (and of the next hour, so that the turn of the hour needs no DDL)
 * exist; cheap when this isolate has seen them.
 */
export async function ensureCurrentPartitions(d1: D1Database, now: number): Promise<number> {
  const hour = hourOf(now);
  const cache = cacheOf(d1);
  if (cache.loaded) await cache.loaded;
  if (!cache.hours.has(hour) || !cache.hours.has(hour + 1)) await createPartitions(d1, [hour, hour + 1]);
  return hour;
}

/**
 * The statements that drop `hour`'s partitions and redefine the views without them, to run at the end of the batch
 * that moved out what must outlive them (domain/archive/seal.ts).
 */
export async function dropPartitionStatements(
  d1: D1Database,
  hour: number,
  remaining: readonly number[],
): Promise<D1PreparedStatement[]> {
  const left = remaining.filter((h) => h !== hour);
  const subViews = await listSubViews(d1);
  return [
    ...PARTITIONED_TABLES.flatMap((t) => viewDdl(t, left, subViews)),
    ...PARTITIONED_TABLES.map((t) => `DROP TABLE IF EXISTS "${partitionName(t, hour)}"`),
  ].map((s) => d1.prepare(s));
}

/** Records that this isolate saw `hour`'s partitions go. */
export function forgetPartition(d1: D1Database, hour: number): void {
  cacheOf(d1).hours.delete(hour);
}
