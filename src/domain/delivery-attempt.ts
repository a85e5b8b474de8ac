// Delivery attempts from start to finish: claim, sign afresh, send, record the outcome. Claiming and recording work on
// a whole group of deliveries in one D1 round trip each (the queue consumer's batch); attemptDelivery does one.
// Used by the queue consumer, the test endpoint and (through the queue) manual retries.
import { and, eq, inArray, isNull, lte, notExists, or, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { deliveries, deliveryAttempts, events, webhookEndpoints, type DeliveryRow, type DeliveryStatus, type ErrorClass, type WebhookEndpointRow } from "../db/schema";
import type { Config } from "../lib/config";
import { derivedId } from "../lib/ids";
import type { SecretBox } from "../lib/secret-box";
import { logger } from "../lib/logger";
import { sendWebhookRequest, type AttemptResult } from "./http-attempt";
import { completeEnvelope, eventStatements } from "./publish";
import { advanceWatermark } from "./queue-watermark";
import { computeRetryDelaySeconds } from "./retry-policy";
import { signScaiKey, signStandardWebhooks } from "./signing";
import { targetUrlProblem } from "./target-url";
import { AUTO_DISABLED_REASON } from "./webhooks";

export interface DeliveryDeps {
  db: Database;
  config: Config;
  secretBox: SecretBox;
  now: () => number;
  fetch: typeof fetch;
  random?: () => number;
}

export const USER_AGENT = "ScaiKey-Webhook/1.0";
/** Retries due within this many seconds ride the queue's own delay; later ones wait in D1 for the cron sweep. */
export const QUEUE_DELAY_LIMIT_SECONDS = 900;
/** A queue message may arrive a little before the time recorded in D1. */
const EARLY_ARRIVAL_TOLERANCE_MS = 5_000;
const MAX_RETRY_AFTER_SECONDS = 24 * 3600;

/** An attempt's result as recorded: the HTTP outcome, or `blocked_target` when the URL was refused before sending. */
export type RecordedResult = Omit<AttemptResult, "errorClass"> & { errorClass: ErrorClass | null };

export type SkipReason = "not_found" | "finished" | "not_due" | "unsendable";

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

/** The secrets that sign right now, opened: the current one, then the previous one during its grace period. */
export async function signingSecrets(
  secretBox: SecretBox,
  endpoint: { id: string; secret: string; previousSecret: string | null; previousSecretExpiresAt: number | null },
  now: number,
): Promise<string[]> {
  const sealed = [endpoint.secret];
  if (endpoint.previousSecret && endpoint.previousSecretExpiresAt !== null && now < endpoint.previousSecretExpiresAt)
    sealed.push(endpoint.previousSecret);
  return Promise.all(sealed.map((s) => secretBox.open(s, endpoint.id)));
}

export async function buildDeliveryHeaders(opts: {
  deliveryId: number;
  eventId: string;
  eventType: string;
  body: string;
  secrets: string[];
  timestamp: number;
  customHeaders: Record<string, string>;
}): Promise<Record<string, string>> {
  const [scaikey, standard] = await Promise.all([
    signScaiKey(opts.secrets, opts.timestamp, opts.body),
    signStandardWebhooks(opts.secrets, opts.eventId, opts.timestamp, opts.body),
  ]);
  return {
    ...opts.customHeaders, // reserved names are refused at write time, so ours below always win
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
    "X-ScaiKey-Webhook-ID": String(opts.deliveryId),
    "X-ScaiKey-Event-ID": opts.eventId,
    "X-ScaiKey-Event-Type": opts.eventType,
    "X-ScaiKey-Timestamp": String(opts.timestamp),
    "X-ScaiKey-Signature": scaikey,
    "webhook-id": opts.eventId,
    "webhook-timestamp": String(opts.timestamp),
    "webhook-signature": standard,
  };
}

const ACTIVE: DeliveryStatus[] = ["pending", "retrying"];

/** A delivery this worker has claimed: its attempt number is fixed, and its lease keeps duplicate messages out. */
export interface ClaimedAttempt {
  deliveryId: number;
  attemptNumber: number;
  delivery: DeliveryRow;
  endpoint: WebhookEndpointRow;
  payload: string;
}

/** A claimed attempt after its request: what happened, and when it started and ended. */
export interface SentAttempt {
  claim: ClaimedAttempt;
  result: RecordedResult;
  startedAt: number;
  finishedAt: number;
}

export interface Claims {
  claimed: ClaimedAttempt[];
  skipped: Map<number, SkipReason>;
}

/** How long a claim holds its delivery: every wave of sends before it may take the full timeout, then recording. */
export const claimLeaseMs = (config: Config, sendWaves: number) => Math.max(1, sendWaves) * config.deliveryTimeoutMs + config.inFlightMarginMs;

/**
 * Claims every due and sendable delivery among `ids` in one D1 round trip: one conditional UPDATE claims them (so of
 * two workers, or two duplicate messages, only one wins each delivery, and a finished delivery is never claimed again)
 * and fixes their attempt numbers; three reads in the same batch fetch what to send. `sendWaves` is how many rounds of
 * sends the caller needs for them (ids / its concurrency), so the lease outlasts the last one. Deliveries that can
 * never be sent (endpoint deleted or disabled, payload purged) are cancelled here.
 */
export async function claimDeliveries(
  deps: Pick<DeliveryDeps, "db" | "config" | "now">,
  ids: readonly number[],
  opts: { allowDisabled?: boolean; sendWaves?: number; watermarkSentAt?: number | null } = {},
): Promise<Claims> {
  const { db, config } = deps;
  const unique = [...new Set(ids)];
  const idList = JSON.stringify(unique);
  const now = deps.now();
  const leaseUntil = now + claimLeaseMs(config, opts.sendWaves ?? 1);
  const listed = (column: typeof deliveries.id) => sql`${column} IN (SELECT value FROM json_each(${idList}))`;
  const sendable = sql`EXISTS (SELECT 1 FROM webhook_endpoints w JOIN events e ON e.id = ${deliveries.eventId}
    WHERE w.id = ${deliveries.webhookId} AND w.deleted_at IS NULL AND (w.enabled = 1 OR ${opts.allowDisabled ? 1 : 0} = 1)
      AND e.payload != '')`;
  const ofListed = (column: "webhook_id" | "event_id") => sql`(SELECT ${sql.raw(column)} FROM deliveries WHERE id IN (SELECT value FROM json_each(${idList})))`;
  const [claimedRows, deliveryRows, endpointRows, eventRows] = await db.batch([
    db
      .update(deliveries)
      .set({ attemptCount: sql`${deliveries.attemptCount} + 1`, nextAttemptAt: leaseUntil, inQueue: true, lastAttemptAt: now, updatedAt: now })
      .where(
        and(
          listed(deliveries.id),
          // Unary plus keeps SQLite on the primary key: through the status index it would read every active delivery.
          inArray(sql`+${deliveries.status}`, ACTIVE),
          or(isNull(deliveries.nextAttemptAt), lte(deliveries.nextAttemptAt, now + EARLY_ARRIVAL_TOLERANCE_MS)),
          sendable,
        ),
      )
      .returning({ id: deliveries.id, attemptCount: deliveries.attemptCount }),
    // Three plain reads rather than one join: in a D1 batch, drizzle maps rows by column name, which a join repeats.
    db.select().from(deliveries).where(listed(deliveries.id)),
    db.select().from(webhookEndpoints).where(sql`${webhookEndpoints.id} IN ${ofListed("webhook_id")}`),
    db.select({ id: events.id, payload: events.payload }).from(events).where(sql`${events.id} IN ${ofListed("event_id")}`),
    // The queue consumer's progress, for the sweep (domain/queue-watermark): no round trip of its own.
    ...(opts.watermarkSentAt ? [advanceWatermark(db, opts.watermarkSentAt, now)] : []),
  ]);
  const attemptNumbers = new Map(claimedRows.map((r) => [r.id, r.attemptCount]));
  const deliveriesById = new Map(deliveryRows.map((d) => [d.id, d]));
  const endpointsById = new Map(endpointRows.map((e) => [e.id, e]));
  const payloads = new Map(eventRows.map((e) => [e.id, e.payload]));

  const claims: Claims = { claimed: [], skipped: new Map() };
  const cancel: { id: number; reason: string }[] = [];
  for (const deliveryId of unique) {
    const delivery = deliveriesById.get(deliveryId);
    const endpoint = delivery && endpointsById.get(delivery.webhookId);
    const payload = delivery && payloads.get(delivery.eventId);
    if (!delivery || !endpoint || payload === undefined) {
      claims.skipped.set(deliveryId, "not_found");
      continue;
    }
    const attemptNumber = attemptNumbers.get(deliveryId);
    if (attemptNumber !== undefined) {
      claims.claimed.push({ deliveryId, attemptNumber, delivery, endpoint, payload });
      continue;
    }
    if (!ACTIVE.includes(delivery.status)) {
      claims.skipped.set(deliveryId, "finished");
      continue;
    }
    const unsendable =
      endpoint.deletedAt !== null
        ? "endpoint deleted"
        : !endpoint.enabled && !opts.allowDisabled
          ? "endpoint disabled"
          : payload === ""
            ? "payload purged by retention"
            : null;
    if (unsendable) cancel.push({ id: deliveryId, reason: unsendable });
    claims.skipped.set(deliveryId, unsendable ? "unsendable" : "not_due");
  }
  if (cancel.length > 0) {
    const [first, ...rest] = cancel.map(({ id, reason }) =>
      db
        .update(deliveries)
        .set({ status: "cancelled", nextAttemptAt: null, inQueue: false, completedAt: now, updatedAt: now, lastError: reason })
        .where(and(eq(deliveries.id, id), inArray(deliveries.status, ACTIVE))),
    );
    await db.batch([first!, ...rest]);
  }
  return claims;
}

/** Signs afresh and sends one claimed attempt, or refuses a target that is no longer allowed. Never throws for HTTP trouble. */
export async function sendClaimedAttempt(deps: Pick<DeliveryDeps, "config" | "secretBox" | "now" | "fetch">, claim: ClaimedAttempt): Promise<SentAttempt> {
  const { config } = deps;
  const { endpoint, delivery, payload } = claim;
  const startedAt = deps.now();
  const problem = targetUrlProblem(endpoint.url, { allowInsecure: config.allowInsecureUrls, allowPrivate: config.allowPrivateTargets });
  let result: RecordedResult;
  if (problem) {
    result = { ok: false, statusCode: null, durationMs: 0, errorClass: "blocked_target", errorMessage: problem, responseExcerpt: null, retryAfterSeconds: null };
  } else {
    const headers = await buildDeliveryHeaders({
      deliveryId: claim.deliveryId,
      eventId: delivery.eventId,
      eventType: delivery.eventType,
      body: payload,
      secrets: await signingSecrets(deps.secretBox, endpoint, startedAt),
      timestamp: Math.floor(startedAt / 1000), // signed afresh on every attempt: receivers reject stale timestamps
      customHeaders: endpoint.headers,
    });
    result = await sendWebhookRequest({ url: endpoint.url, headers, body: payload, timeoutMs: config.deliveryTimeoutMs, fetch: deps.fetch, now: deps.now });
  }
  return { claim, result, startedAt, finishedAt: deps.now() };
}

// The attempt rows and the delivery updates of a whole group, one statement each: rows travel as one JSON parameter
// (D1 allows 100 bound parameters per statement, a JSON array has no such limit).
const INSERT_ATTEMPTS = `INSERT INTO delivery_attempts
    (delivery_id, webhook_id, attempt_number, started_at, duration_ms, success, status_code, error_class, error_message, response_excerpt)
  SELECT r.value ->> 'delivery_id', r.value ->> 'webhook_id', r.value ->> 'attempt_number', r.value ->> 'started_at',
    r.value ->> 'duration_ms', r.value ->> 'success', r.value ->> 'status_code', r.value ->> 'error_class',
    r.value ->> 'error_message', r.value ->> 'response_excerpt'
  FROM json_each(?1) AS r WHERE true
  ON CONFLICT (delivery_id, attempt_number) DO NOTHING`;
// Guarded by the attempt number: a delivery claimed again since (its lease lapsed) is not overwritten by an old attempt.
const UPDATE_DELIVERIES = `UPDATE deliveries SET
    status = r.value ->> 'status', next_attempt_at = r.value ->> 'next_attempt_at', in_queue = r.value ->> 'in_queue',
    last_status_code = r.value ->> 'last_status_code', last_error = r.value ->> 'last_error',
    completed_at = r.value ->> 'completed_at', updated_at = r.value ->> 'updated_at'
  FROM json_each(?1) AS r
  WHERE deliveries.id = r.value ->> 'delivery_id' AND deliveries.attempt_count = r.value ->> 'attempt_number'`;

// Endpoint health after successes and non-final failures, for many endpoints in one statement: these commute (a success
// resets the count, a retried failure does not touch it), so only the latest time of each matters. Runs only while the
// group's attempts are unrecorded (they are recorded together, so one of them stands for all), like endpointUpdate.
const UPDATE_ENDPOINT_HEALTH = `UPDATE webhook_endpoints SET
    failure_count = CASE WHEN u.value ->> 'success_at' IS NULL THEN failure_count ELSE 0 END,
    last_success_at = COALESCE(u.value ->> 'success_at', last_success_at),
    last_failure_at = COALESCE(u.value ->> 'failure_at', last_failure_at)
  FROM json_each(?1) AS u
  WHERE webhook_endpoints.id = u.value ->> 'webhook_id'
    AND NOT EXISTS (SELECT 1 FROM delivery_attempts a
      WHERE a.delivery_id = u.value ->> 'delivery_id' AND a.attempt_number = u.value ->> 'attempt_number')`;

/**
 * Records a group of sent attempts in one atomic D1 batch, whatever its size: the endpoints' health, every attempt row,
 * every delivery's new state, and the webhook.auto_disabled announcement of any endpoint a final failure disabled.
 * An endpoint with a final failure in the group gets one update per attempt, in order, so consecutive failures and
 * resets add up as they happened; the others share one statement. Retried on transient D1 errors: every statement is
 * guarded, so a retried batch changes nothing twice.
 */
export async function recordAttempts(deps: Pick<DeliveryDeps, "db" | "config" | "random">, sent: readonly SentAttempt[]): Promise<AttemptedOutcome[]> {
  const { db, config } = deps;
  const d1 = db.$client;
  const planned = sent.map(({ claim, result, startedAt, finishedAt }) => {
    const retryInSeconds = result.ok
      ? null
      : computeRetryDelaySeconds({
          attemptsMade: claim.attemptNumber,
          scheduleSeconds: config.retryScheduleSeconds,
          retryAfterSeconds: result.retryAfterSeconds,
          random: deps.random ?? Math.random,
          maxRetryAfterSeconds: MAX_RETRY_AFTER_SECONDS,
        });
    const status: DeliveryStatus = result.ok ? "success" : retryInSeconds === null ? "failed" : "retrying";
    const retryVia: AttemptedOutcome["retryVia"] = retryInSeconds === null ? null : retryInSeconds <= QUEUE_DELAY_LIMIT_SECONDS ? "queue" : "cron";
    return { claim, result, startedAt, now: finishedAt, status, retryInSeconds, retryVia, announcementAt: null as number | null };
  });

  const statements: D1PreparedStatement[] = [];
  const inSequence = new Set(planned.filter((p) => p.status === "failed").map((p) => p.claim.endpoint.id));
  const health = new Map<string, { webhook_id: string; delivery_id: number; attempt_number: number; success_at: number | null; failure_at: number | null }>();
  for (const p of planned) {
    const id = p.claim.endpoint.id;
    if (inSequence.has(id)) continue;
    const h = health.get(id) ?? { webhook_id: id, delivery_id: p.claim.deliveryId, attempt_number: p.claim.attemptNumber, success_at: null, failure_at: null };
    if (p.status === "success") h.success_at = Math.max(h.success_at ?? 0, p.now);
    else h.failure_at = Math.max(h.failure_at ?? 0, p.now);
    health.set(id, h);
  }
  if (health.size > 0) statements.push(d1.prepare(UPDATE_ENDPOINT_HEALTH).bind(JSON.stringify([...health.values()])));
  for (const p of planned) {
    if (!inSequence.has(p.claim.endpoint.id)) continue;
    statements.push(toStatement(d1, endpointUpdate(db, p.claim, p.status, p.now, config.failureThreshold)));
    // A final failure may reach the threshold: the announcement rides in the same transaction, stored only if this
    // batch disabled the endpoint, under an id derived from the disable, so it exists once or not at all.
    if (p.status === "failed") {
      p.announcementAt = statements.length;
      statements.push(...eventStatements(d1, await autoDisabledEnvelope(p.claim.endpoint, config.failureThreshold, p.now), p.now, { ifAutoDisabled: p.claim.endpoint.id }));
    }
  }
  // After every endpoint update: those run only while their attempts are unrecorded.
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
  }));
  const deliveryChanges = planned.map(({ claim, result, now, status, retryInSeconds, retryVia }) => ({
    delivery_id: claim.deliveryId,
    attempt_number: claim.attemptNumber,
    status,
    next_attempt_at: retryInSeconds === null ? null : now + retryInSeconds * 1000,
    in_queue: retryVia === "queue" ? 1 : 0,
    last_status_code: result.statusCode,
    last_error: result.ok ? null : `${result.errorClass}${result.errorMessage ? `: ${result.errorMessage}` : ""}`.slice(0, 500),
    completed_at: status === "retrying" ? null : now,
    updated_at: now,
  }));
  statements.push(d1.prepare(INSERT_ATTEMPTS).bind(JSON.stringify(attemptRows)), d1.prepare(UPDATE_DELIVERIES).bind(JSON.stringify(deliveryChanges)));

  const results = await withRetries({ delivery_ids: sent.map((s) => s.claim.deliveryId) }, () => d1.batch(statements));

  return planned.map(({ claim, result, status, retryInSeconds, retryVia, announcementAt }): AttemptedOutcome => {
    const { deliveryId, attemptNumber, endpoint, delivery } = claim;
    const autoDisabled = announcementAt !== null && (results[announcementAt]?.meta.changes ?? 0) > 0;
    const announcementDeliveryIds = autoDisabled ? ((results[announcementAt! + 1]?.results ?? []) as { id: number }[]).map((r) => r.id) : [];
    logger.info("delivery attempt", {
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
    if (autoDisabled) logger.warn("webhook auto-disabled", { webhook_id: endpoint.id, threshold: config.failureThreshold });
    const owner = { tenantId: endpoint.tenantId, partnerId: endpoint.partnerId };
    return { kind: "attempted", deliveryId, webhookId: endpoint.id, owner, attemptNumber, result, status, retryInSeconds, retryVia, autoDisabled, announcementDeliveryIds };
  });
}

/**
 * An endpoint's counters after one attempt. Runs only while that attempt is unrecorded (its row is inserted later in
 * the same batch), so a retried batch never counts a failure twice.
 */
function endpointUpdate(db: Database, claim: ClaimedAttempt, status: DeliveryStatus, now: number, threshold: number) {
  const reachesThreshold = sql`${webhookEndpoints.failureCount} + 1 >= ${threshold}`;
  const change =
    status === "success"
      ? { failureCount: 0, lastSuccessAt: now }
      : status === "failed"
        ? {
            // Consecutive failed deliveries; at the threshold the endpoint is disabled until PATCHed back on.
            failureCount: sql`${webhookEndpoints.failureCount} + 1`,
            lastFailureAt: now,
            enabled: sql`CASE WHEN ${reachesThreshold} THEN 0 ELSE ${webhookEndpoints.enabled} END`,
            disabledAt: sql`CASE WHEN ${webhookEndpoints.enabled} = 1 AND ${reachesThreshold} THEN ${now} ELSE ${webhookEndpoints.disabledAt} END`,
            disabledReason: sql`CASE WHEN ${webhookEndpoints.enabled} = 1 AND ${reachesThreshold} THEN ${AUTO_DISABLED_REASON} ELSE ${webhookEndpoints.disabledReason} END`,
          }
        : { lastFailureAt: now };
  const thisAttemptRow = db
    .select({ one: sql`1` })
    .from(deliveryAttempts)
    .where(and(eq(deliveryAttempts.deliveryId, claim.deliveryId), eq(deliveryAttempts.attemptNumber, claim.attemptNumber)));
  return db
    .update(webhookEndpoints)
    .set(change)
    .where(and(eq(webhookEndpoints.id, claim.endpoint.id), notExists(thisAttemptRow)));
}

/**
 * Attempts delivery `deliveryId` once if it is due: claim, send, record. `allowDisabled` lets the test endpoint reach
 * a disabled endpoint. The queue consumer does the same for a whole batch at once (src/jobs/delivery-consumer.ts).
 */
export async function attemptDelivery(deps: DeliveryDeps, deliveryId: number, opts: { allowDisabled?: boolean } = {}): Promise<AttemptOutcome> {
  const { claimed, skipped } = await claimDeliveries(deps, [deliveryId], opts);
  const [claim] = claimed;
  if (!claim) return { kind: "skipped", reason: skipped.get(deliveryId) ?? "not_found" };
  const [outcome] = await recordAttempts(deps, [await sendClaimedAttempt(deps, claim)]);
  return outcome!;
}

/** drizzle builds the SQL; D1 runs it, so that raw statements (the announcement's) can share the one batch. */
function toStatement(d1: D1Database, query: { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql: text, params } = query.toSQL();
  return d1.prepare(text).bind(...params);
}

/** The announcement of a disable at `now`: its event_id is derived from the endpoint and that instant, so two attempts
 * recorded in the same millisecond cannot announce one disable twice. */
async function autoDisabledEnvelope(endpoint: WebhookEndpointRow, threshold: number, now: number) {
  return completeEnvelope(
    {
      event_id: await derivedId("evt_", `webhook.auto_disabled:${endpoint.id}:${now}`),
      event_type: "webhook.auto_disabled",
      tenant_id: endpoint.tenantId,
      partner_id: endpoint.partnerId,
      resource: { type: "webhook", id: endpoint.id },
      actor: { id: null, type: "system" },
      data: { webhook_id: endpoint.id, url: endpoint.url, reason: AUTO_DISABLED_REASON, threshold },
    },
    now,
  );
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
        logger.error("recording attempts failed for good; they were sent but are not recorded", { ...context, error: String(err) });
        throw err;
      }
      logger.warn("recording attempts failed; retrying", { ...context, tries, error: String(err) });
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
    }
  }
}
