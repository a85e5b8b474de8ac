// The Worker as `npm run test:faults` runs it: src/index's handlers with faults wrapped around their bindings (never
// deployed). FAULT_* vars (see inject.ts) turn them on: D1 calls fail before they reach the database, and processed
// delivery messages come back as duplicates. Without those vars it is the Worker unchanged.

import { shardDatabases } from "../../src/db/shards";
import type { DeliveryMessage } from "../../src/domain/delivery/message";
import worker from "../../src/index";
import { DELIVERY_QUEUE, SLOW_DELIVERY_QUEUE } from "../../src/jobs/delivery-consumer";
import { type Faults, type FaultVars, readFaults, withD1Faults, withDuplicateMessages } from "./inject";

export * from "../../src/index";

// One wrapped env per original env, so the service container (cached per env object) is built once, and one PRNG.
const wrapped = new WeakMap<Env, { env: Env; faults: Faults | null }>();

function withFaults(env: Env): { env: Env; faults: Faults | null } {
  let entry = wrapped.get(env);
  if (!entry) {
    const faults = readFaults(env as Env & FaultVars); // not declared in wrangler.toml on purpose
    entry = { env: faults ? withShardFaults(env, faults) : env, faults };
    wrapped.set(env, entry);
  }
  return entry;
}

/** `env` with every shard's D1 binding (DB, DB_1, …) failing at the same rate. */
function withShardFaults(env: Env, faults: Faults): Env {
  const shards = shardDatabases(env as unknown as Record<string, unknown>);
  const faulty: Record<string, D1Database> = {};
  shards.forEach((d1, n) => (faulty[n === 0 ? "DB" : `DB_${n}`] = withD1Faults(d1, faults)));
  return { ...env, ...faulty };
}

export default {
  fetch: (request, env, ctx) => worker.fetch(request, withFaults(env).env, ctx),

  async queue(batch, env, ctx) {
    const { env: faulty, faults } = withFaults(env);
    const lanes: Record<string, Queue> = {
      [DELIVERY_QUEUE]: env.DELIVERY_QUEUE,
      [SLOW_DELIVERY_QUEUE]: env.SLOW_DELIVERY_QUEUE,
    };
    const queue = lanes[batch.queue];
    if (!queue) return worker.queue(batch, faulty, ctx);
    // A duplicate comes back on the queue its original came from.
    const duplicating = withDuplicateMessages(batch, faults, queue as Queue<DeliveryMessage>);
    await worker.queue(duplicating.batch, faulty, ctx);
    await duplicating.sent();
  },

  scheduled: (controller, env, ctx) => worker.scheduled(controller, withFaults(env).env, ctx),
} satisfies ExportedHandler<Env, unknown>;
