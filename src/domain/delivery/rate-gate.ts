// The send stage's rate gate: right before a limited webhook's send, its Durable Object grants the send a start time
// (rate-limit.ts). A send refused is not an attempt: its claim is released (attempt number back, still pending or
// retrying, nothing counted) and the delivery goes back on the queue for its slot, or waits in D1 for the sweep when
// that is far. Webhooks without a limit pass straight through.
import { logger } from "../../lib/logger";
import { type DeliveryRef, SEND_BATCH_LIMIT } from "../publish";
import { type ClaimedAttempt, type DueAgain, refOfClaim } from "./claim";
import type { DeliveryDeps } from "./deps";
import { type Lane, type LaneQueues, queueOfLane } from "./lanes";
import { type DeliveryMessage, deliveryMessage } from "./message";
import { RATE_LIMIT_MAX_WAIT_MS, type RateVerdict, retryDelaySeconds } from "./rate-limit";
import { QUEUE_DELAY_LIMIT_SECONDS } from "./record";
import { releaseInShards } from "./release";

/** When the limiter cannot be asked, the send waits this long and asks again: a limit is never passed by default. */
const LIMITER_UNAVAILABLE_RETRY_MS = 5_000;

/** What a send slot waits on that is not the receiver (send-slots.ts): the limiter's answer, a near start. */
type Pause = <R>(waiting: Promise<R>) => Promise<R>;
const noPause: Pause = (waiting) => waiting;

export interface RateGate {
  /** Asks the limiter before a send; waits for a near slot (through `pause`). False: refused, held for `release`. */
  admit(claim: ClaimedAttempt, pause?: Pause): Promise<boolean>;
  /**
   * Once every admission has been asked: releases the refused claims in one D1 batch per shard that holds them (at
   * once) and puts their deliveries back on `lane`'s queue, delayed until their slots (one sendBatch). Answers the
   * refused that are released, and those whose release failed with its error (their leases then hold them until the
   * sweep re-enqueues them).
   */
  release(): Promise<{ released: DeliveryRef[]; failed: { refs: DeliveryRef[]; error: unknown } | null }>;
}

export function rateGate(deps: DeliveryDeps & LaneQueues<DeliveryMessage>, lane: Lane): RateGate {
  // Sends wait in the batch for starts due within a second of its start, no later (real time, as the slots count it).
  const waitsUntil = Date.now() + RATE_LIMIT_MAX_WAIT_MS;
  const admissions: Promise<unknown>[] = [];
  const refused: { claim: ClaimedAttempt; retryInMs: number }[] = [];
  const ask = async (claim: ClaimedAttempt, limit: number, pause: Pause): Promise<boolean> => {
    let verdict: RateVerdict;
    try {
      verdict = await pause(deps.rateLimiter.acquire(claim.endpoint.id, limit, waitsUntil - Date.now()));
    } catch (err) {
      logger.warn("rate limiter unavailable; the send waits", { webhook_id: claim.endpoint.id, error: String(err) });
      verdict = { retryInMs: LIMITER_UNAVAILABLE_RETRY_MS };
    }
    if ("retryInMs" in verdict) {
      refused.push({ claim, retryInMs: verdict.retryInMs });
      return false;
    }
    if (verdict.sendInMs > 0) await pause(new Promise((resolve) => setTimeout(resolve, verdict.sendInMs)));
    return true;
  };
  return {
    admit(claim, pause = noPause) {
      const limit = claim.endpoint.rateLimit;
      if (limit === null) return Promise.resolve(true);
      const admission = ask(claim, limit, pause);
      admissions.push(admission.catch(() => {}));
      return admission;
    },
    async release() {
      await Promise.all(admissions);
      if (refused.length === 0) return { released: [], failed: null };
      const now = deps.now();
      const later = new Map<ClaimedAttempt, DueAgain & { delaySeconds: number }>();
      for (const { claim, retryInMs } of refused) {
        const delaySeconds = retryDelaySeconds(retryInMs);
        later.set(claim, { dueAt: now + retryInMs, inQueue: delaySeconds <= QUEUE_DELAY_LIMIT_SECONDS, delaySeconds });
      }
      const { released: claims, failed } = await releaseInShards(
        deps,
        refused.map((r) => r.claim),
        { what: "rate-limited", now, dueOf: (c) => later.get(c)! },
      );
      const refs = claims.map(refOfClaim);
      const messages = claims
        .filter((c) => later.get(c)!.inQueue)
        .map((c) => ({
          body: deliveryMessage({ webhookId: c.endpoint.id, id: c.deliveryId }),
          delaySeconds: later.get(c)!.delaySeconds,
          contentType: "json" as const,
        }));
      try {
        for (let i = 0; i < messages.length; i += SEND_BATCH_LIMIT)
          await queueOfLane(deps, lane).sendBatch(messages.slice(i, i + SEND_BATCH_LIMIT));
      } catch (err) {
        // Their rows say when they are due and that a message carries them: the sweep finds them lost and re-enqueues.
        logger.error("could not re-enqueue rate-limited deliveries; the sweep will", {
          delivery_ids: refs.map((r) => r.id),
          error: String(err),
        });
      }
      logger.debug("rate limit: sends deferred", {
        webhook_ids: [...new Set(refs.map((r) => r.webhookId))].join(","),
        deferred: refs.length,
      });
      const failedRefs = failed.flatMap((f) => f.claims.map(refOfClaim));
      return { released: refs, failed: failed.length > 0 ? { refs: failedRefs, error: failed[0]!.error } : null };
    },
  };
}
