// Releasing claims that were never sent (their slot never came, or a rate limit refused them), in the shards that hold
// them: the attempt number goes back and the lease is cleared, so the delivery is due again as if never claimed.
import type { Database } from "../../db/client";
import { withPartitions } from "../../db/partitions";
import { groupByShard, onShard } from "../../db/shards";
import { type ClaimedAttempt, type DueAgain, releaseClaimsStatements } from "./claim";
import type { DeliveryDeps } from "./deps";
import { withD1Retries } from "./record";

/**
 * Releases `claims` in the shards that hold them, one D1 batch per shard (at once), tried as a recording is; `more`
 * adds a shard's own statements to its batch, `dueOf` when each is due again (now by default). Answers the claims
 * released, and those of each shard whose release failed for good with its error: their leases hold them until the
 * sweep re-enqueues them.
 */
export async function releaseInShards(
  deps: DeliveryDeps,
  claims: readonly ClaimedAttempt[],
  opts: {
    /** What the claims are, for the logs: "unsent", "rate-limited". */
    what: string;
    now: number;
    dueOf?: (claim: ClaimedAttempt) => DueAgain | null;
    more?: (db: Database, shard: number) => D1PreparedStatement[];
  },
): Promise<{ released: ClaimedAttempt[]; failed: { claims: ClaimedAttempt[]; error: unknown }[] }> {
  const failed: { claims: ClaimedAttempt[]; error: unknown }[] = [];
  const released = await Promise.all(
    [...groupByShard(claims, (c) => c.endpoint.id)].map(async ([shard, inShard]) => {
      const { db } = onShard(deps, shard);
      const d1 = db.$client;
      try {
        await withD1Retries(
          {
            context: { deliveries: inShard.map((c) => `${c.endpoint.id}/${c.deliveryId}`) },
            retrying: `releasing ${opts.what} claims failed; retrying`,
            gaveUp: `releasing ${opts.what} claims failed for good; the sweep re-enqueues them after their lease`,
          },
          () =>
            withPartitions(d1, (live) =>
              d1.batch([
                ...releaseClaimsStatements(d1, live, inShard, opts.now, opts.dueOf),
                ...(opts.more?.(db, shard) ?? []),
              ]),
            ),
        );
        return inShard;
      } catch (error) {
        failed.push({ claims: inShard, error });
        return [];
      }
    }),
  );
  return { released: released.flat(), failed };
}
