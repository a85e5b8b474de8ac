// Deliveries whose queue messages exhausted the queue's retries (they reached the dead-letter queue): they end as
// `failed`, visibly, never silently. Called by the dead-letter queue's consumer (jobs/delivery-consumer.ts).
import { groupByTable, withPartitions } from "../../db/partitions";
import { ACTIVE_DELIVERY_SQL } from "../../db/schema";
import { groupByShard, hasShard, onShard, type ShardScoped } from "../../db/shards";
import { logger } from "../../lib/logger";
import { resolveDeliveryRefs } from "./claim";
import type { DeliveryDeps } from "./deps";
import type { DeliveryMessage } from "./message";

// A delivery whose attempt is in flight (its lease runs) is left to that attempt's recording: finishing it under the
// attempt would let an ordered webhook's next delivery go while this one is still being sent.
const deadLetterIn = (table: string) => `UPDATE "${table}" SET status = 'failed', lease_until = NULL, in_queue = 0,
    completed_at = ?2, updated_at = ?2, last_error = 'dead-lettered: the delivery queue could not process this message'
  FROM json_each(?1) AS r
  WHERE "${table}".webhook_id = r.value ->> 'w' AND "${table}".id = r.value ->> 'i' AND ${ACTIVE_DELIVERY_SQL}
    AND ("${table}".lease_until IS NULL OR "${table}".lease_until < ?2)`;

/**
 * Ends the deliveries of dead-lettered messages as failed (those still active and not in flight: a finished one stays
 * as it is, one being attempted is left to its attempt), each in the shard its webhook's id names.
 */
export async function failDeadLettered(
  deps: Pick<DeliveryDeps, "db" | "now"> & ShardScoped,
  messages: readonly DeliveryMessage[],
): Promise<void> {
  if (messages.length === 0) return;
  const refs = await resolveDeliveryRefs(deps.db, messages);
  const now = deps.now();
  await Promise.all(
    [...groupByShard(refs, (r) => r.webhookId)]
      .filter(([shard]) => hasShard(deps, shard))
      .map(([shard, inShard]) => {
        const d1 = onShard(deps, shard).db.$client;
        return withPartitions(d1, (live) =>
          d1.batch(
            [...groupByTable(live, inShard, (r) => r.id)].map(([table, group]) =>
              d1
                .prepare(deadLetterIn(table))
                .bind(JSON.stringify(group.map((r) => ({ w: r.webhookId, i: r.id }))), now),
            ),
          ),
        );
      }),
  );
  logger.error("deliveries dead-lettered", { count: refs.length });
}
