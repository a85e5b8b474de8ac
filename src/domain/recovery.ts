// Recovery: put an endpoint's failed deliveries back in the queue (recover), and create the deliveries it never got
// (replay). Both take a window of created_at, answer with how many deliveries they queue or create, do the first chunk
// at once and leave the rest to the cron (continueRecoveries), so no request grows with the size of the window.
//
// A job walks its window an hour at a time, over D1 (the hot window) and the archive (history). Each hour is
// idempotent: a recovered delivery in the hot window is no longer failed, an archived one is sent again once
// (resent_deliveries), and a replayed event is skipped once the webhook has a delivery of it. Recover touches only
// deliveries that ended before the request, so one that fails again after being recovered is not picked up twice.
import type { Database } from "../db/client";
import {
  DAY_MS,
  firstDeliveryIdAt,
  groupByTable,
  HOUR_MS,
  hourOf,
  listPartitionHours,
  withPartitions,
} from "../db/partitions";
import { EVENT_COLUMNS, type StoredEventRow, withPayloadText } from "../db/payload";
import type { DeliveryRow, EventRow, RecoveryKind, WebhookEndpointRow } from "../db/schema";
import { allShards, type ShardScoped } from "../db/shards";
import type { Config } from "../lib/config";
import { invalidField } from "../lib/errors";
import { logger } from "../lib/logger";
import { toIso } from "../lib/time";
import {
  archivedComboCounts,
  archivedEntries,
  archivedEventCounts,
  readArchivedDeliveries,
  readArchivedEvents,
} from "./archive/read";
import { deliveryEvent } from "./deliveries";
import { CANCELLED_ENDPOINT_DISABLED } from "./delivery/claim";
import type { DeliveryMessage } from "./delivery/message";
import { reopenStatement } from "./delivery/ordered";
import { hotSince } from "./delivery/requeue";
import { type Resend, storeResends } from "./delivery/resend";
import { deliveryRowOf, type RawDeliveryRow } from "./delivery-views";
import { EVENT_TYPES, isKnownEventType, isServiceEventType, subscriptionMatches } from "./event-catalog";
import { type DeliveryRef, endpointReceivesOwner, enqueueDeliveries, ownerKeyOf, toDeliveryRefs } from "./publish";

/** Wall time one cron run spends on open recoveries; what is left waits for the next minute. */
export const RECOVERY_TIME_BOX_MS = 15_000;

/** `db` and `archive` are the webhook's shard's; a partner's webhook also reads its tenants' events in other shards. */
export interface RecoveryDeps extends ShardScoped {
  db: Database;
  queue: Queue<DeliveryMessage>;
  archive: R2Bucket | null;
  config: Pick<Config, "hotWindowHours" | "retentionDays">;
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
  /** The created_at the job has reached: always the start of an hour once it has begun. */
  cursor: number;
  requested_at: number;
}

/** Queues the endpoint's failed deliveries of the window again; answers how many. The webhook must be enabled. */
export function recoverDeliveries(deps: RecoveryDeps, webhook: WebhookEndpointRow, window: RecoveryWindow) {
  return start(deps, webhook, "recover", window, null);
}

/** Creates a delivery for every event of the window the endpoint should have had and has not; answers how many. */
export function replayEvents(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  window: RecoveryWindow,
  eventTypes: string[],
) {
  return start(deps, webhook, "replay", window, eventTypes);
}

async function start(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  kind: RecoveryKind,
  window: RecoveryWindow,
  eventTypes: string[] | null,
): Promise<RecoveryResult> {
  const d1 = deps.db.$client;
  const requestedAt = deps.now();
  const types = eventTypes ? JSON.stringify(eventTypes) : null;
  const n =
    kind === "recover"
      ? await countRecoverable(deps, webhook, window, requestedAt)
      : await countReplayable(deps, webhook, window, eventTypes ?? []);
  const id = (
    await d1
      .prepare(INSERT_JOB)
      .bind(webhook.id, kind, window.since, window.until, types, requestedAt)
      .first<{ id: number }>()
  )?.id;
  const job: RecoveryJob = {
    id: id!,
    webhook_id: webhook.id,
    kind,
    since: window.since,
    until: window.until,
    event_types: types,
    cursor: window.since,
    requested_at: requestedAt,
  };
  if (n === 0) await d1.prepare(MOVE_JOB).bind(job.id, job.until, requestedAt).run();
  else await runChunk(deps, webhook, job);
  logger.info(`webhook ${kind}`, {
    webhook_id: webhook.id,
    job_id: job.id,
    since: toIso(window.since),
    until: toIso(window.until),
    deliveries: n,
  });
  return { webhook_id: webhook.id, since: toIso(window.since)!, until: toIso(window.until)!, deliveries: n };
}

// ---- recover ----

/** Whether a finished delivery is one recover sends again: failed, or cancelled because its webhook was disabled. */
const recoverable = (d: Pick<DeliveryRow, "status" | "lastError">) =>
  d.status === "failed" || (d.status === "cancelled" && d.lastError === CANCELLED_ENDPOINT_DISABLED);
const RECOVERABLE_SQL = `(status = 'failed' OR (status = 'cancelled' AND last_error = '${CANCELLED_ENDPOINT_DISABLED}'))`;

/**
 * How many deliveries a recover of the window queues: those in D1 that ended recoverable before the request, plus the
 * archive's (its counts, by status, for the whole hours of the window; the archive is history, so all ended before),
 * less the archived ones already sent again.
 */
export async function countRecoverable(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  window: RecoveryWindow,
  requestedAt: number,
): Promise<number> {
  const d1 = deps.db.$client;
  const [hot, resent] = await d1.batch<{ n: number }>([
    d1
      .prepare(
        `SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = ?1 AND created_at >= ?2 AND created_at < ?3
           AND completed_at <= ?4 AND ${RECOVERABLE_SQL}`,
      )
      .bind(webhook.id, window.since, window.until, requestedAt),
    d1
      .prepare(
        "SELECT count(*) AS n FROM resent_deliveries WHERE webhook_id = ?1 AND delivery_id >= ?2 AND delivery_id < ?3",
      )
      .bind(webhook.id, firstDeliveryIdAt(window.since), firstDeliveryIdAt(window.until)),
  ]);
  let n = (hot?.results[0]?.n ?? 0) - (resent?.results[0]?.n ?? 0);
  if (deps.archive) {
    const entries = await archivedEntries(
      { db: deps.db, archive: deps.archive },
      webhook.id,
      {},
      window.since,
      window.until,
    );
    const byCombo = await archivedComboCounts({ db: deps.db, archive: deps.archive }, webhook.id, entries);
    n += byCombo.failed + byCombo.cancelledDisabled;
  }
  return Math.max(0, n);
}

/**
 * Recovers one hour of the window: deliveries in the hot window go back in the queue in place; older ones (history,
 * in D1 or the archive) are sent again as new deliveries, each once (resent_deliveries).
 */
async function recoverHour(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  job: RecoveryJob,
  from: number,
  to: number,
) {
  const d1 = deps.db.$client;
  const now = deps.now();
  const hotSinceMs = hotSince(deps.config, now);
  const { results } = await d1
    .prepare(
      `SELECT * FROM deliveries_live WHERE webhook_id = ?1 AND created_at >= ?2 AND created_at < ?3
         AND completed_at <= ?4 AND ${RECOVERABLE_SQL}`,
    )
    .bind(webhook.id, from, to, job.requested_at)
    .all<RawDeliveryRow>();
  const hotRows = results.map(deliveryRowOf);
  const inPlace = hotRows.filter((d) => d.completedAt! >= hotSinceMs);
  const history: DeliveryRow[] = hotRows.filter((d) => d.completedAt! < hotSinceMs);
  if (deps.archive) {
    const store = { db: deps.db, archive: deps.archive };
    const entries = await archivedEntries(store, webhook.id, {}, from, to);
    history.push(...(await readArchivedDeliveries(store, webhook.id, entries, {})).filter(recoverable));
  }
  const queued: DeliveryRef[] = [];
  if (inPlace.length > 0) {
    // An ordered webhook's deliveries take their places in its line again (ordered.ts): the reopen goes first.
    const reopen = webhook.ordered ? [reopenStatement(d1, webhook.id, Math.min(...inPlace.map((d) => d.id)), now)] : [];
    const requeued = await withPartitions(d1, (live) =>
      d1.batch<{ webhook_id: string; id: number }>([
        ...reopen,
        ...[...groupByTable(live, inPlace, (d) => d.id)].map(([table, group]) =>
          d1
            .prepare(
              `UPDATE "${table}" SET status = 'pending', due_at = ?2, in_queue = 1, lease_until = NULL,
                 completed_at = NULL, updated_at = ?2
               FROM json_each(?1) AS r
               WHERE "${table}".webhook_id = r.value ->> 'w' AND "${table}".id = r.value ->> 'i'
                 AND ${RECOVERABLE_SQL.replaceAll("status", `"${table}".status`).replaceAll("last_error", `"${table}".last_error`)}
                 AND "${table}".completed_at <= ?3 AND "${table}".completed_at >= ?4
               RETURNING "${table}".webhook_id, "${table}".id`,
            )
            .bind(JSON.stringify(group.map((d) => ({ w: d.webhookId, i: d.id }))), now, job.requested_at, hotSinceMs),
        ),
      ]),
    );
    queued.push(...requeued.slice(reopen.length).flatMap((r) => toDeliveryRefs(r.results)));
  }
  if (history.length > 0) {
    const { results: resent } = await d1
      .prepare(
        `SELECT delivery_id FROM resent_deliveries WHERE webhook_id = ?1
           AND delivery_id IN (SELECT value FROM json_each(?2))`,
      )
      .bind(webhook.id, JSON.stringify(history.map((d) => d.id)))
      .all<{ delivery_id: number }>();
    const done = new Set(resent.map((r) => r.delivery_id));
    const resends: Resend[] = [];
    // In publish order: the new deliveries' ids follow it, which is the order an ordered webhook's line sends them.
    history.sort((a, b) => a.id - b.id);
    for (const d of history) {
      if (done.has(d.id)) continue;
      const event = await deliveryEvent({ ...deps, archive: deps.archive }, d);
      if (event) resends.push({ webhookId: webhook.id, retryOf: d.id, event });
    }
    queued.push(...(await storeResends(d1, now, resends)));
  }
  return queued;
}

// ---- replay ----

/**
 * The owners whose events reach `webhook` (fan-out's scope rule), by the shard that holds their events: its tenant (in
 * the webhook's own shard), or its partner (likewise) and the partner's tenants per each shard's directory, wherever
 * they live (db/shards.ts). `home` is whether the shard is the webhook's.
 */
async function ownersOf(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
): Promise<{ shard: RecoveryDeps; home: boolean; owners: string[] }[]> {
  if (webhook.tenantId !== null) return [{ shard: deps, home: true, owners: [ownerKeyOf(webhook.tenantId, null)] }];
  return Promise.all(
    allShards(deps).map(async (shard) => {
      const home = shard.db === deps.db;
      const { results } = await shard.db.$client
        .prepare("SELECT tenant_id FROM tenant_partners WHERE partner_id = ?1")
        .bind(webhook.partnerId)
        .all<{ tenant_id: string }>();
      const tenants = results.map((r) => ownerKeyOf(r.tenant_id, null));
      return { shard, home, owners: home ? [ownerKeyOf(null, webhook.partnerId), ...tenants] : tenants };
    }),
  );
}

/**
 * How many deliveries a replay of the window creates: the events of the webhook's owners of the given types published
 * in the window (D1's and the archive's counts), less the deliveries the webhook has of those types in the window.
 * Events reach a webhook as they are published, so the two line up; the job itself checks each event.
 */
export async function countReplayable(
  deps: RecoveryDeps,
  webhook: WebhookEndpointRow,
  window: RecoveryWindow,
  eventTypes: readonly string[],
): Promise<number> {
  const d1 = deps.db.$client;
  const types = JSON.stringify(eventTypes);
  let n = 0;
  for (const { shard, owners } of await ownersOf(deps, webhook))
    if (owners.length > 0) n += await countEventsOf(shard, owners, window, types, eventTypes);
  const got = await d1
    .prepare(
      `SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = ?1 AND created_at >= ?2 AND created_at < ?3
         AND event_type IN (SELECT value FROM json_each(?4))`,
    )
    .bind(webhook.id, window.since, window.until, types)
    .first<{ n: number }>();
  n -= got?.n ?? 0;
  if (deps.archive) {
    const store = { db: deps.db, archive: deps.archive };
    const entries = await archivedEntries(store, webhook.id, {}, window.since, window.until);
    const byCombo = await archivedComboCounts(store, webhook.id, entries, eventTypes);
    n -= byCombo.all;
  }
  return Math.max(0, n);
}

/** The events of `owners` of the given types published in the window, in one shard: D1's and the archive's. */
async function countEventsOf(
  shard: RecoveryDeps,
  owners: readonly string[],
  window: RecoveryWindow,
  types: string,
  eventTypes: readonly string[],
): Promise<number> {
  const d1 = shard.db.$client;
  // With an archive, D1's events older than its oldest partition are in the archive too if their hour was sealed from
  // its partition (sealing an hour archives every event of it; one stored again by a resend is a copy of an archived
  // one): D1 counts those from that partition on. Events of an hour never sealed (rows from before partitions existed,
  // which migration 0010 moved into the events table) are in D1 alone until the storage job archives them.
  const live = shard.archive ? await listPartitionHours(d1) : [];
  const eventsFrom = shard.archive
    ? Math.max(window.since, live.length > 0 ? live[0]! * HOUR_MS : Number.MAX_SAFE_INTEGER)
    : window.since;
  const events = await d1
    .prepare(
      `SELECT count(DISTINCT owner_key || ' ' || event_id) AS n FROM events_live e
       WHERE owner_key IN (SELECT value FROM json_each(?1)) AND created_at >= ?2 AND created_at < ?3
         AND event_type IN (SELECT value FROM json_each(?4))
         AND (created_at >= ?5 OR NOT EXISTS (SELECT 1 FROM archive_hours h, json_each(h.chunks) c
           WHERE h.kind = 'events' AND h.hour = e.created_at / ${HOUR_MS} AND c.key NOT LIKE 'L%'))`,
    )
    .bind(JSON.stringify(owners), window.since, window.until, types, eventsFrom)
    .first<{ n: number }>();
  let n = events?.n ?? 0;
  if (shard.archive) {
    const store = { db: shard.db, archive: shard.archive };
    for (const owner of owners)
      for (const { n: k } of await archivedEventCounts(store, owner, eventTypes, window.since, window.until)) n += k;
  }
  return n;
}

/** Replays one hour of the window: its events the webhook receives and has no delivery of, each as a new delivery. */
async function replayHour(deps: RecoveryDeps, webhook: WebhookEndpointRow, job: RecoveryJob, from: number, to: number) {
  const d1 = deps.db.$client;
  const types: string[] = JSON.parse(job.event_types ?? "[]");
  const candidates: EventRow[] = [];
  for (const { shard, home, owners } of await ownersOf(deps, webhook)) {
    if (owners.length === 0) continue;
    const events = await eventsOf(shard, owners, types, from, to);
    if (!home) {
      // Another shard's tenants of the webhook's partner, per that shard's directory: fan-out's rule for them.
      candidates.push(...events);
      continue;
    }
    // Fan-out's own rule decides, per owner pair the events carry (the directory may have moved a tenant since).
    const receives = new Map<string, boolean>();
    for (const e of events) {
      const key = `${e.tenantId ?? ""}\n${e.partnerId ?? ""}`;
      if (receives.has(key)) continue;
      const row = await d1
        .prepare(
          `SELECT 1 AS ok FROM webhook_endpoints w WHERE w.id = ?1 AND ${endpointReceivesOwner("w", "?2", "?3")}`,
        )
        .bind(webhook.id, e.tenantId, e.partnerId)
        .first();
      receives.set(key, row !== null);
    }
    candidates.push(...events.filter((e) => receives.get(`${e.tenantId ?? ""}\n${e.partnerId ?? ""}`)));
  }
  if (candidates.length === 0) return [];
  const already = await eventsDeliveredTo(deps, webhook.id, candidates, from);
  const resends = candidates
    .filter((e) => !already.has(e.eventId))
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((event): Resend => ({ webhookId: webhook.id, retryOf: null, event }));
  return storeResends(d1, deps.now(), resends);
}

/** The events of `owners` of `types` created in [from, to), in one shard: D1's, and the archive's of that hour. */
async function eventsOf(
  shard: RecoveryDeps,
  owners: readonly string[],
  types: readonly string[],
  from: number,
  to: number,
): Promise<EventRow[]> {
  const { results: stored } = await shard.db.$client
    .prepare(
      `SELECT ${EVENT_COLUMNS}
       FROM events_live WHERE owner_key IN (SELECT value FROM json_each(?1)) AND created_at >= ?2 AND created_at < ?3
         AND event_type IN (SELECT value FROM json_each(?4))`,
    )
    .bind(JSON.stringify(owners), from, to, JSON.stringify(types))
    .all<StoredEventRow>();
  const hot = await withPayloadText(stored);
  const events = new Map(hot.map((e) => [`${e.ownerKey}\n${e.eventId}`, e]));
  if (shard.archive) {
    const store = { db: shard.db, archive: shard.archive };
    for (const owner of owners)
      for (const e of await readArchivedEvents(store, owner, hourOf(from)))
        if (e.createdAt >= from && e.createdAt < to && types.includes(e.eventType))
          events.set(`${e.ownerKey}\n${e.eventId}`, e);
  }
  return [...events.values()];
}

/**
 * Which of `events` the webhook already has a delivery of (created at or after `since`: events reach a webhook as they
 * are published or later): its rows in D1, then, for the rest, the archive's event-id hashes day by day, each hit
 * confirmed by reading its section.
 */
async function eventsDeliveredTo(
  deps: RecoveryDeps,
  webhookId: string,
  events: readonly EventRow[],
  since: number,
): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const d1 = deps.db.$client;
  const ids = JSON.stringify(events.map((e) => e.eventId));
  const { results } = await d1
    .prepare(
      "SELECT DISTINCT event_id FROM deliveries_live WHERE webhook_id = ?1 AND event_id IN (SELECT value FROM json_each(?2))",
    )
    .bind(webhookId, ids)
    .all<{ event_id: string }>();
  const found = new Set(results.map((r) => r.event_id));
  if (deps.archive) {
    const store = { db: deps.db, archive: deps.archive };
    for (const e of events) {
      if (found.has(e.eventId)) continue;
      const entries = await archivedEntries(store, webhookId, { eventId: e.eventId }, since, deps.now() + HOUR_MS);
      if (entries.length === 0) continue;
      const lines = await readArchivedDeliveries(store, webhookId, entries, { eventId: e.eventId });
      if (lines.length > 0) found.add(e.eventId);
    }
  }
  return found;
}

// ---- running a job ----

/** One chunk of a job: the next hour of its window; true when the window is done. */
async function runChunk(deps: RecoveryDeps, webhook: WebhookEndpointRow, job: RecoveryJob): Promise<boolean> {
  const d1 = deps.db.$client;
  const from = job.cursor;
  const to = Math.min(job.until, (hourOf(from) + 1) * HOUR_MS);
  const refs =
    job.kind === "recover"
      ? await recoverHour(deps, webhook, job, from, to)
      : await replayHour(deps, webhook, job, from, to);
  const done = to >= job.until;
  await d1
    .prepare(MOVE_JOB)
    .bind(job.id, to, done ? deps.now() : null)
    .run();
  job.cursor = to;
  // Queued after the rows say so: a lost message is found by the retry sweep like any other.
  if (refs.length > 0) await enqueueDeliveries(deps.queue, refs);
  return done;
}

/**
 * The cron's part: continue open recoveries, oldest first, hour by hour, within RECOVERY_TIME_BOX_MS. A recovery whose
 * endpoint is disabled or deleted meanwhile stops (a later recover or replay picks up what it left).
 */
export async function continueRecoveries(
  deps: RecoveryDeps,
  opts: { timeBoxMs?: number } = {},
): Promise<{ chunks: number; open: number }> {
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
      if (await runChunk(deps, webhook, job)) break;
    }
    open--;
  }
  return { chunks, open };
}
