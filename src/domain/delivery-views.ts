// The public shapes of a delivery and an attempt, shared by the D1 read model and the archive; and a delivery row as
// raw SQL returns it (a partition is named at run time, so its rows come back snake_case), turned into the drizzle row.
import { type AttemptRecord, type DeliveryRow, isActiveDelivery } from "../db/schema";
import { toIso } from "../lib/time";

export function toPublicDelivery(row: DeliveryRow) {
  return {
    id: row.id,
    webhook_id: row.webhookId,
    event_id: row.eventId,
    event_type: row.eventType,
    status: row.status,
    attempt_count: row.attemptCount,
    next_attempt_at: isActiveDelivery(row.status) ? toIso(row.dueAt) : null,
    last_attempt_at: toIso(row.lastAttemptAt),
    last_status_code: row.lastStatusCode,
    last_error: row.lastError,
    retry_of: row.retryOf,
    created_at: toIso(row.createdAt)!,
    updated_at: toIso(row.updatedAt)!,
    completed_at: toIso(row.completedAt),
  };
}

export function toPublicAttempt(a: AttemptRecord) {
  return {
    attempt: a.attempt,
    started_at: toIso(a.started_at)!,
    duration_ms: a.duration_ms,
    success: a.success,
    status_code: a.status_code,
    error_class: a.error_class,
    error: a.error,
    response_body: a.response_body,
  };
}

/** A deliveries row as raw SQL (a partition, a view) returns it. */
export interface RawDeliveryRow {
  webhook_id: string;
  id: number;
  event_owner: string;
  event_id: string;
  event_hour: number;
  event_type: string;
  status: DeliveryRow["status"];
  attempt_count: number;
  lease_until: number | null;
  due_at: number;
  in_queue: number;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error_class: DeliveryRow["lastErrorClass"];
  last_error: string | null;
  attempts: string;
  retry_of: number | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

export const deliveryRowOf = (r: RawDeliveryRow): DeliveryRow => ({
  webhookId: r.webhook_id,
  id: r.id,
  eventOwner: r.event_owner,
  eventId: r.event_id,
  eventHour: r.event_hour,
  eventType: r.event_type,
  status: r.status,
  attemptCount: r.attempt_count,
  leaseUntil: r.lease_until,
  dueAt: r.due_at,
  inQueue: r.in_queue === 1,
  lastAttemptAt: r.last_attempt_at,
  lastStatusCode: r.last_status_code,
  lastErrorClass: r.last_error_class,
  lastError: r.last_error,
  attempts: JSON.parse(r.attempts) as AttemptRecord[],
  retryOf: r.retry_of,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  completedAt: r.completed_at,
});
