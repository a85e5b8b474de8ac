// The service container handlers and jobs receive: everything with a side effect, in one place, built from the bindings.
import type { Principal } from "../auth/principal";
import { createDb, type Database } from "../db/client";
import { type ShardHandle, shardArchive, shardDatabases } from "../db/shards";
import type { QueueMessage } from "../domain/delivery/message";
import { type RateLimiter, rateLimiterOf } from "../domain/delivery/rate-limit";
import { type Config, readConfig } from "./config";
import type { RequestInput } from "./errors";
import { configureLogger } from "./logger";
import type { RequestBody } from "./request-body";
import { createSecretBox, type SecretBox } from "./secret-box";

export interface Services {
  /** The database of the shard this container serves (shard 0, which holds the owner directory, unless chosen). */
  db: Database;
  /** Which shard `db` is; `onShard(services, n)` (db/shards.ts) gives the container of another. */
  shard: number;
  /** Every shard's database and archive, by number. */
  shards: readonly ShardHandle[];
  config: Config;
  /** The delivery queue of the main lane, and of the slow lane (docs/architecture.md#lanes). */
  queue: Queue<QueueMessage>;
  slowQueue: Queue<QueueMessage>;
  now: () => number;
  fetch: typeof fetch;
  /** Seals and opens signing secrets at rest (SECRET_ENCRYPTION_KEY). */
  secretBox: SecretBox;
  /** Where this shard's finished deliveries older than the hot window go (R2); null: they stay in D1 until retention. */
  archive: R2Bucket | null;
  /** Grants the sends of webhooks with a rate limit (a Durable Object per webhook). */
  rateLimiter: RateLimiter;
}

// One container per bindings object: `env` is stable within an isolate, so requests share the drizzle instance.
const containers = new WeakMap<Env, Services>();

export function createServices(env: Env): Services {
  let services = containers.get(env);
  if (!services) {
    const config = readConfig(env);
    configureLogger(config.logLevel);
    const bucket = (env as Env & { ARCHIVE?: R2Bucket }).ARCHIVE ?? null;
    const shards = shardDatabases(env as unknown as Record<string, unknown>).map(
      (d1, n): ShardHandle => ({ db: createDb(d1), archive: shardArchive(bucket, n) }),
    );
    services = {
      db: shards[0]!.db,
      shard: 0,
      shards,
      config,
      queue: env.DELIVERY_QUEUE as Queue<QueueMessage>,
      slowQueue: env.SLOW_DELIVERY_QUEUE as Queue<QueueMessage>,
      now: () => Date.now(),
      fetch: (input, init) => fetch(input, init),
      secretBox: createSecretBox(env.SECRET_ENCRYPTION_KEY),
      archive: bucket,
      rateLimiter: rateLimiterOf(env.RATE_LIMITER),
    };
    containers.set(env, services);
  }
  return services;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    services: Services;
    principal: Principal;
    requestId: string;
    /** Set by a route that takes a body, once its access check has passed (request-body.ts). */
    requestBody: RequestBody;
    /** The request's input as sent, once validated: what a later 422 echoes (errors.ts). */
    requestInput: RequestInput;
  };
}
