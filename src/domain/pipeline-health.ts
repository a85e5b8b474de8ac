// How far behind the delivery pipeline is, read from what it already records: the oldest due delivery (as the retry
// sweep found it on its last full pass over the open deliveries, and whether it is still waiting), the queue watermark
// and the oldest probe still waiting (job_cursors), and the cron jobs' runs (job_runs). One D1 batch of indexed reads,
// never a scan of deliveries; /health and the operations view both read it. The queries on deliveries live here only,
// so a change of their storage changes this module.
import type { Database } from "../db/client";
import type { DeliveryStatus, JobOutcome, JobRunRow } from "../db/schema";
import { isOverdue, type JobName, SCHEDULED_JOBS } from "./job-runs";
import { PROBE_CURSOR, WATERMARK_CURSOR } from "./queue-watermark";

/** The oldest active delivery whose attempt is due (its due time, or the end of its lease, has passed). */
export interface OldestDueDelivery {
  id: number;
  webhookId: string;
  status: DeliveryStatus;
  attemptCount: number;
  dueAt: number;
}

export interface PipelineState {
  oldestDue: OldestDueDelivery | null;
  /** The latest send time of a message the consumer has received (null: none yet). */
  watermark: number | null;
  /** The send time of the oldest probe not yet known to be received (null: none sent). */
  probeSentAt: number | null;
  jobRuns: JobRunRow[];
}

/** The job_cursors rows the sweep records at the end of a full pass: the oldest due delivery's due time, and its id. */
export const OLDEST_DUE_CURSOR = "oldest_due";
export const OLDEST_DUE_ID_CURSOR = "oldest_due_id";

// The delivery the sweep found, if it still waits: open, and not claimed since (no lease running). Through the open
// deliveries' index of each table (an id may repeat across webhooks: the oldest open one of that id counts).
const OLDEST_DUE = `SELECT d.id, d.webhook_id, d.status, d.attempt_count, c.value AS due_at
  FROM job_cursors c JOIN job_cursors i ON i.name = '${OLDEST_DUE_ID_CURSOR}'
  JOIN deliveries_live d ON d.id = i.value AND d.completed_at IS NULL AND (d.lease_until IS NULL OR d.lease_until < ?1)
  WHERE c.name = '${OLDEST_DUE_CURSOR}' AND c.value > 0 AND c.value <= ?1
  LIMIT 1`;
const QUEUE_CURSORS = `SELECT name, value FROM job_cursors WHERE name IN ('${WATERMARK_CURSOR}', '${PROBE_CURSOR}')`;
const JOB_RUNS = `SELECT name, registered_at, last_started_at, last_finished_at, last_outcome, last_error_class,
    last_succeeded_at
  FROM job_runs WHERE name IN (${SCHEDULED_JOBS.map((job) => `'${job.name}'`).join(", ")})`;

/** The statements of one pipeline read, to run alone (readPipelineState) or inside a larger batch. */
export const pipelineStatements = (db: Database, now: number): D1PreparedStatement[] => {
  const d1 = db.$client;
  return [d1.prepare(OLDEST_DUE).bind(now), d1.prepare(QUEUE_CURSORS), d1.prepare(JOB_RUNS)];
};

type Row = Record<string, unknown>;

/** The state from the results of pipelineStatements, in their order. */
export function pipelineStateOf([oldestDue, cursors, runs]: readonly D1Result<Row>[]): PipelineState {
  const due = oldestDue?.results[0];
  const cursor = (name: string) => (cursors?.results.find((r) => r.name === name)?.value as number | undefined) ?? null;
  return {
    oldestDue: due
      ? {
          id: due.id as number,
          webhookId: due.webhook_id as string,
          status: due.status as DeliveryStatus,
          attemptCount: due.attempt_count as number,
          dueAt: due.due_at as number,
        }
      : null,
    watermark: cursor(WATERMARK_CURSOR),
    probeSentAt: cursor(PROBE_CURSOR),
    jobRuns: (runs?.results ?? []).map((r) => ({
      name: r.name as string,
      registeredAt: r.registered_at as number,
      lastStartedAt: r.last_started_at as number | null,
      lastFinishedAt: r.last_finished_at as number | null,
      lastOutcome: r.last_outcome as JobOutcome | null,
      lastErrorClass: r.last_error_class as string | null,
      lastSucceededAt: r.last_succeeded_at as number | null,
    })),
  };
}

/** The pipeline's state in one D1 round trip. */
export async function readPipelineState(db: Database, now: number): Promise<PipelineState> {
  return pipelineStateOf(await db.$client.batch<Row>(pipelineStatements(db, now)));
}

/** How long the oldest due delivery has waited for its attempt; 0 when none is due. */
export const deliveryLagMs = (state: PipelineState, now: number) =>
  state.oldestDue ? Math.max(0, now - state.oldestDue.dueAt) : 0;

/** The send time of the oldest probe still waiting for the consumer: recorded, and not yet passed by the watermark. */
export const waitingProbeSentAt = (state: PipelineState): number | null =>
  state.probeSentAt !== null && state.probeSentAt > (state.watermark ?? 0) ? state.probeSentAt : null;

/**
 * How long the oldest probe the consumer has not received has waited; 0 when the watermark has passed every recorded
 * probe. The sweep sends one a minute, so this sees a consumer that stopped even on an idle queue; after a pause of
 * the crons it starts from the next probe, never from the old watermark. Only one probe is recorded at a time, so
 * behind a steady backlog it climbs to the backlog's depth and starts again from the next probe; deliveryLagMs is the
 * steady measure of a backlog.
 */
export const queueLagMs = (state: PipelineState, now: number) => {
  const waitingSince = waitingProbeSentAt(state);
  return waitingSince === null ? 0 : Math.max(0, now - waitingSince);
};

/** The cron jobs that have not completed a run within three of their periods (isOverdue). */
export const overdueJobs = (state: PipelineState, now: number): JobName[] =>
  SCHEDULED_JOBS.filter((job) =>
    isOverdue(
      job,
      state.jobRuns.find((r) => r.name === job.name),
      now,
    ),
  ).map((job) => job.name);

/**
 * Open deliveries by status, counted through each table's index of open deliveries and stopping at `limit` (a count of
 * `limit` means at least that many): bounded whatever the backlog.
 */
export const ACTIVE_DELIVERY_COUNTS = `SELECT count(*) AS active, coalesce(sum(status = 'retrying'), 0) AS retrying
  FROM (SELECT status FROM deliveries_live WHERE completed_at IS NULL LIMIT ?1)`;
