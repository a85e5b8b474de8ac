// Reading deliveries and their attempts for the admin API.
import { and, asc, count, desc, eq, gte, lt, type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import {
  type DeliveryRow,
  type DeliveryStatus,
  deliveries,
  deliveryArchives,
  deliveryAttempts,
  type ErrorClass,
  events,
} from "../db/schema";
import { conflict, notFound } from "../lib/errors";
import { type ArchivedDelivery, archivedCount, readArchivedDelivery, readArchivedPage } from "./archive";
import { toPublicAttempt, toPublicDelivery } from "./delivery-views";
import { eventKeyRange } from "./event-key";
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

/** Where deliveries are read from: D1 for recent ones, the archive (if bound) for the rest. */
export interface DeliveryStore {
  db: Database;
  archive: R2Bucket | null;
}

/**
 * A page of the endpoint's deliveries, newest first: D1 holds the newest (every id above the archive's), the archive the
 * older ones, so a page is D1's rows, then the archive's from where D1's end. The archive is indexed by status only:
 * a filter on anything else searches D1 (the last ARCHIVE_AFTER_HOURS).
 */
export async function listDeliveryHistory(
  store: DeliveryStore,
  webhookId: string,
  filter: DeliveryFilter,
  { page, perPage }: Page,
) {
  const { db } = store;
  const status = filter.status;
  const archive = Object.entries(filter).every(([k, v]) => k === "status" || v === undefined) ? store.archive : null;
  const offset = (page - 1) * perPage;
  const [rows, [hot], archived] = await db.batch([
    ...deliveryListQueries(db, webhookId, filter, { page, perPage }),
    db.select(archiveTotalsColumns).from(deliveryArchives).where(eq(deliveryArchives.webhookId, webhookId)),
  ]);
  const hotTotal = hot?.n ?? 0;
  const items: (ReturnType<typeof toPublicDelivery> | ArchivedDelivery)[] = rows.map(toPublicDelivery);
  const archivedTotal = archive && archived[0] ? archivedCount(archived[0], status) : 0;
  if (archive && items.length < perPage && archivedTotal > 0) {
    const fromArchive = await readArchivedPage(
      { db, archive },
      webhookId,
      status,
      Math.max(0, offset - hotTotal),
      perPage - items.length,
    );
    items.push(...fromArchive.map(({ payload: _payload, attempts: _attempts, ...delivery }) => delivery));
  }
  const n = hotTotal + archivedTotal;
  return { items, total: n, pages: Math.ceil(n / perPage) };
}

/**
 * The page and the count of a webhook's deliveries in D1 matching `filter`. Every filter has an index led by
 * webhook_id (see src/db/schema.ts), so SQLite narrows by one of them and checks the others on the rows it reads;
 * an event_id narrows by the (event, webhook) index instead.
 */
export function deliveryListQueries(db: Database, webhookId: string, filter: DeliveryFilter, { page, perPage }: Page) {
  const conditions: SQL[] = [];
  if (filter.eventId !== undefined) {
    // The keys of that event_id, whoever owns them (a partner-level webhook gets several tenants' events): their range
    // of deliveries_event_webhook_uq is the narrowest read. The unary plus keeps SQLite off the webhook_id indexes,
    // which would walk every delivery of the webhook.
    const keys = eventKeyRange(filter.eventId);
    conditions.push(
      sql`+${deliveries.webhookId} = ${webhookId}`,
      gte(deliveries.eventKey, keys.from),
      lt(deliveries.eventKey, keys.to),
    );
  } else conditions.push(eq(deliveries.webhookId, webhookId));
  if (filter.status !== undefined) conditions.push(eq(deliveries.status, filter.status));
  if (filter.eventType !== undefined) conditions.push(eq(deliveries.eventType, filter.eventType));
  if (filter.lastStatusCode !== undefined) conditions.push(eq(deliveries.lastStatusCode, filter.lastStatusCode));
  if (filter.lastErrorClass !== undefined) conditions.push(eq(deliveries.lastErrorClass, filter.lastErrorClass));
  if (filter.createdFrom !== undefined) conditions.push(gte(deliveries.createdAt, filter.createdFrom));
  if (filter.createdBefore !== undefined) conditions.push(lt(deliveries.createdAt, filter.createdBefore));
  if (filter.beforeId !== undefined) conditions.push(lt(deliveries.id, filter.beforeId));
  const where = and(...conditions);
  return [
    db
      .select()
      .from(deliveries)
      .where(where)
      .orderBy(desc(deliveries.id))
      .limit(perPage)
      .offset((page - 1) * perPage),
    db.select({ n: count() }).from(deliveries).where(where),
  ] as const;
}

const archiveTotalsColumns = {
  success: sql<number>`coalesce(sum(${deliveryArchives.succeeded}), 0)`,
  failed: sql<number>`coalesce(sum(${deliveryArchives.failed}), 0)`,
  cancelled: sql<number>`coalesce(sum(${deliveryArchives.cancelled}), 0)`,
};

/** Whether the event's payload is still stored (retention empties it after RETENTION_DAYS). */
export async function hasPayload(db: Database, eventKey: string): Promise<boolean> {
  const [row] = await db
    .select({ purged: sql<number>`${events.payload} = ''` })
    .from(events)
    .where(eq(events.key, eventKey));
  return row !== undefined && !row.purged;
}

/**
 * A delivery of this webhook in D1, or 404 (a delivery id of another webhook is not found here). With `store`, an
 * archived delivery is a 409: it is history, no longer something to act on.
 */
export async function getDelivery(
  db: Database,
  webhookId: string,
  deliveryId: number,
  store?: DeliveryStore,
): Promise<DeliveryRow> {
  const row = await db.query.deliveries.findFirst({
    where: and(eq(deliveries.id, deliveryId), eq(deliveries.webhookId, webhookId)),
  });
  if (row) return row;
  if (store?.archive && (await readArchivedDelivery({ db, archive: store.archive }, webhookId, deliveryId)))
    throw conflict("The delivery is archived (older than the hot window); it cannot be retried");
  throw notFound("Delivery not found");
}

/**
 * A delivery of this webhook with its payload and attempts, from D1 or else the archive; or 404. `payload` is the JSON
 * text that was signed and delivered (null once purged): callers show it as is, never through JSON.parse.
 */
export async function getDeliveryDetail(
  store: DeliveryStore,
  webhookId: string,
  deliveryId: number,
): Promise<ArchivedDelivery> {
  const { db, archive } = store;
  const [[row], attempts] = await db.batch([
    db
      .select({ delivery: deliveries, payload: events.payload })
      .from(deliveries)
      .innerJoin(events, eq(events.key, deliveries.eventKey))
      .where(and(eq(deliveries.id, deliveryId), eq(deliveries.webhookId, webhookId))),
    db
      .select()
      .from(deliveryAttempts)
      .where(eq(deliveryAttempts.deliveryId, deliveryId))
      .orderBy(asc(deliveryAttempts.attemptNumber)),
  ]);
  if (!row) {
    const archived = archive ? await readArchivedDelivery({ db, archive }, webhookId, deliveryId) : null;
    if (!archived) throw notFound("Delivery not found");
    return archived;
  }
  return {
    ...toPublicDelivery(row.delivery),
    // Payloads older than the retention period are purged; the delivery record stays.
    payload: row.payload || null,
    attempts: attempts.map(toPublicAttempt),
  };
}
