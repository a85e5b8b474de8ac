// Fault injection for the "nothing lost" harness (npm run test:faults, test/faults/): D1 errors and duplicate queue
// messages, on purpose. Off unless the harness passes FAULT_* vars (never set them in wrangler.toml); when off,
// createServices keeps the real D1 binding and the consumer's hook is one null check.
import { interceptD1 } from "./d1-intercept";
import { logger } from "./logger";
import type { DeliveryMessage } from "./services";

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

export const INJECTED_D1_ERROR = "D1_ERROR: injected fault";

const rate = (name: string, value: string | undefined): number => {
  if (value === undefined || value === "") return 0;
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new Error(`${name} must be a number from 0 to 1, got "${value}"`);
  return n;
};

/** The faults the vars ask for, or null (the normal case) when they ask for none. */
export function readFaults(env: Env): Faults | null {
  const vars: FaultVars = env as Env & FaultVars; // not declared in wrangler.toml on purpose
  const d1ErrorRate = rate("FAULT_D1_ERROR_RATE", vars.FAULT_D1_ERROR_RATE);
  const duplicateRate = rate("FAULT_DUPLICATE_RATE", vars.FAULT_DUPLICATE_RATE);
  if (d1ErrorRate === 0 && duplicateRate === 0) return null;
  const seed = vars.FAULT_SEED ? Number(vars.FAULT_SEED) : Number.NaN;
  const random = Number.isInteger(seed) ? seededRandom(seed) : Math.random;
  logger.warn("fault injection is ON", { d1_error_rate: d1ErrorRate, duplicate_rate: duplicateRate, seed: Number.isInteger(seed) ? seed : null });
  return { d1ErrorRate, duplicateRate, random };
}

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
 * After a message was processed and acknowledged: at `faults.duplicateRate`, send a copy of it (0-2 s later), as a
 * queue that delivers at least once may. Never throws: a copy that cannot be sent is simply not a duplicate.
 */
export async function maybeDuplicateMessage(faults: Faults | null, queue: Queue<DeliveryMessage>, body: DeliveryMessage): Promise<void> {
  if (!faults || faults.duplicateRate <= 0 || faults.random() >= faults.duplicateRate) return;
  const delaySeconds = Math.floor(faults.random() * 3);
  try {
    await queue.send({ delivery_id: body.delivery_id }, { delaySeconds, contentType: "json" });
    logger.warn("fault injected", { fault: "duplicate_message", delivery_id: body.delivery_id, delay_s: delaySeconds });
    faults.onInject?.("duplicate_message");
  } catch (err) {
    logger.warn("fault injection: duplicate not sent", { delivery_id: body.delivery_id, error: String(err) });
  }
}
