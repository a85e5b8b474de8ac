// The shards as tests see them (wrangler.toml binds two: DB and DB_1): the database of a webhook (its id names its
// shard) or of an owner (the owner directory in DB), and placing an owner in a shard of the test's choosing before its
// first use, as the directory would have placed it.
import { env } from "cloudflare:workers";
import { shardDatabases, shardOfWebhook } from "../../src/db/shards";

/** Every shard's D1 binding, by number. */
export const shardD1s = (): D1Database[] => shardDatabases(env as unknown as Record<string, unknown>);

/** The database that holds webhook `webhookId` (and its deliveries, events, stats). */
export const d1OfWebhook = (webhookId: string): D1Database => shardD1s()[shardOfWebhook(webhookId)]!;

/** The shard the owner directory gives `owner` (`t:<tenant>` or `p:<partner>`), or null when it has none yet. */
export async function shardOfOwner(owner: string): Promise<number | null> {
  const row = await env.DB.prepare("SELECT shard FROM owner_shards WHERE owner_key = ?1").bind(owner).first<{
    shard: number;
  }>();
  return row?.shard ?? null;
}

/** The database that holds `owner`'s webhooks and events (shard 0 while it has none). */
export const d1OfOwner = async (owner: string): Promise<D1Database> => shardD1s()[(await shardOfOwner(owner)) ?? 0]!;

/**
 * Places `owner` in `shard` before anything else does (a test that seeds its rows in a shard by hand, or wants an owner
 * in a given shard); throws if it was placed elsewhere already.
 */
export async function placeOwner(owner: string, shard: number): Promise<void> {
  await env.DB.prepare(
    "INSERT INTO owner_shards (owner_key, shard, placed_at) VALUES (?1, ?2, 0) ON CONFLICT DO NOTHING",
  )
    .bind(owner, shard)
    .run();
  const placed = await shardOfOwner(owner);
  if (placed !== shard) throw new Error(`${owner} is in shard ${placed}, not ${shard}`);
}

/** Runs `sql` with `params` in every shard; the rows of all, shard 0's first. */
export async function allShardRows<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T[]> {
  const all = await Promise.all(
    shardD1s().map(
      async (d1) =>
        (
          await d1
            .prepare(sql)
            .bind(...params)
            .all<T>()
        ).results,
    ),
  );
  return all.flat();
}

/** The first row `sql` finds in any shard, shard 0 first (null: none). */
export async function firstInShards<T = Record<string, unknown>>(sql: string, ...params: unknown[]): Promise<T | null> {
  return (await allShardRows<T>(sql, ...params))[0] ?? null;
}

/** `sql` with `params`, first row, in the shard of `owner` (the directory's entry of a tenant lives there). */
export async function firstOfOwner<T = Record<string, unknown>>(
  owner: string,
  sql: string,
  ...params: unknown[]
): Promise<T | null> {
  return (await d1OfOwner(owner))
    .prepare(sql)
    .bind(...params)
    .first<T>();
}
