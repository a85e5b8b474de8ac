// The delivery archive: finished deliveries older than the hot window move from D1 to R2 (the ARCHIVE bucket), each
// with its attempts and its payload, as one NDJSON object per endpoint and hour, indexed by a row of delivery_archives.
// D1 then holds only recent deliveries and, for idempotent publish, the ids of recent events; the deliveries API reads
// D1 first, then the archive. See docs/storage-and-capacity.md for the numbers behind this.
import type { Database } from "../db/client";
import type { DeliveryArchiveRow, DeliveryAttemptRow, DeliveryRow, DeliveryStatus } from "../db/schema";
import { canonicalJson } from "../lib/canonical-json";
import { toIso } from "../lib/time";
import { toPublicAttempt, toPublicDelivery } from "./delivery-views";
import { HOUR_MS, STATS_CURSOR } from "./stats/aggregate";

export const ARCHIVE_CURSOR = "archive";
const ACTIVE: DeliveryStatus[] = ["pending", "retrying"];

/** One archived delivery: what GET …/deliveries/{id} answers, its payload as the text that was signed and sent. */
export type ArchivedDelivery = ReturnType<typeof toPublicDelivery> & {
  payload: string | null;
  attempts: ReturnType<typeof toPublicAttempt>[];
};

const cursorValue = (name: string) => `coalesce((SELECT value FROM job_cursors WHERE name = '${name}'), 0)`;

// The next deliveries past the cursor, by primary key, with their payloads; their attempts in a second statement.
const NEXT_DELIVERIES = `SELECT d.*, e.payload AS payload FROM deliveries d JOIN events e ON e.id = d.event_id
  WHERE d.id > ?1 ORDER BY d.id LIMIT ?2`;
const ATTEMPTS_OF = `SELECT * FROM delivery_attempts WHERE delivery_id IN (SELECT value FROM json_each(?1)) ORDER BY delivery_id, attempt_number`;

// Every write of a step is guarded by the cursor it started from and moves it last, in one batch (one transaction):
// of two concurrent steps over the same rows, the second changes nothing.
const guard = (param: string) => `${cursorValue(ARCHIVE_CURSOR)} = ${param}`;
const INSERT_INDEX = `INSERT INTO delivery_archives (webhook_id, first_id, last_id, hour_start, object_key, succeeded, failed, cancelled)
  SELECT r.value ->> 'webhook_id', r.value ->> 'first_id', r.value ->> 'last_id', r.value ->> 'hour_start', r.value ->> 'object_key',
    r.value ->> 'succeeded', r.value ->> 'failed', r.value ->> 'cancelled'
  FROM json_each(?1) AS r WHERE ${guard("?2")}
  ON CONFLICT (webhook_id, last_id) DO NOTHING`;
const DELETE_ATTEMPTS = `DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT value FROM json_each(?1)) AND ${guard("?2")}`;
// A delivery that changed since it was read (a manual retry) stays in D1.
const DELETE_DELIVERIES = `DELETE FROM deliveries WHERE (id, updated_at) IN (
    SELECT r.value ->> 'id', r.value ->> 'updated_at' FROM json_each(?1) AS r) AND ${guard("?2")}`;
// The event row stays for idempotent publish until retention; its payload goes once no delivery in D1 needs it.
const RELEASE_PAYLOADS = `UPDATE events SET payload = '' WHERE id IN (SELECT value FROM json_each(?1)) AND payload != ''
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id) AND ${guard("?2")}`;
const MOVE_CURSOR = `INSERT INTO job_cursors (name, value, updated_at) VALUES ('${ARCHIVE_CURSOR}', ?1, ?3)
  ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at WHERE job_cursors.value = ?2`;

export interface ArchiveStepResult {
  /** Deliveries this step moved to the archive. */
  archived: number;
  /** Their attempts, moved with them. */
  attempts: number;
  objects: number;
  /** Why the step stopped short of its row limit: nothing older than the hot window, an active delivery, the rollup, an hour's end. */
  stoppedAt: "young" | "active" | "rollup" | "hour" | "limit" | "empty";
}

const hourOf = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;
const objectKey = (webhookId: string, hourStart: number, firstId: number, lastId: number) =>
  `deliveries/${webhookId}/${toIso(hourStart)!.slice(0, 13)}/${firstId}-${lastId}.ndjson`;

/**
 * Moves the next finished deliveries past the `archive` cursor, created before `cutoff` and within one hour, to R2.
 * Stops at the first delivery still active (the archive keeps id order, so the deliveries API can read D1 then R2) and
 * at attempts the stats rollup has not counted yet (the rollup reads D1).
 */
export async function archiveStep(
  deps: { db: Database; archive: R2Bucket; now: number },
  cutoff: number,
  maxRows: number,
): Promise<ArchiveStepResult> {
  const d1 = deps.db.$client;
  const cursors = await d1
    .prepare(`SELECT ${cursorValue(ARCHIVE_CURSOR)} AS archive, ${cursorValue(STATS_CURSOR)} AS stats`)
    .first<{ archive: number; stats: number }>();
  const { archive: cursor, stats: statsCursor } = cursors ?? { archive: 0, stats: 0 };
  const { results: rows } = await d1
    .prepare(NEXT_DELIVERIES)
    .bind(cursor, maxRows)
    .all<RawDelivery & { payload: string }>();
  if (rows.length === 0) return { archived: 0, attempts: 0, objects: 0, stoppedAt: "empty" };
  const { results: attemptRows } = await d1
    .prepare(ATTEMPTS_OF)
    .bind(JSON.stringify(rows.map((r) => r.id)))
    .all<RawAttempt>();
  const attemptsOf = new Map<number, RawAttempt[]>();
  for (const a of attemptRows) attemptsOf.set(a.delivery_id, [...(attemptsOf.get(a.delivery_id) ?? []), a]);

  const hour = hourOf(rows[0]!.created_at);
  const taken: (RawDelivery & { payload: string })[] = [];
  let stoppedAt: ArchiveStepResult["stoppedAt"] = rows.length < maxRows ? "young" : "limit";
  for (const row of rows) {
    const reason =
      row.created_at >= cutoff
        ? "young"
        : ACTIVE.includes(row.status)
          ? "active"
          : (attemptsOf.get(row.id) ?? []).some((a) => a.id > statsCursor)
            ? "rollup"
            : hourOf(row.created_at) !== hour
              ? "hour"
              : null;
    if (reason) {
      stoppedAt = reason;
      break;
    }
    taken.push(row);
  }
  if (taken.length === 0) return { archived: 0, attempts: 0, objects: 0, stoppedAt };

  const byWebhook = new Map<string, (RawDelivery & { payload: string })[]>();
  for (const row of taken) byWebhook.set(row.webhook_id, [...(byWebhook.get(row.webhook_id) ?? []), row]);
  const index: IndexRow[] = [];
  await Promise.all(
    [...byWebhook].map(async ([webhookId, list]) => {
      const firstId = list[0]!.id;
      const lastId = list[list.length - 1]!.id;
      const key = objectKey(webhookId, hour, firstId, lastId);
      const lines = list.map((row) => JSON.stringify(toArchivedDelivery(row, attemptsOf.get(row.id) ?? [])));
      await deps.archive.put(key, `${lines.join("\n")}\n`, { httpMetadata: { contentType: "application/x-ndjson" } });
      const count = (status: DeliveryStatus) => list.filter((r) => r.status === status).length;
      index.push({
        webhook_id: webhookId,
        first_id: firstId,
        last_id: lastId,
        hour_start: hour,
        object_key: key,
        succeeded: count("success"),
        failed: count("failed"),
        cancelled: count("cancelled"),
      });
    }),
  );
  const lastId = taken[taken.length - 1]!.id;
  const ids = JSON.stringify(taken.map((r) => r.id));
  const [inserted, attemptsDeleted] = await d1.batch([
    d1.prepare(INSERT_INDEX).bind(JSON.stringify(index), cursor),
    d1.prepare(DELETE_ATTEMPTS).bind(ids, cursor),
    d1
      .prepare(DELETE_DELIVERIES)
      .bind(JSON.stringify(taken.map((r) => ({ id: r.id, updated_at: r.updated_at }))), cursor),
    d1.prepare(RELEASE_PAYLOADS).bind(JSON.stringify([...new Set(taken.map((r) => r.event_id))]), cursor),
    d1.prepare(MOVE_CURSOR).bind(lastId, cursor, deps.now),
  ]);
  // Another step moved the cursor first: what this one wrote to R2 is the same objects, or unreferenced ones.
  if ((inserted?.meta.changes ?? 0) === 0) return { archived: 0, attempts: 0, objects: 0, stoppedAt };
  return { archived: taken.length, attempts: attemptsDeleted?.meta.changes ?? 0, objects: index.length, stoppedAt };
}

// ---- Reading back ----

/** The objects holding rows `offset`.. of the endpoint's archive (newest first, counting only `status` when given). */
const OBJECTS_FROM = `SELECT * FROM (
    SELECT object_key, first_id, last_id, sum(n) OVER (ORDER BY last_id DESC) AS through, n
    FROM (SELECT object_key, first_id, last_id, CASE ?2 WHEN 'success' THEN succeeded WHEN 'failed' THEN failed
      WHEN 'cancelled' THEN cancelled ELSE succeeded + failed + cancelled END AS n
      FROM delivery_archives WHERE webhook_id = ?1))
  WHERE through > ?3 AND n > 0 ORDER BY last_id DESC LIMIT ?4`;
const OBJECT_OF = `SELECT object_key FROM delivery_archives WHERE webhook_id = ?1 AND last_id >= ?2 AND first_id <= ?2 ORDER BY last_id LIMIT 1`;

export type ArchiveTotals = { success: number; failed: number; cancelled: number };
export const archivedCount = (totals: ArchiveTotals, status: DeliveryStatus | undefined) =>
  status === undefined
    ? totals.success + totals.failed + totals.cancelled
    : status in totals
      ? totals[status as keyof ArchiveTotals]
      : 0;

/** Archived deliveries `offset`..`offset + limit` of the endpoint, newest first. */
export async function readArchivedPage(
  deps: { db: Database; archive: R2Bucket },
  webhookId: string,
  status: DeliveryStatus | undefined,
  offset: number,
  limit: number,
): Promise<ArchivedDelivery[]> {
  const d1 = deps.db.$client;
  // A page spans few objects: ask for enough of them to cover `limit` rows even if every object held one.
  const { results } = await d1
    .prepare(OBJECTS_FROM)
    .bind(webhookId, status ?? null, offset, limit)
    .all<{ object_key: string; through: number; n: number }>();
  const out: ArchivedDelivery[] = [];
  for (const object of results) {
    let rows = await readObject(deps.archive, object.object_key);
    if (status) rows = rows.filter((r) => r.status === status);
    rows.reverse();
    const skip = Math.max(0, offset - (object.through - object.n));
    out.push(...rows.slice(skip, skip + limit - out.length));
    if (out.length >= limit) break;
  }
  return out;
}

/** One archived delivery of the endpoint, or null. */
export async function readArchivedDelivery(
  deps: { db: Database; archive: R2Bucket },
  webhookId: string,
  deliveryId: number,
): Promise<ArchivedDelivery | null> {
  const row = await deps.db.$client.prepare(OBJECT_OF).bind(webhookId, deliveryId).first<{ object_key: string }>();
  if (!row) return null;
  return (await readObject(deps.archive, row.object_key)).find((d) => d.id === deliveryId) ?? null;
}

async function readObject(archive: R2Bucket, key: string): Promise<ArchivedDelivery[]> {
  const object = await archive.get(key);
  // An index row without its object: retention deletes objects first, so this is a row about to go.
  if (!object) return [];
  return (await object.text())
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const delivery = JSON.parse(line) as Omit<ArchivedDelivery, "payload"> & { payload: unknown };
      // Objects archived before payloads were kept as text hold the parsed payload: written back as canonical JSON.
      const { payload } = delivery;
      return {
        ...delivery,
        payload: payload === null || typeof payload === "string" ? payload : canonicalJson(payload),
      };
    });
}

// ---- Retention of the archive ----

const EXPIRED = `SELECT webhook_id, last_id, object_key FROM delivery_archives WHERE hour_start < ?1 ORDER BY hour_start LIMIT ?2`;
const DELETE_INDEX_ROWS = `DELETE FROM delivery_archives WHERE (webhook_id, last_id) IN (
  SELECT r.value ->> 'webhook_id', r.value ->> 'last_id' FROM json_each(?1) AS r)`;
/** R2 deletes at most 1,000 keys per call. */
export const R2_DELETE_LIMIT = 1000;

/** Deletes up to `limit` archive objects of hours before `cutoff`, objects first, then their index rows. */
export async function deleteExpiredArchives(
  deps: { db: Database; archive: R2Bucket },
  cutoff: number,
  limit: number,
): Promise<number> {
  const d1 = deps.db.$client;
  const { results } = await d1
    .prepare(EXPIRED)
    .bind(cutoff, Math.min(limit, R2_DELETE_LIMIT))
    .all<{ webhook_id: string; last_id: number; object_key: string }>();
  if (results.length === 0) return 0;
  await deps.archive.delete(results.map((r) => r.object_key));
  await d1
    .prepare(DELETE_INDEX_ROWS)
    .bind(JSON.stringify(results.map(({ webhook_id, last_id }) => ({ webhook_id, last_id }))))
    .run();
  return results.length;
}

// ---- Row shapes as SQLite returns them (raw statements, snake_case) ----

type IndexRow = { [K in keyof DeliveryArchiveRow as SnakeCase<K & string>]: DeliveryArchiveRow[K] };
type SnakeCase<S extends string> = S extends `${infer H}${infer T}`
  ? `${H extends Lowercase<H> ? H : `_${Lowercase<H>}`}${SnakeCase<T>}`
  : S;

interface RawDelivery {
  id: number;
  webhook_id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempt_count: number;
  next_attempt_at: number | null;
  in_queue: number;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
  last_error_class: DeliveryRow["lastErrorClass"];
}
interface RawAttempt {
  id: number;
  delivery_id: number;
  webhook_id: string;
  attempt_number: number;
  started_at: number;
  duration_ms: number;
  success: number;
  status_code: number | null;
  error_class: DeliveryAttemptRow["errorClass"];
  error_message: string | null;
  response_excerpt: string | null;
}

function toArchivedDelivery(row: RawDelivery & { payload: string }, attempts: RawAttempt[]): ArchivedDelivery {
  const delivery: DeliveryRow = {
    id: row.id,
    webhookId: row.webhook_id,
    eventKey: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attemptCount: row.attempt_count,
    nextAttemptAt: row.next_attempt_at,
    inQueue: row.in_queue === 1,
    lastAttemptAt: row.last_attempt_at,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    lastErrorClass: row.last_error_class,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    completedAt: row.completed_at,
  };
  return {
    ...toPublicDelivery(delivery),
    payload: row.payload || null, // the stored text: an NDJSON string keeps it byte for byte
    attempts: attempts.map((a) =>
      toPublicAttempt({
        id: a.id,
        deliveryId: a.delivery_id,
        webhookId: a.webhook_id,
        attemptNumber: a.attempt_number,
        startedAt: a.started_at,
        durationMs: a.duration_ms,
        success: a.success === 1,
        statusCode: a.status_code,
        errorClass: a.error_class,
        errorMessage: a.error_message,
        responseExcerpt: a.response_excerpt,
        responseHeaders: null, // the portal's detail; the archive keeps the API's view of an attempt
      }),
    ),
  };
}
