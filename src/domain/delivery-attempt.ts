// One delivery attempt from start to finish: claim the delivery, sign afresh, send, record the outcome.
// Used by the queue consumer, the test endpoint and (through the queue) manual retries.
import { and, eq, inArray, isNull, lte, notExists, or, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { deliveries, deliveryAttempts, events, webhookEndpoints, type DeliveryStatus, type ErrorClass, type WebhookEndpointRow } from "../db/schema";
import type { Config } from "../lib/config";
import type { SecretBox } from "../lib/secret-box";
import { logger } from "../lib/logger";
import { sendWebhookRequest, type AttemptResult } from "./http-attempt";
import { completeEnvelope, eventStatements } from "./publish";
import { computeRetryDelaySeconds } from "./retry-policy";
import { signScaiKey, signStandardWebhooks } from "./signing";
import { targetUrlProblem } from "./target-url";
import { AUTO_DISABLED_REASON } from "./webhook-endpoints";

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

export type AttemptOutcome =
  | { kind: "skipped"; reason: SkipReason }
  | {
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
    };

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

/**
 * Attempts delivery `deliveryId` once if it is due. Safe against duplicate queue messages: the claim is a single
 * conditional UPDATE, so two workers can never send the same attempt, and a finished delivery is never sent again.
 * `allowDisabled` lets the test endpoint reach a disabled endpoint.
 */
export async function attemptDelivery(deps: DeliveryDeps, deliveryId: number, opts: { allowDisabled?: boolean } = {}): Promise<AttemptOutcome> {
  const { db, config } = deps;
  let now = deps.now();
  // One round trip: claim, then read what to send. The claim is a single conditional UPDATE, so only one worker wins,
  // only when the delivery is due and still sendable, and the attempt number is fixed here once and for all; its lease
  // (timeout + margin) keeps a duplicate message out until the attempt is recorded.
  const leaseUntil = now + config.deliveryTimeoutMs + config.inFlightMarginMs;
  const sendable = sql`EXISTS (SELECT 1 FROM webhook_endpoints w JOIN events e ON e.id = ${deliveries.eventId}
    WHERE w.id = ${deliveries.webhookId} AND w.deleted_at IS NULL AND (w.enabled = 1 OR ${opts.allowDisabled ? 1 : 0} = 1)
      AND e.payload != '')`;
  const [claimedRows, deliveryRows, endpointRows, eventRows] = await db.batch([
    db
      .update(deliveries)
      .set({ attemptCount: sql`${deliveries.attemptCount} + 1`, nextAttemptAt: leaseUntil, inQueue: true, lastAttemptAt: now, updatedAt: now })
      .where(
        and(
          eq(deliveries.id, deliveryId),
          inArray(deliveries.status, ACTIVE),
          or(isNull(deliveries.nextAttemptAt), lte(deliveries.nextAttemptAt, now + EARLY_ARRIVAL_TOLERANCE_MS)),
          sendable,
        ),
      )
      .returning({ attemptCount: deliveries.attemptCount }),
    // Three plain reads rather than one join: in a D1 batch, drizzle maps rows by column name, which a join repeats.
    db.select().from(deliveries).where(eq(deliveries.id, deliveryId)),
    db
      .select()
      .from(webhookEndpoints)
      .where(eq(webhookEndpoints.id, sql`(SELECT webhook_id FROM deliveries WHERE id = ${deliveryId})`)),
    db
      .select({ payload: events.payload })
      .from(events)
      .where(eq(events.id, sql`(SELECT event_id FROM deliveries WHERE id = ${deliveryId})`)),
  ]);
  const [claimed] = claimedRows;
  const [delivery] = deliveryRows;
  const [endpoint] = endpointRows;
  const payload = eventRows[0]?.payload;
  if (!delivery || !endpoint || payload === undefined) return { kind: "skipped", reason: "not_found" };
  if (!claimed) {
    if (!ACTIVE.includes(delivery.status)) return { kind: "skipped", reason: "finished" };
    const unsendable =
      endpoint.deletedAt !== null
        ? "endpoint deleted"
        : !endpoint.enabled && !opts.allowDisabled
          ? "endpoint disabled"
          : payload === ""
            ? "payload purged by retention"
            : null;
    if (!unsendable) return { kind: "skipped", reason: "not_due" };
    await db
      .update(deliveries)
      .set({ status: "cancelled", nextAttemptAt: null, inQueue: false, completedAt: now, updatedAt: now, lastError: unsendable })
      .where(and(eq(deliveries.id, deliveryId), inArray(deliveries.status, ACTIVE)));
    return { kind: "skipped", reason: "unsendable" };
  }
  const attemptNumber = claimed.attemptCount;

  const problem = targetUrlProblem(endpoint.url, { allowInsecure: config.allowInsecureUrls, allowPrivate: config.allowPrivateTargets });
  let result: RecordedResult;
  if (problem) {
    result = { ok: false, statusCode: null, durationMs: 0, errorClass: "blocked_target", errorMessage: problem, responseExcerpt: null, retryAfterSeconds: null };
  } else {
    const headers = await buildDeliveryHeaders({
      deliveryId,
      eventId: delivery.eventId,
      eventType: delivery.eventType,
      body: payload,
      secrets: await signingSecrets(deps.secretBox, endpoint, now),
      timestamp: Math.floor(now / 1000), // signed afresh on every attempt: receivers reject stale timestamps
      customHeaders: endpoint.headers,
    });
    result = await sendWebhookRequest({ url: endpoint.url, headers, body: payload, timeoutMs: config.deliveryTimeoutMs, fetch: deps.fetch, now: deps.now });
  }
  const startedAt = now;
  now = deps.now();

  const retryInSeconds = result.ok
    ? null
    : computeRetryDelaySeconds({
        attemptsMade: attemptNumber,
        scheduleSeconds: config.retryScheduleSeconds,
        retryAfterSeconds: result.retryAfterSeconds,
        random: deps.random ?? Math.random,
        maxRetryAfterSeconds: MAX_RETRY_AFTER_SECONDS,
      });
  const status: DeliveryStatus = result.ok ? "success" : retryInSeconds === null ? "failed" : "retrying";
  const retryVia = retryInSeconds === null ? null : retryInSeconds <= QUEUE_DELAY_LIMIT_SECONDS ? "queue" : "cron";
  const lastError = result.ok ? null : `${result.errorClass}${result.errorMessage ? `: ${result.errorMessage}` : ""}`.slice(0, 500);

  const endpointChange =
    status === "success"
      ? { failureCount: 0, lastSuccessAt: now }
      : status === "failed"
        ? {
            // Consecutive failed deliveries; at the threshold the endpoint is disabled until PATCHed back on.
            failureCount: sql`${webhookEndpoints.failureCount} + 1`,
            lastFailureAt: now,
            enabled: sql`CASE WHEN ${webhookEndpoints.failureCount} + 1 >= ${config.failureThreshold} THEN 0 ELSE ${webhookEndpoints.enabled} END`,
            disabledAt: sql`CASE WHEN ${webhookEndpoints.enabled} = 1 AND ${webhookEndpoints.failureCount} + 1 >= ${config.failureThreshold} THEN ${now} ELSE ${webhookEndpoints.disabledAt} END`,
            disabledReason: sql`CASE WHEN ${webhookEndpoints.enabled} = 1 AND ${webhookEndpoints.failureCount} + 1 >= ${config.failureThreshold} THEN ${AUTO_DISABLED_REASON} ELSE ${webhookEndpoints.disabledReason} END`,
          }
        : { lastFailureAt: now };

  // The request has been sent: losing its record now would mean sending it again, so a transient D1 error is
  // retried here before the message itself is (the batch is atomic and each statement is guarded, so a retry is safe).
  const thisAttemptRow = db
    .select({ one: sql`1` })
    .from(deliveryAttempts)
    .where(and(eq(deliveryAttempts.deliveryId, deliveryId), eq(deliveryAttempts.attemptNumber, attemptNumber)));
  const record = [
    db
      .update(webhookEndpoints)
      .set(endpointChange)
      // Runs first and only while this attempt is unrecorded, so a retried batch never counts a failure twice.
      .where(and(eq(webhookEndpoints.id, endpoint.id), notExists(thisAttemptRow)))
      .returning({ enabled: webhookEndpoints.enabled, disabledReason: webhookEndpoints.disabledReason }),
    db
      .insert(deliveryAttempts)
      .values({
        deliveryId,
        webhookId: endpoint.id,
        attemptNumber,
        startedAt,
        durationMs: result.durationMs,
        success: result.ok,
        statusCode: result.statusCode,
        errorClass: result.errorClass,
        errorMessage: result.errorMessage?.slice(0, 500) ?? null,
        responseExcerpt: result.responseExcerpt,
      })
      .onConflictDoNothing(),
    db
      .update(deliveries)
      .set({
        status,
        nextAttemptAt: retryInSeconds === null ? null : now + retryInSeconds * 1000,
        inQueue: retryVia === "queue",
        lastStatusCode: result.statusCode,
        lastError,
        completedAt: status === "retrying" ? null : now,
        updatedAt: now,
      })
      .where(and(eq(deliveries.id, deliveryId), eq(deliveries.attemptCount, attemptNumber))),
  ].map((query) => toStatement(db.$client, query));
  // A final failure may reach the threshold: the webhook.auto_disabled announcement is stored in the same transaction,
  // gated on the endpoint having been disabled by it, so the disable and its announcement exist together or not at all.
  const announcement = status === "failed" ? autoDisabledEnvelope(endpoint, config.failureThreshold, now) : null;
  if (announcement) record.push(...eventStatements(db.$client, announcement, now, { ifAutoDisabled: endpoint.id }));
  const results = await withRetries({ delivery_id: deliveryId, attempt: attemptNumber }, () => db.$client.batch(record));
  const endpointAfter = results[0]?.results[0] as { enabled: number; disabled_reason: string | null } | undefined;
  const autoDisabled = endpoint.enabled && endpointAfter?.enabled === 0 && endpointAfter.disabled_reason === AUTO_DISABLED_REASON;
  const announcementDeliveryIds = announcement ? ((results[4]?.results ?? []) as { id: number }[]).map((r) => r.id) : [];

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
}

/** drizzle builds the SQL; D1 runs it, so that raw statements (the announcement's) can share the one batch. */
function toStatement(d1: D1Database, query: { toSQL(): { sql: string; params: unknown[] } }): D1PreparedStatement {
  const { sql: text, params } = query.toSQL();
  return d1.prepare(text).bind(...params);
}

function autoDisabledEnvelope(endpoint: WebhookEndpointRow, threshold: number, now: number) {
  return completeEnvelope(
    {
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

async function withRetries<T>(context: { delivery_id: number; attempt: number }, write: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await write();
    } catch (err) {
      if (tries >= RECORD_TRIES) {
        // The at-least-once window: the receiver got this attempt, the record of it is lost, and the delivery is
        // attempted again once its lease lapses (the sweep re-enqueues it).
        logger.error("recording an attempt failed for good; it was sent but is not recorded", { ...context, error: String(err) });
        throw err;
      }
      logger.warn("recording an attempt failed; retrying", { ...context, tries, error: String(err) });
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** tries));
    }
  }
}
