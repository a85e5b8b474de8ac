// The service container handlers and jobs receive: everything with a side effect, in one place, built from the bindings.
import type { Principal } from "../auth/principal";
import { createDb, type Database } from "../db/client";
import { readConfig, type Config } from "./config";
import { readFaults, withD1Faults, type Faults } from "./fault-injection";
import { createSecretBox, type SecretBox } from "./secret-box";

/** A queue message: deliveries travel by reference, the row in D1 holds everything else. */
export interface DeliveryMessage {
  delivery_id: number;
}

export interface Services {
  db: Database;
  config: Config;
  queue: Queue<DeliveryMessage>;
  now: () => number;
  fetch: typeof fetch;
  /** Seals and opens signing secrets at rest (SECRET_ENCRYPTION_KEY). */
  secretBox: SecretBox;
  /** Where finished deliveries older than the hot window go (R2); null: they stay in D1 until retention. */
  archive: R2Bucket | null;
  /** Injected faults (test:faults harness only); null everywhere else. */
  faults: Faults | null;
}

// One container per bindings object: `env` is stable within an isolate, so requests share the drizzle instance.
const containers = new WeakMap<Env, Services>();

export function createServices(env: Env): Services {
  let services = containers.get(env);
  if (!services) {
    const faults = readFaults(env); // null unless the fault harness passes FAULT_* vars
    services = {
      db: createDb(withD1Faults(env.DB, faults)),
      config: readConfig(env),
      queue: env.DELIVERY_QUEUE as Queue<DeliveryMessage>,
      now: () => Date.now(),
      fetch: (input, init) => fetch(input, init),
      secretBox: createSecretBox(env.SECRET_ENCRYPTION_KEY),
      archive: (env as Env & { ARCHIVE?: R2Bucket }).ARCHIVE ?? null,
      faults,
    };
    containers.set(env, services);
  }
  return services;
}

export interface AppEnv {
  Bindings: Env;
  Variables: { services: Services; principal: Principal; requestId: string };
}
