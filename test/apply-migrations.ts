import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { shardDatabases } from "../src/db/shards";

// Storage is isolated per test file; applying is a no-op when already applied. Every shard gets every migration.
for (const shard of shardDatabases(env as unknown as Record<string, unknown>))
  await applyD1Migrations(shard, env.TEST_MIGRATIONS);
