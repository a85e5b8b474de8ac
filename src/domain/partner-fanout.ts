// A partner's share of its tenants' events, across shards (docs/architecture.md#shards). A partner's partner-level
// webhooks live in the partner's shard; a tenant usually lives there too (db/shards.ts places a tenant beside its
// partner), and then fan-out reaches both in the publish's one batch. A tenant in another shard (placed before its
// partner was known, moved to another partner, or placed once the partner's shard stopped taking new owners) owes its
// partner's shard a share of each event:
//
// 1. the publish's own batch, in the tenant's shard, records the share (`partner_fanouts`, with the event's bytes), so
//    it is stored exactly when the event is, and never lost between the two shards' writes;
// 2. the publish then stores the event in the partner's shard and creates the deliveries of the partner's partner-level
//    webhooks there (one batch), and enqueues them;
// 3. the retry sweep of the tenant's shard does step 2 again for every share older than SHARE_GRACE_MS (a publish that
//    failed or died before it), then deletes them. Step 2 runs only while the partner's shard lacks the event, so doing
//    it twice creates nothing twice.
import { firstDeliveryIdAt, hourOf, partitionName } from "../db/partitions";
import type { StoredPayload } from "../db/payload";
import { onShard, type ShardScoped } from "../db/shards";
import { logger } from "../lib/logger";
import type { DeliveryMessage } from "./delivery/message";
import {
  DELIVERY_COLUMNS,
  type DeliveryRef,
  enqueueDeliveries,
  NOT_STORED,
  newDeliveryId,
  SUBSCRIBED,
  toDeliveryRefs,
  withCurrentPartitions,
} from "./publish";

/** A partner's share of a tenant's event, as `partner_fanouts` holds it. */
export interface PartnerShare {
  owner_key: string;
  event_id: string;
  event_type: string;
  tenant_id: string;
  /** The tenant's partner per the directory, and that partner's shard. */
  partner_id: string;
  partner_shard: number;
  /** The event's payload as stored (text, or compressed bytes: db/payload.ts), passed on unchanged. */
  payload: StoredPayload;
  created_at: number;
}

const SHARE_COLUMNS = "owner_key, event_id, event_type, tenant_id, partner_id, partner_shard, payload, created_at";

/**
 * The statement of the publish's batch (in the tenant's shard, `shard`) that records the partner's share: only when the
 * directory's partner for the tenant (?4) lives in another shard, and only if the batch stores the event (`condition`,
 * as the event's insert, and the event not stored yet). Parameters as the event's statements (publish.ts); returns the
 * share.
 */
export const partnerShareStatement = (
  condition: string,
  shard: number,
) => `INSERT INTO partner_fanouts (${SHARE_COLUMNS})
  SELECT ?1, ?2, ?3, ?4, d.partner_id, d.partner_shard, ?6, ?7 FROM tenant_partners d
  WHERE d.tenant_id = ?4 AND d.partner_shard != ${Math.trunc(shard)} AND ${condition} AND ${NOT_STORED}
  ON CONFLICT DO NOTHING
  RETURNING ${SHARE_COLUMNS}`;

// In the partner's shard: ?1 owner, ?2 event id, ?3 type, ?4 tenant, ?5 partner, ?6 payload, ?7 the event's time,
// ?8 the first delivery id of now, ?9 the hour (partition) of now, ?10 `group.*` of the type, ?11 now. Each runs only
// while the event is not in this shard yet (NOT_STORED), before the event's insert: a second run changes nothing.
const PARTNER_WEBHOOKS = "w.tenant_id IS NULL AND w.partner_id = ?5 AND w.deleted_at IS NULL";
const missedStatement = () => `UPDATE webhook_endpoints AS w SET missed_events = missed_events + 1
  WHERE w.enabled = 0 AND ${PARTNER_WEBHOOKS} AND ${SUBSCRIBED} AND ${NOT_STORED}`;
const deliveriesStatement = (deliveries: string) => `INSERT INTO "${deliveries}" ${DELIVERY_COLUMNS}
  SELECT w.id, ${newDeliveryId(deliveries, "w.id", "?8")}, ?1, ?2, ?9, ?3, 'pending', 0, ?11, 1, '[]', ?11, ?11
  FROM webhook_endpoints w
  WHERE w.enabled = 1 AND ${PARTNER_WEBHOOKS} AND ${SUBSCRIBED} AND ${NOT_STORED}
  RETURNING webhook_id, id`;
// The event with its own time and bytes, in the partition of now (a delivery sends an event of its own partition).
const eventStatement = (events: string) => `INSERT INTO "${events}"
    (owner_key, event_id, event_type, tenant_id, partner_id, payload, created_at)
  SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE ${NOT_STORED}`;

/** The statements that give the partner's shard its share of each of `shares` (step 2); every third returns deliveries. */
function shareStatements(d1: D1Database, shares: readonly PartnerShare[], now: number): D1PreparedStatement[] {
  const hour = hourOf(now);
  const deliveries = partitionName("deliveries", hour);
  const events = partitionName("events", hour);
  return shares.flatMap((s) => {
    const group = `${s.event_type.slice(0, s.event_type.indexOf("."))}.*`;
    const values = [
      s.owner_key,
      s.event_id,
      s.event_type,
      s.tenant_id,
      s.partner_id,
      bindable(s.payload),
      s.created_at,
    ];
    const all = [...values, firstDeliveryIdAt(now), hour, group, now];
    return [
      d1.prepare(missedStatement()).bind(...all.slice(0, 10)),
      d1.prepare(deliveriesStatement(deliveries)).bind(...all),
      d1.prepare(eventStatement(events)).bind(...values),
    ];
  });
}

/** A stored payload as D1 binds it back: the text, or the BLOB's bytes (a result gives them as an array). */
const bindable = (payload: StoredPayload) =>
  typeof payload === "string" || payload instanceof Uint8Array ? payload : new Uint8Array(payload);

type ShareDeps = ShardScoped & { now: () => number };

/** Step 2 for shares owed to one shard, in one batch; returns the deliveries created there. */
async function giveShares(deps: ShareDeps, partnerShard: number, shares: readonly PartnerShare[]) {
  const d1 = onShard(deps, partnerShard).db.$client;
  const now = deps.now();
  const results = await withCurrentPartitions(d1, now, () => d1.batch(shareStatements(d1, shares, now)));
  return results.flatMap((r, i) =>
    i % 3 === 1 ? toDeliveryRefs(r.results as { webhook_id: string; id: number }[]) : [],
  );
}

/** `shares` by the shard they are owed to. */
function byPartnerShard(shares: readonly PartnerShare[]): Map<number, PartnerShare[]> {
  const groups = new Map<number, PartnerShare[]>();
  for (const s of shares) groups.set(s.partner_shard, [...(groups.get(s.partner_shard) ?? []), s]);
  return groups;
}

/**
 * Step 2 right after the publish: gives each partner's shard its share and returns the deliveries created, for the
 * caller to enqueue. A shard that fails is logged, not thrown: the event is stored, and the sweep gives the share.
 */
export async function deliverPartnerShares(deps: ShareDeps, shares: readonly PartnerShare[]): Promise<DeliveryRef[]> {
  if (shares.length === 0) return [];
  const created = await Promise.all(
    [...byPartnerShard(shares)].map(([partnerShard, owed]) =>
      giveShares(deps, partnerShard, owed).catch((err) => {
        logger.error("partner's share not delivered; the retry sweep will", {
          partner_shard: partnerShard,
          event_ids: owed.map((s) => s.event_id),
          error: String(err),
        });
        return [];
      }),
    ),
  );
  return created.flat();
}

/** A share is left to its publish for this long before the sweep gives it again (and deletes it). */
const SHARE_GRACE_MS = 30_000;
const SHARES_PER_ROUND = 100;

/**
 * Step 3, in one shard (the tenant's), within the sweep's time box: gives again every share recorded more than
 * SHARE_GRACE_MS ago, enqueues what that creates, and deletes the shares given. Returns how many were finished.
 */
export async function sweepPartnerShares(
  deps: ShareDeps & { queue: Queue<DeliveryMessage> },
  opts: { deadline: number },
): Promise<number> {
  const d1 = deps.db.$client;
  let finished = 0;
  while (Date.now() < opts.deadline) {
    // In the order they were written (the table's rowid): the oldest first, no index needed.
    const { results } = await d1
      .prepare(`SELECT ${SHARE_COLUMNS} FROM partner_fanouts WHERE created_at < ?1 ORDER BY rowid LIMIT ?2`)
      .bind(deps.now() - SHARE_GRACE_MS, SHARES_PER_ROUND)
      .all<PartnerShare>();
    if (results.length === 0) break;
    for (const [partnerShard, owed] of byPartnerShard(results)) {
      const refs = await giveShares(deps, partnerShard, owed);
      await enqueueDeliveries(deps.queue, refs);
      await d1
        .prepare(
          `DELETE FROM partner_fanouts WHERE (owner_key, event_id) IN
             (SELECT s.value ->> 'o', s.value ->> 'e' FROM json_each(?1) AS s)`,
        )
        .bind(JSON.stringify(owed.map((s) => ({ o: s.owner_key, e: s.event_id }))))
        .run();
      finished += owed.length;
      if (refs.length > 0)
        logger.info("partner shares given by the sweep", { partner_shard: partnerShard, deliveries: refs.length });
    }
    if (results.length < SHARES_PER_ROUND) break;
  }
  return finished;
}
