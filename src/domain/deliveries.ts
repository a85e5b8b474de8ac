// Reading deliveries and their attempts for the admin API and the portal: the hot window from D1 (every partition
// through the deliveries_live view), history from the archive (domain/archive/read.ts), one list in id order.
import { DAY_MS, deliveryIdTime } from "../db/partitions";
import type { DeliveryRow, DeliveryStatus, ErrorClass, EventRow } from "../db/schema";
import { notFound } from "../lib/errors";
import { archivedEntries, findArchivedDelivery, findArchivedEvent, readArchivedDeliveries } from "./archive/read";
import { deliveryRowOf, type RawDeliveryRow, toPublicAttempt, toPublicDelivery } from "./delivery-views";
import type { Page } from "./webhooks";

export { toPublicAttempt, toPublicDelivery } from "./delivery-views";

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
  return { where: parts.join(" AND "), params };
}

/** The window of history a list covers: the retention period, narrowed by the filter's times. */
const historyWindow = (store: DeliveryStore, filter: DeliveryFilter) => ({
  from: Math.max(store.now() - store.config.retentionDays * DAY_MS, filter.createdFrom ?? 0),
  until: Math.min(store.now() + DAY_MS, filter.createdBefore ?? Number.POSITIVE_INFINITY),
});

/**
 * A page of the webhook's deliveries, newest first, with every filter over the whole history (the API's list and the
 * portal's): the hot window's rows
 * (D1) first, then the archive's from where those end. `total` is exact: D1 counts its rows; the archive's counts
 * answer for every hour wholly in the window, and the few sections that cannot be counted that way (an hour cut by
 * since/until, a section that may hold the event id asked for) are read.
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
  const [rows, counted] = await d1.batch<Record<string, unknown>>([
    d1
      .prepare(`SELECT * FROM deliveries_live WHERE ${where} ORDER BY id DESC LIMIT ${perPage} OFFSET ${offset}`)
      .bind(webhookId, ...params),
    d1.prepare(`SELECT count(*) AS n FROM deliveries_live WHERE ${where}`).bind(webhookId, ...params),
  ]);
  const hotTotal = Number(counted?.results[0]?.n ?? 0);
  const items = ((rows?.results ?? []) as unknown as RawDeliveryRow[]).map(deliveryRowOf);
  if (!store.archive) return { rows: items, total: hotTotal, pages: Math.ceil(hotTotal / perPage) };

  const archive = { db: store.db, archive: store.archive };
  const { from, until } = historyWindow(store, filter);
  const entries = from < until ? await archivedEntries(archive, webhookId, filter, from, until) : [];
  // Hour by hour, newest first; an hour the counts cannot answer for is read now (the total needs it), and kept.
  const hours = new Map<number, { entries: typeof entries; n: number; lines: DeliveryRow[] | null }>();
  for (const e of entries) {
    const hour = hours.get(e.hour) ?? { entries: [], n: 0, lines: null };
    hour.entries.push(e);
    hours.set(e.hour, hour);
  }
  await Promise.all(
    [...hours.values()].map(async (hour) => {
      if (hour.entries.every((e) => e.matching !== null))
        hour.n = hour.entries.reduce((m, e) => m + (e.matching ?? 0), 0);
      else {
        hour.lines = await readArchivedDeliveries(archive, webhookId, hour.entries, filter);
        hour.n = hour.lines.length;
      }
    }),
  );
  const archivedTotal = [...hours.values()].reduce((m, h) => m + h.n, 0);

  // The page's part of the archive: skip whole hours by their counts, read the hours the page reaches.
  let skip = Math.max(0, offset - hotTotal);
  let wanted = perPage - items.length;
  for (const hour of hours.values()) {
    if (wanted <= 0) break;
    if (skip >= hour.n) {
      skip -= hour.n;
      continue;
    }
    const lines = hour.lines ?? (await readArchivedDeliveries(archive, webhookId, hour.entries, filter));
    const taken = lines.slice(skip, skip + wanted);
    items.push(...taken);
    wanted -= taken.length;
    skip = 0;
  }
  const total = hotTotal + archivedTotal;
  return { rows: items, total, pages: Math.ceil(total / perPage) };
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
  const archived = store.archive
    ? await findArchivedDelivery(
        { db: store.db, archive: store.archive },
        webhookId,
        deliveryId,
        deliveryIdTime(deliveryId),
      )
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
    .prepare(
      `SELECT owner_key AS ownerKey, event_id AS eventId, event_type AS eventType, tenant_id AS tenantId,
         partner_id AS partnerId, payload, created_at AS createdAt
       FROM events_live WHERE owner_key = ?1 AND event_id = ?2`,
    )
    .bind(delivery.eventOwner, delivery.eventId)
    .first<EventRow>();
  if (row) return row;
  if (!store.archive) return null;
  return findArchivedEvent(
    { db: store.db, archive: store.archive },
    delivery.eventHour,
    delivery.eventOwner,
    delivery.eventId,
  );
}

/** A delivery of this webhook with its payload and attempts, from D1 or else the archive; or 404. */
export async function getDeliveryDetail(store: DeliveryStore, webhookId: string, deliveryId: number) {
  const delivery = await getDelivery(store, webhookId, deliveryId);
  const event = await deliveryEvent(store, delivery);
  return {
    ...toPublicDelivery(delivery),
    // Payloads older than the retention period are gone; the delivery record may outlive them briefly.
    payload: event === null ? null : (JSON.parse(event.payload) as Record<string, unknown>),
    attempts: delivery.attempts.map(toPublicAttempt),
  };
}
