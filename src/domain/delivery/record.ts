// Recording a group of sent attempts (svix's handle_successful_dispatch / handle_failed_dispatch): each attempt's row,
// its delivery's new state and retry schedule, and the endpoints' health, in one atomic D1 batch.
import type { DeliveryStatus } from "../../db/schema";
import { logger } from "../../lib/logger";
import { eventIdOf } from "../event-key";
import { computeRetryDelaySeconds } from "../retry-policy";
import type { SkipReason } from "./claim";
import type { DeliveryDeps } from "./deps";
import { announcementOf, endpointHealthStatements } from "./endpoint-health";
import type { RecordedResult, SentAttempt } from "./send";

/** Retries due within this many seconds ride the queue's own delay; later ones wait in D1 for the cron sweep. */
export const QUEUE_DELAY_LIMIT_SECONDS = 900;
const MAX_RETRY_AFTER_SECONDS = 24 * 3600;

/** A delivery attempted and recorded. */
export interface AttemptedOutcome {
  kind: "attempted";
  deliveryId: number;
  webhookId: string;
  owner: { tenantId: string | null; partnerId: string | null };
  attemptNumber: number;
  result: RecordedResult;
  status: DeliveryStatus;
  /** Set when status is `retrying`. */
  retryInSeconds: number | null;
  retryVia: "queue" | "cron" | null;
  autoDisabled: boolean;
  /** Deliveries of the webhook.auto_disabled event stored with this attempt, to enqueue. */
  announcementDeliveryIds: number[];
}

export type AttemptOutcome = { kind: "skipped"; reason: SkipReason } | AttemptedOutcome;

// The attempt rows and the delivery updates of a whole group, one statement each: rows travel as one JSON parameter
// (D1 allows 100 bound parameters per statement, a JSON array has no such limit).
const INSERT_ATTEMPTS = `INSERT INTO delivery_attempts
    (delivery_id, webhook_id, attempt_number, started_at, duration_ms, success, status_code, error_class, error_message, response_excerpt,
    response_headers)
  SELECT r.value ->> 'delivery_id', r.value ->> 'webhook_id', r.value ->> 'attempt_number', r.value ->> 'started_at',
    r.value ->> 'duration_ms', r.value ->> 'success', r.value ->> 'status_code', r.value ->> 'error_class',
    r.value ->> 'error_message', r.value ->> 'response_excerpt', r.value ->> 'response_headers'
  FROM json_each(?1) AS r WHERE true
  ON CONFLICT (delivery_id, attempt_number) DO NOTHING`;
// Guarded by the attempt number: a delivery claimed again since (its lease lapsed) is not overwritten by an old attempt.
const UPDATE_DELIVERIES = `UPDATE deliveries SET
    status = r.value ->> 'status', next_attempt_at = r.value ->> 'next_attempt_at', in_queue = r.value ->> 'in_queue',
    last_status_code = r.value ->> 'last_status_code', last_error_class = r.value ->> 'last_error_class',
    last_error = r.value ->> 'last_error',
    completed_at = r.value ->> 'completed_at', updated_at = r.value ->> 'updated_at'
  FROM json_each(?1) AS r
  WHERE deliveries.id = r.value ->> 'delivery_id' AND deliveries.attempt_count = r.value ->> 'attempt_number'`;

/**
 * Records a group of sent attempts in one atomic D1 batch, whatever its size: the endpoints' health (endpoint-health.ts),
 * every attempt row, every delivery's new state, and the webhook.auto_disabled announcement of any endpoint a final
 * failure disabled. Retried on transient D1 errors: every statement is guarded, so a retried batch changes nothing twice.
 * A 410 Gone ends its delivery at once and disables the endpoint, unless `goneDisables` is false (the test event).
 */
export async function recordAttempts(
  deps: Pick<DeliveryDeps, "db" | "config" | "random">,
  sent: readonly SentAttempt[],
  opts: { goneDisables?: boolean } = {},
): Promise<AttemptedOutcome[]> {
  const { db, config } = deps;
  const d1 = db.$client;
  const planned = sent.map(({ claim, result, startedAt, finishedAt }) => {
    const gone = !result.ok && result.statusCode === 410 && (opts.goneDisables ?? true);
    const retryInSeconds =
      result.ok || gone
        ? null
        : computeRetryDelaySeconds({
            attemptsMade: claim.attemptNumber,
            scheduleSeconds: config.retryScheduleSeconds,
            retryAfterSeconds: result.retryAfterSeconds,
            random: deps.random ?? Math.random,
            maxRetryAfterSeconds: MAX_RETRY_AFTER_SECONDS,
          });
    const status: DeliveryStatus = result.ok ? "success" : retryInSeconds === null ? "failed" : "retrying";
    const retryVia: AttemptedOutcome["retryVia"] =
      retryInSeconds === null ? null : retryInSeconds <= QUEUE_DELAY_LIMIT_SECONDS ? "queue" : "cron";
    return { claim, result, startedAt, now: finishedAt, status, gone, retryInSeconds, retryVia };
  });

  // Endpoint health first: each of its updates runs only while its attempt is unrecorded (its row comes after).
  const health = await endpointHealthStatements(db, planned, config.failureThreshold);
  const statements = [...health.statements];
  const attemptRows = planned.map(({ claim, result, startedAt }) => ({
    delivery_id: claim.deliveryId,
    webhook_id: claim.endpoint.id,
    attempt_number: claim.attemptNumber,
    started_at: startedAt,
    duration_ms: result.durationMs,
    success: result.ok,
    status_code: result.statusCode,
    error_class: result.errorClass,
    error_message: result.errorMessage?.slice(0, 500) ?? null,
    response_excerpt: result.responseExcerpt,
    response_headers: result.responseHeaders ? JSON.stringify(result.responseHeaders) : null,
  }));
  const deliveryChanges = planned.map(({ claim, result, now, status, retryInSeconds, retryVia }) => ({
    delivery_id: claim.deliveryId,
    attempt_number: claim.attemptNumber,
    status,
    next_attempt_at: retryInSeconds === null ? null : now + retryInSeconds * 1000,
    in_queue: retryVia === "queue" ? 1 : 0,
    last_status_code: result.statusCode,
    last_error_class: result.ok ? null : result.errorClass,
    last_error: result.ok
      ? null
      : `${result.errorClass}${result.errorMessage ? `: ${result.errorMessage}` : ""}`.slice(0, 500),
    completed_at: status === "retrying" ? null : now,
    updated_at: now,
  }));
  statements.push(
    d1.prepare(INSERT_ATTEMPTS).bind(JSON.stringify(attemptRows)),
    d1.prepare(UPDATE_DELIVERIES).bind(JSON.stringify(deliveryChanges)),
  );

  const results = await withRetries({ delivery_ids: sent.map((s) => s.claim.deliveryId) }, () => d1.batch(statements));

  return planned.map(({ claim, result, status, gone, retryInSeconds, retryVia }, i): AttemptedOutcome => {
    const { deliveryId, attemptNumber, endpoint, delivery } = claim;
    const { autoDisabled, announcementDeliveryIds } = announcementOf(results, health.announcementAt[i] ?? null);
    logger.record("delivery attempt", {
      webhook_id: endpoint.id,
      delivery_id: deliveryId,
      event_id: eventIdOf(delivery.eventKey),
      attempt: attemptNumber,
      outcome: status,
      status_code: result.statusCode,
      error_class: result.errorClass,
      duration_ms: result.durationMs,
      retry_in_s: retryInSeconds,
    });
    if (autoDisabled)
      logger.warn("webhook auto-disabled", {
        webhook_id: endpoint.id,
        reason: gone ? "gone" : "consecutive_failures",
        threshold: config.failureThreshold,
      });
    const owner = { tenantId: endpoint.tenantId, partnerId: endpoint.partnerId };
    return {
      kind: "attempted",
      deliveryId,
      webhookId: endpoint.id,
      owner,
      attemptNumber,
      result,
      status,
      retryInSeconds,
      retryVia,
      autoDisabled,
      announcementDeliveryIds,
    };
  });
}

const RECORD_TRIES = 4;

async function withRetries<T>(context: { delivery_ids: number[] }, write: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await write();
    } catch (err) {
      if (tries >= RECORD_TRIES) {
        // The at-least-once window: the receiver got this attempt, the record of it is lost, and the delivery is
        // attempted again once its lease lapses (the sweep re-enqueues it).
        logger.error("recording attempts failed for good; they were sent but are not recorded", {
          ...context,
          error: String(err),
        });
        throw err;
      }
      logger.warn("recording attempts failed; retrying", { ...context, tries, error: String(err) });
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
    }
  }
}
