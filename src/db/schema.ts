// The one schema module: drizzle tables for D1. `npm run db:generate` turns changes here into migrations/.
// Timestamps are integer milliseconds since the epoch (sortable, cheap to compare in SQL); the API renders them as ISO 8601.
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** A webhook's status as the API shows it, derived from `enabled` and `disabled_reason` (not stored). */
export const WEBHOOK_STATUSES = ["active", "disabled", "auto_disabled"] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(), // wh_…
    tenantId: text("tenant_id"), // null: a partner-level endpoint
    partnerId: text("partner_id"),
    url: text("url").notNull(),
    description: text("description"),
    events: text("events", { mode: "json" }).$type<string[]>().notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    disabledAt: integer("disabled_at"),
    disabledReason: text("disabled_reason"),
    headers: text("headers", { mode: "json" }).$type<Record<string, string>>().notNull().default(sql`'{}'`),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
    secret: text("secret").notNull(),
    previousSecret: text("previous_secret"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    failureCount: integer("failure_count").notNull().default(0),
    lastSuccessAt: integer("last_success_at"),
    lastFailureAt: integer("last_failure_at"),
    // Events the endpoint would have received since it was disabled (fan-out counts them; disabling starts again at 0).
    missedEvents: integer("missed_events").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    // Deletes are soft (as elsewhere in ScaiKey): the row keeps its delivery history referable, but no API answers for it.
    deletedAt: integer("deleted_at"),
  },
  (t) => [
    index("webhook_endpoints_tenant_created_idx").on(t.tenantId, t.createdAt, t.id),
    index("webhook_endpoints_partner_created_idx").on(t.partnerId, t.createdAt, t.id),
    index("webhook_endpoints_created_idx").on(t.createdAt, t.id),
    // The operations view's failing and auto-disabled webhooks, worst first: only webhooks with consecutive failed
    // deliveries are indexed, so a healthy webhook's updates never touch it.
    index("webhook_endpoints_failing_idx").on(t.failureCount).where(sql`failure_count > 0 AND deleted_at IS NULL`),
    // The live webhooks of one owner (a tenant, or a partner's partner-level ones): what MAX_WEBHOOKS_PER_OWNER counts.
    // Written only when a webhook is created, deleted or changes owner, never by deliveries.
    index("webhook_endpoints_live_owner_idx").on(t.tenantId, t.partnerId).where(sql`deleted_at IS NULL`),
  ],
);

/** Why a webhook is disabled: by an admin, or by the service (status `auto_disabled`) after consecutive failed
 * deliveries or a 410 Gone. */
export const AUTO_DISABLE_REASONS = ["consecutive_failures", "gone"] as const;
export type AutoDisableReason = (typeof AUTO_DISABLE_REASONS)[number];

export const events = sqliteTable(
  "events",
  {
    // The event's key, the idempotency key of a publish: its event_id qualified by its owner (domain/event-key.ts,
    // `evt_…:t:<tenant>` or `evt_…:p:<partner>`), so event ids are per owner. The column keeps its old name.
    key: text("id").primaryKey(),
    eventType: text("event_type").notNull(),
    tenantId: text("tenant_id"),
    partnerId: text("partner_id"),
    // The canonical JSON body, exactly the bytes every delivery of this event sends.
    payload: text("payload").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    // Retention deletes the oldest events first.
    index("events_created_idx").on(t.createdAt),
    // A replay walks the events of one tenant (or, for a partner-level endpoint, one partner) in its window.
    index("events_tenant_created_idx").on(t.tenantId, t.createdAt).where(sql`tenant_id IS NOT NULL`),
    index("events_partner_created_idx").on(t.partnerId, t.createdAt).where(sql`partner_id IS NOT NULL`),
  ],
);

export const DIRECTORY_SOURCES = ["event", "token", "admin", "service"] as const;
export type DirectorySource = (typeof DIRECTORY_SOURCES)[number];

// Which partner owns each tenant, as ScaiKey states it: set by the platform (`admin` over the API, `service` over the
// binding), or learned while the tenant had no entry from a platform event (`event`), a token of the tenant's own
// issuer (`token`) or a super admin naming both ids (`admin`). Learning never moves an entry (domain/tenant-directory.ts).
// Partner visibility and fan-out to partner endpoints follow this table; webhook_endpoints.partner_id mirrors it.
export const tenantPartners = sqliteTable("tenant_partners", {
  tenantId: text("tenant_id").primaryKey(),
  partnerId: text("partner_id").notNull(),
  source: text("source", { enum: DIRECTORY_SOURCES }).notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const ERROR_CLASSES = [
  "timeout",
  "connection_refused",
  "dns",
  "tls",
  "invalid_response",
  "redirect",
  "http_4xx",
  "http_5xx",
  "network",
  "blocked_target",
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

export const DELIVERY_STATUSES = ["pending", "retrying", "success", "failed", "cancelled"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const deliveries = sqliteTable(
  "deliveries",
  {
    id: integer("id").primaryKey({ autoIncrement: true }), // X-ScaiKey-Webhook-ID
    webhookId: text("webhook_id")
      .notNull()
      .references(() => webhookEndpoints.id),
    // The event's key (events.id), not its bare event_id; toPublicDelivery shows the event_id.
    eventKey: text("event_id")
      .notNull()
      .references(() => events.key),
    eventType: text("event_type").notNull(),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    attemptCount: integer("attempt_count").notNull().default(0),
    // While pending/retrying: when the next attempt is due, or when an in-flight attempt's lease ends.
    nextAttemptAt: integer("next_attempt_at"),
    // A queue message is expected to carry this delivery; the cron sweep re-enqueues only when it is overdue.
    inQueue: integer("in_queue", { mode: "boolean" }).notNull().default(false),
    lastAttemptAt: integer("last_attempt_at"),
    // The last attempt's status code and error class (null after a success), kept here for the list's filters.
    lastStatusCode: integer("last_status_code"),
    lastErrorClass: text("last_error_class", { enum: ERROR_CLASSES }),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    // One delivery per event and endpoint: publishing the same event_id twice creates nothing new. Event first, so the
    // archive and retention find an event's remaining deliveries through it.
    uniqueIndex("deliveries_event_webhook_uq").on(t.eventKey, t.webhookId),
    index("deliveries_webhook_id_idx").on(t.webhookId, t.id),
    index("deliveries_webhook_status_idx").on(t.webhookId, t.status, t.id),
    // The sweep's due and overdue deliveries: only active ones are indexed, a few rows whatever the history.
    index("deliveries_active_next_attempt_idx").on(t.nextAttemptAt).where(sql`status IN ('pending', 'retrying')`),
    // The stats endpoint counts an endpoint's deliveries created in a window, by status, from this index alone; the
    // list's since/until filters and recover walk it too.
    index("deliveries_webhook_created_idx").on(t.webhookId, t.createdAt, t.status),
    // The list's filters: an endpoint's deliveries by event type, by the last status code, by the last error class.
    index("deliveries_webhook_event_type_idx").on(t.webhookId, t.eventType, t.id),
    index("deliveries_webhook_status_code_idx").on(t.webhookId, t.lastStatusCode, t.id),
    index("deliveries_webhook_error_class_idx")
      .on(t.webhookId, t.lastErrorClass, t.id)
      .where(sql`last_error_class IS NOT NULL`),
  ],
);

export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    deliveryId: integer("delivery_id")
      .notNull()
      .references(() => deliveries.id),
    webhookId: text("webhook_id").notNull(),
    attemptNumber: integer("attempt_number").notNull(),
    startedAt: integer("started_at").notNull(),
    durationMs: integer("duration_ms").notNull(),
    success: integer("success", { mode: "boolean" }).notNull(),
    statusCode: integer("status_code"),
    errorClass: text("error_class", { enum: ERROR_CLASSES }),
    errorMessage: text("error_message"),
    responseExcerpt: text("response_excerpt"),
    // The receiver's response headers, bounded (domain/http-attempt.ts): [name, value] pairs, for the portal.
    responseHeaders: text("response_headers", { mode: "json" }).$type<[string, string][]>(),
  },
  (t) => [
    // A redelivered queue message can never record the same attempt twice.
    // Also how the archive and retention find a delivery's attempts; the rollup and live stats walk the primary key.
    uniqueIndex("delivery_attempts_delivery_attempt_uq").on(t.deliveryId, t.attemptNumber),
  ],
);

// Hourly per-endpoint rollups of delivery attempts, written by the stats cron.
export const webhookStatsHourly = sqliteTable(
  "webhook_stats_hourly",
  {
    webhookId: text("webhook_id").notNull(),
    hourStart: integer("hour_start").notNull(),
    attempts: integer("attempts").notNull().default(0),
    successes: integer("successes").notNull().default(0),
    failuresTimeout: integer("failures_timeout").notNull().default(0),
    failuresConnection: integer("failures_connection").notNull().default(0),
    failures4xx: integer("failures_4xx").notNull().default(0),
    failures5xx: integer("failures_5xx").notNull().default(0),
    failuresOther: integer("failures_other").notNull().default(0),
    deliveriesSucceeded: integer("deliveries_succeeded").notNull().default(0),
    deliveriesFailed: integer("deliveries_failed").notNull().default(0),
    latencySumMs: integer("latency_sum_ms").notNull().default(0),
    latencyMinMs: integer("latency_min_ms"),
    latencyMaxMs: integer("latency_max_ms"),
    // Counts per fixed latency bucket (bounds in domain/stats/histogram), enough for p50/p95/p99.
    latencyHistogram: text("latency_histogram", { mode: "json" }).$type<number[]>().notNull().default(sql`'[]'`),
  },
  (t) => [primaryKey({ columns: [t.webhookId, t.hourStart] }), index("webhook_stats_hourly_hour_idx").on(t.hourStart)],
);

export const RECOVERY_KINDS = ["recover", "replay"] as const;
export type RecoveryKind = (typeof RECOVERY_KINDS)[number];

// Recoveries and replays of one endpoint over a window of created_at: the request does the first chunk, the cron the
// rest from `cursor` (the created_at reached). Open while finished_at is null.
export const webhookRecoveries = sqliteTable(
  "webhook_recoveries",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    webhookId: text("webhook_id").notNull(),
    kind: text("kind", { enum: RECOVERY_KINDS }).notNull(),
    since: integer("since").notNull(),
    until: integer("until").notNull(),
    // replay: the event types it covers (JSON array)
    eventTypes: text("event_types"),
    cursor: integer("cursor").notNull(),
    requestedAt: integer("requested_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [index("webhook_recoveries_open_idx").on(t.id).where(sql`finished_at IS NULL`)],
);

// Deliveries moved out of D1 into the ARCHIVE bucket (R2): one NDJSON object per endpoint and hour (split when the hour
// holds more than one archive step), one row here per object. The deliveries API reads D1 first, then these.
export const deliveryArchives = sqliteTable(
  "delivery_archives",
  {
    webhookId: text("webhook_id").notNull(),
    // Delivery ids first_id..last_id of this endpoint are in the object (all of them, newest last).
    firstId: integer("first_id").notNull(),
    lastId: integer("last_id").notNull(),
    // The hour their deliveries were created in: retention deletes whole objects by it.
    hourStart: integer("hour_start").notNull(),
    objectKey: text("object_key").notNull(),
    // Archived deliveries are finished: these three add up to the object's line count.
    succeeded: integer("succeeded").notNull(),
    failed: integer("failed").notNull(),
    cancelled: integer("cancelled").notNull(),
  },
  (t) => [primaryKey({ columns: [t.webhookId, t.lastId] }), index("delivery_archives_hour_idx").on(t.hourStart)],
);

// Progress markers of cron jobs: `stats`, the highest delivery_attempts.id rolled up into webhook_stats_hourly; `archive`,
// the highest deliveries.id moved to the archive (or passed over, when no ARCHIVE bucket is bound); `retention`, the
// highest deliveries.id retention has passed; `queue_watermark`, the latest send time of a queue message the consumer
// has received (what tells a message still waiting in the queue from a lost one); `queue_probe`, the send time of the
// oldest watermark probe sent since the watermark last passed one (what tells a stuck consumer from an idle queue).
export const jobCursors = sqliteTable("job_cursors", {
  name: text("name").primaryKey(),
  value: integer("value").notNull().default(0),
  updatedAt: integer("updated_at"),
});

/** How a cron job's last run ended. */
export const JOB_OUTCOMES = ["succeeded", "failed"] as const;
export type JobOutcome = (typeof JOB_OUTCOMES)[number];

// One row per cron job (domain/job-runs), updated in place at the start and the end of every run: what the health
// check and the operations view read to tell a job that runs from one that stopped or keeps failing.
export const jobRuns = sqliteTable("job_runs", {
  name: text("name").primaryKey(),
  // When the job was first expected: the first run of any cron job that knew it. A job that never ran counts from here.
  registeredAt: integer("registered_at").notNull(),
  lastStartedAt: integer("last_started_at"),
  lastFinishedAt: integer("last_finished_at"),
  lastOutcome: text("last_outcome", { enum: JOB_OUTCOMES }),
  // Of the last run, when it failed: a short class (`d1`, `type_error`…), never the message.
  lastErrorClass: text("last_error_class"),
  lastSucceededAt: integer("last_succeeded_at"),
});
export type JobRunRow = typeof jobRuns.$inferSelect;

export type WebhookEndpointRow = typeof webhookEndpoints.$inferSelect;
export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryAttemptRow = typeof deliveryAttempts.$inferSelect;
export type DeliveryArchiveRow = typeof deliveryArchives.$inferSelect;

// Tenant-admin portal sessions. A row is born as a single-use magic link and becomes a cookie session when opened.
// Only SHA-256 hashes of the link and session tokens are stored; retention deletes rows past expires_at.
export const portalSessions = sqliteTable(
  "portal_sessions",
  {
    id: text("id").primaryKey(), // ps_…
    linkHash: text("link_hash").notNull(),
    sessionHash: text("session_hash"), // set when the link is opened
    tenantId: text("tenant_id"),
    partnerId: text("partner_id"),
    readOnly: integer("read_only", { mode: "boolean" }).notNull().default(false),
    createdBy: text("created_by").notNull(), // subject of the token that issued the link
    createdAt: integer("created_at").notNull(),
    linkExpiresAt: integer("link_expires_at").notNull(),
    redeemedAt: integer("redeemed_at"),
    // The link's expiry until it is opened, then the session's.
    expiresAt: integer("expires_at").notNull(),
    // A one-time result for the next page (a new secret, a test's outcome), sealed; read once and cleared.
    flash: text("flash"),
  },
  (t) => [
    uniqueIndex("portal_sessions_link_hash_uq").on(t.linkHash),
    uniqueIndex("portal_sessions_session_hash_uq").on(t.sessionHash),
    index("portal_sessions_expires_idx").on(t.expiresAt),
  ],
);
export type PortalSessionRow = typeof portalSessions.$inferSelect;
