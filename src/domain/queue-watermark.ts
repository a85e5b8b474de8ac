// The queue's watermark: the latest send time of any message the delivery consumer has received. A delivery whose
// message became deliverable well before the watermark, yet was never claimed, lost its message; one that became
// deliverable after it may simply be waiting behind a backlog. The sweep sends a probe message every run, so the
// watermark moves on an idle queue too, and lags exactly as much as the queue does.
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { jobCursors } from "../db/schema";

export const WATERMARK_CURSOR = "queue_watermark";

/** The body of a probe: no delivery, only its send time (the queue's own message.timestamp is what counts). */
export interface WatermarkProbe {
  watermark_probe: number;
}

export const watermarkProbe = (now: number): WatermarkProbe => ({ watermark_probe: now });

export const isWatermarkProbe = (body: unknown): body is WatermarkProbe =>
  typeof body === "object" && body !== null && Number.isSafeInteger((body as WatermarkProbe).watermark_probe);

/** The latest send time among a batch's messages. */
export const latestSentAt = (messages: readonly { timestamp: Date }[]): number | null =>
  messages.length === 0 ? null : Math.max(...messages.map((m) => m.timestamp.getTime()));

/** Moves the watermark to `sentAt` (only forward: batches finish out of order); a query to ride in a batch run anyway. */
export const advanceWatermark = (db: Database, sentAt: number, now: number) =>
  db
    .insert(jobCursors)
    .values({ name: WATERMARK_CURSOR, value: sentAt, updatedAt: now })
    .onConflictDoUpdate({
      target: jobCursors.name,
      set: { value: sql`excluded.value`, updatedAt: sql`excluded.updated_at` },
      setWhere: sql`${jobCursors.value} < excluded.value`,
    });

export const WATERMARK_VALUE = `coalesce((SELECT value FROM job_cursors WHERE name = '${WATERMARK_CURSOR}'), 0)`;

/**
 * The send time of the oldest probe the consumer may not have received: a probe sent after the watermark, and still
 * after it, has been waiting since then (domain/pipeline-health). Kept only while the watermark has not passed it.
 */
export const PROBE_CURSOR = "queue_probe";

/**
 * Records a probe about to be sent at ?1 (before the send, so the queue's timestamp of it is not earlier). An earlier
 * probe stays recorded while the watermark has not passed it: what counts is how long the oldest one has waited.
 */
export const RECORD_PROBE = `INSERT INTO job_cursors (name, value, updated_at) VALUES ('${PROBE_CURSOR}', ?1, ?1)
  ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
  WHERE job_cursors.value <= ${WATERMARK_VALUE}`;
