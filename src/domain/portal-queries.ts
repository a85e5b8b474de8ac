// The reads only the portal makes, in one place so that a change of storage re-implements them together: the log across
// an owner's webhooks (merged from the per-webhook list), the search by resource id, each webhook's recent outcomes
// (the failing state and the last error), a webhook's open recoveries, the head of an ordered webhook's line, an
// attempt's response headers.
// Every query is bounded and reads by a key named beside it (test/portal/queries.test.ts checks the plans). None adds
// a write or an index: what the portal shows comes from the rows the pipeline writes anyway. Each webhook is read in the
// shard its id names (db/shards.ts): a partner's webhooks may span several, read at once and merged.
import { firstDeliveryIdAt, HOUR_MS } from "../db/partitions";
import { payloadText, type StoredPayload } from "../db/payload";
import type { DeliveryRow, ErrorClass, RecoveryKind, WebhookEndpointRow } from "../db/schema";
import { groupByShard, hasShard, onShard, onWebhookShard, type ShardScoped } from "../db/shards";
import type { Config } from "../lib/config";
import { archivedSections, readArchivedDeliveries, readArchivedEvents } from "./archive/read";
import { type DeliveryFilter, type DeliveryStore, findHotDelivery, listDeliveryHistory } from "./deliveries";
import { orderedHeads } from "./delivery/ordered";
import { deliveryRowOf, type RawDeliveryRow } from "./delivery-views";

/** Webhooks one merged log covers at most: the per-owner cap (MAX_WEBHOOKS_PER_OWNER's default). */
export const MERGED_LOG_MAX_WEBHOOKS = 100;

/** Where a page of the merged log starts: below this delivery in the log's order (id, then webhook id, descending). */
export interface LogCursor {
  id: number;
  webhookId: string | null;
}

/** The log's order: newest first; two webhooks' deliveries may share an id (ids are unique per webhook). */
const newestFirst = (a: DeliveryRow, b: DeliveryRow) =>
  b.id - a.id || (a.webhookId < b.webhookId ? 1 : a.webhookId > b.webhookId ? -1 : 0);

/**
 * A page of the deliveries of several webhooks, newest first, over their whole history with every filter: each
 * webhook's first page from `cursor` on (listDeliveryHistory, the API's own list: D1 and the archive), merged. Several
 * filters match any of them (a kind of error is several error classes). The next page starts below the last delivery
 * shown, so every page reads at most `perPage` deliveries per webhook and filter. `total` counts what matches from
 * the cursor on.
 */
export async function listDeliveriesAcross(
  store: DeliveryStore & ShardScoped,
  webhookIds: readonly string[],
  filters: readonly DeliveryFilter[],
  perPage: number,
  cursor: LogCursor | null = null,
): Promise<{ rows: DeliveryRow[]; total: number }> {
  const ids = webhookIds.slice(0, MERGED_LOG_MAX_WEBHOOKS);
  // Below (id, webhook) in the log's order: a smaller id, or the same id on a webhook that sorts after it.
  const beforeIdOf = (webhookId: string) =>
    cursor === null ? undefined : cursor.webhookId !== null && webhookId < cursor.webhookId ? cursor.id + 1 : cursor.id;
  const pages = await Promise.all(
    ids.flatMap((id) => {
      const shard = onWebhookShard(store, id);
      return shard === null
        ? []
        : filters.map((filter) =>
            listDeliveryHistory(shard, id, { ...filter, beforeId: beforeIdOf(id) }, { page: 1, perPage }),
          );
    }),
  );
  const byKey = new Map<string, DeliveryRow>();
  for (const page of pages) for (const row of page.rows) byKey.set(`${row.webhookId}/${row.id}`, row);
  const rows = [...byKey.values()].sort(newestFirst);
  return { rows: rows.slice(0, perPage), total: pages.reduce((n, p) => n + p.total, 0) };
}

// ---- Search by resource id ----

/** Deliveries a resource search reads from D1 at most, shared among the endpoints searched (at most 1,000 each). */
const RESOURCE_SEARCH_SCAN = 2000;
const RESOURCE_SEARCH_SCAN_PER_ENDPOINT = 1000;
/** Hours of history past the hot window a resource search reads from the archive at most, newest first. */
export const RESOURCE_SEARCH_ARCHIVED_HOURS = 24;
/** Archive sections (one webhook's or one owner's part of an hour's chunk) a resource search reads at most. */
const RESOURCE_SEARCH_ARCHIVE_READS = 48;

// A webhook's newest ?5 deliveries created in [?2, ?3): the primary key (webhook_id, id), from ?4 (the first id of
// ?3) down. Only what names the event: the attempts stay in D1.
const DELIVERIES_SCANNED = `SELECT webhook_id, id, event_owner, event_id, created_at FROM deliveries_live
  WHERE webhook_id = ?1 AND created_at >= ?2 AND created_at < ?3 AND id < ?4 ORDER BY id DESC LIMIT ?5`;
// Events by key (owner_key, event_id), the primary key of the events table and of each partition.
const EVENTS_BY_KEY = `SELECT owner_key, event_id, payload FROM events_live
  WHERE (owner_key, event_id) IN (SELECT k.value ->> 0, k.value ->> 1 FROM json_each(?1) AS k)`;
// Deliveries by key (webhook_id, id).
const DELIVERIES_BY_KEY = `SELECT * FROM deliveries_live
  WHERE (webhook_id, id) IN (SELECT k.value ->> 0, k.value ->> 1 FROM json_each(?1) AS k)`;
const EVENT_KEYS_PER_STATEMENT = 500;

/**
 * The resource an event's payload is about (`resource.id`), read in JS from its text (payloadText: D1 may store it
 * compressed, so SQL never reads inside it).
 */
function resourceIdOf(payload: string): string | null {
  try {
    const id = (JSON.parse(payload) as { resource?: { id?: unknown } }).resource?.id;
    return typeof id === "string" ? id : null;
  } catch {
    return null;
  }
}

export interface ResourceSearch {
  rows: DeliveryRow[];
  /** How many of each endpoint's newest deliveries in D1 were read. */
  scannedPerEndpoint: number;
  /** From when on the window was searched entirely (its start, unless a bound above stopped the search earlier). */
  coveredFrom: number;
}

type SearchStore = DeliveryStore & ShardScoped & { config: Pick<Config, "hotWindowHours" | "retentionDays"> };

/**
 * Deliveries of these webhooks created in `window` whose event is about resource `resourceId`, newest first (at most
 * `limit`). It reads each webhook's newest deliveries in D1 (the hot window, and whatever outlived it there; at most
 * RESOURCE_SEARCH_SCAN in all), decodes their events' payloads in JS, then, if D1 held the whole window's part there,
 * the archive's newest RESOURCE_SEARCH_ARCHIVED_HOURS past the hot window (at most RESOURCE_SEARCH_ARCHIVE_READS
 * sections, shared by the shards searched). `coveredFrom` says how far back that reached in every shard.
 */
export async function searchDeliveriesByResource(
  store: SearchStore,
  webhookIds: readonly string[],
  resourceId: string,
  window: { from: number; until: number },
  limit: number,
): Promise<ResourceSearch> {
  const ids = webhookIds.slice(0, MERGED_LOG_MAX_WEBHOOKS);
  const scan = Math.min(RESOURCE_SEARCH_SCAN_PER_ENDPOINT, Math.floor(RESOURCE_SEARCH_SCAN / Math.max(1, ids.length)));
  if (ids.length === 0 || window.from >= window.until)
    return { rows: [], scannedPerEndpoint: scan, coveredFrom: window.from };
  const shards = [...groupByShard(ids, (id) => id)].filter(([shard]) => hasShard(store, shard));
  const archiveReads = Math.max(2, Math.floor(RESOURCE_SEARCH_ARCHIVE_READS / Math.max(1, shards.length)));
  const found = await Promise.all(
    shards.map(([shard, inShard]) =>
      searchShard(onShard(store, shard), inShard, resourceId, window, { limit, scan, archiveReads }),
    ),
  );
  const rows = found.flatMap((f) => f.rows).sort(newestFirst);
  const coveredFrom = Math.max(window.from, ...found.map((f) => f.coveredFrom));
  return { rows: rows.slice(0, limit), scannedPerEndpoint: scan, coveredFrom };
}

/** The search in one shard, over its webhooks `ids`: `scan` deliveries each in D1, then `archiveReads` sections. */
async function searchShard(
  store: SearchStore,
  ids: readonly string[],
  resourceId: string,
  window: { from: number; until: number },
  bounds: { limit: number; scan: number; archiveReads: number },
): Promise<{ rows: DeliveryRow[]; coveredFrom: number }> {
  const { limit, scan } = bounds;
  const d1 = store.db.$client;
  const scanned = await d1.batch<{
    webhook_id: string;
    id: number;
    event_owner: string;
    event_id: string;
    created_at: number;
  }>(
    ids.map((id) =>
      d1.prepare(DELIVERIES_SCANNED).bind(id, window.from, window.until, firstDeliveryIdAt(window.until), scan),
    ),
  );
  // A webhook whose scan stopped at its bound was searched back to its oldest delivery read, no further.
  let coveredFrom = window.from;
  for (const { results } of scanned)
    if (results.length === scan) coveredFrom = Math.max(coveredFrom, results[results.length - 1]!.created_at);
  const hot = scanned.flatMap((r) => r.results);
  const matching = await eventsAbout(d1, resourceId, [...new Set(hot.map((d) => eventKey(d.event_owner, d.event_id)))]);
  const keys = hot
    .filter((d) => matching.has(eventKey(d.event_owner, d.event_id)))
    .sort((a, b) => b.id - a.id || (a.webhook_id < b.webhook_id ? 1 : -1))
    .slice(0, limit);
  const found: DeliveryRow[] = [];
  if (keys.length > 0) {
    const { results } = await d1
      .prepare(DELIVERIES_BY_KEY)
      .bind(JSON.stringify(keys.map((k) => [k.webhook_id, k.id])))
      .all<RawDeliveryRow>();
    found.push(...results.map(deliveryRowOf));
  }
  if (store.archive && coveredFrom === window.from && found.length < limit) {
    const archived = await searchArchive({ ...store, archive: store.archive }, ids, resourceId, window, {
      limit,
      reads: bounds.archiveReads,
    });
    found.push(...archived.rows);
    coveredFrom = archived.coveredFrom;
  }
  const byKey = new Map(found.map((d) => [`${d.webhookId}/${d.id}`, d]));
  return { rows: [...byKey.values()].sort(newestFirst).slice(0, limit), coveredFrom };
}

const eventKey = (owner: string, eventId: string) => `${owner} ${eventId}`;

/** Of these events in D1 (keys from eventKey), the ones about `resourceId`. */
async function eventsAbout(d1: D1Database, resourceId: string, keys: readonly string[]): Promise<Set<string>> {
  const matching = new Set<string>();
  if (keys.length === 0) return matching;
  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < keys.length; i += EVENT_KEYS_PER_STATEMENT)
    statements.push(
      d1.prepare(EVENTS_BY_KEY).bind(JSON.stringify(keys.slice(i, i + EVENT_KEYS_PER_STATEMENT).map(splitEventKey))),
    );
  const batches = await d1.batch<{ owner_key: string; event_id: string; payload: StoredPayload }>(statements);
  await Promise.all(
    batches
      .flatMap((r) => r.results)
      .map(async (e) => {
        if (resourceIdOf(await payloadText(e.payload)) === resourceId) matching.add(eventKey(e.owner_key, e.event_id));
      }),
  );
  return matching;
}
const splitEventKey = (key: string) => [key.slice(0, key.indexOf(" ")), key.slice(key.indexOf(" ") + 1)];

/**
 * The archive's part of a resource search in one shard: the hours past the hot window (at most
 * RESOURCE_SEARCH_ARCHIVED_HOURS, newest first, and only as many as `reads` sections allow), each webhook's delivery
 * lines, then their events' lines (an owner's part of an hour), their payloads decoded in JS.
 */
async function searchArchive(
  store: SearchStore & { archive: R2Bucket },
  webhookIds: readonly string[],
  resourceId: string,
  window: { from: number; until: number },
  { limit, reads }: { limit: number; reads: number },
): Promise<{ rows: DeliveryRow[]; coveredFrom: number }> {
  const end = Math.min(window.until, store.now());
  const from = Math.max(window.from, end - (store.config.hotWindowHours + RESOURCE_SEARCH_ARCHIVED_HOURS) * HOUR_MS);
  const sections = await archivedSections(store, webhookIds, from, end);
  // Hour by hour, newest first, while the budget lasts: half of it for the webhooks' sections, the rest for the events'.
  const byHour = new Map<number, { webhookId: string; hour: number; ref: string }[]>();
  for (const [webhookId, list] of sections)
    for (const s of list) byHour.set(s.hour, [...(byHour.get(s.hour) ?? []), { webhookId, ...s }]);
  let coveredFrom = from;
  const chosen: { webhookId: string; hour: number; ref: string }[] = [];
  for (const hour of [...byHour.keys()].sort((a, b) => b - a)) {
    const hourSections = byHour.get(hour)!;
    if (chosen.length + hourSections.length > reads / 2) {
      coveredFrom = Math.max(from, (hour + 1) * HOUR_MS);
      break;
    }
    chosen.push(...hourSections);
  }
  const filter = { createdFrom: window.from, createdBefore: window.until };
  const lines = (
    await Promise.all(
      webhookIds.map((webhookId) => {
        const mine = chosen.filter((s) => s.webhookId === webhookId);
        return mine.length === 0 ? [] : readArchivedDeliveries(store, webhookId, mine, filter);
      }),
    )
  ).flat();
  const ownerHours = new Map<string, { owner: string; hour: number }>();
  for (const d of lines) ownerHours.set(`${d.eventOwner} ${d.eventHour}`, { owner: d.eventOwner, hour: d.eventHour });
  const pairs = [...ownerHours.values()].sort((a, b) => b.hour - a.hour);
  const eventReads = reads - chosen.length;
  if (pairs.length > eventReads) coveredFrom = Math.max(coveredFrom, (pairs[eventReads]!.hour + 1) * HOUR_MS);
  const events = await Promise.all(
    pairs.slice(0, eventReads).map(({ owner, hour }) => readArchivedEvents(store, owner, hour)),
  );
  const matching = new Set(
    events
      .flat()
      .filter((e) => resourceIdOf(e.payload) === resourceId)
      .map((e) => eventKey(e.ownerKey, e.eventId)),
  );
  const rows = lines.filter((d) => matching.has(eventKey(d.eventOwner, d.eventId))).sort(newestFirst);
  return { rows: rows.slice(0, limit), coveredFrom };
}

// ---- Recent outcomes ----

/** Deliveries whose latest attempt decides the failing state: each webhook's newest attempted ones. */
const RECENT_OUTCOMES = 20;
const RECENT_SCAN = 100;

// A webhook's newest ?2 deliveries in D1 (the primary key, webhook_id then id descending), with how their latest attempt
// went (a delivery's last_* columns are its latest attempt's); the attempted ones are kept in JS. `id` is selected so
// that SQLite merges the partitions' ordered reads instead of sorting all of the webhook's rows.
const RECENT_OUTCOMES_SQL = `SELECT webhook_id, id, last_attempt_at, last_status_code, last_error_class, last_error
  FROM deliveries_live WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2`;

export interface LastError {
  at: number;
  statusCode: number | null;
  errorClass: ErrorClass | null;
  error: string | null;
}

/** How a webhook's recent deliveries went, as their latest attempts tell. */
export interface RecentHealth {
  /** Recent deliveries attempted (up to RECENT_OUTCOMES). */
  recent: number;
  /** Of those, the ones whose latest attempt failed. */
  failed: number;
  /** Enabled, its latest attempt failed, and at least half of the recent ones did: deliveries are not getting through. */
  failing: boolean;
  lastError: LastError | null;
}

/**
 * The recent health of each webhook, from its newest deliveries in D1 (the hot window, HOT_WINDOW_HOURS, and whatever
 * is still retrying): one statement per webhook, in one batch per shard.
 */
export async function recentHealthOf(
  store: ShardScoped,
  webhooks: readonly Pick<WebhookEndpointRow, "id" | "enabled">[],
): Promise<Map<string, RecentHealth>> {
  const health = new Map<string, RecentHealth>();
  await Promise.all(
    [...groupByShard(webhooks, (w) => w.id)]
      .filter(([shard]) => hasShard(store, shard))
      .map(([shard, inShard]) => recentHealthInShard(onShard(store, shard).db, inShard, health)),
  );
  return health;
}

async function recentHealthInShard(
  db: { $client: D1Database },
  webhooks: readonly Pick<WebhookEndpointRow, "id" | "enabled">[],
  health: Map<string, RecentHealth>,
): Promise<void> {
  const d1 = db.$client;
  const results = await d1.batch<{
    webhook_id: string;
    last_attempt_at: number | null;
    last_status_code: number | null;
    last_error_class: ErrorClass | null;
    last_error: string | null;
  }>(webhooks.map((w) => d1.prepare(RECENT_OUTCOMES_SQL).bind(w.id, RECENT_SCAN)));
  webhooks.forEach((webhook, i) => {
    const outcomes = (results[i]?.results ?? [])
      .filter((r): r is typeof r & { last_attempt_at: number } => r.last_attempt_at !== null)
      .sort((a, b) => b.last_attempt_at - a.last_attempt_at)
      .slice(0, RECENT_OUTCOMES);
    const failures = outcomes.filter((o) => o.last_error_class !== null);
    const last = failures[0];
    health.set(webhook.id, {
      recent: outcomes.length,
      failed: failures.length,
      failing: webhook.enabled && outcomes[0]?.last_error_class != null && failures.length * 2 >= outcomes.length,
      lastError: last
        ? {
            at: last.last_attempt_at,
            statusCode: last.last_status_code,
            errorClass: last.last_error_class,
            error: last.last_error,
          }
        : null,
    });
  });
}

// ---- Recoveries ----

// webhook_recoveries_open_idx: only open jobs are indexed, so this reads the few running anywhere.
const OPEN_RECOVERIES_OF = `SELECT id, kind, since, until, cursor, requested_at FROM webhook_recoveries
  WHERE finished_at IS NULL AND webhook_id = ?1 ORDER BY id LIMIT 10`;

export interface RecoveryProgress {
  id: number;
  kind: RecoveryKind;
  since: number;
  until: number;
  /** The created_at the job has reached, from since to until. */
  cursor: number;
  requestedAt: number;
}

/** The recoveries and replays of a webhook still running (the cron continues them an hour at a time). */
export async function openRecoveriesOf(db: { $client: D1Database }, webhookId: string): Promise<RecoveryProgress[]> {
  const { results } = await db.$client.prepare(OPEN_RECOVERIES_OF).bind(webhookId).all<{
    id: number;
    kind: RecoveryKind;
    since: number;
    until: number;
    cursor: number;
    requested_at: number;
  }>();
  return results.map((r) => ({ ...r, requestedAt: r.requested_at }));
}

// ---- Ordered webhooks ----

/**
 * The delivery at the head of an ordered webhook's line, the one the rest wait for (its status, next attempt and last
 * error say why), or null: not ordered, or nothing waits. The head's id is one query (ordered.ts), its row one seek.
 */
export async function orderedHeadOf(
  db: { $client: D1Database },
  webhook: Pick<WebhookEndpointRow, "id" | "ordered">,
): Promise<DeliveryRow | null> {
  if (!webhook.ordered) return null;
  const head = (await orderedHeads(db.$client, [webhook.id])).get(webhook.id);
  return head === undefined ? null : findHotDelivery(db, webhook.id, head);
}

// ---- Response headers ----

/**
 * The response headers of a delivery's attempts, by attempt number: kept in the attempt's record (`attempts`) for failed
 * attempts only, bounded (domain/http-attempt.ts); archived deliveries carry what their row carried.
 */
export function attemptResponseHeaders(delivery: Pick<DeliveryRow, "attempts">): Map<number, [string, string][]> {
  return new Map(delivery.attempts.flatMap((a) => (a.response_headers ? [[a.attempt, a.response_headers]] : [])));
}
