// Claiming deliveries: one conditional UPDATE decides which worker attempts which delivery, and fixes the attempt
// number, so duplicate messages and concurrent workers never send one attempt twice. A claim writes one row per
// delivery and no index entry: the lease it sets (lease_until) is not indexed.

import { groupByTable, type LivePartitions, withPartitions } from "../../db/partitions";
import { type StoredPayload, withPayloadText } from "../../db/payload";
import {
  ACTIVE_DELIVERY_SQL,
  type DeliveryRow,
  type DeliveryStatus,
  isActiveDelivery,
  type WebhookEndpointRow,
} from "../../db/schema";
import type { Config } from "../../lib/config";
import { type DeliveryRef, refKey } from "../publish";
import { advanceWatermark } from "../queue-watermark";
import type { DeliveryDeps } from "./deps";
import type { Lane } from "./lanes";
import { waitsInLine } from "./ordered";

/** A queue message may arrive a little before the time recorded in D1. */
const EARLY_ARRIVAL_TOLERANCE_MS = 5_000;

/**
 * Why a delivery was not claimed; `slow_lane`: its webhook is slow, the main lane forwards it to the slow lane;
 * `in_line`: its webhook is ordered and an earlier delivery goes first (the one before it enqueues it: ordered.ts).
 */
export type SkipReason = "not_found" | "finished" | "not_due" | "unsendable" | "slow_lane" | "in_line";

/** The `last_error` of a delivery cancelled because its endpoint was disabled: recover puts these back in the queue. */
export const CANCELLED_ENDPOINT_DISABLED = "endpoint disabled";

/** What an attempt reads of its delivery row (only these columns cross from D1). */
export type ClaimedDelivery = Pick<
  DeliveryRow,
  "id" | "webhookId" | "eventOwner" | "eventId" | "eventType" | "status" | "attempts"
>;

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
  | "rateLimit"
  | "ordered"
  | "failureCount"
  | "failureWarningPercent"
>;

/** A delivery this worker has claimed: its attempt number is fixed, and its lease keeps duplicate messages out. */
export interface ClaimedAttempt {
  deliveryId: number;
  attemptNumber: number;
  delivery: ClaimedDelivery;
  endpoint: ClaimedEndpoint;
  payload: string;
  /** The lease the claim set (`lease_until`): the claim is still this worker's while the row holds it. */
  leaseUntil: number;
}

/** The delivery a claim is of. */
export const refOfClaim = (claim: ClaimedAttempt): DeliveryRef => ({
  webhookId: claim.endpoint.id,
  id: claim.deliveryId,
});

export interface Claims {
  claimed: ClaimedAttempt[];
  skipped: { ref: DeliveryRef; reason: SkipReason }[];
}

/** How long a claim holds its delivery: every wave of sends before it may take the full timeout, then recording. */
export const claimLeaseMs = (config: Config, sendWaves: number) =>
  Math.max(1, sendWaves) * config.deliveryTimeoutMs + config.inFlightMarginMs;

// ?1: the deliveries as JSON [{ w, i }]; rows are matched on their primary key.
const LISTED = `(webhook_id, id) IN (SELECT r.value ->> 'w', r.value ->> 'i' FROM json_each(?1) AS r)`;
// Sendable: the endpoint exists, is not deleted and is enabled (or ?5 allows a disabled one), is not slow when ?6 says
// the main lane claims (it forwards a slow webhook's deliveries to the slow lane), the delivery is not waiting in an
// ordered webhook's line (ordered.ts), and the event is stored.
const sendable = (table: string) => `EXISTS (SELECT 1 FROM webhook_endpoints w
    WHERE w.id = "${table}".webhook_id AND w.deleted_at IS NULL AND (w.enabled = 1 OR ?5 = 1)
      AND (w.slow_since IS NULL OR ?6 = 0) AND NOT (${waitsInLine("w", `"${table}"`)}))
  AND EXISTS (SELECT 1 FROM events_live e WHERE e.owner_key = "${table}".event_owner AND e.event_id = "${table}".event_id)`;
// ?2 now, ?3 lease end, ?4 the latest due time a message may claim (now + tolerance).
const claimIn = (table: string) => `UPDATE "${table}" SET attempt_count = attempt_count + 1, lease_until = ?3,
    in_queue = 1, last_attempt_at = ?2, updated_at = ?2
  WHERE ${LISTED} AND ${ACTIVE_DELIVERY_SQL} AND (lease_until IS NULL OR lease_until < ?2) AND due_at <= ?4
    AND ${sendable(table)}
  RETURNING webhook_id, id, attempt_count`;
const LISTED_D = LISTED.replace("(webhook_id, id)", "(d.webhook_id, d.id)");
// Read after the claims: `in_line` says a delivery left unclaimed waits behind an earlier one of its ordered webhook.
const READ_DELIVERIES = `SELECT d.webhook_id, d.id, d.event_owner, d.event_id, d.event_type, d.status, d.attempts,
    d.created_at, (SELECT ${waitsInLine("w", "d")} FROM webhook_endpoints w WHERE w.id = d.webhook_id) AS in_line
  FROM deliveries_live d WHERE ${LISTED_D}`;
const READ_ENDPOINTS = `SELECT id, url, secret, previous_secret, previous_secret_expires_at, headers, enabled, deleted_at,
    tenant_id, partner_id, slow_since, rate_limit, ordered, failure_count, failure_warning_percent
  FROM webhook_endpoints WHERE id IN (SELECT DISTINCT r.value ->> 'w' FROM json_each(?1) AS r)`;
// The events' keys are read once (materialized), then looked up in each events table: a subquery in the IN would be
// run again for every events table, reading every deliveries table as many times.
const READ_EVENTS = `WITH k AS MATERIALIZED (SELECT DISTINCT d.event_owner, d.event_id FROM deliveries_live d
    WHERE ${LISTED_D})
  SELECT e.owner_key, e.event_id, e.payload FROM k JOIN events_live e ON e.owner_key = k.event_owner AND e.event_id = k.event_id`;
const cancelIn = (table: string) => `UPDATE "${table}" SET status = 'cancelled', lease_until = NULL, in_queue = 0,
    completed_at = ?2, updated_at = ?2, last_error = r.value ->> 'reason'
  FROM json_each(?1) AS r
  WHERE "${table}".webhook_id = r.value ->> 'w' AND "${table}".id = r.value ->> 'i' AND ${ACTIVE_DELIVERY_SQL}`;

interface RawDelivery {
  webhook_id: string;
  id: number;
  event_owner: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: string;
  in_line: number | null;
}
interface RawEndpoint {
  id: string;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  headers: string;
  enabled: number;
  deleted_at: number | null;
  tenant_id: string | null;
  partner_id: string | null;
  slow_since: number | null;
  rate_limit: number | null;
  ordered: number;
  failure_count: number;
  failure_warning_percent: number;
}

const refsJson = (refs: readonly DeliveryRef[]) => JSON.stringify(refs.map((r) => ({ w: r.webhookId, i: r.id })));

/**
 * Claims every due and sendable delivery among `refs` in one D1 round trip: one conditional UPDATE per table claims
 * them (so of two workers, or two duplicate messages, only one wins each delivery, and a finished delivery is never
 * claimed again) and fixes their attempt numbers; three reads in the same batch fetch what to send. `sendWaves` is how
 * many rounds of sends the caller needs (ids / its concurrency), so the lease outlasts the last one. Deliveries that can
 * never be sent (endpoint deleted or disabled, event gone) are cancelled here. In the main lane, deliveries of a slow
 * webhook are not claimed (`slow_lane`): the endpoint row this reads anyway says so, at no extra cost.
 */
export async function claimDeliveries(
  deps: Pick<DeliveryDeps, "db" | "config" | "now">,
  refs: readonly DeliveryRef[],
  opts: { allowDisabled?: boolean; sendWaves?: number; watermarkSentAt?: number | null; lane?: Lane } = {},
): Promise<Claims> {
  const { db, config } = deps;
  const d1 = db.$client;
  const unique = [...new Map(refs.map((r) => [refKey(r), r])).values()];
  const listed = refsJson(unique);
  const now = deps.now();
  const leaseUntil = now + claimLeaseMs(config, opts.sendWaves ?? 1);
  const { claimedRows, deliveryRows, endpointRows, eventRows } = await withPartitions(d1, async (live) => {
    const groups = [...groupByTable(live, unique, (r) => r.id)];
    const watermark =
      opts.watermarkSentAt != null ? [toStatement(d1, advanceWatermark(db, opts.watermarkSentAt, now, opts.lane))] : [];
    const results = await d1.batch<Record<string, unknown>>([
      ...groups.map(([table, group]) =>
        d1
          .prepare(claimIn(table))
          .bind(
            refsJson(group),
            now,
            leaseUntil,
            now + EARLY_ARRIVAL_TOLERANCE_MS,
            opts.allowDisabled ? 1 : 0,
            opts.lane === "main" ? 1 : 0,
          ),
      ),
      d1.prepare(READ_DELIVERIES).bind(listed),
      d1.prepare(READ_ENDPOINTS).bind(listed),
      d1.prepare(READ_EVENTS).bind(listed),
      // The watermark rides in the same round trip (domain/queue-watermark).
      ...watermark,
    ]);
    const n = groups.length;
    return {
      claimedRows: results
        .slice(0, n)
        .flatMap((r) => r.results as { webhook_id: string; id: number; attempt_count: number }[]),
      deliveryRows: results[n]!.results as unknown as RawDelivery[],
      endpointRows: results[n + 1]!.results as unknown as RawEndpoint[],
      eventRows: results[n + 2]!.results as unknown as {
        owner_key: string;
        event_id: string;
        payload: StoredPayload;
      }[],
    };
  });

  const attemptNumbers = new Map(claimedRows.map((r) => [`${r.webhook_id}\n${r.id}`, r.attempt_count]));
  const deliveriesByKey = new Map(deliveryRows.map((r) => [`${r.webhook_id}\n${r.id}`, r]));
  const endpoints = new Map(endpointRows.map((r) => [r.id, toEndpoint(r)]));
  const payloads = new Map((await withPayloadText(eventRows)).map((r) => [`${r.owner_key}\n${r.event_id}`, r.payload]));

  const claims: Claims = { claimed: [], skipped: [] };
  const cancel: { w: string; i: number; reason: string }[] = [];
  for (const ref of unique) {
    const key = refKey(ref);
    const row = deliveriesByKey.get(key);
    const endpoint = endpoints.get(ref.webhookId);
    if (!row || !endpoint) {
      claims.skipped.push({ ref, reason: "not_found" });
      continue;
    }
    const delivery = toDelivery(row);
    const payload = payloads.get(`${row.event_owner}\n${row.event_id}`);
    const attemptNumber = attemptNumbers.get(key);
    if (attemptNumber !== undefined && payload !== undefined) {
      claims.claimed.push({ deliveryId: ref.id, attemptNumber, delivery, endpoint, payload, leaseUntil });
      continue;
    }
    if (!isActiveDelivery(delivery.status)) {
      claims.skipped.push({ ref, reason: "finished" });
      continue;
    }
    const unsendable =
      endpoint.deletedAt !== null
        ? "endpoint deleted"
        : !endpoint.enabled && !opts.allowDisabled
          ? CANCELLED_ENDPOINT_DISABLED
          : payload === undefined
            ? "event no longer stored"
            : null;
    if (unsendable) cancel.push({ w: ref.webhookId, i: ref.id, reason: unsendable });
    claims.skipped.push({
      ref,
      reason: unsendable
        ? "unsendable"
        : row.in_line
          ? "in_line"
          : opts.lane === "main" && endpoint.slowSince !== null
            ? "slow_lane"
            : "not_due",
    });
  }
  if (cancel.length > 0)
    await withPartitions(d1, (live) =>
      d1.batch(
        [...groupByTable(live, cancel, (c) => c.i)].map(([table, group]) =>
          d1.prepare(cancelIn(table)).bind(JSON.stringify(group), now),
        ),
      ),
    );
  return claims;
}

// Undoes claims whose attempts were never sent, so another consumer can claim them afresh: only while each claim is
// still the one this worker made (same attempt number, same lease), so a claim made since by another worker is never
// touched. Due now, unless the item says when ('d') and whether a queue message carries it ('q').
const releaseIn = (table: string) => `UPDATE "${table}" SET attempt_count = attempt_count - 1, lease_until = NULL,
    due_at = coalesce(r.value ->> 'd', ?2), in_queue = coalesce(r.value ->> 'q', "${table}".in_queue), updated_at = ?2
  FROM json_each(?1) AS r
  WHERE "${table}".webhook_id = r.value ->> 'w' AND "${table}".id = r.value ->> 'i'
    AND "${table}".attempt_count = r.value ->> 'n' AND "${table}".lease_until = r.value ->> 'l'
    AND ${ACTIVE_DELIVERY_SQL.replace("status", `"${table}".status`)}`;

/** When a released delivery is due again, and whether a queue message will bring it (else the sweep does). */
export interface DueAgain {
  dueAt: number;
  inQueue: boolean;
}

/** The statements that release `claims` (never sent), leaving their deliveries due at `now` or as `dueOf` says. */
export function releaseClaimsStatements(
  d1: D1Database,
  live: LivePartitions,
  claims: readonly ClaimedAttempt[],
  now: number,
  dueOf: (claim: ClaimedAttempt) => DueAgain | null = () => null,
): D1PreparedStatement[] {
  const item = (c: ClaimedAttempt) => {
    const due = dueOf(c);
    const key = { w: c.endpoint.id, i: c.deliveryId, n: c.attemptNumber, l: c.leaseUntil };
    return due ? { ...key, d: due.dueAt, q: due.inQueue ? 1 : 0 } : key;
  };
  return [...groupByTable(live, claims, (c) => c.deliveryId)].map(([table, group]) =>
    d1.prepare(releaseIn(table)).bind(JSON.stringify(group.map(item)), now),
  );
}

/**
 * Completes messages sent without `webhook_id` (before it was part of a message): their deliveries, found among the
 * open ones by id. Ids not found are returned as they were (the claim then skips them as not found).
 */
export async function resolveDeliveryRefs(
  db: DeliveryDeps["db"],
  messages: readonly { delivery_id: number; webhook_id?: string }[],
): Promise<DeliveryRef[]> {
  const missing = messages.filter((m) => m.webhook_id === undefined).map((m) => m.delivery_id);
  const found = new Map<number, string>();
  if (missing.length > 0) {
    const { results } = await db.$client
      .prepare(
        "SELECT webhook_id, id FROM deliveries_live WHERE completed_at IS NULL AND id IN (SELECT value FROM json_each(?1))",
      )
      .bind(JSON.stringify(missing))
      .all<{ webhook_id: string; id: number }>();
    for (const r of results) found.set(r.id, r.webhook_id);
  }
  return messages.map((m) => ({ id: m.delivery_id, webhookId: m.webhook_id ?? found.get(m.delivery_id) ?? "" }));
}

function toDelivery(r: RawDelivery): ClaimedDelivery {
  return {
    id: r.id,
    webhookId: r.webhook_id,
    eventOwner: r.event_owner,
    eventId: r.event_id,
    eventType: r.event_type,
    status: r.status,
    attempts: JSON.parse(r.attempts),
  };
}

function toEndpoint(r: RawEndpoint): ClaimedEndpoint {
  return {
    id: r.id,
    url: r.url,
    secret: r.secret,
    previousSecret: r.previous_secret,
    previousSecretExpiresAt: r.previous_secret_expires_at,
    headers: JSON.parse(r.headers),
    enabled: r.enabled === 1,
    deletedAt: r.deleted_at,
    tenantId: r.tenant_id,
    partnerId: r.partner_id,
    slowSince: r.slow_since,
    rateLimit: r.rate_limit,
    ordered: r.ordered === 1,
    failureCount: r.failure_count,
    failureWarningPercent: r.failure_warning_percent,
  };
}

/** drizzle builds the SQL; D1 runs it, so that raw statements can share one batch with it. */
export function toStatement(
  d1: D1Database,
  query: { toSQL(): { sql: string; params: unknown[] } },
): D1PreparedStatement {
  const { sql: text, params } = query.toSQL();
  return d1.prepare(text).bind(...params);
}
