// The two delivery lanes (docs/architecture.md#lanes): the main lane carries every webhook whose receiver answers; the
// slow lane, a queue of its own, carries the webhooks whose receivers time out, so their sends never take a slot or an
// invocation that another webhook's deliveries wait for.
import type { RecordedResult } from "./send";

export type Lane = "main" | "slow";

/** The queue binding of each lane. */
export interface LaneQueues<Body> {
  queue: Queue<Body>;
  slowQueue: Queue<Body>;
}

export const queueOfLane = <Body>(deps: LaneQueues<Body>, lane: Lane): Queue<Body> =>
  lane === "slow" ? deps.slowQueue : deps.queue;

/** An attempt that timed out marks its webhook slow (its next attempt takes the slow lane); any other outcome clears it. */
export const timedOut = (result: Pick<RecordedResult, "errorClass">): boolean => result.errorClass === "timeout";

/** The lane of the next attempt after `result`. */
export const laneAfter = (result: Pick<RecordedResult, "errorClass">): Lane => (timedOut(result) ? "slow" : "main");
