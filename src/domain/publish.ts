// Publishing: store the event once, fan it out to every subscribed endpoint in one statement, enqueue by reference.
// The HTTP route (POST /api/v1/events) and the service binding (WebhooksService.publish) both call publishEvent.
import type { Database } from "../db/client";
import { canonicalJson } from "../lib/canonical-json";
import { newEventId } from "../lib/ids";
import { logger } from "../lib/logger";
import type { DeliveryMessage } from "./delivery/message";
import type { EventEnvelope, EventEnvelopeInput } from "./event-envelope";
import { AUTO_DISABLED_REASON } from "./webhooks";

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

// `?7` is a condition: 1 normally; the auto-disable announcement passes a test that the endpoint was disabled just now.
const INSERT_EVENT = `INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE ?7 ON CONFLICT (id) DO NOTHING`;
const INSERT_EVENT_IF_AUTO_DISABLED = `INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM webhook_endpoints w
    WHERE w.id = ?7 AND w.enabled = 0 AND w.disabled_reason = '${AUTO_DISABLED_REASON}' AND w.disabled_at = ?6)
  ON CONFLICT (id) DO NOTHING`;

const FAN_OUT = `INSERT OR IGNORE INTO deliveries
    (webhook_id, event_id, event_type, status, attempt_count, next_attempt_at, in_queue, created_at, updated_at)
  SELECT w.id, ?1, ?2, 'pending', 0, ?3, 1, ?3, ?3
  FROM webhook_endpoints w
  WHERE w.enabled = 1 AND w.deleted_at IS NULL
    AND ((?4 IS NOT NULL AND w.tenant_id = ?4 AND (w.partner_id IS NULL OR w.partner_id = ?5))
      OR (w.tenant_id IS NULL AND ?5 IS NOT NULL AND w.partner_id = ?5))
    AND EXISTS (SELECT 1 FROM json_each(w.events) s WHERE s.value IN ('*', ?2, ?6))
    AND EXISTS (SELECT 1 FROM events e WHERE e.id = ?1 AND e.created_at = ?3)
  RETURNING id`;

const TARGETED = `INSERT OR IGNORE INTO deliveries
    (webhook_id, event_id, event_type, status, attempt_count, next_attempt_at, in_queue, created_at, updated_at)
  SELECT ?1, ?2, ?3, 'pending', 0, ?4, 0, ?4, ?4
  WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = ?2 AND e.created_at = ?4)
  RETURNING id`;

/**
 * The two statements that store an event and its deliveries: run them in one D1 batch, so both exist or neither does;
 * the second returns the new delivery ids. `onlyWebhookId` targets one endpoint (the test event); `ifAutoDisabled`
 * stores the event only if that endpoint was auto-disabled at `now`, i.e. by the batch this rides in.
 */
export function eventStatements(
  d1: D1Database,
  envelope: EventEnvelope,
  now: number,
  opts: { onlyWebhookId?: string; ifAutoDisabled?: string } = {},
): [D1PreparedStatement, D1PreparedStatement] {
  const group = envelope.event_type.slice(0, envelope.event_type.indexOf("."));
  const row = [envelope.event_id, envelope.event_type, envelope.tenant_id ?? null, envelope.partner_id ?? null, canonicalJson(envelope), now];
  const insertEvent = opts.ifAutoDisabled
    ? d1.prepare(INSERT_EVENT_IF_AUTO_DISABLED).bind(...row, opts.ifAutoDisabled)
    : d1.prepare(INSERT_EVENT).bind(...row, 1);
  const insertDeliveries = opts.onlyWebhookId
    ? d1.prepare(TARGETED).bind(opts.onlyWebhookId, envelope.event_id, envelope.event_type, now)
    : d1.prepare(FAN_OUT).bind(envelope.event_id, envelope.event_type, now, envelope.tenant_id ?? null, envelope.partner_id ?? null, `${group}.*`);
  return [insertEvent, insertDeliveries];
}

/** Stores the event and its deliveries atomically; returns the new delivery ids (none when the event_id was stored before). */
export async function storeEvent(db: Database, envelope: EventEnvelope, now: number, onlyWebhookId?: string): Promise<number[]> {
  const [, created] = await db.$client.batch<{ id: number }>(eventStatements(db.$client, envelope, now, { onlyWebhookId }));
  return (created?.results ?? []).map((r) => r.id);
}

export const SEND_BATCH_LIMIT = 100; // Queues' sendBatch accepts at most 100 messages

/**
 * Enqueues deliveries by id. A failure is logged, not thrown: the rows are already `pending` in D1 and the
 * cron sweep re-enqueues anything whose message never arrived.
 */
export async function enqueueDeliveries(queue: Queue<DeliveryMessage>, ids: number[]): Promise<boolean> {
  try {
    for (let i = 0; i < ids.length; i += SEND_BATCH_LIMIT) {
      await queue.sendBatch(ids.slice(i, i + SEND_BATCH_LIMIT).map((id) => ({ body: { delivery_id: id }, contentType: "json" as const })));
    }
    return true;
  } catch (err) {
    logger.error("enqueue failed; the retry sweep will pick these deliveries up", { count: ids.length, error: String(err) });
    return false;
  }
}

export async function publishEvent(deps: PublishDeps, input: EventEnvelopeInput): Promise<PublishResult> {
  const now = deps.now();
  const envelope = completeEnvelope(input, now);
  const ids = await storeEvent(deps.db, envelope, now);
  if (ids.length === 0) {
    const existing = await deps.db.$client.prepare("SELECT created_at FROM events WHERE id = ?").bind(envelope.event_id).first<{ created_at: number }>();
    // Stored by an earlier call: nothing new. (No subscribers at all is not a duplicate.)
    if (existing && existing.created_at !== now) return { event_id: envelope.event_id, deliveries: 0, duplicate: true };
    return { event_id: envelope.event_id, deliveries: 0, duplicate: false };
  }
  await enqueueDeliveries(deps.queue, ids);
  logger.info("event published", { event_id: envelope.event_id, event_type: envelope.event_type, deliveries: ids.length });
  return { event_id: envelope.event_id, deliveries: ids.length, duplicate: false };
}
