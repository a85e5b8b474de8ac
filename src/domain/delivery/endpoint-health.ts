// Endpoint health (outpost's internal/alert): consecutive failed deliveries, the auto-disable at the threshold, the
// webhook.auto_disabled announcement, and whether the receiver is slow (its lane), as statements that ride in the batch
// recording the attempts.
import { and, eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client";
import { storedPayload } from "../../db/payload";
import {
  type AutoDisableReason,
  type DeliveryStatus,
  type WebhookEndpointRow,
  webhookEndpoints,
} from "../../db/schema";
import { canonicalJson } from "../../lib/canonical-json";
import { derivedId } from "../../lib/ids";
import { completeEnvelope, type DeliveryRef, eventStatements, toDeliveryRefs } from "../publish";
import { type ClaimedAttempt, toStatement } from "./claim";

/** One attempt of the group being recorded, as endpoint health sees it. */
export interface HealthInput {
  claim: ClaimedAttempt;
  status: DeliveryStatus;
  /** The receiver answered 410 Gone: the endpoint is disabled at once (status is then `failed`). */
  gone: boolean;
  /** When the attempt finished. */
  now: number;
  /** The attempt timed out: the webhook is slow until an attempt ends any other way (lanes.ts). */
  timedOut: boolean;
}

export interface HealthStatements {
  statements: D1PreparedStatement[];
  /** Per input: the index in `statements` of its announcement (a final failure), or null. */
  announcementAt: (number | null)[];
}

/**
 * Whether an attempt is still unrecorded (SQL over expressions naming the webhook, the delivery and the attempt): it is
 * its delivery's latest claim, and the lease it set is still there (recording clears it). Every statement that
 * records something about an attempt runs only while this holds and before the delivery's own update, in one batch,
 * so a batch that runs twice counts nothing twice. (endpointUpdate below says the same with bound parameters.)
 */
export const unrecorded = (webhookId: string, deliveryId: string, attemptNumber: string) =>
  `EXISTS (SELECT 1 FROM deliveries_live d WHERE d.webhook_id = ${webhookId} AND d.id = ${deliveryId}
    AND d.attempt_count = ${attemptNumber} AND d.lease_until IS NOT NULL)`;

// Endpoint health after successes and non-final failures, for many endpoints in one statement: these commute (a success
// resets the count, a retried failure does not touch it), so only the latest time of each matters. Runs only while the
// group's attempts are unrecorded (they are recorded together, so one of them stands for all), like endpointUpdate.
const UPDATE_ENDPOINT_HEALTH = `UPDATE webhook_endpoints SET
    failure_count = CASE WHEN u.value ->> 'success_at' IS NULL THEN failure_count ELSE 0 END,
    last_success_at = COALESCE(u.value ->> 'success_at', last_success_at),
    last_failure_at = COALESCE(u.value ->> 'failure_at', last_failure_at),
    slow_since = CASE WHEN u.value ->> 'slow' THEN COALESCE(slow_since, u.value ->> 'latest_at') ELSE NULL END
  FROM json_each(?1) AS u
  WHERE webhook_endpoints.id = u.value ->> 'webhook_id'
    AND ${unrecorded("u.value ->> 'webhook_id'", "u.value ->> 'delivery_id'", "u.value ->> 'attempt_number'")}`;

/**
 * The endpoint-health statements of a group of attempts, to run before the group's attempt rows are inserted (each
 * update runs only while its attempt is unrecorded). An endpoint with a final failure in the group gets one update per
 * attempt, in order, so consecutive failures and resets add up as they happened; the others share one statement.
 */
export async function endpointHealthStatements(
  db: Database,
  attempts: readonly HealthInput[],
  threshold: number,
): Promise<HealthStatements> {
  const d1 = db.$client;
  const statements: D1PreparedStatement[] = [];
  const announcementAt: (number | null)[] = attempts.map(() => null);
  const inSequence = new Set(attempts.filter((p) => p.status === "failed").map((p) => p.claim.endpoint.id));
  const health = new Map<
    string,
    {
      webhook_id: string;
      delivery_id: number;
      attempt_number: number;
      success_at: number | null;
      failure_at: number | null;
      latest_at: number;
      slow: boolean;
    }
  >();
  for (const p of attempts) {
    const id = p.claim.endpoint.id;
    if (inSequence.has(id)) continue;
    const h = health.get(id) ?? {
      webhook_id: id,
      delivery_id: p.claim.deliveryId,
      attempt_number: p.claim.attemptNumber,
      success_at: null,
      failure_at: null,
      latest_at: p.now,
      slow: p.timedOut,
    };
    if (p.status === "success") h.success_at = Math.max(h.success_at ?? 0, p.now);
    else h.failure_at = Math.max(h.failure_at ?? 0, p.now);
    if (p.now >= h.latest_at) Object.assign(h, { latest_at: p.now, slow: p.timedOut });
    health.set(id, h);
  }
  if (health.size > 0) statements.push(d1.prepare(UPDATE_ENDPOINT_HEALTH).bind(JSON.stringify([...health.values()])));
  for (const [i, p] of attempts.entries()) {
    if (!inSequence.has(p.claim.endpoint.id)) continue;
    statements.push(toStatement(d1, endpointUpdate(db, p, threshold)));
    // A final failure may reach the threshold (a 410 always disables): the announcement rides in the same transaction,
    // stored only if this batch disabled the endpoint, under an id derived from the disable, so it exists once or not at all.
    if (p.status === "failed") {
      const reason: AutoDisableReason = p.gone ? "gone" : "consecutive_failures";
      const envelope = await autoDisabledEnvelope(p.claim.endpoint, reason, threshold, p.now);
      statements.push(
        ...eventStatements(d1, envelope, await storedPayload(canonicalJson(envelope)), p.now, {
          ifAutoDisabled: { webhookId: p.claim.endpoint.id, reason },
        }),
      );
      announcementAt[i] = statements.length - 2; // the event's insert (its deliveries follow it)
    }
  }
  return { statements, announcementAt };
}

/** From the batch's results: whether the announcement at `at` was stored (this batch disabled the endpoint), and its deliveries. */
export function announcementOf(
  results: readonly D1Result[],
  at: number | null,
): { autoDisabled: boolean; announcementDeliveries: DeliveryRef[] } {
  const autoDisabled = at !== null && (results[at]?.meta.changes ?? 0) > 0;
  const announcementDeliveries = autoDisabled
    ? toDeliveryRefs((results[at! + 1]?.results ?? []) as { webhook_id: string; id: number }[])
    : [];
  return { autoDisabled, announcementDeliveries };
}

/**
 * An endpoint's counters after one attempt. Runs only while that attempt is unrecorded (its row is inserted later in
 * the same batch), so a retried batch never counts a failure twice.
 */
function endpointUpdate(db: Database, { claim, status, gone, now, timedOut }: HealthInput, threshold: number) {
  // Consecutive failed deliveries disable at the threshold, a 410 at once; the endpoint stays off until PATCHed back on.
  const disables = gone ? sql`1` : sql`${webhookEndpoints.failureCount} + 1 >= ${threshold}`;
  const disablesNow = sql`${webhookEndpoints.enabled} = 1 AND ${disables}`;
  const reason: AutoDisableReason = gone ? "gone" : "consecutive_failures";
  const slowSince = timedOut ? sql`COALESCE(${webhookEndpoints.slowSince}, ${now})` : null;
  const change =
    status === "success"
      ? { failureCount: 0, lastSuccessAt: now, slowSince }
      : status === "failed"
        ? {
            failureCount: sql`${webhookEndpoints.failureCount} + 1`,
            lastFailureAt: now,
            enabled: sql`CASE WHEN ${disables} THEN 0 ELSE ${webhookEndpoints.enabled} END`,
            disabledAt: sql`CASE WHEN ${disablesNow} THEN ${now} ELSE ${webhookEndpoints.disabledAt} END`,
            disabledReason: sql`CASE WHEN ${disablesNow} THEN ${reason} ELSE ${webhookEndpoints.disabledReason} END`,
            missedEvents: sql`CASE WHEN ${disablesNow} THEN 0 ELSE ${webhookEndpoints.missedEvents} END`,
            slowSince,
          }
        : { lastFailureAt: now, slowSince };
  return db
    .update(webhookEndpoints)
    .set(change)
    .where(
      and(
        eq(webhookEndpoints.id, claim.endpoint.id),
        sql`EXISTS (SELECT 1 FROM deliveries_live d WHERE d.webhook_id = ${claim.endpoint.id}
          AND d.id = ${claim.deliveryId} AND d.attempt_count = ${claim.attemptNumber} AND d.lease_until IS NOT NULL)`,
      ),
    );
}

/**
 * Marks webhooks slow at `now` (unless they already are): their sends held every send slot of a batch, so their next
 * deliveries take the slow lane without waiting for a timeout to be recorded.
 */
export function markSlowStatement(db: Database, webhookIds: readonly string[], now: number): D1PreparedStatement {
  return db.$client
    .prepare(
      "UPDATE webhook_endpoints SET slow_since = ?2 WHERE id IN (SELECT value FROM json_each(?1)) AND slow_since IS NULL",
    )
    .bind(JSON.stringify([...new Set(webhookIds)]), now);
}

/** The announcement of a disable at `now`: its event_id is derived from the endpoint and that instant, so two attempts
 * recorded in the same millisecond cannot announce one disable twice. */
async function autoDisabledEnvelope(
  endpoint: Pick<WebhookEndpointRow, "id" | "url" | "tenantId" | "partnerId">,
  reason: AutoDisableReason,
  threshold: number,
  now: number,
) {
  return completeEnvelope(
    {
      event_id: await derivedId("evt_", `webhook.auto_disabled:${endpoint.id}:${now}`),
      event_type: "webhook.auto_disabled",
      tenant_id: endpoint.tenantId,
      partner_id: endpoint.partnerId,
      resource: { type: "webhook", id: endpoint.id },
      actor: { id: null, type: "system" },
      // Never the URL: it can carry secrets (a token in the query), and this reaches every other subscriber of the tenant.
      data:
        reason === "gone"
          ? { webhook_id: endpoint.id, reason, status_code: 410 }
          : { webhook_id: endpoint.id, reason, threshold },
    },
    now,
  );
}
