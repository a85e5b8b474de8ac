// Shards: the service's state split across D1 databases, each holding the webhooks, events, deliveries, stats and
// history of the owners (tenants, partners) assigned to it. This module is the one place a shard is chosen, as
// db/partitions.ts is the one place a table is: from a webhook's id (its shard is written into it), from an owner (the
// owner directory in shard 0), or for every shard (the cron jobs). Code below it takes the services of one shard,
// `onShard(services, n)`: the same services with `db` (and the archive's part) of that shard.
//
// The bindings: shard 0 is `DB` (which also holds the owner directory and the portal sessions), shard n is `DB_<n>`,
// numbered without gaps. Every shard has every table (the same migrations); each history's R2 objects live under the
// shard's own prefix of the one bucket (`s<n>/` for n > 0; shard 0 keeps the root, where history was before shards).
import type { Database } from "./client";
import type { OwnerKey } from "./schema";

/** One shard: its database, and its part of the archive. */
export interface ShardHandle {
  db: Database;
  archive: R2Bucket | null;
}

/** What code that can reach several shards carries: its own shard's handles, its number, and every shard. */
export interface ShardScoped {
  db: Database;
  archive?: R2Bucket | null;
  /** The shard `db` is (0 when absent). */
  shard?: number;
  /** Every shard, by number (absent: `db` is the only one). */
  shards?: readonly ShardHandle[];
}

/** Shards are bound as DB, DB_1, DB_2, … (no gaps); at most this many are looked for. */
const MAX_SHARDS = 256;

/** The D1 bindings of the shards, by number. */
export function shardDatabases(env: Record<string, unknown>): D1Database[] {
  const found = [env.DB as D1Database];
  for (let n = 1; n < MAX_SHARDS && env[`DB_${n}`] !== undefined; n++) found.push(env[`DB_${n}`] as D1Database);
  return found;
}

// ---- webhook ids ----

// A webhook id names its shard: `wh_<n>_<random>` in shard n > 0; `wh_<random>` (no tag: ids from before shards, and
// every id of shard 0) in shard 0. The random part never holds "_", so the two cannot be confused.
const SHARD_TAG = /^wh_(\d{1,3})_/;

/** The shard that holds webhook `id` (and its deliveries, stats and history). */
export const shardOfWebhook = (id: string): number => {
  const tag = SHARD_TAG.exec(id);
  return tag ? Number(tag[1]) : 0;
};

/** The prefix of a new webhook id in `shard`. */
export const webhookIdPrefix = (shard: number) => (shard === 0 ? "wh_" : `wh_${shard}_`);

// ---- choosing the shard of a piece of work ----

const shardViews = new WeakMap<object, Map<number, unknown>>();

/** How many shards `services` can reach. */
const shardCount = (services: ShardScoped) => services.shards?.length ?? 1;

/**
 * `services` in shard `shard`: `db` and `archive` are that shard's, everything else (queues, clock, config) the same.
 * Throws for a shard that does not exist (callers that take a shard from outside check `hasShard` first).
 */
export function onShard<T extends ShardScoped>(services: T, shard: number): T {
  if ((services.shard ?? 0) === shard) return services;
  const handle = services.shards?.[shard];
  if (!handle) throw new Error(`no shard ${shard}: bind DB_${shard} (there are ${shardCount(services)})`);
  let views = shardViews.get(services);
  if (!views) shardViews.set(services, (views = new Map()));
  let view = views.get(shard) as T | undefined;
  if (!view) {
    view = { ...services, db: handle.db, archive: handle.archive, shard };
    views.set(shard, view);
  }
  return view;
}

export const hasShard = (services: ShardScoped, shard: number) => shard >= 0 && shard < shardCount(services);

/** The services of the shard that holds webhook `id`, or null when its id names no shard of this deployment. */
export function onWebhookShard<T extends ShardScoped>(services: T, webhookId: string): T | null {
  const shard = shardOfWebhook(webhookId);
  return hasShard(services, shard) ? onShard(services, shard) : null;
}

/** Every shard's services, shard 0 first. */
export const allShards = <T extends ShardScoped>(services: T): T[] =>
  Array.from({ length: shardCount(services) }, (_, n) => onShard(services, n));

/** `items` by the shard of the webhook each names. */
export function groupByShard<T>(items: readonly T[], webhookIdOf: (item: T) => string): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const shard = shardOfWebhook(webhookIdOf(item));
    groups.set(shard, [...(groups.get(shard) ?? []), item]);
  }
  return groups;
}

/** Cron jobs visit at most this many shards at once. */
export const SHARD_CONCURRENCY = 6;

/**
 * Runs a cron job's `work` in every shard, so a slow shard never starves the others: at most SHARD_CONCURRENCY at a
 * time, each within its own share of the run's time box (the whole box while every shard fits in one wave), starting
 * from a shard that moves on with every run (`turn`). A shard that fails does not stop the others; the run then
 * throws the first error, once every shard has had its turn.
 */
export async function forEachShard<T extends ShardScoped, R>(
  services: T,
  budgetMs: number,
  turn: number,
  work: (shard: T, budgetMs: number) => Promise<R>,
): Promise<R[]> {
  const shards = allShards(services);
  const n = shards.length;
  const share = Math.max(1, Math.floor((budgetMs * Math.min(n, SHARD_CONCURRENCY)) / n));
  const order = shards.map((_, i) => (i + (Math.abs(turn) % n)) % n);
  const results: R[] = new Array(n);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < order.length) {
      const shard = order[next++]!;
      try {
        results[shard] = await work(shards[shard]!, share);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, SHARD_CONCURRENCY) }, worker));
  if (errors.length > 0) throw errors[0];
  return results;
}

// ---- the owner directory (shard 0) ----

/** The shards that take new owners (NEW_OWNER_SHARDS; every shard when null). */
export interface Placement {
  newOwnerShards: readonly number[] | null;
}

// Per isolate and directory: an owner's shard never changes once written, so a known one is never read again. Only
// known owners are kept (an owner not yet placed may be placed any moment by another isolate); bounded.
const OWNER_CACHE_LIMIT = 50_000;
const ownerCaches = new WeakMap<D1Database, Map<OwnerKey, number>>();

function ownerCache(services: ShardScoped): Map<OwnerKey, number> {
  const directory = (services.shards?.[0]?.db ?? services.db).$client;
  let cache = ownerCaches.get(directory);
  if (!cache) ownerCaches.set(directory, (cache = new Map()));
  return cache;
}

function remember(cache: Map<OwnerKey, number>, owner: OwnerKey, shard: number): number {
  if (cache.size >= OWNER_CACHE_LIMIT) cache.clear();
  cache.set(owner, shard);
  return shard;
}

const directoryDb = (services: ShardScoped) => (services.shards?.[0]?.db ?? services.db).$client;

/** The shard of each of `owners` the directory knows (absent: not placed yet); one read of shard 0 for the unknown. */
async function ownerShards(services: ShardScoped, owners: readonly OwnerKey[]): Promise<Map<OwnerKey, number>> {
  const cache = ownerCache(services);
  const found = new Map<OwnerKey, number>();
  const unknown: OwnerKey[] = [];
  for (const owner of new Set(owners)) {
    const shard = cache.get(owner);
    if (shard === undefined) unknown.push(owner);
    else found.set(owner, shard);
  }
  if (unknown.length > 0) {
    const { results } = await directoryDb(services)
      .prepare("SELECT owner_key, shard FROM owner_shards WHERE owner_key IN (SELECT value FROM json_each(?1))")
      .bind(JSON.stringify(unknown))
      .all<{ owner_key: string; shard: number }>();
    for (const r of results) found.set(r.owner_key, remember(cache, r.owner_key, r.shard));
  }
  return found;
}

/** The shard that holds `owner`, or null when it has none yet (it has no webhooks, events or directory entry). */
export async function shardOfOwner(services: ShardScoped, owner: OwnerKey): Promise<number | null> {
  return (await ownerShards(services, [owner])).get(owner) ?? null;
}

/** FNV-1a (32 bits) of `text`'s UTF-8: the fixed hash that spreads new owners over the shards that take them. */
export function ownerHash(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The shards that take new owners, in order. */
export function acceptingShards(services: ShardScoped, placement: Placement): number[] {
  const n = shardCount(services);
  const listed = placement.newOwnerShards ?? Array.from({ length: n }, (_, i) => i);
  const accepting = listed.filter((s) => s < n);
  if (accepting.length === 0)
    throw new Error(`NEW_OWNER_SHARDS names no shard of this deployment (it has ${n}): nowhere to place new owners`);
  return accepting;
}

/**
 * Where a new owner goes (docs/architecture.md#shards): a tenant whose partner is known goes to the partner's shard
 * while that shard takes new owners, so a partner's tenants and its partner-level webhooks share a shard and fan-out
 * stays one batch; anyone else goes to the shard the fixed hash of its key picks among those that take new owners.
 * Adding a shard to NEW_OWNER_SHARDS changes where new owners go and moves nobody.
 */
export function newOwnerShard(
  services: ShardScoped,
  placement: Placement,
  owner: OwnerKey,
  partnerShard: number | null,
): number {
  const accepting = acceptingShards(services, placement);
  if (partnerShard !== null && accepting.includes(partnerShard)) return partnerShard;
  return accepting[ownerHash(owner) % accepting.length]!;
}

/**
 * The shard of `owner`, placing it first if it has none: the one write of the directory for an owner, made when it first
 * needs a shard (its first webhook, first published event, or first directory entry). A tenant's `partnerId` (the
 * partner the directory gives it, or the one it is about to learn) places the partner too, so the tenant can join it.
 * Two requests placing one owner at once both end with the shard the first one wrote.
 */
export async function placeOwner(
  services: ShardScoped & { config: Placement },
  owner: OwnerKey,
  partnerId: string | null = null,
): Promise<number> {
  const partner: OwnerKey | null = owner.startsWith("t:") && partnerId ? `p:${partnerId}` : null;
  const known = await ownerShards(services, partner ? [owner, partner] : [owner]);
  const shard = known.get(owner);
  if (shard !== undefined) return shard;
  const partnerShard = partner ? (known.get(partner) ?? (await placeOwner(services, partner))) : null;
  return placeOwnerIn(services, owner, newOwnerShard(services, services.config, owner, partnerShard));
}

/**
 * Places `owner` in `shard` unless it already has one; answers the shard it has. A webhook that changes owner places an
 * owner without a shard in the webhook's own shard (its webhooks never leave their shard).
 */
export async function placeOwnerIn(services: ShardScoped, owner: OwnerKey, shard: number): Promise<number> {
  const cached = ownerCache(services).get(owner);
  if (cached !== undefined) return cached;
  const d1 = directoryDb(services);
  const [, winner] = await d1.batch<{ shard: number }>([
    d1
      .prepare("INSERT INTO owner_shards (owner_key, shard, placed_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
      .bind(owner, shard, Date.now()),
    d1.prepare("SELECT shard FROM owner_shards WHERE owner_key = ?1").bind(owner),
  ]);
  return remember(ownerCache(services), owner, winner?.results[0]?.shard ?? shard);
}

// ---- the archive's part of each shard ----

/**
 * The archive as shard `shard` sees it: the bucket itself for shard 0, and for the others a view that keeps every key
 * under `s<shard>/`, so two shards' chunks of the same hour never meet.
 */
export function shardArchive(bucket: R2Bucket | null, shard: number): R2Bucket | null {
  if (bucket === null || shard === 0) return bucket;
  const prefix = `s${shard}/`;
  const inside = (key: string) => `${prefix}${key}`;
  const view: R2Bucket = {
    head: (key) => bucket.head(inside(key)),
    get: ((key: string, options?: R2GetOptions) => bucket.get(inside(key), options)) as R2Bucket["get"],
    put: ((key: string, value: Parameters<R2Bucket["put"]>[1], options?: R2PutOptions) =>
      bucket.put(inside(key), value, options)) as R2Bucket["put"],
    delete: (keys) => bucket.delete(typeof keys === "string" ? inside(keys) : keys.map(inside)),
    list: async (options) => {
      const listed = await bucket.list({ ...options, prefix: inside(options?.prefix ?? "") });
      // Keys come back as the shard names them (the object's own fields are left as R2 gave them).
      return {
        ...listed,
        objects: listed.objects.map(
          (o): R2Object =>
            Object.defineProperty(Object.create(o), "key", { value: o.key.slice(prefix.length), enumerable: true }),
        ),
        delimitedPrefixes: listed.delimitedPrefixes.map((p) => p.slice(prefix.length)),
      };
    },
    createMultipartUpload: (key, options) => bucket.createMultipartUpload(inside(key), options),
    resumeMultipartUpload: (key, uploadId) => bucket.resumeMultipartUpload(inside(key), uploadId),
  };
  return view;
}
