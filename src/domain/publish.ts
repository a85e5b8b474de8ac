// Publishing: store the event once, fan it out to every subscribed endpoint in one statement, enqueue by reference.
// The HTTP route (POST /api/v1/events) and the service binding (WebhooksService.publish) both call publishEvent.
import type { Database } from "../db/client";
import {
  ensureCurrentPartitions,
  firstDeliveryIdAt,
  hourOf,
  isMissingTable,
  partitionName,
  refreshPartitions,
} from "../db/partitions";
import { storedPayload } from "../db/payload";
import type { OwnerKey } from "../db/schema";
import { onShard, placeOwner, type ShardScoped, shardOfWebhook } from "../db/shards";
import { canonicalJson } from "../lib/canonical-json";
import type { Config } from "../lib/config";
import { newEventId } from "../lib/ids";
import { logger } from "../lib/logger";
import { type DeliveryMessage, deliveryMessage } from "./delivery/message";
import type { EventEnvelope, EventEnvelopeInput } from "./event-envelope";
import { deliverPartnerShares, type PartnerShare, partnerShareStatement } from "./partner-fanout";
import { learningStatements, placePairing, type TenantPairing } from "./tenant-directory";

export interface PublishDeps extends ShardScoped {
  queue: Queue<DeliveryMessage>;
  now: () => number;
  config: Pick<Config, "newOwnerShards">;
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

/** Who owns an event, as the key its id is unique under: its tenant, or its partner for a partner-level event. */
export const ownerKeyOf = (tenantId: string | null | undefined, partnerId: string | null | undefined): OwnerKey =>
  tenantId ? `t:${tenantId}` : `p:${partnerId}`;

/**
 * The SQL of a new delivery's id in `table` for webhook `webhookId` (an SQL expression): the first id of its creation
 * ms (`firstIdParam`), or one past the webhook's newest delivery in the partition if that is later. Ids therefore grow
 * with time within a webhook and are unique per webhook; the partition's key is (webhook_id, id), so the max is one seek.
 */
export const newDeliveryId = (table: string, webhookId: string, firstIdParam: string) =>
  `max(${firstIdParam}, coalesce((SELECT max(x.id) FROM "${table}" x WHERE x.webhook_id = ${webhookId}), 0) + 1)`;

// Parameters of the event statements: ?1 owner key, ?2 event id, ?3 type, ?4 tenant, ?5 partner, ?6 payload, ?7 now,
// ?8 the first delivery id of ?7, ?9 the hour (the partition), ?10 `group.*` of the type.
export const NOT_STORED = "NOT EXISTS (SELECT 1 FROM events_live e WHERE e.owner_key = ?1 AND e.event_id = ?2)";
const insertEvent = (events: string, condition: string) => `INSERT INTO "${events}"
    (owner_key, event_id, event_type, tenant_id, partner_id, payload, created_at)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE ${condition} AND ${NOT_STORED}`;
// With a pairing to learn: only if the directory holds the envelope's partner for its tenant once the pairing is
// learned (learning fills an empty entry, never moves one), so an event never carries a partner the directory denies.
const DIRECTORY_AGREES = `NOT EXISTS (SELECT 1 FROM tenant_partners d WHERE d.tenant_id = ?4 AND d.partner_id IS NOT ?5)`;
/**
 * The service's announcements about an endpoint (?11) are stored only if the batch they ride in just brought it to the
 * state they announce (at ?7): disabled for reason ?12, or a failure warning of ?12 percent (0: recovered) announced.
 */
const ANNOUNCED_NOW = {
  auto_disabled: `EXISTS (SELECT 1 FROM webhook_endpoints w
    WHERE w.id = ?11 AND w.enabled = 0 AND w.disabled_reason = ?12 AND w.disabled_at = ?7)`,
  failure_warning: `EXISTS (SELECT 1 FROM webhook_endpoints w
    WHERE w.id = ?11 AND w.failure_warning_percent = ?12 AND w.failure_warned_at = ?7)`,
};

/** The endpoint state an announcement is stored under (ANNOUNCED_NOW): `value` is the disable reason or the percent. */
export interface AnnouncedState {
  webhookId: string;
  state: keyof typeof ANNOUNCED_NOW;
  value: string | number;
}
// The deliveries are created only if the event was stored by this call: it is in this partition with this call's time,
// and endpoint `w` has no delivery of it from that millisecond on (another call storing the same event in the same
// millisecond, such as a second final failure announcing one auto-disable in the same batch, created those: one seek of
// the primary key).
const storedNow = (events: string, deliveries: string, w: string) =>
  `EXISTS (SELECT 1 FROM "${events}" e WHERE e.owner_key = ?1 AND e.event_id = ?2 AND e.created_at = ?7)
    AND NOT EXISTS (SELECT 1 FROM "${deliveries}" x WHERE x.webhook_id = ${w} AND x.id >= ?8
      AND x.event_owner = ?1 AND x.event_id = ?2)`;
/** Whether endpoint `w` subscribes to event type ?3 (`?10` is its `group.*`). */
export const SUBSCRIBED = `EXISTS (SELECT 1 FROM json_each(w.events) s WHERE s.value IN ('*', ?3, ?10))`;
export const DELIVERY_COLUMNS = `(webhook_id, id, event_owner, event_id, event_hour, event_type, status, attempt_count, due_at,
    in_queue, attempts, created_at, updated_at)`;
const fanOut = (deliveries: string, events: string) => `INSERT INTO "${deliveries}" ${DELIVERY_COLUMNS}
  SELECT w.id, ${newDeliveryId(deliveries, "w.id", "?8")}, ?1, ?2, ?9, ?3, 'pending', 0, ?7, 1, '[]', ?7, ?7
  FROM webhook_endpoints w
  WHERE w.enabled = 1 AND w.deleted_at IS NULL AND ${endpointReceivesOwner("w", "?4", "?5")} AND ${SUBSCRIBED}
    AND ${storedNow(events, deliveries, "w.id")}
  RETURNING webhook_id, id`;
// What a disabled endpoint misses, counted as fan-out passes it by (missed_events_since_disabled, without a scan). It
// runs just before the event's insert, under the same condition, so it counts exactly the events that call stores.
const countMissed = (condition: string) => `UPDATE webhook_endpoints AS w SET missed_events = missed_events + 1
  WHERE w.enabled = 0 AND w.deleted_at IS NULL AND ${endpointReceivesOwner("w", "?4", "?5")} AND ${SUBSCRIBED}
    AND ${condition} AND ${NOT_STORED}`;
// The test event: one delivery to endpoint ?11, not queued (the caller attempts it at once).
const targeted = (deliveries: string, events: string) => `INSERT INTO "${deliveries}" ${DELIVERY_COLUMNS}
  SELECT ?11, ${newDeliveryId(deliveries, "?11", "?8")}, ?1, ?2, ?9, ?3, 'pending', 0, ?7, 0, '[]', ?7, ?7
  WHERE ${storedNow(events, deliveries, "?11")}
  RETURNING webhook_id, id`;

/** A delivery as queue messages and callers name it. */
export interface DeliveryRef {
  webhookId: string;
  id: number;
}
/** A delivery's key: ids are unique per webhook (several webhooks' deliveries of one event may share an id). */
export const refKey = (ref: DeliveryRef) => `${ref.webhookId}\n${ref.id}`;
export const toDeliveryRefs = (rows: readonly { webhook_id: string; id: number }[]): DeliveryRef[] =>
  rows.map((r) => ({ webhookId: r.webhook_id, id: r.id }));

/**
 * The statements that store an event and its deliveries in the partitions of the hour of `now`: run them in one D1
 * batch, so all exist or none does. The event's insert is the second to last (its changes say whether this call stored
 * it), the last returns the new deliveries; before them (fan-out only), the count of the event as missed by disabled
 * endpoints and, for a tenant's event, its partner's share when the partner's webhooks live in another shard than
 * `shard`, this batch's (returned rows: PartnerShare; domain/partner-fanout.ts). `onlyWebhookId` targets one endpoint
 * (the test event); `ifAnnounced` stores the event only if that endpoint got into the state it announces at `now`,
 * i.e. by the batch this rides in; `ifDirectoryAgrees` only if the directory holds the envelope's partner for its
 * tenant. `payload` is the envelope's canonical JSON as stored (storedPayload). The partitions must exist
 * (withCurrentPartitions).
 */
export function eventStatements(
  d1: D1Database,
  envelope: EventEnvelope,
  payload: string | Uint8Array,
  now: number,
  opts: {
    onlyWebhookId?: string;
    ifAnnounced?: AnnouncedState;
    ifDirectoryAgrees?: boolean;
    shard?: number;
  } = {},
): D1PreparedStatement[] {
  const hour = hourOf(now);
  const events = partitionName("events", hour);
  const deliveries = partitionName("deliveries", hour);
  const group = envelope.event_type.slice(0, envelope.event_type.indexOf("."));
  const params = [
    ownerKeyOf(envelope.tenant_id, envelope.partner_id),
    envelope.event_id,
    envelope.event_type,
    envelope.tenant_id ?? null,
    envelope.partner_id ?? null,
    payload,
    now,
    firstDeliveryIdAt(now),
    hour,
    `${group}.*`,
  ];
  // A tenant's event may owe its partner's webhooks, in another shard, a share (domain/partner-fanout.ts). This batch's
  // shard: the publisher's, or that of the webhook whose state it announces.
  const shard = opts.shard ?? (opts.ifAnnounced ? shardOfWebhook(opts.ifAnnounced.webhookId) : 0);
  const share = (condition: string, values: unknown[]) =>
    envelope.tenant_id ? [d1.prepare(partnerShareStatement(condition, shard)).bind(...values)] : [];
  if (opts.ifAnnounced) {
    const { webhookId, state, value } = opts.ifAnnounced;
    const announced = ANNOUNCED_NOW[state];
    return [
      d1.prepare(countMissed(announced)).bind(...params, webhookId, value),
      ...share(announced, [...params, webhookId, value]),
      d1.prepare(insertEvent(events, announced)).bind(...params, webhookId, value),
      d1.prepare(fanOut(deliveries, events)).bind(...params),
    ];
  }
  const condition = opts.ifDirectoryAgrees ? DIRECTORY_AGREES : "true";
  // D1 wants exactly as many values as the highest parameter a statement names: this one stops at ?7.
  const insert = d1.prepare(insertEvent(events, condition)).bind(...params.slice(0, 7));
  if (opts.onlyWebhookId) return [insert, d1.prepare(targeted(deliveries, events)).bind(...params, opts.onlyWebhookId)];
  return [
    d1.prepare(countMissed(condition)).bind(...params),
    ...share(condition, params.slice(0, 7)),
    insert,
    d1.prepare(fanOut(deliveries, events)).bind(...params),
  ];
}

/** A pairing to learn with an event, its partner placed (the shard of the partner's webhooks). */
export type PlacedPairing = TenantPairing & { partnerShard: number };

/** What storing an event created: its deliveries in this shard, and its partner's share owed by another shard. */
export interface StoredEvent {
  refs: DeliveryRef[];
  partnerShares: PartnerShare[];
}

/**
 * Stores the event and its deliveries atomically in `db`, shard `shard` (the owner's); returns the new deliveries (none
 * when the owner had published the event_id within the hot window). `learn`, a pairing the directory may learn, goes
 * first in the same batch; the event is then stored only if the directory agrees with its partner (publishEvent
 * handles the case where it does not).
 */
export async function storeEvent(
  db: Database,
  envelope: EventEnvelope,
  now: number,
  onlyWebhookId?: string,
  learn: PlacedPairing | null = null,
  shard = 0,
): Promise<StoredEvent> {
  const d1 = db.$client;
  const learning = learn ? learningStatements(d1, learn, now, learn.partnerShard) : [];
  const payload = await storedPayload(canonicalJson(envelope));
  const results = await withCurrentPartitions(d1, now, () =>
    d1.batch<{ webhook_id: string; id: number }>([
      ...learning,
      ...eventStatements(d1, envelope, payload, now, { onlyWebhookId, ifDirectoryAgrees: learn !== null, shard }),
    ]),
  );
  // The event's fan-out statement is the last and returns the deliveries; a tenant's event's partner share (publish
  // only) is third from last.
  const shares = !onlyWebhookId && envelope.tenant_id ? results[results.length - 3]?.results : [];
  return {
    refs: toDeliveryRefs(results[results.length - 1]?.results ?? []),
    partnerShares: (shares ?? []) as unknown as PartnerShare[],
  };
}

/**
 * Runs a write into the partitions of the hour of `now`, creating them first if this isolate has not seen them; if they
 * turn out to be missing after all (the database changed under the isolate's view), looks again and runs it once more.
 */
export async function withCurrentPartitions<T>(d1: D1Database, now: number, write: () => Promise<T>): Promise<T> {
  await ensureCurrentPartitions(d1, now);
  try {
    return await write();
  } catch (err) {
    if (!isMissingTable(err)) throw err;
    await refreshPartitions(d1);
    await ensureCurrentPartitions(d1, now);
    return write();
  }
}

export const SEND_BATCH_LIMIT = 100; // Queues' sendBatch accepts at most 100 messages

/**
 * Enqueues deliveries by reference. A failure is logged, not thrown: the rows are already `pending` in D1 and the
 * cron sweep re-enqueues anything whose message never arrived.
 */
export async function enqueueDeliveries(queue: Queue<DeliveryMessage>, refs: readonly DeliveryRef[]): Promise<boolean> {
  try {
    for (let i = 0; i < refs.length; i += SEND_BATCH_LIMIT) {
      await queue.sendBatch(
        refs.slice(i, i + SEND_BATCH_LIMIT).map((r) => ({ body: deliveryMessage(r), contentType: "json" as const })),
      );
    }
    return true;
  } catch (err) {
    logger.error("enqueue failed; the retry sweep will pick these deliveries up", {
      count: refs.length,
      error: String(err),
    });
    return false;
  }
}

/**
 * Publishes an event authorised by the caller (auth/principal.ts authorizePublish). Idempotent by event_id per owner
 * while the event is in the hot window (HOT_WINDOW_HOURS): the same owner publishing an id again is a duplicate; the
 * same id from another owner is another event.
 */
export async function publishEvent(
  deps: PublishDeps,
  input: EventEnvelopeInput,
  opts: { learn?: TenantPairing | null } = {},
): Promise<PublishResult> {
  const now = deps.now();
  let envelope = completeEnvelope(input, now);
  const { shard, learn } = await ownerShardOfEvent(deps, envelope, opts.learn ?? null);
  const { db } = onShard(deps, shard);
  let stored = await storeEvent(db, envelope, now, undefined, learn, shard);
  let refs = stored.refs;
  if (refs.length === 0 && stored.partnerShares.length === 0) {
    const found = await db.$client
      .prepare(
        `SELECT (SELECT created_at FROM events_live WHERE owner_key = ?1 AND event_id = ?2) AS created_at,
          (SELECT partner_id FROM tenant_partners WHERE tenant_id = ?3) AS directory_partner_id`,
      )
      .bind(ownerKeyOf(envelope.tenant_id, envelope.partner_id), envelope.event_id, envelope.tenant_id ?? null)
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
    stored = await storeEvent(db, envelope, now, undefined, null, shard);
    refs = stored.refs;
  }
  // The partner's share, in the partner's shard; should that fail, the retry sweep of this shard delivers it.
  refs = [...refs, ...(await deliverPartnerShares(deps, stored.partnerShares))];
  if (refs.length === 0) return { event_id: envelope.event_id, deliveries: 0, duplicate: false };
  await enqueueDeliveries(deps.queue, refs);
  logger.info("event published", {
    event_id: envelope.event_id,
    event_type: envelope.event_type,
    deliveries: refs.length,
  });
  return { event_id: envelope.event_id, deliveries: refs.length, duplicate: false };
}

/**
 * The shard of the event's owner (placing the owner if this is its first need of one: a tenant beside its partner),
 * and the pairing to learn with its partner's shard.
 */
async function ownerShardOfEvent(
  deps: PublishDeps,
  envelope: EventEnvelope,
  learn: TenantPairing | null,
): Promise<{ shard: number; learn: PlacedPairing | null }> {
  if (learn) {
    const { tenantShard, partnerShard } = await placePairing(deps, learn.tenantId, learn.partnerId);
    return { shard: tenantShard, learn: { ...learn, partnerShard } };
  }
  const owner = ownerKeyOf(envelope.tenant_id, envelope.partner_id);
  return { shard: await placeOwner(deps, owner, envelope.tenant_id ? (envelope.partner_id ?? null) : null), learn };
}
