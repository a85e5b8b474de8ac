// Publishing: store the event once, fan it out to every subscribed endpoint in one statement, enqueue by reference.
// The HTTP route (POST /api/v1/events) and the service binding (WebhooksService.publish) both call publishEvent.
import type { Database } from "../db/client";
import type { AutoDisableReason } from "../db/schema";
import { canonicalJson } from "../lib/canonical-json";
import { newEventId } from "../lib/ids";
import { logger } from "../lib/logger";
import type { DeliveryMessage } from "./delivery/message";
import type { EventEnvelope, EventEnvelopeInput } from "./event-envelope";
import { eventKey } from "./event-key";
import { learningStatements, type TenantPairing } from "./tenant-directory";

export interface PublishDeps {
  db: Database;
  queue: Queue<DeliveryMessage>;
  now: () => number;
}

export interface PublishResult {
  event_id: string;
  /** Deliveries this call created (0 when the event_id had been published before). */
  deliveries: number;
  duplicate: boolean;
}

/** Fills in what the publisher may omit; the result is exactly what receivers get. */
export function completeEnvelope(input: EventEnvelopeInput, now: number): EventEnvelope {
  const envelope: EventEnvelope = {
    event_id: input.event_id ?? newEventId(),
    event_type: input.event_type,
    timestamp: input.timestamp ? new Date(input.timestamp).toISOString() : new Date(now).toISOString(),
    resource: input.resource,
    actor: input.actor ?? { id: null, type: "system" },
    data: input.data,
  };
  if (input.tenant_id) envelope.tenant_id = input.tenant_id;
  if (input.partner_id) envelope.partner_id = input.partner_id;
  return envelope;
}

// A tenant event reaches the tenant's endpoints and the partner-level endpoints of the tenant's partner per the
// directory (tenant_partners), never a partner the envelope merely names. Tenant endpoints carry the directory's
// partner (tenant-directory.ts keeps them in step), so `IS` also skips a row left behind by a forged owner; its unary
// plus keeps SQLite on the tenant index there (partner_id IS NULL would otherwise match every unassigned webhook).
// A partner-level event (no tenant) reaches that partner's partner-level endpoints.
/**
 * The fan-out's scope rule, as SQL: whether endpoint `w` receives an event owned by `tenant` and `partner` (SQL
 * expressions). Replay applies the same rule, so it sends exactly what fan-out would have.
 */
export const endpointReceivesOwner = (w: string, tenant: string, partner: string) => {
  const directoryPartner = `(SELECT d.partner_id FROM tenant_partners d WHERE d.tenant_id = ${tenant})`;
  return `((${tenant} IS NOT NULL AND ${w}.tenant_id = ${tenant} AND +${w}.partner_id IS ${directoryPartner})
    OR (${w}.tenant_id IS NULL
      AND ${w}.partner_id = CASE WHEN ${tenant} IS NULL THEN ${partner} ELSE ${directoryPartner} END))`;
};
/** Whether endpoint `w` subscribes to event type ?2 (`?6` is its `group.*`). */
const SUBSCRIBED = `EXISTS (SELECT 1 FROM json_each(w.events) s WHERE s.value IN ('*', ?2, ?6))`;
// `?1` is the event's key (domain/event-key.ts): an event_id is idempotent per owner, and two owners' ids never meet.
// `?7` is a condition: 1 normally; the auto-disable announcement passes a test that the endpoint was disabled just now.
const INSERT_EVENT = `INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE ?7 ON CONFLICT (id) DO NOTHING`;
// With a pairing to learn: only if the directory holds the envelope's partner for its tenant once the pairing is
// learned (learning fills an empty entry, never moves one), so an event never carries a partner the directory denies.
const INSERT_EVENT_IF_DIRECTORY_AGREES = `INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6
  WHERE NOT EXISTS (SELECT 1 FROM tenant_partners d WHERE d.tenant_id = ?3 AND d.partner_id IS NOT ?4)
  ON CONFLICT (id) DO NOTHING`;
const INSERT_EVENT_IF_AUTO_DISABLED = `INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM webhook_endpoints w
    WHERE w.id = ?7 AND w.enabled = 0 AND w.disabled_reason = ?8 AND w.disabled_at = ?6)
  ON CONFLICT (id) DO NOTHING`;

// Both run only if the event was stored by this call (its created_at is this call's).
const STORED_NOW = `EXISTS (SELECT 1 FROM events e WHERE e.id = ?1 AND e.created_at = ?3)`;
export const FAN_OUT_SQL = `INSERT OR IGNORE INTO deliveries
    (webhook_id, event_id, event_type, status, attempt_count, next_attempt_at, in_queue, created_at, updated_at)
  SELECT w.id, ?1, ?2, 'pending', 0, ?3, 1, ?3, ?3
  FROM webhook_endpoints w
  WHERE w.enabled = 1 AND w.deleted_at IS NULL AND ${endpointReceivesOwner("w", "?4", "?5")} AND ${SUBSCRIBED} AND ${STORED_NOW}
  RETURNING id`;
// What a disabled endpoint misses, counted as fan-out passes it by (missed_events_since_disabled, without a scan).
const COUNT_MISSED = `UPDATE webhook_endpoints AS w SET missed_events = missed_events + 1
  WHERE w.enabled = 0 AND w.deleted_at IS NULL AND ${endpointReceivesOwner("w", "?4", "?5")} AND ${SUBSCRIBED} AND ${STORED_NOW}`;

const TARGETED = `INSERT OR IGNORE INTO deliveries
    (webhook_id, event_id, event_type, status, attempt_count, next_attempt_at, in_queue, created_at, updated_at)
  SELECT ?1, ?2, ?3, 'pending', 0, ?4, 0, ?4, ?4
  WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = ?2 AND e.created_at = ?4)
  RETURNING id`;

/**
 * The statements that store an event and its deliveries: run them in one D1 batch, so all exist or none does; the
 * second returns the new delivery ids, a third (fan-out only) counts the event as missed by disabled endpoints.
 * `onlyWebhookId` targets one endpoint (the test event); `ifAutoDisabled` stores the event only if that endpoint was
 * auto-disabled for that reason at `now`, i.e. by the batch this rides in; `ifDirectoryAgrees` only if the directory
 * holds the envelope's partner for its tenant.
 */
export function eventStatements(
  d1: D1Database,
  envelope: EventEnvelope,
  now: number,
  opts: {
    onlyWebhookId?: string;
    ifAutoDisabled?: { webhookId: string; reason: AutoDisableReason };
    ifDirectoryAgrees?: boolean;
  } = {},
): D1PreparedStatement[] {
  const group = envelope.event_type.slice(0, envelope.event_type.indexOf("."));
  const key = eventKey(envelope.event_id, envelope);
  const row = [
    key,
    envelope.event_type,
    envelope.tenant_id ?? null,
    envelope.partner_id ?? null,
    canonicalJson(envelope),
    now,
  ];
  const insertEvent = opts.ifAutoDisabled
    ? d1.prepare(INSERT_EVENT_IF_AUTO_DISABLED).bind(...row, opts.ifAutoDisabled.webhookId, opts.ifAutoDisabled.reason)
    : opts.ifDirectoryAgrees
      ? d1.prepare(INSERT_EVENT_IF_DIRECTORY_AGREES).bind(...row)
      : d1.prepare(INSERT_EVENT).bind(...row, 1);
  if (opts.onlyWebhookId)
    return [insertEvent, d1.prepare(TARGETED).bind(opts.onlyWebhookId, key, envelope.event_type, now)];
  const fanOut = [key, envelope.event_type, now, envelope.tenant_id ?? null, envelope.partner_id ?? null, `${group}.*`];
  return [insertEvent, d1.prepare(FAN_OUT_SQL).bind(...fanOut), d1.prepare(COUNT_MISSED).bind(...fanOut)];
}

/**
 * Stores the event and its deliveries atomically; returns the new delivery ids (none when the owner had published the
 * event_id before). `learn`, a pairing the directory may learn, goes first in the same batch; the event is then stored
 * only if the directory agrees with its partner (publishEvent handles the case where it does not).
 */
export async function storeEvent(
  db: Database,
  envelope: EventEnvelope,
  now: number,
  onlyWebhookId?: string,
  learn: TenantPairing | null = null,
): Promise<number[]> {
  const learning = learn ? learningStatements(db.$client, learn, now) : [];
  const results = await db.$client.batch<{ id: number }>([
    ...learning,
    ...eventStatements(db.$client, envelope, now, { onlyWebhookId, ifDirectoryAgrees: learn !== null }),
  ]);
  // The second of the event's statements creates the deliveries (a third, after it, counts what disabled ones miss).
  return (results[learning.length + 1]?.results ?? []).map((r) => r.id);
}

export const SEND_BATCH_LIMIT = 100; // Queues' sendBatch accepts at most 100 messages

/**
 * Enqueues deliveries by id. A failure is logged, not thrown: the rows are already `pending` in D1 and the
 * cron sweep re-enqueues anything whose message never arrived.
 */
export async function enqueueDeliveries(queue: Queue<DeliveryMessage>, ids: number[]): Promise<boolean> {
  try {
    for (let i = 0; i < ids.length; i += SEND_BATCH_LIMIT) {
      await queue.sendBatch(
        ids.slice(i, i + SEND_BATCH_LIMIT).map((id) => ({ body: { delivery_id: id }, contentType: "json" as const })),
      );
    }
    return true;
  } catch (err) {
    logger.error("enqueue failed; the retry sweep will pick these deliveries up", {
      count: ids.length,
      error: String(err),
    });
    return false;
  }
}

/**
 * Publishes an event authorised by the caller (auth/policy.ts authorizePublish). Idempotent by event_id per owner: the
 * same owner publishing an id again is a duplicate; another owner's use of the id is another event. `learn`: the
 * tenant → partner pairing the directory may learn with it.
 */
export async function publishEvent(
  deps: PublishDeps,
  input: EventEnvelopeInput,
  opts: { learn?: TenantPairing | null } = {},
): Promise<PublishResult> {
  const now = deps.now();
  let envelope = completeEnvelope(input, now);
  let ids = await storeEvent(deps.db, envelope, now, undefined, opts.learn ?? null);
  if (ids.length === 0) {
    const found = await deps.db.$client
      .prepare(
        `SELECT (SELECT created_at FROM events WHERE id = ?1) AS created_at,
          (SELECT partner_id FROM tenant_partners WHERE tenant_id = ?2) AS directory_partner_id`,
      )
      .bind(eventKey(envelope.event_id, envelope), envelope.tenant_id ?? null)
      .first<{ created_at: number | null; directory_partner_id: string | null }>();
    // Stored by an earlier call of the same owner: nothing new. (No subscribers at all is not a duplicate.)
    if (found?.created_at != null && found.created_at !== now)
      return { event_id: envelope.event_id, deliveries: 0, duplicate: true };
    if (found?.created_at != null || !opts.learn || !found?.directory_partner_id)
      return { event_id: envelope.event_id, deliveries: 0, duplicate: false };
    // Not stored: a trusted publisher named a partner the directory contradicts. The directory stands (only the
    // platform's explicit act moves a tenant), and the event goes out with the directory's partner.
    logger.warn("event names a partner the tenant directory contradicts; delivered with the directory's", {
      event_id: envelope.event_id,
      tenant_id: envelope.tenant_id,
      event_partner_id: envelope.partner_id,
      directory_partner_id: found.directory_partner_id,
    });
    envelope = { ...envelope, partner_id: found.directory_partner_id };
    ids = await storeEvent(deps.db, envelope, now);
    if (ids.length === 0) return { event_id: envelope.event_id, deliveries: 0, duplicate: false };
  }
  await enqueueDeliveries(deps.queue, ids);
  logger.info("event published", {
    event_id: envelope.event_id,
    event_type: envelope.event_type,
    deliveries: ids.length,
  });
  return { event_id: envelope.event_id, deliveries: ids.length, duplicate: false };
}
