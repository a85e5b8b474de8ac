// Recording a group of sent attempts (svix's handle_successful_dispatch / handle_failed_dispatch): each attempt's row,
// its delivery's new state and retry schedule, and the endpoints' health, in one atomic D1 batch.
import { groupByTable, withPartitions } from "../../db/partitions";
import { type AttemptRecord, type DeliveryStatus, isActiveDelivery } from "../../db/schema";
import { type LogFields, logger } from "../../lib/logger";
import { type DeliveryRef, refKey, withCurrentPartitions } from "../publish";
import { computeRetryDelaySeconds } from "../retry-policy";
import { attemptStatsStatements } from "../stats/record";
import { refOfClaim, type SkipReason } from "./claim";
import type { DeliveryDeps } from "./deps";
import { announcementOf, endpointHealthStatements } from "./endpoint-health";
import { timedOut } from "./lanes";
import { headsOf, headsStatement } from "./ordered";
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
  /** Deliveries of the announcement (webhook.auto_disabled, .failing, .recovered) stored with this attempt, to enqueue. */
  announcementDeliveries: DeliveryRef[];
  /** An ordered webhook's new head, to enqueue: the delivery after this one in its line, now that it may go. */
  nextInLine: DeliveryRef | null;
}

/** `rate_limited`: claimed, but its webhook's rate limit refused the send; it went back on the queue for its slot. */
export type AttemptOutcome = { kind: "skipped"; reason: SkipReason | "rate_limited" } | AttemptedOutcome;

// The delivery updates of a whole group, one statement per table: rows travel as one JSON parameter (D1 allows 100
// bound parameters per statement, a JSON array has no such limit). Each appends its attempt to `attempts` and clears
// the lease, only while the attempt is still the delivery's latest and unrecorded (UNRECORDED): a delivery claimed
// again since (its lease lapsed) is not overwritten by an old attempt, and a batch run twice records nothing twice.
// A delivery that stays open is updated without naming completed_at: D1 bills an index entry for any column of a
// partial index's condition that an UPDATE assigns, even to the value it had (deliveries_open_idx).
const updateDeliveries = (table: string, finishing: boolean) => `UPDATE "${table}" SET
    status = r.value ->> 'status', due_at = coalesce(r.value ->> 'due_at', due_at), in_queue = r.value ->> 'in_queue',
    last_status_code = r.value ->> 'last_status_code', last_error_class = r.value ->> 'last_error_class',
    last_error = r.value ->> 'last_error', attempts = json_insert(attempts, '$[#]', json(r.value ->> 'attempt')),
    lease_until = NULL, ${finishing ? "completed_at = r.value ->> 'completed_at', " : ""}updated_at = r.value ->> 'updated_at'
  FROM json_each(?1) AS r
  WHERE "${table}".webhook_id = r.value ->> 'webhook_id' AND "${table}".id = r.value ->> 'delivery_id'
    AND "${table}".attempt_count = r.value ->> 'attempt_number' AND "${table}".lease_until IS NOT NULL`;

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
    return {
      claim,
      result,
      startedAt,
      now: finishedAt,
      status,
      gone,
      retryInSeconds,
      retryVia,
      timedOut: timedOut(result),
    };
  });

  const deliveryChanges = planned.map(({ claim, result, startedAt, now, status, retryInSeconds, retryVia }) => ({
    webhook_id: claim.endpoint.id,
    delivery_id: claim.deliveryId,
    attempt_number: claim.attemptNumber,
    status,
    due_at: retryInSeconds === null ? null : now + retryInSeconds * 1000,
    in_queue: retryVia === "queue" ? 1 : 0,
    last_status_code: result.statusCode,
    last_error_class: result.ok ? null : result.errorClass,
    last_error: result.ok
      ? null
      : `${result.errorClass}${result.errorMessage ? `: ${result.errorMessage}` : ""}`.slice(0, 500),
    attempt: JSON.stringify(attemptRecord(claim.attemptNumber, startedAt, result)),
    completed_at: isActiveDelivery(status) ? null : now,
    updated_at: now,
  }));

  const recordedAt = Math.max(...planned.map((p) => p.now));
  // An ordered webhook's next delivery waits unclaimed (its message was acknowledged): it is enqueued once the
  // recording lets it go, the head found in the same round trip (ordered.ts). Unordered webhooks read nothing more.
  const orderedWebhooks = planned.filter((p) => p.claim.endpoint.ordered).map((p) => p.claim.endpoint.id);
  const results = await withD1Retries(
    {
      // "<webhook_id>/<delivery_id>": ids are unique per webhook.
      context: { deliveries: sent.map((s) => `${s.claim.endpoint.id}/${s.claim.deliveryId}`) },
      retrying: "recording attempts failed; retrying",
      // The at-least-once window: the receiver got these attempts, their record is lost, and the deliveries are
      // attempted again once their lease lapses (the sweep re-enqueues them).
      gaveUp: "recording attempts failed for good; they were sent but are not recorded",
    },
    () =>
      // The announcement of an auto-disable is stored in the partition of the hour it happens in.
      withCurrentPartitions(d1, recordedAt, () =>
        withPartitions(d1, async (live) => {
          // Endpoint health and stats first: each runs only while its attempt is unrecorded (the updates come after).
          const health = await endpointHealthStatements(db, planned, config.failureThreshold);
          const statements = [
            ...health.statements,
            ...attemptStatsStatements(d1, planned.map(statsInput)),
            ...[...groupByTable(live, deliveryChanges, (c) => c.delivery_id)].flatMap(([table, group]) =>
              [true, false]
                .map((finishing) => ({ finishing, rows: group.filter((c) => (c.completed_at !== null) === finishing) }))
                .filter(({ rows }) => rows.length > 0)
                .map(({ finishing, rows }) =>
                  d1.prepare(updateDeliveries(table, finishing)).bind(JSON.stringify(rows)),
                ),
            ),
            ...(orderedWebhooks.length > 0 ? [headsStatement(d1, orderedWebhooks)] : []),
          ];
          const batch = await d1.batch(statements);
          const heads =
            orderedWebhooks.length > 0
              ? headsOf(batch.at(-1)!.results as { webhook_id: string; id: number | null }[])
              : [];
          return { health, results: batch, heads };
        }),
      ),
  );

  // A head that is this group's own retry comes back with its retry; any other is enqueued once.
  const retrying = new Set(planned.filter((p) => p.status === "retrying").map((p) => refKey(refOfClaim(p.claim))));
  const nextHeads = new Map(results.heads.filter((h) => !retrying.has(refKey(h))).map((h) => [h.webhookId, h]));
  return planned.map(({ claim, result, status, gone, retryInSeconds, retryVia }, i): AttemptedOutcome => {
    const { deliveryId, attemptNumber, endpoint, delivery } = claim;
    const { autoDisabled, announcementDeliveries } = announcementOf(
      results.results,
      results.health.announcementAt[i] ?? null,
    );
    const nextInLine = nextHeads.get(endpoint.id) ?? null;
    nextHeads.delete(endpoint.id);
    logger.record("delivery attempt", {
      webhook_id: endpoint.id,
      delivery_id: deliveryId,
      event_id: delivery.eventId,
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
      announcementDeliveries,
      nextInLine,
    };
  });
}

/**
 * What a successful attempt keeps of its response's body, in characters. A failure keeps the whole excerpt (4 KiB), which
 * is what explains it; a success's body is rarely read, and its delivery's row must stay under the ~1 KB a WITHOUT ROWID
 * row keeps in its page: a receiver answering every event with a large page would otherwise cost each of its deliveries
 * an overflow page (4 KB) in the hot window.
 */
export const SUCCESS_BODY_KEPT_CHARS = 256;

/** An attempt as its delivery row keeps it (the API's shape, times in ms; a failure's response headers for the portal). */
export function attemptRecord(attemptNumber: number, startedAt: number, result: RecordedResult): AttemptRecord {
  const record: AttemptRecord = {
    attempt: attemptNumber,
    started_at: startedAt,
    duration_ms: result.durationMs,
    success: result.ok,
    status_code: result.statusCode,
    error_class: result.errorClass,
    error: result.errorMessage?.slice(0, 500) ?? null,
    response_body: result.ok
      ? (result.responseExcerpt?.slice(0, SUCCESS_BODY_KEPT_CHARS) ?? null)
      : result.responseExcerpt,
  };
  if (!result.ok && result.responseHeaders?.length) record.response_headers = result.responseHeaders;
  return record;
}

const statsInput = (p: {
  claim: SentAttempt["claim"];
  result: RecordedResult;
  startedAt: number;
  status: DeliveryStatus;
}) => ({
  webhook_id: p.claim.endpoint.id,
  delivery_id: p.claim.deliveryId,
  attempt_number: p.claim.attemptNumber,
  started_at: p.startedAt,
  duration_ms: p.result.durationMs,
  success: p.result.ok ? (1 as const) : (0 as const),
  error_class: p.result.errorClass,
  final_failed: p.status === "failed" ? (1 as const) : (0 as const),
});

const WRITE_TRIES = 4;

/** A D1 write whose statements are all guarded (safe to run twice), tried 4 times (backing off 100, 200, 400 ms). */
export async function withD1Retries<T>(
  log: { context: LogFields; retrying: string; gaveUp: string },
  write: () => Promise<T>,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await write();
    } catch (err) {
      if (tries >= WRITE_TRIES) {
        logger.error(log.gaveUp, { ...log.context, error: String(err) });
        throw err;
      }
      logger.warn(log.retrying, { ...log.context, tries, error: String(err) });
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
    }
  }
}
