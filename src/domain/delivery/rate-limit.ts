// A webhook's rate limit (`rate_limit`: the most deliveries a second its receiver gets), held across every consumer
// invocation and isolate by one Durable Object per limited webhook, which grants each send its start time
// (docs/architecture.md#flow-control). Only webhooks with a limit ever reach it: the claim reads the endpoint row anyway.
import { DurableObject } from "cloudflare:workers";

/**
 * The window the limit counts in, with a 5 % guard over the second for the way from the grant to the receiver (the
 * consumer's call, its connection): sends are paced 1.05 s / limit apart.
 */
export const RATE_WINDOW_MS = 1_050;
/**
 * A send whose start is due within this long of its batch's start waits for it in the batch (its send slot paused); a
 * later one goes back to the queue. A second: what the queue's delays (whole seconds) cannot do more finely, and no
 * longer than that does a limited webhook hold its batch's invocation.
 */
export const RATE_LIMIT_MAX_WAIT_MS = 1_000;

/** Send now or after `sendInMs` (a slot is granted), or come back in `retryInMs` (nothing granted). */
export type RateVerdict = { sendInMs: number } | { retryInMs: number };

/**
 * The pace of one webhook's sends: each is granted its own start, RATE_WINDOW_MS / limit after the one before, so any
 * second holds at most `limit` of them, spread evenly (a burst is not sent at once and then nothing: a receiver that
 * copes with `limit` a second copes with that pace). A send whose start is more than `maxWaitMs` away is refused and
 * told when to come back: the refused are given the starts after the granted, in turn, so a backlog comes back at the
 * pace it can be sent instead of all at once.
 */
export class SendWindow {
  /** When the next send may start. */
  private next = 0;
  /** When the next refused send is told to come back. */
  private promised = 0;

  acquire(limit: number, now: number, maxWaitMs: number): RateVerdict {
    const interval = RATE_WINDOW_MS / limit;
    // A limit lowered since the last grant applies from there on (a raised one, likewise).
    const at = Math.max(now, this.next);
    if (at - now <= maxWaitMs) {
      this.next = at + interval;
      return { sendInMs: at - now };
    }
    const retryAt = Math.max(this.promised, at);
    this.promised = retryAt + interval;
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

  /** A start for one send at `limit` a second, if it is due within `maxWaitMs` (at most RATE_LIMIT_MAX_WAIT_MS). */
  acquire(limit: number, maxWaitMs: number): RateVerdict {
    return this.window.acquire(limit, Date.now(), Math.min(Math.max(0, maxWaitMs), RATE_LIMIT_MAX_WAIT_MS));
  }
}

/** What the send stage asks before sending to a limited webhook: a start within `maxWaitMs`, or when to come back. */
export interface RateLimiter {
  acquire(webhookId: string, limit: number, maxWaitMs: number): Promise<RateVerdict>;
}

export const rateLimiterOf = (namespace: DurableObjectNamespace<WebhookRateLimiter>): RateLimiter => ({
  acquire: async (webhookId, limit, maxWaitMs) => namespace.getByName(webhookId).acquire(limit, maxWaitMs),
});

/**
 * Whole seconds to keep a refused send in the queue: it comes back no sooner than its slot less the wait it may do
 * there, and never at once.
 */
export const retryDelaySeconds = (retryInMs: number) =>
  Math.max(1, Math.ceil((retryInMs - RATE_LIMIT_MAX_WAIT_MS) / 1000));
