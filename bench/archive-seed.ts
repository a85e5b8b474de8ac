// Archived history written through the real archive code, for the volume bench (bench/volume/run.mjs): deliveries (and
// optionally their events) of the given webhooks, hour by hour, as the seal would write them: each hour's rows sorted by
// webhook and id, cut into chunks of CHUNK_ROWS, each chunk put to R2 by writeDeliveryChunk / writeEventChunk and indexed
// in D1 by the statements they return. Only the rows are made up (a seeded mix of outcomes, event types, status codes
// and error classes); what is stored, and how, is the service's own. Bench-only (bench/instrumented.ts serves it).

import { mulberry32 } from "../scripts/lib/prng.mjs";
import { HOUR_MS, ID_TIME_FACTOR } from "../src/db/partitions";
import type { AttemptRecord, DeliveryStatus, ErrorClass } from "../src/db/schema";
import { CHUNK_ROWS } from "../src/domain/archive/seal";
import {
  type ArchiveDeps,
  type DeliveryLine,
  type EventLine,
  writeDeliveryChunk,
  writeEventChunk,
} from "../src/domain/archive/write";
import { CANCELLED_ENDPOINT_DISABLED } from "../src/domain/delivery/claim";

export interface ArchiveSeedRequest {
  /** Hours since the epoch to write (each once: a second call for the same hour would add a second chunk). */
  hours: number[];
  webhooks: { webhook_id: string; tenant_id: string; per_hour: number }[];
  seed: number;
  /** Also archive each delivery's event (one per delivery), with a payload of `payload_bytes`. */
  with_events?: boolean;
  payload_bytes?: number;
}

/** The mix of archived outcomes (shares of deliveries). */
const EVENT_TYPES: [string, number][] = [
  ["user.created", 0.4],
  ["user.updated", 0.3],
  ["session.created", 0.2],
  ["group.member_added", 0.1],
];
const FAILURES: [number | null, ErrorClass, string, number][] = [
  [500, "http_5xx", "HTTP 500", 0.35],
  [503, "http_5xx", "HTTP 503", 0.25],
  [404, "http_4xx", "HTTP 404", 0.1],
  [null, "timeout", "timeout: no response within 15000 ms", 0.2],
  [null, "connection_refused", "connection_refused: connect ECONNREFUSED", 0.1],
];
const SUCCESS_SHARE = 0.94;
const FAILED_SHARE = 0.05; // the rest (1%) cancelled
const RETRIED_SUCCESS_SHARE = 0.2; // of successes: failed once (503), then succeeded
const FULL_SCHEDULE_ATTEMPTS = 6;

const pick = <T>(r: number, table: readonly (readonly [...unknown[], number])[]): T => {
  let acc = 0;
  for (const row of table) {
    acc += row[row.length - 1] as number;
    if (r < acc) return row as unknown as T;
  }
  return table[table.length - 1] as unknown as T;
};

/** An event id as ScaiKey makes them (evt_ and 20 characters), derived from the hour and the index. */
const seededEventId = (hour: number, i: number) =>
  `evt_${hour.toString(36)}${i.toString(36).padStart(5, "0")}`.padEnd(24, "Q");

const attempt = (
  n: number,
  at: number,
  ok: boolean,
  code: number | null,
  cls: ErrorClass | null,
  error: string | null,
) =>
  ({
    attempt: n,
    started_at: at,
    duration_ms: ok ? 80 : cls === "timeout" ? 15000 : 120,
    success: ok,
    status_code: code,
    error_class: cls,
    error,
    response_body: ok ? "ok" : code === null ? null : `<html><body><h1>${code}</h1>Service error</body></html>`,
  }) satisfies AttemptRecord;

function deliveryOf(prng: () => number, webhookId: string, tenantId: string, hour: number, i: number, n: number) {
  const createdAt = hour * HOUR_MS + Math.floor(((i + 0.5) * HOUR_MS) / n);
  const [eventType] = pick<[string, number]>(prng(), EVENT_TYPES);
  const outcome = prng();
  let status: DeliveryStatus;
  let attempts: AttemptRecord[];
  let lastStatusCode: number | null;
  let lastErrorClass: ErrorClass | null = null;
  let lastError: string | null = null;
  if (outcome < SUCCESS_SHARE) {
    status = "success";
    const code = prng() < 0.85 ? 200 : 204;
    attempts =
      prng() < RETRIED_SUCCESS_SHARE
        ? [
            attempt(1, createdAt, false, 503, "http_5xx", "HTTP 503"),
            attempt(2, createdAt + 60_000, true, code, null, null),
          ]
        : [attempt(1, createdAt, true, code, null, null)];
    lastStatusCode = code;
  } else if (outcome < SUCCESS_SHARE + FAILED_SHARE) {
    status = "failed";
    const [code, cls, error] = pick<[number | null, ErrorClass, string, number]>(prng(), FAILURES);
    attempts = Array.from({ length: FULL_SCHEDULE_ATTEMPTS }, (_, k) =>
      attempt(k + 1, createdAt + k * 600_000, false, code, cls, error),
    );
    lastStatusCode = code;
    lastErrorClass = cls;
    lastError = error;
  } else {
    status = "cancelled";
    attempts = [];
    lastStatusCode = null;
    lastError = prng() < 0.5 ? CANCELLED_ENDPOINT_DISABLED : "endpoint deleted";
  }
  const last = attempts[attempts.length - 1];
  const completedAt = (last ? last.started_at + last.duration_ms : createdAt) + 1;
  const row: DeliveryLine = {
    webhookId,
    id: createdAt * ID_TIME_FACTOR,
    eventOwner: `t:${tenantId}`,
    eventId: seededEventId(hour, i),
    eventHour: hour,
    eventType,
    status,
    attemptCount: attempts.length,
    leaseUntil: null,
    dueAt: last?.started_at ?? createdAt,
    inQueue: false,
    lastAttemptAt: last?.started_at ?? null,
    lastStatusCode,
    lastErrorClass,
    lastError,
    attempts,
    retryOf: null,
    createdAt,
    updatedAt: completedAt,
    completedAt,
  };
  return row;
}

/** A canonical-JSON envelope of about `bytes` bytes, shaped like ScaiKey's. */
function payloadOf(d: DeliveryLine, tenantId: string, bytes: number) {
  const head = `{"actor":{"id":null,"type":"system"},"data":{"blob":"`;
  const tail = `"},"event_id":"${d.eventId}","event_type":"${d.eventType}","resource":{"id":"usr_1","type":"user"},"tenant_id":"${tenantId}","timestamp":"${new Date(d.createdAt).toISOString()}"}`;
  return head + "x".repeat(Math.max(0, bytes - head.length - tail.length)) + tail;
}

const chunksOf = <T>(rows: readonly T[]) =>
  Array.from({ length: Math.ceil(rows.length / CHUNK_ROWS) }, (_, k) =>
    rows.slice(k * CHUNK_ROWS, (k + 1) * CHUNK_ROWS),
  );

export async function seedArchive(deps: ArchiveDeps, req: ArchiveSeedRequest) {
  const started = Date.now();
  const d1 = deps.db.$client;
  let deliveries = 0;
  let events = 0;
  let chunks = 0;
  const samples: { hour: number; event_id: string; webhook_id: string }[] = [];
  for (const hour of req.hours) {
    const prng = mulberry32(req.seed * 1_000_003 + hour);
    const rows: DeliveryLine[] = [];
    const eventRows: EventLine[] = [];
    for (const w of [...req.webhooks].sort((a, b) => (a.webhook_id < b.webhook_id ? -1 : 1))) {
      for (let i = 0; i < w.per_hour; i++) {
        const row = deliveryOf(prng, w.webhook_id, w.tenant_id, hour, i, w.per_hour);
        rows.push(row);
        if (req.with_events)
          eventRows.push({
            ownerKey: row.eventOwner,
            eventId: row.eventId,
            eventType: row.eventType,
            tenantId: w.tenant_id,
            partnerId: null,
            payload: payloadOf(row, w.tenant_id, req.payload_bytes ?? 1024),
            createdAt: row.createdAt,
          });
      }
      if (w.per_hour > 0) samples.push({ hour, webhook_id: w.webhook_id, event_id: seededEventId(hour, 0) });
    }
    const statements: D1PreparedStatement[] = [];
    for (const [n, chunk] of chunksOf(rows).entries())
      statements.push(...(await writeDeliveryChunk(deps, hour, String(n), chunk)));
    eventRows.sort((a, b) => (a.ownerKey + a.eventId < b.ownerKey + b.eventId ? -1 : 1));
    for (const [n, chunk] of chunksOf(eventRows).entries())
      statements.push(...(await writeEventChunk(deps, hour, String(n), chunk)));
    if (statements.length > 0) await d1.batch(statements);
    deliveries += rows.length;
    events += eventRows.length;
    chunks += Math.ceil(rows.length / CHUNK_ROWS) + Math.ceil(eventRows.length / CHUNK_ROWS);
  }
  return {
    hours: req.hours.length,
    deliveries,
    events,
    chunks,
    ms: Date.now() - started,
    samples: samples.slice(0, 50),
  };
}
