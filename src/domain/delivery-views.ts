// The public shapes of a delivery and an attempt, shared by the D1 read model and the archive.
import type { DeliveryAttemptRow, DeliveryRow } from "../db/schema";
import { toIso } from "../lib/time";
import { eventIdOf } from "./event-key";

export function toPublicDelivery(row: DeliveryRow) {
  return {
    id: row.id,
    webhook_id: row.webhookId,
    event_id: eventIdOf(row.eventKey),
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

export function toPublicAttempt(row: DeliveryAttemptRow) {
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
