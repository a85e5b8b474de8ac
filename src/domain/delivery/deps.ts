// What the delivery stages need from the outside world, passed in (the queue consumer passes its Services).
import type { Database } from "../../db/client";
import type { ShardScoped } from "../../db/shards";
import type { Config } from "../../lib/config";
import type { SecretBox } from "../../lib/secret-box";
import type { RateLimiter } from "./rate-limit";

/** `db` is one shard's; code that handles deliveries of several shards picks each one's (db/shards.ts onShard). */
export interface DeliveryDeps extends ShardScoped {
  db: Database;
  config: Config;
  secretBox: SecretBox;
  now: () => number;
  fetch: typeof fetch;
  /** Grants the sends of webhooks with a rate limit (rate-limit.ts). */
  rateLimiter: RateLimiter;
  /** Retry jitter; Math.random when absent. */
  random?: () => number;
}
