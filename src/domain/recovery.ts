// Recovery: put an endpoint's failed deliveries back in the queue (recover), and create the deliveries it never got
// (replay). Both take a window of created_at, answer with how many deliveries they queue or create, do the first chunk
// at once and leave the rest to the cron (continueRecoveries), so no request grows with the size of the window.
//
// Each chunk is idempotent and needs its cursor only to skip ahead: a recovered delivery is no longer failed, and a
// replayed event has its delivery (one per event and endpoint, by unique index). Recover touches only deliveries that
// ended before the request, so one that fails again after being recovered is not picked up twice.
import type { Database } from "../db/client";
import type { RecoveryKind, WebhookEndpointRow } from "../db/schema";
import { invalidField } from "../lib/errors";
import { logger } from "../lib/logger";
import { toIso } from "../lib/time";
import { CANCELLED_ENDPOINT_DISABLED } from "./delivery/claim";
import type { DeliveryMessage } from "./delivery/message";
import { EVENT_TYPES, isKnownEventType, isServiceEventType, subscriptionMatches } from "./event-catalog";
import { endpointReceivesOwner, enqueueDeliveries } from "./publish";

/** Rows per chunk: one short D1 statement each. */
const RECOVERY_CHUNK_ROWS = 500;
/** Wall time one cron run spends on open recoveries; what is left waits for the next minute. */
const RECOVERY_TIME_BOX_MS = 15_000;
const DAY_MS = 24 * 3_600_000;

export interface RecoveryDeps {
  db: Database;
  queue: Queue<DeliveryMessage>;
  now: () => number;
}

export interface RecoveryWindow {
  since: number;
  until: number;
}

export interface RecoveryResult {
  webhook_id: string;
  since: string;
  until: string;
  /** Deliveries queued again (recover) or created (replay). */
  deliveries: number;
}

/**
 * The window of a recover or replay: `until` defaults to now and is capped there (what is published later reaches an
 * enabled endpoint by fan-out); `since` may not precede the retention horizon, and `until` must follow `since`.
 */
export function recoveryWindow(
  sinceIso: string,
  untilIso: string | undefined,
  now: number,
  retentionDays: number,
): RecoveryWindow {
  const since = Date.parse(sinceIso);
  const until = Math.min(untilIso === undefined ? now : Date.parse(untilIso), now);
  const horizon = now - retentionDays * DAY_MS;
  if (since < horizon)
    throw invalidField(
      ["body", "since"],
      `since is before the retention horizon: nothing older than ${toIso(horizon)} (RETENTION_DAYS = ${retentionDays}) is kept`,
    );
  if (untilIso !== undefined && Date.parse(untilIso) <= since)
    throw invalidField(["body", "until"], "until must be after since");
  if (until <= since) throw invalidField(["body", "since"], "since must be in the past");
  return { since, until };
}

/**
 * The event types a replay covers: the requested ones, each in the catalog and in the endpoint's subscription (422
 * otherwise), or by default every type the endpoint subscribes to. The service's own announcements (`webhook.*`) are
 * never replayed, as nobody may publish them: the test event went to one endpoint only, and an auto-disable notice
 * replayed later would announce something long past as news.
 */
export function replayEventTypes(
  webhook: Pick<WebhookEndpointRow, "events">,
  requested: readonly string[] | undefined,
): string[] {
  if (requested === undefined)
    return EVENT_TYPES.map((e) => e.type).filter(
      (t) => !isServiceEventType(t) && subscriptionMatches(webhook.events, t),
    );
  requested.forEach((type, i) => {
    const loc = ["body", "event_types", i];
    if (!isKnownEventType(type))
      throw invalidField(loc, `Unknown event type '${type}' (see GET /api/v1/admin/webhooks/events)`);
    if (isServiceEventType(type))
      throw invalidField(loc, `'${type}' is sent only by the webhook service itself and is never replayed`);
    if (!subscriptionMatches(webhook.events, type))
      throw invalidField(loc, `The webhook is not subscribed to '${type}'`);
  });
  return [...new Set(requested)];
}

// ---- recover ----

// The endpoint's deliveries created in [?2, ?3) that ended failed, or cancelled because the endpoint was disabled,
// before the request (?4), and whose payload is still stored. Walks deliveries_webhook_created_idx.
const RECOVERABLE = `d.webhook_id = ?1 AND d.created_at >= ?2 AND d.created_at < ?3 AND d.updated_at <= ?4
  AND (d.status = 'failed' OR (d.status = 'cancelled' AND d.last_error = '${CANCELLED_ENDPOINT_DISABLED}'))
  AND EXISTS (SELECT 1 FROM events e WHERE e.id = d.event_id AND e.payload != '')`;
const COUNT_RECOVERABLE = `SELECT count(*) AS n FROM deliveries d WHERE ${RECOVERABLE}`;
// ?2 is the job's cursor here; ?5 the time of this chunk.
const REQUEUE_CHUNK = `UPDATE deliveries SET status = 'pending', next_attempt_at = ?5, in_queue = 1, completed_at = NULL, updated_at = ?5
  WHERE id IN (SELECT d.id FROM deliveries d WHERE ${RECOVERABLE} ORDER BY d.created_at LIMIT ?6)
  RETURNING id, created_at`;

// ---- replay ----

// Events of the window the endpoint receives (the fan-out's own scope rule) of the given types (?4, a JSON array),
// with their payload and without a delivery to this endpoint. `owned` picks the index: events of the endpoint's
// tenant, or of its partner for a partner-level endpoint; the scope rule then decides.
const replayable = (owned: string) => `SELECT e.id, e.event_type, e.created_at FROM events e
  WHERE ${owned} AND e.created_at >= ?2 AND e.created_at < ?3
    AND e.event_type IN (SELECT value FROM json_each(?4)) AND e.payload != ''
    AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = ?1 AND ${endpointReceivesOwner("w", "e.tenant_id", "e.partner_id")})
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = ?1 AND d.event_id = e.id)`;
const ownedBy = (webhook: Pick<WebhookEndpointRow, "tenantId">) =>
  webhook.tenantId !== null ? "e.tenant_id = ?5" : "e.partner_id = ?5";
const ownerOf = (webhook: Pick<WebhookEndpointRow, "tenantId" | "partnerId">) => webhook.tenantId ?? webhook.partnerId;
const countReplayableSql = (webhook: WebhookEndpointRow) =>
  `SELECT count(*) AS n FROM (${replayable(ownedBy(webhook))})`;
const nextReplayable = (webhook: WebhookEndpointRow) =>
  `${replayable(ownedBy(webhook))} ORDER BY e.created_at LIMIT ?6`;
// INSERT OR IGNORE: a delivery fan-out or another chunk created meanwhile stays the only one.
const INSERT_REPLAYED = `INSERT OR IGNORE INTO deliveries
    (webhook_id, event_id, event_type, status, attempt_count, next_attempt_at, in_queue, created_at, updated_at)
  SELECT ?1, r.value ->> 'id', r.value ->> 'event_type', 'pending', 0, ?2, 1, ?2, ?2 FROM json_each(?3) AS r WHERE true
  RETURNING id`;

// ---- the job rows ----

const INSERT_JOB = `INSERT INTO webhook_recoveries (webhook_id, kind, since, until, event_types, cursor, requested_at)
  VALUES (?1, ?2, ?3, ?4, ?5, ?3, ?6) RETURNING id`;
const MOVE_JOB = `UPDATE webhook_recoveries SET cursor = max(cursor, ?2), finished_at = ?3 WHERE id = ?1`;
const OPEN_JOBS = `SELECT * FROM webhook_recoveries WHERE finished_at IS NULL ORDER BY id LIMIT ?1`;

interface RecoveryJob {
  id: number;
  webhook_id: string;
  kind: RecoveryKind;
  since: number;
  until: number;
  event_types: string | null;
  cursor: number;
  requested_at: number;
}

/** How many deliveries recoverDeliveries would queue again now (its count, for a preview before confirming). */
export async function countRecoverable(
  deps: Pick<RecoveryDeps, "db" | "now">,
  webhook: WebhookEndpointRow,
  window: RecoveryWindow,
): Promise<number> {
  const row = await deps.db.$client
    .prepare(COUNT_RECOVERABLE)
    .bind(webhook.id, window.since, window.until, deps.now())
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** How many deliveries replayEvents would create now for these event types (its count, for a preview). */
export async function countReplayable(
  deps: Pick<RecoveryDeps, "db">,
  webhook: WebhookEndpointRow,
  window: RecoveryWindow,
  eventTypes: string[],
): Promise<number> {
  const row = await deps.db.$client
    .prepare(countReplayableSql(webhook))
    .bind(webhook.id, window.since, window.until, JSON.stringify(eventTypes), ownerOf(webhook))
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Queues the endpoint's failed deliveries of the window again; answers how many. The webhook must be enabled. */
export function recoverDeliveries(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  window: RecoveryWindow,
  opts: { chunkRows?: number } = {},
) {
  return start(deps, webhook, "recover", window, null, opts.chunkRows ?? RECOVERY_CHUNK_ROWS);
}

/** Creates a delivery for every event of the window the endpoint should have had and has not; answers how many. */
export function replayEvents(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  window: RecoveryWindow,
  eventTypes: string[],
  opts: { chunkRows?: number } = {},
) {
  return start(deps, webhook, "replay", window, eventTypes, opts.chunkRows ?? RECOVERY_CHUNK_ROWS);
}

async function start(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  kind: RecoveryKind,
  window: RecoveryWindow,
  eventTypes: string[] | null,
  chunkRows: number,
): Promise<RecoveryResult> {
  const d1 = deps.db.$client;
  const requestedAt = deps.now();
  const types = JSON.stringify(eventTypes ?? []);
  // The count and the job row in one transaction: the count is what the job will do (short of later changes).
  const count =
    kind === "recover"
      ? d1.prepare(COUNT_RECOVERABLE).bind(webhook.id, window.since, window.until, requestedAt)
      : d1.prepare(countReplayableSql(webhook)).bind(webhook.id, window.since, window.until, types, ownerOf(webhook));
  const [counted, inserted] = await d1.batch<{ n?: number; id?: number }>([
    count,
    d1.prepare(INSERT_JOB).bind(webhook.id, kind, window.since, window.until, eventTypes ? types : null, requestedAt),
  ]);
  const n = counted?.results[0]?.n ?? 0;
  const job: RecoveryJob = {
    id: inserted!.results[0]!.id!,
    webhook_id: webhook.id,
    kind,
    since: window.since,
    until: window.until,
    event_types: eventTypes ? types : null,
    cursor: window.since,
    requested_at: requestedAt,
  };
  if (n === 0) await d1.prepare(MOVE_JOB).bind(job.id, job.cursor, requestedAt).run();
  else await runChunk(deps, webhook, job, chunkRows);
  logger.info(`webhook ${kind}`, {
    webhook_id: webhook.id,
    job_id: job.id,
    since: toIso(window.since),
    until: toIso(window.until),
    deliveries: n,
  });
  return { webhook_id: webhook.id, since: toIso(window.since)!, until: toIso(window.until)!, deliveries: n };
}

/** One chunk of a job: queue (or create and queue) up to `chunkRows` deliveries, move the cursor; true when done. */
async function runChunk(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  job: RecoveryJob,
  chunkRows: number,
): Promise<boolean> {
  const d1 = deps.db.$client;
  const now = deps.now();
  let ids: number[];
  let rows: number;
  let cursor: number;
  if (job.kind === "recover") {
    const { results } = await d1
      .prepare(REQUEUE_CHUNK)
      .bind(job.webhook_id, job.cursor, job.until, job.requested_at, now, chunkRows)
      .all<{ id: number; created_at: number }>();
    ids = results.map((r) => r.id);
    rows = results.length;
    cursor = Math.max(job.cursor, ...results.map((r) => r.created_at));
  } else {
    const { results: events } = await d1
      .prepare(nextReplayable(webhook))
      .bind(job.webhook_id, job.cursor, job.until, job.event_types ?? "[]", ownerOf(webhook), chunkRows)
      .all<{ id: string; event_type: string; created_at: number }>();
    rows = events.length;
    cursor = Math.max(job.cursor, ...events.map((e) => e.created_at));
    ids = [];
    if (events.length > 0) {
      const { results } = await d1
        .prepare(INSERT_REPLAYED)
        .bind(job.webhook_id, now, JSON.stringify(events))
        .all<{ id: number }>();
      ids = results.map((r) => r.id);
    }
  }
  const done = rows < chunkRows;
  await d1
    .prepare(MOVE_JOB)
    .bind(job.id, cursor, done ? now : null)
    .run();
  job.cursor = cursor;
  // Queued after the rows say so: a lost message is found by the retry sweep like any other.
  if (ids.length > 0) await enqueueDeliveries(deps.queue, ids);
  return done;
}

/**
 * The cron's part: continue open recoveries, oldest first, chunk by chunk, within RECOVERY_TIME_BOX_MS. A recovery whose
 * endpoint is disabled or deleted meanwhile stops (a later recover or replay picks up what it left).
 */
export async function continueRecoveries(
  deps: RecoveryDeps,
  opts: { chunkRows?: number; timeBoxMs?: number } = {},
): Promise<{ chunks: number; open: number }> {
  const chunkRows = opts.chunkRows ?? RECOVERY_CHUNK_ROWS;
  const deadline = deps.now() + (opts.timeBoxMs ?? RECOVERY_TIME_BOX_MS);
  const d1 = deps.db.$client;
  const { results: jobs } = await d1.prepare(OPEN_JOBS).bind(20).all<RecoveryJob>();
  let chunks = 0;
  let open = jobs.length;
  for (const job of jobs) {
    const webhook = await deps.db.query.webhookEndpoints.findFirst({ where: (w, { eq }) => eq(w.id, job.webhook_id) });
    if (!webhook?.enabled || webhook.deletedAt !== null) {
      await d1.prepare(MOVE_JOB).bind(job.id, job.cursor, deps.now()).run();
      logger.warn("recovery stopped: its webhook is disabled or deleted", {
        job_id: job.id,
        webhook_id: job.webhook_id,
      });
      open--;
      continue;
    }
    for (;;) {
      if (deps.now() >= deadline) return { chunks, open };
      chunks++;
      if (await runChunk(deps, webhook, job, chunkRows)) break;
    }
    open--;
  }
  return { chunks, open };
}
