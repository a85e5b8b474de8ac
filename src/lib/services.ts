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

export function createServices(env: Env): Services {
  return {
    db: createDb(env.DB),
    config: readConfig(env),
    queue: env.DELIVERY_QUEUE as Queue<DeliveryMessage>,
    now: () => Date.now(),
    fetch: (input, init) => fetch(input, init),
  };
}

export interface AppEnv {
  Bindings: Env;
  Variables: { services: Services; principal: Principal; requestId: string };
}
