// The stages put together: claim (claim.ts) → send (send.ts) → record (record.ts) → requeue (requeue.ts).
// attemptDelivery does one delivery (the test event); attemptDeliveries a group (the queue consumer's batch), claiming
// and recording in one D1 round trip each.
import type { DeliveryRef } from "../publish";
import { type ClaimedAttempt, type Claims, claimDeliveries } from "./claim";
import type { DeliveryDeps } from "./deps";
import { type AttemptOutcome, recordAttempts } from "./record";
import { afterAttempts, type RequeueDeps } from "./requeue";
import { type SentAttempt, sendClaimedAttempt } from "./send";

/** How long a finished attempt may wait to be recorded with others still in flight (one D1 round trip for all). */
export const RECORD_GATHER_MS = 1_000;

/**
 * Attempts delivery `deliveryId` once if it is due: claim, send, record. For the test event, `allowDisabled` reaches a
 * disabled endpoint and `goneDisables: false` reports a 410 without disabling (the caller is watching).
 */
export async function attemptDelivery(
  deps: DeliveryDeps,
  delivery: DeliveryRef,
  opts: { allowDisabled?: boolean; goneDisables?: boolean } = {},
): Promise<AttemptOutcome> {
  const { claimed, skipped } = await claimDeliveries(deps, [delivery], opts);
  const [claim] = claimed;
  if (!claim) return { kind: "skipped", reason: skipped[0]?.reason ?? "not_found" };
  const [outcome] = await recordAttempts(deps, [await sendClaimedAttempt(deps, claim)], opts);
  return outcome!;
}

/** How a group's deliveries end, told as they do (a caller acks or retries their queue messages). */
export interface GroupProgress {
  /** Nothing more to do for these: attempted and recorded (retries enqueued), finished, not due, or cancelled. */
  settled(deliveries: readonly DeliveryRef[]): void;
  /** Processing these failed (D1 or queue trouble, a secret that cannot be opened): they must be attempted again. */
  failed(deliveries: readonly DeliveryRef[], err: unknown): void;
}

/**
 * Attempts every due delivery among `ids`: claims them all at once, sends `concurrency` at a time, records the attempts
 * in groups (all of them together when the receivers answer quickly), then enqueues their retries. Every id ends
 * either settled or failed.
 */
export async function attemptDeliveries(
  deps: DeliveryDeps & Pick<RequeueDeps, "queue">,
  refs: readonly DeliveryRef[],
  concurrency: number,
  progress: GroupProgress,
  opts: { watermarkSentAt?: number | null } = {},
): Promise<void> {
  let claims: Claims;
  try {
    claims = await claimDeliveries(deps, refs, {
      sendWaves: Math.ceil(refs.length / concurrency),
      watermarkSentAt: opts.watermarkSentAt,
    });
  } catch (err) {
    progress.failed(refs, err);
    return;
  }
  progress.settled(claims.skipped.map((s) => s.ref)); // finished, not due (a duplicate message) or cancelled as unsendable

  const recorder = gatherRecordings(deps, progress);
  await forEachBounded(claims.claimed, concurrency, async (claim) => {
    try {
      recorder.add(await sendClaimedAttempt(deps, claim));
    } catch (err) {
      progress.failed([refOf(claim)], err); // e.g. a secret that cannot be opened; the lease lapses and the sweep retries
    }
  });
  await recorder.flush();
}

/** Sent attempts wait up to RECORD_GATHER_MS for others, then are recorded together. */
function gatherRecordings(deps: DeliveryDeps & Pick<RequeueDeps, "queue">, progress: GroupProgress) {
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

async function recordGroup(
  deps: DeliveryDeps & Pick<RequeueDeps, "queue">,
  group: SentAttempt[],
  progress: GroupProgress,
): Promise<void> {
  const refs = group.map((s) => refOf(s.claim));
  let outcomes: AttemptOutcome[];
  try {
    outcomes = await recordAttempts(deps, group);
  } catch (err) {
    progress.failed(refs, err);
    return;
  }
  await afterAttempts(deps, outcomes);
  progress.settled(refs);
}

const refOf = (claim: ClaimedAttempt): DeliveryRef => ({ webhookId: claim.endpoint.id, id: claim.deliveryId });

async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
