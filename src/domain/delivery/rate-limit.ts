// A webhook's rate limit (`rate_limit`: the most deliveries a second its receiver gets), held across every consumer
// invocation and isolate by one Durable Object per limited webhook, which grants each send its start time
// (docs/architecture.md#flow-control). Only webhooks with a limit ever reach it: the claim reads the endpoint row anyway.
import { DurableObject } from "cloudflare:workers";

/**
 * The window the limit counts in, with a guard over the second for the way from the grant to the receiver (the
 * consumer's call, its connection): L + 1 consecutive grants always span more than this.
 */
export const RATE_WINDOW_MS = 1_050;
/** A send whose slot opens within this long waits for it where it is; a later one goes back to the queue. */
export const RATE_LIMIT_MAX_WAIT_MS = 250;

/** Send now or after `sendInMs` (a slot is granted), or come back in `retryInMs` (nothing granted). */
export type RateVerdict = { sendInMs: number } | { retryInMs: number };

/**
 * The grants of one webhook: a send is granted at the earliest time at or after `now` (and after the last grant) that
 * leaves at most `limit` grants in any RATE_WINDOW_MS, if that is within `maxWaitMs`. A send refused is told when to
 * come back: the refused are spread at the limit's pace from when the window opens, so a backlog returns at the rate
 * it can be sent instead of all at once.
 */
export class SendWindow {
  /** The latest grants, oldest first, at most `limit` of them. */
  private grants: number[] = [];
  /** When the next refused send is told to come back. */
  private promised = 0;

  acquire(limit: number, now: number, maxWaitMs: number): RateVerdict {
    if (this.grants.length > limit) this.grants.splice(0, this.grants.length - limit);
    const opensAt = this.grants.length < limit ? now : this.grants[0]! + RATE_WINDOW_MS;
    const at = Math.max(now, this.grants.at(-1) ?? now, opensAt);
    if (at - now <= maxWaitMs) {
      this.grants.push(at);
      if (this.grants.length > limit) this.grants.shift();
      return { sendInMs: at - now };
    }
    const retryAt = Math.max(this.promised, at);
    this.promised = retryAt + RATE_WINDOW_MS / limit;
    return { retryInMs: retryAt - now };
  }
}

/**
 * The Durable Object of one limited webhook (named by its id): a single instance, wherever the consumers run, so its
 * window holds across all of them. The window lives in memory: an instance is evicted only after a while with no sends,
 * when the window is empty anyway.
 */
export class WebhookRateLimiter extends DurableObject {
  private readonly window = new SendWindow();

  acquire(limit: number): RateVerdict {
    return this.window.acquire(limit, Date.now(), RATE_LIMIT_MAX_WAIT_MS);
  }
}

/** What the send stage asks before sending to a limited webhook. */
export interface RateLimiter {
  acquire(webhookId: string, limit: number): Promise<RateVerdict>;
}

export const rateLimiterOf = (namespace: DurableObjectNamespace<WebhookRateLimiter>): RateLimiter => ({
  acquire: async (webhookId, limit) => namespace.getByName(webhookId).acquire(limit),
});

/**
 * Whole seconds to keep a refused send in the queue: it comes back no sooner than its slot less the wait it may do
 * there, and never at once.
 */
export const retryDelaySeconds = (retryInMs: number) =>
  Math.max(1, Math.ceil((retryInMs - RATE_LIMIT_MAX_WAIT_MS) / 1000));
