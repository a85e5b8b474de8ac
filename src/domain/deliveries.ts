// Reading deliveries and their attempts for the admin API.
import { and, asc, count, desc, eq, gte, lt, sql, type SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { deliveries, deliveryAttempts, events, type DeliveryAttemptRow, type DeliveryRow, type DeliveryStatus } from "../db/schema";
import { notFound } from "../lib/errors";
import { toIso } from "../lib/time";
import type { Page } from "./webhooks";

export function toPublicDelivery(row: DeliveryRow) {
  return {
    id: row.id,
    webhook_id: row.webhookId,
    event_id: row.eventId,
    event_type: row.eventType,
    status: row.status,
    attempt_count: row.attemptCount,
    next_attempt_at: row.status === "pending" || row.status === "retrying" ? toIso(row.nextAttemptAt) : null,
    last_attempt_at: toIso(row.lastAttemptAt),
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    created_at: toIso(row.createdAt)!,
    updated_at: toIso(row.updatedAt)!,
    completed_at: toIso(row.completedAt),
  };
}

function toPublicAttempt(row: DeliveryAttemptRow) {
  return {
    attempt: row.attemptNumber,
    started_at: toIso(row.startedAt)!,
    duration_ms: row.durationMs,
    success: row.success,
    status_code: row.statusCode,
    error_class: row.errorClass,
    error: row.errorMessage,
    response_body: row.responseExcerpt,
  };
}

/** Narrows a webhook's deliveries; every field is optional. Times are ms, `createdBefore` exclusive. */
export interface DeliveryFilter {
  status?: DeliveryStatus;
  eventType?: string;
  lastStatusCode?: number;
  createdFrom?: number;
  createdBefore?: number;
}

export async function listDeliveries(db: Database, webhookId: string, filter: DeliveryFilter, { page, perPage }: Page) {
  const conditions: SQL[] = [eq(deliveries.webhookId, webhookId)];
  if (filter.status) conditions.push(eq(deliveries.status, filter.status));
  if (filter.eventType) conditions.push(eq(deliveries.eventType, filter.eventType));
  if (filter.lastStatusCode !== undefined) conditions.push(eq(deliveries.lastStatusCode, filter.lastStatusCode));
  if (filter.createdFrom !== undefined) conditions.push(gte(deliveries.createdAt, filter.createdFrom));
  if (filter.createdBefore !== undefined) conditions.push(lt(deliveries.createdAt, filter.createdBefore));
  const where = and(...conditions);
  const [rows, [total]] = await db.batch([
    db.select().from(deliveries).where(where).orderBy(desc(deliveries.id)).limit(perPage).offset((page - 1) * perPage),
    db.select({ n: count() }).from(deliveries).where(where),
  ]);
  const n = total?.n ?? 0;
  return { rows, total: n, pages: Math.ceil(n / perPage) };
}

/** Whether the event's payload is still stored (retention empties it after RETENTION_DAYS). */
export async function hasPayload(db: Database, eventId: string): Promise<boolean> {
  const [row] = await db.select({ purged: sql<number>`${events.payload} = ''` }).from(events).where(eq(events.id, eventId));
  return row !== undefined && !row.purged;
}

/** A delivery of this webhook, or 404 (a delivery id of another webhook is not found here). */
export async function getDelivery(db: Database, webhookId: string, deliveryId: number): Promise<DeliveryRow> {
  const row = await db.query.deliveries.findFirst({ where: and(eq(deliveries.id, deliveryId), eq(deliveries.webhookId, webhookId)) });
  if (!row) throw notFound("Delivery not found");
  return row;
}

export async function getDeliveryDetail(db: Database, webhookId: string, deliveryId: number) {
  const [[row], attempts] = await db.batch([
    db
      .select({ delivery: deliveries, payload: events.payload })
      .from(deliveries)
      .innerJoin(events, eq(events.id, deliveries.eventId))
      .where(and(eq(deliveries.id, deliveryId), eq(deliveries.webhookId, webhookId))),
    db.select().from(deliveryAttempts).where(eq(deliveryAttempts.deliveryId, deliveryId)).orderBy(asc(deliveryAttempts.attemptNumber)),
  ]);
  if (!row) throw notFound("Delivery not found");
  return {
    ...toPublicDelivery(row.delivery),
    // Payloads older than the retention period are purged; the delivery record stays.
    payload: row.payload ? (JSON.parse(row.payload) as Record<string, unknown>) : null,
    attempts: attempts.map(toPublicAttempt),
  };
}
