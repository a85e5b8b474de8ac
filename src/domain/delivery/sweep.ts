// The cron sweep: enqueue deliveries whose retry is due (long delays wait in D1, not in the queue), and re-enqueue those
// whose queue message is lost (never sent after the rows were stored, or its worker died mid-attempt). A message still
// waiting behind a backlog is not lost: a delivery counts as lost only once the consumer has received messages sent
// ORPHAN_GRACE_SECONDS after it became deliverable (the queue watermark, domain/queue-watermark). It walks the open
// deliveries (each table's partial index of them) from where the last run stopped, within its time box. Idempotent and
// safe to run concurrently: each round takes rows with one conditional UPDATE, so two sweeps never enqueue one twice.
import { sql } from "drizzle-orm";
import { isMissingTable, refreshPartitions, tablesOf } from "../../db/partitions";
import { jobCursors } from "../../db/schema";
import { logger } from "../../lib/logger";
import type { Services } from "../../lib/services";
import { OLDEST_DUE_CURSOR, OLDEST_DUE_ID_CURSOR } from "../pipeline-health";
import { enqueueDeliveries, refKey, toDeliveryRefs } from "../publish";
import { RECORD_PROBE, WATERMARK_VALUE, watermarkProbe } from "../queue-watermark";
import { queueOfLane } from "./lanes";
import { waitsInLine } from "./ordered";

const ROUND_SIZE = 500;
/** Wall time one run may take; anything left waits for the next minute. */
export const SWEEP_BUDGET_MS = 20_000;
/** The job_cursors row: the delivery id the last run stopped after (0: it went through them all). */
export const SWEEP_CURSOR = "sweep";

// Open deliveries in id order, through each table's partial index of them (the open ones only, whatever the history).
// `in_line`: the delivery waits behind an earlier one of its ordered webhook, which enqueues it when it is done.
const openAfter = (table: string) => `SELECT webhook_id, id, attempt_count, lease_until, due_at, in_queue, updated_at,
    (SELECT ${waitsInLine("w", `"${table}"`)} FROM webhook_endpoints w WHERE w.id = "${table}".webhook_id) AS in_line
  FROM "${table}" WHERE completed_at IS NULL AND id > ?1 ORDER BY id LIMIT ?2`;
// Enqueues what the run chose, only if untouched since it was read (two sweeps never enqueue one delivery twice): its
// message is due from now, so the watermark must pass now + the grace before it can be called lost again.
const takeIn = (table: string) => `UPDATE "${table}" SET in_queue = 1, due_at = ?2, updated_at = ?2
  FROM json_each(?1) AS r
  WHERE "${table}".webhook_id = r.value ->> 'w' AND "${table}".id = r.value ->> 'i'
    AND "${table}".updated_at = r.value ->> 'u' AND "${table}".completed_at IS NULL
  RETURNING "${table}".webhook_id, "${table}".id`;

interface OpenRow {
  webhook_id: string;
  id: number;
  attempt_count: number;
  lease_until: number | null;
  due_at: number;
  in_queue: number;
  updated_at: number;
  in_line?: number | null;
}

/**
 * When an open delivery became due (its due time, or the end of a lapsed lease), or null while it is not due: in
 * flight, or waiting in an ordered webhook's line.
 */
export function deliverableAt(row: OpenRow, now: number): number | null {
  if (row.lease_until !== null && row.lease_until > now) return null; // in flight
  if (row.in_line) return null;
  const at = Math.max(row.due_at, row.lease_until ?? 0);
  return at <= now ? at : null;
}

const upsertCursor = (db: Services["db"], name: string, value: number, at: number) =>
  db
    .insert(jobCursors)
    .values({ name, value, updatedAt: at })
    .onConflictDoUpdate({
      target: jobCursors.name,
      set: { value: sql`excluded.value`, updatedAt: sql`excluded.updated_at` },
    });

/**
 * What the sweep does with an open delivery: enqueue it when its retry is due and waits in D1 (`due`), or when its
 * message is lost (`lost`): the consumer has received messages sent more than the grace after the delivery became
 * deliverable (due, or its lease ended), so its own is not coming. Anything else is left alone.
 */
export function sweepVerdict(row: OpenRow, now: number, watermark: number, graceMs: number): "due" | "lost" | null {
  const at = deliverableAt(row, now);
  if (at === null) return null;
  if (!row.in_queue) return "due";
  return at <= Math.min(now, watermark) - graceMs ? "lost" : null;
}

export interface SweepResult {
  /** Deliveries enqueued: retries that waited in D1, and lost ones. */
  enqueued: number;
  /** Of those, deliveries whose message was lost. */
  lost: number;
}

/** Sweeps one shard (`services.db`); its probes name the shard, whose watermark they move. */
export async function sweepDueDeliveries(
  services: Pick<Services, "db" | "queue" | "slowQueue" | "now" | "config"> & { shard?: number },
  opts: { budgetMs?: number } = {},
): Promise<SweepResult> {
  const deadline = Date.now() + (opts.budgetMs ?? SWEEP_BUDGET_MS);
  const d1 = services.db.$client;
  let enqueued = 0;
  const lostIds: number[] = [];
  const [cursorRow, watermarkRow] = await d1.batch<{ value: number }>([
    d1.prepare("SELECT value FROM job_cursors WHERE name = ?1").bind(SWEEP_CURSOR),
    d1.prepare(`SELECT ${WATERMARK_VALUE} AS value`),
    // The probe this run sends at its end, recorded in the same batch (no round trip of its own).
    d1.prepare(RECORD_PROBE).bind(services.now()),
  ]);
  const watermark = watermarkRow?.results[0]?.value ?? 0;
  let cursor = cursorRow?.results[0]?.value ?? 0;
  // A pass that starts from the first open delivery sees the oldest ones: it records the oldest due (for /health).
  const fromStart = cursor === 0;
  let oldestDue: { at: number; id: number } | null = null;
  // Tables in id order: the deliveries table holds the oldest (ids of dropped hours), then each partition by hour.
  const tables = tablesOf("deliveries", (await refreshPartitions(d1)).hours);
  let finished = true;
  for (const table of tables) {
    for (;;) {
      if (Date.now() >= deadline) {
        finished = false;
        break;
      }
      const now = services.now();
      const { results: rows } = await d1.prepare(openAfter(table)).bind(cursor, ROUND_SIZE).all<OpenRow>();
      for (const row of rows) {
        const dueAt = deliverableAt(row, now);
        if (dueAt !== null && (oldestDue === null || dueAt < oldestDue.at)) oldestDue = { at: dueAt, id: row.id };
      }
      const chosen = rows
        .map((row) => ({ row, verdict: sweepVerdict(row, now, watermark, services.config.orphanGraceMs) }))
        .filter((c) => c.verdict !== null);
      if (chosen.length > 0) {
        const taken = await d1
          .prepare(takeIn(table))
          .bind(JSON.stringify(chosen.map(({ row }) => ({ w: row.webhook_id, i: row.id, u: row.updated_at }))), now)
          .all<{ webhook_id: string; id: number }>()
          .catch((err) => {
            if (isMissingTable(err)) return { results: [] }; // dropped meanwhile: its open rows moved to deliveries
            throw err;
          });
        const refs = toDeliveryRefs(taken.results);
        if (refs.length > 0) await enqueueDeliveries(services.queue, refs);
        enqueued += refs.length;
        const takenKeys = new Set(refs.map(refKey));
        lostIds.push(
          ...chosen
            .filter((c) => c.verdict === "lost" && takenKeys.has(refKey({ webhookId: c.row.webhook_id, id: c.row.id })))
            .map((c) => c.row.id),
        );
      }
      if (rows.length > 0) cursor = rows[rows.length - 1]!.id;
      if (rows.length < ROUND_SIZE) break;
    }
    if (!finished) break;
  }
  const at = services.now();
  await services.db.batch([
    upsertCursor(services.db, SWEEP_CURSOR, finished ? 0 : cursor, at),
    ...(fromStart
      ? [
          upsertCursor(services.db, OLDEST_DUE_CURSOR, oldestDue?.at ?? 0, at),
          upsertCursor(services.db, OLDEST_DUE_ID_CURSOR, oldestDue?.id ?? 0, at),
        ]
      : []),
  ]);
  // A probe moves its lane's watermark once the consumer reaches it: at once on an idle queue, later behind a backlog.
  for (const lane of ["main", "slow"] as const) {
    try {
      await queueOfLane(services, lane).send(watermarkProbe(services.now(), services.shard), {
        contentType: "json",
      });
    } catch (err) {
      logger.error("could not send the queue watermark probe", { lane, error: String(err) });
    }
  }
  if (enqueued > 0) logger.info("retry sweep", { enqueued, lost: lostIds.length });
  if (lostIds.length > 0)
    logger.warn("re-enqueued deliveries whose queue message was lost", {
      delivery_ids: lostIds.slice(0, 50),
      count: lostIds.length,
    });
  return { enqueued, lost: lostIds.length };
}
