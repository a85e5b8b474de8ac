// Claiming deliveries: one conditional UPDATE decides which worker attempts which delivery, and fixes the attempt
// number, so duplicate messages and concurrent workers never send one attempt twice.

import { and, eq, inArray, isNull, lte, or, sql } from "drizzle-orm";
import {
  type DeliveryRow,
  type DeliveryStatus,
  deliveries,
  events,
  type WebhookEndpointRow,
  webhookEndpoints,
} from "../../db/schema";
import type { Config } from "../../lib/config";
import { advanceWatermark } from "../queue-watermark";
import type { DeliveryDeps } from "./deps";
import type { Lane } from "./lanes";

/** A queue message may arrive a little before the time recorded in D1. */
const EARLY_ARRIVAL_TOLERANCE_MS = 5_000;

const ACTIVE: DeliveryStatus[] = ["pending", "retrying"];

/** Why a delivery was not claimed; `slow_lane`: its webhook is slow, the main lane forwards it to the slow lane. */
export type SkipReason = "not_found" | "finished" | "not_due" | "unsendable" | "slow_lane";

/** The `last_error` of a delivery cancelled because its endpoint was disabled: recover puts these back in the queue. */
export const CANCELLED_ENDPOINT_DISABLED = "endpoint disabled";

/** What an attempt reads of its delivery row (only these columns cross from D1). */
export type ClaimedDelivery = Pick<DeliveryRow, "id" | "webhookId" | "eventKey" | "eventType" | "status">;

/** What an attempt reads of its endpoint row: where to send, the secrets that sign, who owns it, whether it may send. */
export type ClaimedEndpoint = Pick<
  WebhookEndpointRow,
  | "id"
  | "url"
  | "secret"
  | "previousSecret"
  | "previousSecretExpiresAt"
  | "headers"
  | "enabled"
  | "deletedAt"
  | "tenantId"
  | "partnerId"
  | "slowSince"
>;

/** A delivery this worker has claimed: its attempt number is fixed, and its lease keeps duplicate messages out. */
export interface ClaimedAttempt {
  deliveryId: number;
  attemptNumber: number;
  delivery: ClaimedDelivery;
  endpoint: ClaimedEndpoint;
  payload: string;
  /** The lease the claim set (`next_attempt_at`): the claim is still this worker's while the row holds it. */
  leaseUntil: number;
}

export interface Claims {
  claimed: ClaimedAttempt[];
  skipped: Map<number, SkipReason>;
}

/** How long a claim holds its delivery: every wave of sends before it may take the full timeout, then recording. */
export const claimLeaseMs = (config: Config, sendWaves: number) =>
  Math.max(1, sendWaves) * config.deliveryTimeoutMs + config.inFlightMarginMs;

/**
 * Claims every due and sendable delivery among `ids` in one D1 round trip: one conditional UPDATE claims them (so of
 * two workers, or two duplicate messages, only one wins each delivery, and a finished delivery is never claimed again)
 * and fixes their attempt numbers; three reads in the same batch fetch what to send. `sendWaves` is how many rounds of
 * sends the caller needs for them (ids / its concurrency), so the lease outlasts the last one. Deliveries that can
 * never be sent (endpoint deleted or disabled, payload purged) are cancelled here. In the main lane, deliveries of a slow
 * webhook are not claimed (`slow_lane`): the endpoint row this reads anyway says so, at no extra cost.
 */
export async function claimDeliveries(
  deps: Pick<DeliveryDeps, "db" | "config" | "now">,
  ids: readonly number[],
  opts: { allowDisabled?: boolean; sendWaves?: number; watermarkSentAt?: number | null; lane?: Lane } = {},
): Promise<Claims> {
  const { db, config } = deps;
  const unique = [...new Set(ids)];
  const idList = JSON.stringify(unique);
  const now = deps.now();
  const leaseUntil = now + claimLeaseMs(config, opts.sendWaves ?? 1);
  const listed = (column: typeof deliveries.id) => sql`${column} IN (SELECT value FROM json_each(${idList}))`;
  const sendable = sql`EXISTS (SELECT 1 FROM webhook_endpoints w JOIN events e ON e.id = ${deliveries.eventKey}
    WHERE w.id = ${deliveries.webhookId} AND w.deleted_at IS NULL AND (w.enabled = 1 OR ${opts.allowDisabled ? 1 : 0} = 1)
      AND e.payload != ''${opts.lane === "main" ? sql` AND w.slow_since IS NULL` : sql``})`;
  const ofListed = (column: "webhook_id" | "event_id") =>
    sql`(SELECT ${sql.raw(column)} FROM deliveries WHERE id IN (SELECT value FROM json_each(${idList})))`;
  const [claimedRows, deliveryRows, endpointRows, eventRows] = await db.batch([
    db
      .update(deliveries)
      .set({
        attemptCount: sql`${deliveries.attemptCount} + 1`,
        nextAttemptAt: leaseUntil,
        inQueue: true,
        lastAttemptAt: now,
        updatedAt: now,
      })
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
    db
      .select({
        id: deliveries.id,
        webhookId: deliveries.webhookId,
        eventKey: deliveries.eventKey,
        eventType: deliveries.eventType,
        status: deliveries.status,
      })
      .from(deliveries)
      .where(listed(deliveries.id)),
    db
      .select({
        id: webhookEndpoints.id,
        url: webhookEndpoints.url,
        secret: webhookEndpoints.secret,
        previousSecret: webhookEndpoints.previousSecret,
        previousSecretExpiresAt: webhookEndpoints.previousSecretExpiresAt,
        headers: webhookEndpoints.headers,
        enabled: webhookEndpoints.enabled,
        deletedAt: webhookEndpoints.deletedAt,
        tenantId: webhookEndpoints.tenantId,
        partnerId: webhookEndpoints.partnerId,
        slowSince: webhookEndpoints.slowSince,
      })
      .from(webhookEndpoints)
      .where(sql`${webhookEndpoints.id} IN ${ofListed("webhook_id")}`),
    db
      .select({ key: events.key, payload: events.payload })
      .from(events)
      .where(sql`${events.key} IN ${ofListed("event_id")}`),
    // The queue consumer's progress, for the sweep (domain/queue-watermark): no round trip of its own.
    ...(opts.watermarkSentAt ? [advanceWatermark(db, opts.watermarkSentAt, now, opts.lane)] : []),
  ]);
  const attemptNumbers = new Map(claimedRows.map((r) => [r.id, r.attemptCount]));
  const deliveriesById = new Map(deliveryRows.map((d) => [d.id, d]));
  const endpointsById = new Map(endpointRows.map((e) => [e.id, e]));
  const payloads = new Map(eventRows.map((e) => [e.key, e.payload]));

  const claims: Claims = { claimed: [], skipped: new Map() };
  const cancel: { id: number; reason: string }[] = [];
  for (const deliveryId of unique) {
    const delivery = deliveriesById.get(deliveryId);
    const endpoint = delivery && endpointsById.get(delivery.webhookId);
    const payload = delivery && payloads.get(delivery.eventKey);
    if (!delivery || !endpoint || payload === undefined) {
      claims.skipped.set(deliveryId, "not_found");
      continue;
    }
    const attemptNumber = attemptNumbers.get(deliveryId);
    if (attemptNumber !== undefined) {
      claims.claimed.push({ deliveryId, attemptNumber, delivery, endpoint, payload, leaseUntil });
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
          ? CANCELLED_ENDPOINT_DISABLED
          : payload === ""
            ? "payload purged by retention"
            : null;
    if (unsendable) cancel.push({ id: deliveryId, reason: unsendable });
    claims.skipped.set(
      deliveryId,
      unsendable ? "unsendable" : opts.lane === "main" && endpoint.slowSince !== null ? "slow_lane" : "not_due",
    );
  }
  if (cancel.length > 0) {
    const [first, ...rest] = cancel.map(({ id, reason }) =>
      db
        .update(deliveries)
        .set({
          status: "cancelled",
          nextAttemptAt: null,
          inQueue: false,
          completedAt: now,
          updatedAt: now,
          lastError: reason,
        })
        .where(and(eq(deliveries.id, id), inArray(deliveries.status, ACTIVE))),
    );
    await db.batch([first!, ...rest]);
  }
  return claims;
}

// Undoes claims whose attempts were never sent, so the slow lane can claim them afresh: only while each claim is still
// the one this worker made (same attempt number, same lease), so a claim made since by another worker is never touched.
const RELEASE_CLAIMS = `UPDATE deliveries SET attempt_count = attempt_count - 1, next_attempt_at = ?2, updated_at = ?2
  FROM json_each(?1) AS r
  WHERE deliveries.id = r.value ->> 'delivery_id' AND deliveries.attempt_count = r.value ->> 'attempt_number'
    AND deliveries.next_attempt_at = r.value ->> 'lease_until' AND deliveries.status IN ('pending', 'retrying')`;

/** The statement that releases `claims` (never sent), leaving their deliveries due at `now`. */
export function releaseClaimsStatement(
  db: Pick<DeliveryDeps, "db">["db"],
  claims: readonly ClaimedAttempt[],
  now: number,
): D1PreparedStatement {
  const rows = claims.map((c) => ({
    delivery_id: c.deliveryId,
    attempt_number: c.attemptNumber,
    lease_until: c.leaseUntil,
  }));
  return db.$client.prepare(RELEASE_CLAIMS).bind(JSON.stringify(rows), now);
}
