// The queues' watermarks: per lane and shard, the latest send time of any message its consumer has received in a batch
// that touched the shard (its deliveries, or its sweep's probe). The queues serve every shard, so a shard's watermark
// is a lower bound of the queue's: it never calls a message lost that a shard's own watermark would not. A delivery whose
// message became deliverable well before the watermark, yet was never claimed, lost its message; one that became
// deliverable after it may simply be waiting behind a backlog. The sweep sends a probe message to each lane every run,
// so a watermark moves on an idle queue too, and lags exactly as much as its queue does. A delivery's message may be in
// either lane (the main lane forwards a slow webhook's messages), so the sweep reads the lower of the two.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { jobCursors } from "../db/schema";
import type { Lane } from "./delivery/lanes";

export const WATERMARK_CURSOR = "queue_watermark";
const SLOW_WATERMARK_CURSOR = "queue_watermark_slow";
const watermarkCursorOf = (lane: Lane) => (lane === "slow" ? SLOW_WATERMARK_CURSOR : WATERMARK_CURSOR);

/**
 * The body of a probe: no delivery, only its send time (the queue's own message.timestamp is what counts) and the
 * shard whose sweep sent it, whose watermark it moves (shard 0 when absent: probes from before shards).
 */
export interface WatermarkProbe {
  watermark_probe: number;
  shard?: number;
}

export const watermarkProbe = (now: number, shard = 0): WatermarkProbe =>
  shard === 0 ? { watermark_probe: now } : { watermark_probe: now, shard };

/** The shard whose watermark a probe moves. */
export const probedShard = (probe: WatermarkProbe): number =>
  Number.isSafeInteger(probe.shard) && probe.shard! >= 0 ? probe.shard! : 0;

export const isWatermarkProbe = (body: unknown): body is WatermarkProbe =>
  typeof body === "object" && body !== null && Number.isSafeInteger((body as WatermarkProbe).watermark_probe);

/** The latest send time among a batch's messages. */
export const latestSentAt = (messages: readonly { timestamp: Date }[]): number | null =>
  messages.length === 0 ? null : Math.max(...messages.map((m) => m.timestamp.getTime()));

/**
 * Moves `lane`'s watermark to `sentAt` (only forward: batches finish out of order); a query to ride in a batch run
 * anyway.
 */
export const advanceWatermark = (db: Database, sentAt: number, now: number, lane: Lane = "main") =>
  db
    .insert(jobCursors)
    .values({ name: watermarkCursorOf(lane), value: sentAt, updatedAt: now })
    .onConflictDoUpdate({
      target: jobCursors.name,
      set: { value: sql`excluded.value`, updatedAt: sql`excluded.updated_at` },
      setWhere: sql`${jobCursors.value} < excluded.value`,
    });

const MAIN_VALUE = `coalesce((SELECT value FROM job_cursors WHERE name = '${WATERMARK_CURSOR}'), 0)`;
/** The lower watermark of the two lanes (the main lane's alone until the slow lane has received anything). */
export const WATERMARK_VALUE = `min(${MAIN_VALUE}, coalesce((SELECT value FROM job_cursors WHERE name = '${SLOW_WATERMARK_CURSOR}'), ${MAIN_VALUE}))`;

/**
 * The send time of the oldest probe the consumer may not have received: a probe sent after the watermark, and still
 * after it, has been waiting since then (domain/pipeline-health). Kept only while the watermark has not passed it.
 */
export const PROBE_CURSOR = "queue_probe";

/**
 * Records a probe about to be sent at ?1 (before the send, so the queue's timestamp of it is not earlier). An earlier
 * probe stays recorded while the main lane's watermark has not passed it: what counts is how long the oldest one has
 * waited. The slow lane is left out on purpose: it carries the deliveries of receivers that time out, whose backlog is
 * their tenants' trouble, not a stalled pipeline.
 */
export const RECORD_PROBE = `INSERT INTO job_cursors (name, value, updated_at) VALUES ('${PROBE_CURSOR}', ?1, ?1)
  ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
  WHERE job_cursors.value <= ${MAIN_VALUE}`;
