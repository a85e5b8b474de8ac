// Reading deliveries and their attempts for the admin API and the portal: the hot window from D1 (every partition
// through the deliveries_live view), history from the archive (domain/archive/read.ts), one list in id order.
import { DAY_MS, deliveryTimeWindow, firstDeliveryIdAt, HOUR_MS, ID_TIME_FACTOR } from "../db/partitions";
import { EVENT_COLUMNS, type StoredEventRow, withPayloadText } from "../db/payload";
import type { DeliveryRow, DeliveryStatus, ErrorClass, EventRow } from "../db/schema";
import { notFound } from "../lib/errors";
import { archivedEntries, findArchivedDelivery, findArchivedEvent, readArchivedDeliveries } from "./archive/read";
import { deliveryRowOf, type RawDeliveryRow, toPublicAttempt, toPublicDelivery } from "./delivery-views";
import type { Page } from "./webhooks";

export { toPublicDelivery } from "./delivery-views";

/** Narrows a webhook's deliveries; every field is optional. Times are ms, `createdBefore` exclusive; `lastStatusCode`
 * and `lastErrorClass` are the last attempt's. */
export interface DeliveryFilter {
  status?: DeliveryStatus;
  eventType?: string;
  eventId?: string;
  lastStatusCode?: number;
  lastErrorClass?: ErrorClass;
  createdFrom?: number;
  createdBefore?: number;
  /** Only deliveries with a smaller id: the next page of a list merged across webhooks (keyset, newest first). */
  beforeId?: number;
}

/** Where deliveries are read from: D1 for the hot window, the archive (if bound) for history. */
export interface DeliveryStore {
  db: { $client: D1Database };
  archive: R2Bucket | null;
  config: { retentionDays: number };
  now: () => number;
}

/** The SQL conditions (and their values, from ?2 on) of `filter` over the deliveries_live view; ?1 is the webhook. */
function hotConditions(filter: DeliveryFilter): { where: string; params: unknown[] } {
  const parts = ["webhook_id = ?1"];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    parts.push(sql.replace("?", `?${params.length + 1}`));
  };
  if (filter.status !== undefined) add("status = ?", filter.status);
  if (filter.eventType !== undefined) add("event_type = ?", filter.eventType);
  if (filter.eventId !== undefined) add("event_id = ?", filter.eventId);
  if (filter.lastStatusCode !== undefined) add("last_status_code = ?", filter.lastStatusCode);
  if (filter.lastErrorClass !== undefined) add("last_error_class = ?", filter.lastErrorClass);
  if (filter.createdFrom !== undefined) add("created_at >= ?", filter.createdFrom);
  if (filter.createdBefore !== undefined) add("created_at < ?", filter.createdBefore);
  if (filter.beforeId !== undefined) add("id < ?", filter.beforeId);
  return { where: parts.join(" AND "), params };
}

/**
 * The window of history a list covers: the retention period, narrowed by the filter's times, and by `beforeId`'s
 * creation time (`before`, from deliveryTimeWindow; null when unknown, and the lines' ids decide alone).
 */
const historyWindow = (store: DeliveryStore, filter: DeliveryFilter, before: { until: number } | null) => ({
  from: Math.max(store.now() - store.config.retentionDays * DAY_MS, filter.createdFrom ?? 0),
  until: Math.min(store.now() + DAY_MS, filter.createdBefore ?? Number.POSITIVE_INFINITY, before?.until ?? Infinity),
});

/** A delivery id's hour as SQL computes it: ids are creation ms × ID_TIME_FACTOR (db/partitions.ts). */
const ID_HOUR = `id / ${ID_TIME_FACTOR * HOUR_MS}`;

/**
 * A page of the webhook's deliveries, newest first, with every filter over the whole history (the API's list and the
 * portal's). D1 holds the hot window's partitions, newer than anything archived, and the deliveries table, whose rows
 * (still retrying, or finished lately) are as old as the hours they outlived; the archive holds the rest. So the list
 * is the partitions' rows, then the deliveries table's and the archive's merged by id. One batch reads D1's page, its
 * count, and the deliveries table's matching rows by hour of creation; the archive's counts answer for every hour
 * wholly in the window without reading (an hour cut by since/until, or a section that may hold the event id asked
 * for, is read). A page past the partitions' rows skips whole hours by their counts and reads the hours it reaches
 * from both, merged. `total` is exact.
 */
export async function listDeliveryHistory(
  store: DeliveryStore,
  webhookId: string,
  filter: DeliveryFilter,
  { page, perPage }: Page,
) {
  const d1 = store.db.$client;
  const offset = (page - 1) * perPage;
  const { where, params } = hotConditions(filter);
  const [rows, counted, outlived] = await d1.batch<Record<string, unknown>>([
    d1
      .prepare(`SELECT * FROM deliveries_live WHERE ${where} ORDER BY id DESC LIMIT ${perPage} OFFSET ${offset}`)
      .bind(webhookId, ...params),
    d1.prepare(`SELECT count(*) AS n FROM deliveries_live WHERE ${where}`).bind(webhookId, ...params),
    d1
      .prepare(`SELECT ${ID_HOUR} AS hour, count(*) AS n FROM deliveries WHERE ${where} GROUP BY 1`)
      .bind(webhookId, ...params),
  ]);
  const hotTotal = Number(counted?.results[0]?.n ?? 0);
  const items = ((rows?.results ?? []) as unknown as RawDeliveryRow[]).map(deliveryRowOf);
  if (!store.archive) return { rows: items, total: hotTotal, pages: Math.ceil(hotTotal / perPage) };

  const archive = { db: store.db, archive: store.archive };
  const before = filter.beforeId === undefined ? null : await deliveryTimeWindow(d1, filter.beforeId);
  const { from, until } = historyWindow(store, filter, before);
  const entries = from < until ? await archivedEntries(archive, webhookId, filter, from, until) : [];
  // Hour by hour; an hour the counts cannot answer for is read now (the total needs it), and kept.
  const archived = new Map<number, { entries: typeof entries; n: number; lines: DeliveryRow[] | null }>();
  for (const e of entries) {
    const hour = archived.get(e.hour) ?? { entries: [], n: 0, lines: null };
    hour.entries.push(e);
    archived.set(e.hour, hour);
  }
  await Promise.all(
    [...archived.values()].map(async (hour) => {
      if (hour.entries.every((e) => e.matching !== null))
        hour.n = hour.entries.reduce((m, e) => m + (e.matching ?? 0), 0);
      else {
        hour.lines = await readArchivedDeliveries(archive, webhookId, hour.entries, filter);
        hour.n = hour.lines.length;
      }
    }),
  );
  const archivedTotal = [...archived.values()].reduce((m, h) => m + h.n, 0);
  const total = hotTotal + archivedTotal;
  const outlivedByHour = new Map(
    ((outlived?.results ?? []) as { hour: number; n: number }[]).map((r) => [r.hour, r.n]),
  );
  // The partitions' rows come first: D1's page is the answer as far as they go.
  const inPartitions = hotTotal - [...outlivedByHour.values()].reduce((m, n) => m + n, 0);
  const head = items.slice(0, Math.max(0, inPartitions - offset));
  const result = (tail: DeliveryRow[]) => ({ rows: [...head, ...tail], total, pages: Math.ceil(total / perPage) });
  if (archivedTotal === 0) return result(items.slice(head.length));
  const wanted = perPage - head.length;
  if (wanted === 0) return result([]);

  // Then the deliveries table's rows and the archive's: skip whole hours by their counts, read the hours the page
  // reaches from both, merged by id.
  const hours = [...new Set([...outlivedByHour.keys(), ...archived.keys()])]
    .map((hour) => ({ hour, n: (outlivedByHour.get(hour) ?? 0) + (archived.get(hour)?.n ?? 0) }))
    .filter((h) => h.n > 0)
    .sort((a, b) => b.hour - a.hour);
  let skip = Math.max(0, offset - inPartitions);
  let first = 0;
  while (first < hours.length && skip >= hours[first]!.n) skip -= hours[first++]!.n;
  const reached: number[] = [];
  for (let i = first, left = skip + wanted; i < hours.length && left > 0; i++) {
    reached.push(hours[i]!.hour);
    left -= hours[i]!.n;
  }
  if (reached.length === 0) return result([]);
  const newest = reached[0]!;
  const oldest = reached[reached.length - 1]!;
  const [kept, lines] = await Promise.all([
    d1
      .prepare(
        `SELECT * FROM deliveries WHERE ${where} AND id >= ?${params.length + 2} AND id < ?${params.length + 3}
         ORDER BY id DESC LIMIT ${skip + wanted}`,
      )
      .bind(webhookId, ...params, firstDeliveryIdAt(oldest * HOUR_MS), firstDeliveryIdAt((newest + 1) * HOUR_MS))
      .all<RawDeliveryRow>(),
    Promise.all(
      reached.map((hour) => {
        const h = archived.get(hour);
        if (!h || h.n === 0) return [];
        return h.lines ?? readArchivedDeliveries(archive, webhookId, h.entries, filter);
      }),
    ),
  ]);
  const merged = [...kept.results.map(deliveryRowOf), ...lines.flat()].sort((a, b) => b.id - a.id);
  return result(merged.slice(skip, skip + wanted));
}

const HOT_ROW = "SELECT * FROM deliveries_live WHERE webhook_id = ?1 AND id = ?2";

/** The webhook's delivery `deliveryId` while it is in D1 (the hot window), or null. */
export async function findHotDelivery(
  db: { $client: D1Database },
  webhookId: string,
  deliveryId: number,
): Promise<DeliveryRow | null> {
  const row = await db.$client.prepare(HOT_ROW).bind(webhookId, deliveryId).first<RawDeliveryRow>();
  return row ? deliveryRowOf(row) : null;
}

/** The webhook's delivery, from D1 or else the archive; or 404 (a delivery id of another webhook is not found here). */
export async function getDelivery(store: DeliveryStore, webhookId: string, deliveryId: number): Promise<DeliveryRow> {
  const hot = await findHotDelivery(store.db, webhookId, deliveryId);
  if (hot) return hot;
  const created = store.archive ? await deliveryTimeWindow(store.db.$client, deliveryId) : null;
  const archived =
    store.archive && created
      ? await findArchivedDelivery({ db: store.db, archive: store.archive }, webhookId, deliveryId, created)
      : null;
  if (!archived) throw notFound("Delivery not found");
  return archived;
}

/**
 * The event a delivery sent (its payload the exact bytes), from D1 while the event is there, else from the archive;
 * null once retention removed it.
 */
export async function deliveryEvent(store: DeliveryStore, delivery: DeliveryRow): Promise<EventRow | null> {
  const row = await store.db.$client
    .prepare(`SELECT ${EVENT_COLUMNS} FROM events_live WHERE owner_key = ?1 AND event_id = ?2`)
    .bind(delivery.eventOwner, delivery.eventId)
    .first<StoredEventRow>();
  if (row) return (await withPayloadText([row]))[0]!;
  if (!store.archive) return null;
  return findArchivedEvent(
    { db: store.db, archive: store.archive },
    delivery.eventHour,
    delivery.eventOwner,
    delivery.eventId,
  );
}

/**
 * A delivery of this webhook with its payload and attempts, from D1 or else the archive; or 404. `payload` is the JSON
 * text that was signed and delivered (null once retention removed it): callers show it as is, never through JSON.parse.
 */
export async function getDeliveryDetail(store: DeliveryStore, webhookId: string, deliveryId: number) {
  return deliveryDetailOf(store, await getDelivery(store, webhookId, deliveryId));
}

/** getDeliveryDetail of a delivery already read (getDelivery): the portal reads its row's attempts too. */
export async function deliveryDetailOf(store: DeliveryStore, delivery: DeliveryRow) {
  const event = await deliveryEvent(store, delivery);
  return {
    ...toPublicDelivery(delivery),
    // Payloads older than the retention period are gone; the delivery record may outlive them briefly.
    payload: event === null ? null : event.payload,
    attempts: delivery.attempts.map(toPublicAttempt),
  };
}
