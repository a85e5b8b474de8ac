import { groupByShard, hasShard, onShard, shardOfWebhook } from "../../db/shards";
import { logger } from "../../lib/logger";
import { type DeliveryRef, enqueueDeliveries, refKey } from "../publish";
import { type ClaimedAttempt, type Claims, claimDeliveries, refOfClaim } from "./claim";
import type { DeliveryDeps } from "./deps";
import { markSlowStatement } from "./endpoint-health";
import { type Lane, queueOfLane } from "./lanes";
import { rateGate } from "./rate-gate";
import { type AttemptOutcome, recordAttempts } from "./record";
import { releaseInShards } from "./release";
import { afterAttempts, type RequeueDeps } from "./requeue";
import { type SentAttempt, sendClaimedAttempt } from "./send";
import { runInSlots } from "./send-slots";

/** How long a finished attempt may wait to be recorded with others still in flight (one D1 round trip for all). */
export const RECORD_GATHER_MS = 1_000;

/**
 * Attempts delivery `deliveryId` once if it is due, and queues what follows (a short retry, an auto-disable's
 * announcement, a failure warning). For the test event, `allowDisabled` reaches a disabled endpoint and
 * `goneDisables: false` reports a 410 without disabling (the caller is watching). A send its webhook's rate limit
 * refuses goes back on the queue for its slot (`rate_limited`).
 */
export async function attemptDeliveryNow(
  deps: DeliveryDeps & Pick<RequeueDeps, "queue" | "slowQueue">,
  delivery: DeliveryRef,
  opts: { allowDisabled?: boolean; goneDisables?: boolean } = {},
): Promise<AttemptOutcome> {
  const outcome = await attemptDelivery(deps, delivery, opts);
  await afterAttempts(deps, [outcome]);
  return outcome;
}

/** The stages of one attempt without the requeue: claim, send, record (tests drive single attempts with it). */
export async function attemptDelivery(
  deps: DeliveryDeps & Pick<RequeueDeps, "queue" | "slowQueue">,
  delivery: DeliveryRef,
  opts: { allowDisabled?: boolean; goneDisables?: boolean } = {},
): Promise<AttemptOutcome> {
  const shard = onShard(deps, shardOfWebhook(delivery.webhookId));
  const { claimed, skipped } = await claimDeliveries(shard, [delivery], opts);
  const [claim] = claimed;
  if (!claim) return { kind: "skipped", reason: skipped[0]?.reason ?? "not_found" };
  const gate = rateGate(shard, "main");
  if (!(await gate.admit(claim))) {
    const { failed } = await gate.release();
    if (failed !== null) throw failed.error;
    return { kind: "skipped", reason: "rate_limited" };
  }
  const [outcome] = await recordAttempts(shard, [await sendClaimedAttempt(shard, claim)], opts);
  return outcome!;
}

/** How a group's deliveries end, told as they do (a caller acks or retries their queue messages). */
export interface GroupProgress {
  /**
   * Nothing more to do for these: attempted and recorded (retries enqueued), handed over (sent or being sent, their
   * lease protects them), forwarded to another lane, finished, not due, or cancelled.
   */
  settled(deliveries: readonly DeliveryRef[]): void;
  /** Processing these failed (D1 or queue trouble, a secret that cannot be opened): they must be attempted again. */
  failed(deliveries: readonly DeliveryRef[], err: unknown): void;
}

/**
 * How long every send slot may be held before the main lane gives up on the batch's unstarted sends: the batch behind
 * this one waits that long (locally; in production, this invocation's slot of the consumer's concurrency). A receiver
 * that takes longer is served by the slow lane until it answers (its holders are marked slow; an answer clears that).
 */
export const SEND_SLOT_PATIENCE_MS = 500;
/** What a batch hands over must end within waitUntil's 30 s: a send of up to this timeout, then its recording. */
export const HAND_OVER_MAX_TIMEOUT_MS = 25_000;

/**
 * Attempts every due delivery among `refs`: claims them all at once, sends `concurrency` at a time (send-slots.ts),
 * records the attempts in groups (all of them together when the receivers answer quickly), then enqueues their
 * retries. Every delivery ends either settled or failed.
 *
 * The slow lane waits for its sends. The main lane hands over once every claimed attempt has started: it settles them
 * all and returns what is still running (sends in flight and their recording) for the caller to keep alive
 * (ctx.waitUntil), so a batch never waits for its slowest receiver. Its leases, not its messages, protect the attempts
 * from then on. Should every slot stay held for SEND_SLOT_PATIENCE_MS, the unstarted attempts are released and
 * forwarded (to the slow lane when their webhook is the one holding the slots).
 */
export async function attemptDeliveries(
  deps: DeliveryDeps & Pick<RequeueDeps, "queue" | "slowQueue">,
  refs: readonly DeliveryRef[],
  progress: GroupProgress,
  opts: { lane: Lane; concurrency: number; watermarkSentAt?: number | null },
): Promise<{ stillRunning: Promise<void> | null }> {
  const claims = await claimInShards(deps, refs, progress, {
    sendWaves: Math.ceil(refs.length / opts.concurrency),
    watermarkSentAt: opts.watermarkSentAt,
    lane: opts.lane,
  });
  const skipped = claims.skipped;
  progress.settled(skipped.filter((s) => s.reason !== "slow_lane").map((s) => s.ref)); // finished, not due, cancelled
  // A slow webhook's deliveries go to the slow lane while the batch's own sends start.
  const forwarding = forward(
    deps,
    "slow",
    skipped.filter((s) => s.reason === "slow_lane").map((s) => s.ref),
    progress,
  );

  const report = reportOnce(progress);
  const recorder = gatherRecordings(deps, report);
  const gate = rateGate(deps, opts.lane);
  const handsOver = opts.lane === "main" && deps.config.deliveryTimeoutMs <= HAND_OVER_MAX_TIMEOUT_MS;
  const run = runInSlots(claims.claimed, {
    slots: opts.concurrency,
    keyOf: (claim) => claim.endpoint.id,
    patienceMs: handsOver ? SEND_SLOT_PATIENCE_MS : null,
    send: async (claim, pause) => {
      try {
        if (await gate.admit(claim, pause)) recorder.add(await sendClaimedAttempt(deps, claim));
      } catch (err) {
        report.failed([refOfClaim(claim)], err); // e.g. a secret that cannot be opened; the lease lapses and the sweep retries
      }
    },
  });
  const stillRunning = run.allFinished.then(() => recorder.flush());
  // What the rate limits refused goes back on the queue once every send has asked (settled then, or retried).
  const deferring = run.allStarted.then(async () => {
    const { released, failed } = await gate.release();
    report.settled(released);
    if (failed !== null) report.failed(failed.refs, failed.error);
  });
  if (!handsOver) {
    await Promise.all([stillRunning, forwarding, deferring]);
    return { stillRunning: null };
  }
  const [{ unstarted, stuck }] = await Promise.all([run.allStarted, forwarding, deferring]);
  report.handOver(claims.claimed.filter((c) => !unstarted.includes(c)).map(refOfClaim));
  if (unstarted.length > 0) await releaseUnstarted(deps, unstarted, stuck, progress);
  return { stillRunning };
}

/**
 * Claims `refs` in the shards that hold them, one claim (one round trip) per shard, all at once; the batch then sends
 * them through one set of send slots. A shard whose claim fails fails only its own deliveries.
 */
async function claimInShards(
  deps: DeliveryDeps,
  refs: readonly DeliveryRef[],
  progress: GroupProgress,
  opts: Parameters<typeof claimDeliveries>[2],
): Promise<Claims> {
  const claims: Claims = { claimed: [], skipped: [] };
  await Promise.all(
    [...groupByShard(refs, (r) => r.webhookId)].map(async ([shard, group]) => {
      if (!hasShard(deps, shard)) {
        // A message naming a shard this deployment does not have: nothing can ever be found for it.
        logger.error("delivery messages name no shard of this deployment; dropped", { shard, count: group.length });
        claims.skipped.push(...group.map((ref) => ({ ref, reason: "not_found" as const })));
        return;
      }
      try {
        const claimed = await claimDeliveries(onShard(deps, shard), group, opts);
        claims.claimed.push(...claimed.claimed);
        claims.skipped.push(...claimed.skipped);
      } catch (err) {
        progress.failed(group, err);
      }
    }),
  );
  return claims;
}

/** Acks or retries each delivery once; after the hand-over, what ends later is only logged (its lease holds it). */
function reportOnce(progress: GroupProgress) {
  const reported = new Set<string>();
  let handedOver = false;
  const once = (refs: readonly DeliveryRef[]) =>
    refs.filter((ref) => !reported.has(refKey(ref)) && reported.add(refKey(ref)));
  return {
    settled(refs: readonly DeliveryRef[]) {
      if (!handedOver) progress.settled(once(refs));
    },
    failed(refs: readonly DeliveryRef[], err: unknown) {
      if (!handedOver) progress.failed(once(refs), err);
      else
        logger.warn("attempts failed after the hand-over; their lease lapses and the sweep retries them", {
          delivery_ids: refs.map((r) => r.id),
          error: String(err),
        });
    },
    handOver(refs: readonly DeliveryRef[]) {
      progress.settled(once(refs));
      handedOver = true;
    },
  };
}

/** Puts deliveries on `lane`'s queue; their messages here are settled once that is done (retried if it failed). */
async function forward(
  deps: Pick<RequeueDeps, "queue" | "slowQueue">,
  lane: Lane,
  refs: readonly DeliveryRef[],
  progress: GroupProgress,
) {
  if (refs.length === 0) return;
  if (await enqueueDeliveries(queueOfLane(deps, lane), refs)) progress.settled(refs);
  else progress.failed(refs, new Error(`could not forward to the ${lane} lane`));
}

/**
 * Attempts that never got a slot: their claims are released (due now) and their webhooks' holders marked slow in one
 * D1 batch, then they are forwarded, to the slow lane when their own webhook held the slots. Were the release to fail,
 * their leases hold them until the sweep re-enqueues them.
 */
async function releaseUnstarted(
  deps: DeliveryDeps & Pick<RequeueDeps, "queue" | "slowQueue">,
  unstarted: readonly ClaimedAttempt[],
  stuck: readonly ClaimedAttempt[],
  progress: GroupProgress,
) {
  const slowWebhooks = new Set(stuck.map((c) => c.endpoint.id));
  const now = deps.now();
  const { released: forwarded, failed } = await releaseInShards(deps, unstarted, {
    what: "unsent",
    now,
    more: (db, shard) => [
      markSlowStatement(
        db,
        [...slowWebhooks].filter((id) => shardOfWebhook(id) === shard),
        now,
      ),
    ],
  });
  for (const f of failed) progress.failed(f.claims.map(refOfClaim), f.error);
  if (forwarded.length === 0) return;
  logger.warn("send slots held by slow receivers; unsent attempts forwarded", {
    slow_webhook_ids: [...slowWebhooks].join(","),
    delivery_ids: forwarded.map((c) => c.deliveryId),
  });
  const toSlow = forwarded.filter((c) => slowWebhooks.has(c.endpoint.id)).map(refOfClaim);
  await forward(deps, "slow", toSlow, progress);
  await forward(deps, "main", forwarded.filter((c) => !slowWebhooks.has(c.endpoint.id)).map(refOfClaim), progress);
}

/** Sent attempts wait up to RECORD_GATHER_MS for others, then are recorded together. */
function gatherRecordings(deps: DeliveryDeps & Pick<RequeueDeps, "queue" | "slowQueue">, progress: GroupProgress) {
  const unrecorded: SentAttempt[] = [];
  const recordings: Promise<void>[] = [];
  let gatherTimer: ReturnType<typeof setTimeout> | undefined;
  const recordGathered = () => {
    if (gatherTimer !== undefined) clearTimeout(gatherTimer);
    gatherTimer = undefined;
    const group = unrecorded.splice(0);
    if (group.length > 0) recordings.push(recordGroup(deps, group, progress));
  };
  return {
    add(sent: SentAttempt) {
      unrecorded.push(sent);
      gatherTimer ??= setTimeout(recordGathered, RECORD_GATHER_MS);
    },
    /** Records what is left and waits for every recording. */
    async flush() {
      recordGathered();
      await Promise.all(recordings);
    },
  };
}

/** Records a group's attempts, one batch per shard that holds them (at once); a shard that fails fails only its own. */
async function recordGroup(
  deps: DeliveryDeps & Pick<RequeueDeps, "queue" | "slowQueue">,
  group: SentAttempt[],
  progress: GroupProgress,
): Promise<void> {
  await Promise.all(
    [...groupByShard(group, (s) => s.claim.endpoint.id)].map(async ([shard, sent]) => {
      const refs = sent.map((s) => refOfClaim(s.claim));
      let outcomes: AttemptOutcome[];
      try {
        outcomes = await recordAttempts(onShard(deps, shard), sent);
      } catch (err) {
        progress.failed(refs, err);
        return;
      }
      await afterAttempts(deps, outcomes);
      progress.settled(refs);
    }),
  );
}
