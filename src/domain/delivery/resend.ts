// Sending an event again to one webhook as a new delivery: a retry or recover of a delivery that is history (finished
// before the hot window, so immutable), and every replayed event. The event is stored in the current hour's partition
// too (a delivery always sends an event of its own partition's hour, so the two leave D1 together), with its original
// id, time and bytes; the new delivery names the one it sends again, if any.

import { firstDeliveryIdAt, hourOf, partitionName } from "../../db/partitions";
import { storedPayload } from "../../db/payload";
import type { EventRow } from "../../db/schema";
import { type DeliveryRef, newDeliveryId, toDeliveryRefs, withCurrentPartitions } from "../publish";

export interface Resend {
  webhookId: string;
  event: Pick<EventRow, "ownerKey" | "eventId" | "eventType" | "tenantId" | "partnerId" | "payload" | "createdAt">;
  /** The archived delivery this sends again (a retry or recover of history); null for a replay. */
  retryOf: number | null;
}

/**
 * The statements that store `resends` in the partitions of the hour of `now`; the second returns the deliveries.
 * `payloads` are the events' payloads as stored (storedPayload), in order: a compressed one travels as hex.
 */
function resendStatements(
  d1: D1Database,
  now: number,
  resends: readonly Resend[],
  payloads: readonly (string | Uint8Array)[],
): D1PreparedStatement[] {
  const hour = hourOf(now);
  const events = partitionName("events", hour);
  const deliveries = partitionName("deliveries", hour);
  const rows = JSON.stringify(
    resends.map((r, i) => ({
      w: r.webhookId,
      o: r.event.ownerKey,
      e: r.event.eventId,
      t: r.event.eventType,
      tn: r.event.tenantId,
      pn: r.event.partnerId,
      ...(typeof payloads[i] === "string" ? { p: payloads[i] } : { px: toHex(payloads[i] as Uint8Array) }),
      c: r.event.createdAt,
      r: r.retryOf,
    })),
  );
  return [
    d1
      .prepare(
        `INSERT OR IGNORE INTO "${events}" (owner_key, event_id, event_type, tenant_id, partner_id, payload, created_at)
         SELECT DISTINCT r.value ->> 'o', r.value ->> 'e', r.value ->> 't', r.value ->> 'tn', r.value ->> 'pn',
           coalesce(unhex(r.value ->> 'px'), r.value ->> 'p'), r.value ->> 'c'
         FROM json_each(?1) AS r`,
      )
      .bind(rows),
    // One statement for all: the row number spreads one webhook's new ids (the max() sees only rows stored before).
    d1
      .prepare(
        `INSERT INTO "${deliveries}" (webhook_id, id, event_owner, event_id, event_hour, event_type, status,
           attempt_count, due_at, in_queue, attempts, retry_of, created_at, updated_at)
         SELECT r.value ->> 'w',
           ${newDeliveryId(deliveries, "r.value ->> 'w'", "?2")} + row_number() OVER (PARTITION BY r.value ->> 'w' ORDER BY r.key) - 1,
           r.value ->> 'o', r.value ->> 'e', ?3, r.value ->> 't', 'pending', 0, ?4, 1, '[]', r.value ->> 'r', ?4, ?4
         FROM json_each(?1) AS r
         RETURNING webhook_id, id, retry_of`,
      )
      .bind(rows, firstDeliveryIdAt(now), hour, now),
    // What history was sent again, so a later recover does not send it once more.
    d1
      .prepare(
        `INSERT OR IGNORE INTO resent_deliveries (webhook_id, delivery_id, resent_as)
         SELECT r.value ->> 'w', r.value ->> 'r', (SELECT max(d.id) FROM "${deliveries}" d
           WHERE d.webhook_id = r.value ->> 'w' AND d.retry_of = r.value ->> 'r')
         FROM json_each(?1) AS r WHERE r.value ->> 'r' IS NOT NULL`,
      )
      .bind(rows),
  ];
}

/** Stores the resends in one batch; returns their new deliveries. */
export async function storeResends(d1: D1Database, now: number, resends: readonly Resend[]): Promise<DeliveryRef[]> {
  if (resends.length === 0) return [];
  const payloads = await Promise.all(resends.map((r) => storedPayload(r.event.payload)));
  const results = await withCurrentPartitions(d1, now, () =>
    d1.batch<{ webhook_id: string; id: number }>(resendStatements(d1, now, resends, payloads)),
  );
  return toDeliveryRefs(results[1]?.results ?? []);
}

const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
