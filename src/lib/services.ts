// The service container handlers and jobs receive: everything with a side effect, in one place, built from the bindings.
import type { Principal } from "../auth/principal";
import { createDb, type Database } from "../db/client";
import { readConfig, type Config } from "./config";

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
}

// One container per bindings object: `env` is stable within an isolate, so requests share the drizzle instance.
const containers = new WeakMap<Env, Services>();

export function createServices(env: Env): Services {
  let services = containers.get(env);
  if (!services) {
    services = {
      db: createDb(env.DB),
      config: readConfig(env),
      queue: env.DELIVERY_QUEUE as Queue<DeliveryMessage>,
      now: () => Date.now(),
      fetch: (input, init) => fetch(input, init),
    };
    containers.set(env, services);
  }
  return services;
}

export interface AppEnv {
  Bindings: Env;
  Variables: { services: Services; principal: Principal; requestId: string };
}
