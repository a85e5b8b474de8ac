// The reads only the portal makes, in one place so that a change of storage re-implements them together: the log across
// an owner's webhooks (merged from the per-webhook list), the search by resource id, each webhook's recent outcomes
// (the failing state and the last error), a webhook's open recoveries, an attempt's response headers.
// Every query is bounded and walks an index named beside it (test/portal/queries.test.ts checks the plans).
import type { Database } from "../db/client";
import type { DeliveryRow, ErrorClass, RecoveryKind, WebhookEndpointRow } from "../db/schema";
import { type DeliveryFilter, deliveryListQueries } from "./deliveries";

/** Webhooks one merged log covers at most: the per-owner cap (MAX_WEBHOOKS_PER_OWNER's default). */
export const MERGED_LOG_MAX_WEBHOOKS = 100;

/**
 * A page of the deliveries of several webhooks, newest first: each webhook's own first page (deliveryListQueries, the
 * per-webhook list and its indexes) in one batch, merged by id. Several filters match any of them (an error family is
 * several error classes). The next page passes the last id shown as `beforeId`, so every page reads at most `perPage`
 * rows per webhook and filter. `total` counts what matches from there on.
 */
export async function listDeliveriesAcross(
  db: Database,
  webhookIds: readonly string[],
  filters: readonly DeliveryFilter[],
  perPage: number,
): Promise<{ rows: DeliveryRow[]; total: number }> {
  const ids = webhookIds.slice(0, MERGED_LOG_MAX_WEBHOOKS);
  if (ids.length === 0 || filters.length === 0) return { rows: [], total: 0 };
  const queries = ids.flatMap((id) =>
    filters.flatMap((filter) => deliveryListQueries(db, id, filter, { page: 1, perPage })),
  );
  const results = (await db.batch(queries as unknown as Parameters<typeof db.batch>[0])) as unknown as unknown[];
  const byId = new Map<number, DeliveryRow>();
  let total = 0;
  for (let i = 0; i < results.length; i += 2) {
    for (const row of results[i] as DeliveryRow[]) byId.set(row.id, row);
    total += (results[i + 1] as { n: number }[])[0]?.n ?? 0;
  }
  const rows = [...byId.values()].sort((a, b) => b.id - a.id);
  return { rows: rows.slice(0, perPage), total };
}

/** How many of each webhook's newest deliveries a resource search looks at (its cost is bounded by this). */
export const RESOURCE_SEARCH_SCAN = 1000;

// Per webhook, its newest ?4 deliveries created in [?2, ?3) (deliveries_webhook_created_idx), then their events by key,
// kept when the payload names resource ?5. A purged payload ('') is never parsed.
const DELIVERIES_OF_RESOURCE = `SELECT d.* FROM json_each(?1) w
  JOIN deliveries d ON d.id IN (SELECT x.id FROM deliveries x
    WHERE x.webhook_id = w.value AND x.created_at >= ?2 AND x.created_at < ?3 ORDER BY x.created_at DESC LIMIT ?4)
  JOIN events e ON e.id = d.event_id
  WHERE CASE WHEN e.payload = '' THEN NULL ELSE e.payload ->> '$.resource.id' END = ?5
  ORDER BY d.id DESC LIMIT ?6`;

/** Deliveries of these webhooks whose event is about resource `resourceId`, newest first, among each webhook's newest
 * RESOURCE_SEARCH_SCAN deliveries of the window. */
export async function searchDeliveriesByResource(
  db: Database,
  webhookIds: readonly string[],
  resourceId: string,
  window: { from: number; until: number },
  limit: number,
): Promise<DeliveryRow[]> {
  const { results } = await db.$client
    .prepare(DELIVERIES_OF_RESOURCE)
    .bind(
      JSON.stringify(webhookIds.slice(0, MERGED_LOG_MAX_WEBHOOKS)),
      window.from,
      window.until,
      RESOURCE_SEARCH_SCAN,
      resourceId,
      limit,
    )
    .all<Record<string, unknown>>();
  return results.map(deliveryRowOf);
}

const deliveryRowOf = (r: Record<string, unknown>): DeliveryRow => ({
  id: r.id as number,
  webhookId: r.webhook_id as string,
  eventKey: r.event_id as string,
  eventType: r.event_type as string,
  status: r.status as DeliveryRow["status"],
  attemptCount: r.attempt_count as number,
  nextAttemptAt: r.next_attempt_at as number | null,
  inQueue: r.in_queue === 1,
  lastAttemptAt: r.last_attempt_at as number | null,
  lastStatusCode: r.last_status_code as number | null,
  lastErrorClass: r.last_error_class as ErrorClass | null,
  lastError: r.last_error as string | null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
  completedAt: r.completed_at as number | null,
});

/** Deliveries whose latest attempt decides the failing state: each webhook's newest attempted ones. */
const RECENT_OUTCOMES = 20;
const RECENT_SCAN = 100;

// Per webhook, among its newest RECENT_SCAN deliveries (deliveries_webhook_id_idx), those attempted, with how their
// latest attempt went (a delivery's last_* columns are its latest attempt's).
const RECENT_OUTCOMES_SQL = `SELECT d.webhook_id, d.last_attempt_at, d.last_status_code, d.last_error_class, d.last_error
  FROM json_each(?1) w
  JOIN deliveries d ON d.id IN (SELECT x.id FROM deliveries x WHERE x.webhook_id = w.value ORDER BY x.id DESC LIMIT ?2)
  WHERE d.last_attempt_at IS NOT NULL`;

export interface LastError {
  at: number;
  statusCode: number | null;
  errorClass: ErrorClass | null;
  error: string | null;
}

/** How a webhook's recent deliveries went, as their latest attempts tell. */
export interface RecentHealth {
  /** Recent deliveries attempted (up to RECENT_OUTCOMES). */
  recent: number;
  /** Of those, the ones whose latest attempt failed. */
  failed: number;
  /** Enabled, its latest attempt failed, and at least half of the recent ones did: deliveries are not getting through. */
  failing: boolean;
  lastError: LastError | null;
}

/** The recent health of each webhook, in one statement. */
export async function recentHealthOf(
  db: Database,
  webhooks: readonly Pick<WebhookEndpointRow, "id" | "enabled">[],
): Promise<Map<string, RecentHealth>> {
  const health = new Map<string, RecentHealth>();
  if (webhooks.length === 0) return health;
  const { results } = await db.$client
    .prepare(RECENT_OUTCOMES_SQL)
    .bind(JSON.stringify(webhooks.map((w) => w.id)), RECENT_SCAN)
    .all<{
      webhook_id: string;
      last_attempt_at: number;
      last_status_code: number | null;
      last_error_class: ErrorClass | null;
      last_error: string | null;
    }>();
  for (const webhook of webhooks) {
    const outcomes = results
      .filter((r) => r.webhook_id === webhook.id)
      .sort((a, b) => b.last_attempt_at - a.last_attempt_at)
      .slice(0, RECENT_OUTCOMES);
    const failures = outcomes.filter((o) => o.last_error_class !== null);
    const last = failures[0];
    health.set(webhook.id, {
      recent: outcomes.length,
      failed: failures.length,
      failing: webhook.enabled && outcomes[0]?.last_error_class != null && failures.length * 2 >= outcomes.length,
      lastError: last
        ? {
            at: last.last_attempt_at,
            statusCode: last.last_status_code,
            errorClass: last.last_error_class,
            error: last.last_error,
          }
        : null,
    });
  }
  return health;
}

// webhook_recoveries_open_idx: only open jobs are indexed, so this reads the few running anywhere.
const OPEN_RECOVERIES_OF = `SELECT id, kind, since, until, cursor, requested_at FROM webhook_recoveries
  WHERE finished_at IS NULL AND webhook_id = ?1 ORDER BY id LIMIT 10`;

export interface RecoveryProgress {
  id: number;
  kind: RecoveryKind;
  since: number;
  until: number;
  /** The created_at the job has reached, from since to until. */
  cursor: number;
  requestedAt: number;
}

/** The recoveries and replays of a webhook still running (the cron continues them a chunk at a time). */
export async function openRecoveriesOf(db: Database, webhookId: string): Promise<RecoveryProgress[]> {
  const { results } = await db.$client.prepare(OPEN_RECOVERIES_OF).bind(webhookId).all<{
    id: number;
    kind: RecoveryKind;
    since: number;
    until: number;
    cursor: number;
    requested_at: number;
  }>();
  return results.map((r) => ({ ...r, requestedAt: r.requested_at }));
}

/** The response headers of a delivery's attempts, by attempt number (delivery_attempts_delivery_attempt_uq). */
export async function attemptResponseHeaders(
  db: Database,
  deliveryId: number,
): Promise<Map<number, [string, string][]>> {
  const { results } = await db.$client
    .prepare("SELECT attempt_number, response_headers FROM delivery_attempts WHERE delivery_id = ?1")
    .bind(deliveryId)
    .all<{ attempt_number: number; response_headers: string | null }>();
  return new Map(
    results.flatMap((r) =>
      r.response_headers ? [[r.attempt_number, JSON.parse(r.response_headers) as [string, string][]]] : [],
    ),
  );
}
