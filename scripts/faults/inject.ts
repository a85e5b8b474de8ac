// Fault injection for the "nothing lost" runs (npm run test:faults through worker.ts, test/faults/ through
// test/helpers/faults.ts): D1 errors and duplicate queue messages, on purpose, wrapped around the Worker's bindings
// from outside src/, so none of it ships in the production bundle.
import { type DeliveryMessage, isDeliveryMessage } from "../../src/domain/delivery/message";
import { logger } from "../../src/lib/logger";
import { interceptD1 } from "../lib/d1-intercept";
import { mulberry32 } from "../lib/prng.mjs";

/** Vars the harness passes (`wrangler dev --var FAULT_D1_ERROR_RATE:0.05 …`); absent in every real environment. */
export interface FaultVars {
  /** Probability (0..1) that a D1 call (statement run/all/first/raw, or a batch) fails before it executes. */
  FAULT_D1_ERROR_RATE?: string;
  /** Probability (0..1) that a processed delivery message is sent again, as a duplicate queue delivery. */
  FAULT_DUPLICATE_RATE?: string;
  /** Seed of the fault PRNG; Math.random when absent. */
  FAULT_SEED?: string;
}

export interface Faults {
  d1ErrorRate: number;
  duplicateRate: number;
  random: () => number;
  /** Told of every fault injected (tests count them this way; the harness counts the log lines). */
  onInject?: (fault: "d1_error" | "duplicate_message") => void;
}

const INJECTED_D1_ERROR = "D1_ERROR: injected fault";

const rate = (name: string, value: string | undefined): number => {
  if (value === undefined || value === "") return 0;
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new Error(`${name} must be a number from 0 to 1, got "${value}"`);
  return n;
};

/** The faults the vars ask for, or null when they ask for none. */
export function readFaults(vars: FaultVars): Faults | null {
  const d1ErrorRate = rate("FAULT_D1_ERROR_RATE", vars.FAULT_D1_ERROR_RATE);
  const duplicateRate = rate("FAULT_DUPLICATE_RATE", vars.FAULT_DUPLICATE_RATE);
  if (d1ErrorRate === 0 && duplicateRate === 0) return null;
  const seed = vars.FAULT_SEED ? Number(vars.FAULT_SEED) : Number.NaN;
  const random = Number.isInteger(seed) ? seededRandom(seed) : Math.random;
  logger.warn("fault injection is ON", {
    d1_error_rate: d1ErrorRate,
    duplicate_rate: duplicateRate,
    seed: Number.isInteger(seed) ? seed : null,
  });
  return { d1ErrorRate, duplicateRate, random };
}

/** The harnesses' seedable PRNG (mulberry32, scripts/lib/prng.mjs), uniform in [0, 1). */
export const seededRandom: (seed: number) => () => number = mulberry32;

/**
 * `d1` with calls that fail at `faults.d1ErrorRate`, before they reach the database (so a failed call changed nothing),
 * with D1's own error prefix. `d1` itself when that rate is 0.
 */
export function withD1Faults(d1: D1Database, faults: Faults | null): D1Database {
  if (!faults || faults.d1ErrorRate <= 0) return d1;
  const maybeFail = (op: string) => {
    if (faults.random() >= faults.d1ErrorRate) return;
    logger.warn("fault injected", { fault: "d1_error", op });
    faults.onInject?.("d1_error");
    throw new Error(INJECTED_D1_ERROR);
  };
  return interceptD1(d1, {
    statement: async (op, _statement, _args, call) => {
      maybeFail(op);
      return call();
    },
    batch: async (_statements, call) => {
      maybeFail("batch");
      return call();
    },
    exec: async (_query, call) => {
      maybeFail("exec");
      return call();
    },
  });
}

/**
 * `batch` with messages that, once acknowledged, come back at `faults.duplicateRate` as a copy sent to `queue` (0-2 s
 * later), as a queue that delivers at least once may. Await `sent()` after the handler: a copy that cannot be sent is
 * simply not a duplicate. The batch given to the handler forwards every ack and retry to the real one.
 */
export function withDuplicateMessages(
  batch: MessageBatch<unknown>,
  faults: Faults | null,
  queue: Queue<DeliveryMessage>,
): { batch: MessageBatch<unknown>; sent: () => Promise<void> } {
  if (!faults || faults.duplicateRate <= 0) return { batch, sent: async () => {} };
  const sends: Promise<void>[] = [];
  const duplicate = (body: DeliveryMessage) => {
    if (faults.random() >= faults.duplicateRate) return;
    const delaySeconds = Math.floor(faults.random() * 3);
    sends.push(
      queue.send({ ...body }, { delaySeconds, contentType: "json" }).then(
        () => {
          logger.warn("fault injected", {
            fault: "duplicate_message",
            delivery_id: body.delivery_id,
            delay_s: delaySeconds,
          });
          faults.onInject?.("duplicate_message");
        },
        (err) =>
          logger.warn("fault injection: duplicate not sent", { delivery_id: body.delivery_id, error: String(err) }),
      ),
    );
  };
  const messages = batch.messages.map(
    (message) =>
      new Proxy(message, {
        get(target, prop) {
          if (prop === "ack")
            return () => {
              target.ack();
              if (isDeliveryMessage(target.body)) duplicate(target.body);
            };
          const value = Reflect.get(target, prop, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
  );
  const wrapped = new Proxy(batch, {
    get(target, prop) {
      if (prop === "messages") return messages;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { batch: wrapped, sent: async () => void (await Promise.all(sends)) };
}
