// Writes a delivery history straight into a D1 SQLite file (node:sqlite, big transactions): the rows the service itself
// would write, with typical sizes, far faster than publishing them. Columns are named, so the seeder follows the schema
// as long as the columns it fills exist; `columnsOf` tells it which optional ones do.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { mulberry32 as createPrng } from "../../scripts/lib/prng.mjs";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** The typical event of the capacity model: 1 KiB of canonical JSON, sent to 3 endpoints, 1.2 attempts per delivery. */
export const TYPICAL = { payloadBytes: 1024, fanOut: 3, attemptsPerDelivery: 1.2 };

/** Opens (or creates) a SQLite file; `migrationsDir` set: applies every migration in order, as wrangler would. */
export function openDatabase(file, migrationsDir) {
  const db = new DatabaseSync(file);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;");
  if (migrationsDir) {
    for (const name of readdirSync(migrationsDir)
      .filter((f) => f.endsWith(".sql"))
      .sort()) {
      for (const statement of readFileSync(join(migrationsDir, name), "utf8").split("--> statement-breakpoint")) {
        if (statement.trim()) db.exec(statement);
      }
    }
  }
  return db;
}

export const columnsOf = (db, table) =>
  new Set(
    db
      .prepare(`SELECT name FROM pragma_table_info('${table}')`)
      .all()
      .map((r) => r.name),
  );

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const idOf = (prng, prefix, length = 20) =>
  prefix + Array.from({ length }, () => ALPHABET[Math.floor(prng() * 62)]).join("");
const EVENT_TYPES = [
  "user.created",
  "user.updated",
  "user.login",
  "session.revoked",
  "group.member_added",
  "application.updated",
];

/** A canonical-JSON envelope of exactly `bytes` bytes (ASCII), shaped like ScaiKey's. */
function payloadOf(eventId, eventType, tenantId, createdAt, bytes) {
  const head = `{"actor":{"id":null,"type":"system"},"data":{"blob":"`;
  const tail = `"},"event_id":"${eventId}","event_type":"${eventType}","resource":{"id":"usr_1","type":"user"},"tenant_id":"${tenantId}","timestamp":"${new Date(createdAt).toISOString()}"}`;
  return head + "x".repeat(Math.max(0, bytes - head.length - tail.length)) + tail;
}

/**
 * Seeds `webhooks` endpoints (tenants of `fanOut` endpoints each) and `deliveries` deliveries spread evenly over `days`
 * days ending at `now`, each event fanned out to its tenant's endpoints. Attempts: a share of deliveries fails once
 * (5xx) before succeeding, so attempts/delivery = attemptsPerDelivery. Deliveries of the last `activeMinutes` are
 * still pending (in the queue). Returns what it wrote.
 */
export function seedHistory(db, opts) {
  const { deliveries: total, days, now, webhooks: webhookCount = 300, seed = 1 } = opts;
  const urlOf = opts.urlOf ?? ((t, i) => `https://receiver-${t}-${i}.example.com/webhooks/scaikey`);
  const { payloadBytes, fanOut, attemptsPerDelivery } = { ...TYPICAL, ...opts.typical };
  const activeMs = (opts.activeMinutes ?? 0) * 60_000;
  const prng = createPrng(seed);
  const tenants = Math.ceil(webhookCount / fanOut);
  const endpointsOf = [];
  const insertWebhook =
    db.prepare(`INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at, updated_at)
    VALUES (?, ?, ?, '["*"]', ?, ?, ?)`);
  db.exec("BEGIN");
  for (let t = 0; t < tenants; t++) {
    const tenantId = `ten_${t.toString().padStart(8, "0")}`;
    const ids = [];
    for (let i = 0; i < fanOut; i++) {
      const id = idOf(prng, "wh_");
      // A secret in the clear is what rows written before encryption hold: the Worker reads it as is.
      const secret = `whsec_${Buffer.from(Array.from({ length: 32 }, () => Math.floor(prng() * 256))).toString("base64")}`;
      insertWebhook.run(id, tenantId, urlOf(t, i), secret, now - days * DAY_MS, now - days * DAY_MS);
      ids.push(id);
    }
    endpointsOf.push({ tenantId, ids });
  }
  db.exec("COMMIT");

  const insertEvent = db.prepare(
    `INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at) VALUES (?, ?, ?, NULL, ?, ?)`,
  );
  const insertDelivery =
    db.prepare(`INSERT INTO deliveries (id, webhook_id, event_id, event_type, status, attempt_count, next_attempt_at,
      in_queue, last_attempt_at, last_status_code, last_error, created_at, updated_at, completed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertAttempt =
    db.prepare(`INSERT INTO delivery_attempts (delivery_id, webhook_id, attempt_number, started_at, duration_ms, success,
      status_code, error_class, error_message, response_excerpt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);

  const events = Math.ceil(total / fanOut);
  const start = now - days * DAY_MS;
  const step = (days * DAY_MS) / events;
  const retriedShare = attemptsPerDelivery - 1;
  let deliveryId = (db.prepare("SELECT coalesce(max(id), 0) AS m FROM deliveries").get().m ?? 0) + 1;
  let written = 0;
  let attempts = 0;
  let pending = 0;
  const BATCH = 20_000;
  db.exec("BEGIN");
  for (let e = 0; e < events && written < total; e++) {
    const createdAt = Math.floor(start + e * step);
    const tenant = endpointsOf[Math.floor(prng() * endpointsOf.length)];
    const eventId = idOf(prng, "evt_");
    // The event's key in D1: its event_id qualified by its owner, as src/domain/event-key.ts builds it.
    const eventKey = `${eventId}:t:${tenant.tenantId}`;
    const eventType = EVENT_TYPES[e % EVENT_TYPES.length];
    insertEvent.run(
      eventKey,
      eventType,
      tenant.tenantId,
      payloadOf(eventId, eventType, tenant.tenantId, createdAt, payloadBytes),
      createdAt,
    );
    const active = now - createdAt < activeMs;
    for (const webhookId of tenant.ids) {
      if (written >= total) break;
      const id = deliveryId++;
      if (active) {
        insertDelivery.run(
          id,
          webhookId,
          eventKey,
          eventType,
          "pending",
          0,
          createdAt,
          1,
          null,
          null,
          null,
          createdAt,
          createdAt,
          null,
        );
        pending++;
      } else {
        const retried = prng() < retriedShare;
        const first = { t: createdAt + 5, duration: 200 + Math.floor(prng() * 800) };
        const last = { t: retried ? first.t + 60_000 : first.t, duration: 20 + Math.floor(prng() * 300) };
        const doneAt = last.t + last.duration;
        insertDelivery.run(
          id,
          webhookId,
          eventKey,
          eventType,
          "success",
          retried ? 2 : 1,
          null,
          0,
          last.t,
          200,
          null,
          createdAt,
          doneAt,
          doneAt,
        );
        if (retried) {
          insertAttempt.run(
            id,
            webhookId,
            1,
            first.t,
            first.duration,
            0,
            503,
            "http_5xx",
            "HTTP 503",
            "<html><body><h1>503 Service Unavailable</h1></body></html>",
          );
          attempts++;
        }
        insertAttempt.run(
          id,
          webhookId,
          retried ? 2 : 1,
          last.t,
          last.duration,
          1,
          200,
          null,
          null,
          '{"received":true}',
        );
        attempts++;
      }
      written++;
    }
    if (written % BATCH < fanOut) {
      db.exec("COMMIT");
      db.exec("BEGIN");
    }
  }
  db.exec("COMMIT");
  return {
    webhooks: endpointsOf.flatMap((t) => t.ids),
    events,
    deliveries: written,
    attempts,
    pending,
    firstDeliveryId: deliveryId - written,
  };
}

/** Bytes per table and index (dbstat), largest first. */
export function storageByObject(db) {
  return db
    .prepare(`SELECT s.name AS name, coalesce(m.tbl_name, s.name) AS tbl, m.type AS type, sum(s.pgsize) AS bytes, sum(s.payload) AS payload
      FROM dbstat s LEFT JOIN sqlite_schema m ON m.name = s.name GROUP BY s.name ORDER BY bytes DESC`)
    .all()
    .map((r) => ({ name: r.name, table: r.tbl, type: r.type ?? "table", bytes: r.bytes, payload: r.payload }));
}

/**
 * `count` deliveries of one endpoint waiting in the queue: pending, in_queue, deliverable since `deliverableAt` (one
 * event each). Whether the sweep takes them for lost depends on the queue watermark, set with setCursor.
 */
export function seedQueuedDeliveries(db, { webhookId, tenantId, count, deliverableAt, seed = 2 }) {
  const prng = createPrng(seed);
  const insertEvent = db.prepare(
    `INSERT INTO events (id, event_type, tenant_id, partner_id, payload, created_at) VALUES (?, ?, ?, NULL, ?, ?)`,
  );
  const insertDelivery =
    db.prepare(`INSERT INTO deliveries (webhook_id, event_id, event_type, status, attempt_count, next_attempt_at,
      in_queue, created_at, updated_at) VALUES (?, ?, 'user.created', 'pending', 0, ?, 1, ?, ?)`);
  db.exec("BEGIN");
  for (let i = 0; i < count; i++) {
    const eventId = idOf(prng, "evt_");
    const eventKey = `${eventId}:t:${tenantId}`;
    insertEvent.run(
      eventKey,
      "user.created",
      tenantId,
      payloadOf(eventId, "user.created", tenantId, deliverableAt, TYPICAL.payloadBytes),
      deliverableAt,
    );
    insertDelivery.run(webhookId, eventKey, deliverableAt, deliverableAt, deliverableAt);
  }
  db.exec("COMMIT");
}

export function setCursor(db, name, value, now) {
  db.prepare(`INSERT INTO job_cursors (name, value, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`).run(name, value, now);
}
