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
    // Since when its receiver times out (its last attempt did, or its sends held every send slot of a batch); null once
    // an attempt ends any other way. A slow webhook's deliveries take the slow lane (docs/architecture.md#lanes).
    slowSince: integer("slow_since"),
    // Flow control (docs/architecture.md#flow-control). The most deliveries a second the receiver gets (1 to 1000, held
    // by a Durable Object per webhook); null: no limit.
    rateLimit: integer("rate_limit"),
    // One delivery at a time, in publish (id) order: the claim takes only the webhook's lowest open delivery.
    ordered: integer("ordered", { mode: "boolean" }).notNull().default(false),
    // Ordered webhooks: every delivery with a lower id has finished (the claim's search for an earlier open delivery
    // starts here, so it reads the line, not the history), moved on as the head finishes.
    orderedFrom: integer("ordered_from").notNull().default(0),
    // Ordered webhooks: the lowest id retried in place while the head was in flight; it joins the line (ordered_from
    // moves down to it) once that attempt is recorded, so the two are never sent at once.
    orderedReopenedFrom: integer("ordered_reopened_from"),
    // The highest warning (50, 70 or 90 % of FAILURE_THRESHOLD) announced as webhook.failing in the current streak of
    // failed deliveries, and when it (or the webhook.recovered that ends the streak) was announced; 0 once recovered.
    failureWarningPercent: integer("failure_warning_percent").notNull().default(0),
    failureWarnedAt: integer("failure_warned_at"),
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

// Events and deliveries live in hourly partitions (`events_p<hour>`, `deliveries_p<hour>`; db/partitions.ts): copies of
// the two tables below made from their own DDL, and dropped whole once archived, because a DROP writes no rows where
// deleting the rows one by one would write one each. The two tables themselves hold what outlives its partition:
// deliveries still open (or recently finished) when their hour was archived, and the events those send. Both are
// WITHOUT ROWID (hand-edited into their migration: drizzle-kit cannot say it), so the primary key is the table and an
// insert writes one b-tree entry, not two.

/** Who owns an event, as one key: `t:<tenant_id>`, or `p:<partner_id>` for a partner-level event. */
export type OwnerKey = string;

export const events = sqliteTable(
  "events",
  {
    ownerKey: text("owner_key").notNull(),
    // evt_…, the idempotency key of a publish, unique per owner.
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    tenantId: text("tenant_id"),
    partnerId: text("partner_id"),
    // The canonical JSON body, exactly the bytes every delivery of this event sends.
    payload: text("payload").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.ownerKey, t.eventId] })],
);

export const DIRECTORY_SOURCES = ["event", "token", "admin", "service"] as const;
export type DirectorySource = (typeof DIRECTORY_SOURCES)[number];

// Which partner owns each tenant, as ScaiKey states it: set by the platform (`admin` over the API, `service` over the
// binding), or learned while the tenant had no entry from a platform event (`event`), a token of the tenant's own
// issuer (`token`) or a super admin naming both ids (`admin`). Learning never moves an entry (domain/tenant-directory.ts).
// Partner visibility and fan-out to partner endpoints follow this table; webhook_endpoints.partner_id mirrors it.
// A tenant's entry lives in the tenant's own shard (db/shards.ts), beside its webhooks, so fan-out reads it in the
// publish's own batch; `partner_shard` is where the partner's partner-level webhooks live (a partner's shard never
// changes), which tells fan-out whether the partner's share of an event goes to another shard (domain/partner-fanout.ts).
export const tenantPartners = sqliteTable("tenant_partners", {
  tenantId: text("tenant_id").primaryKey(),
  partnerId: text("partner_id").notNull(),
  partnerShard: integer("partner_shard").notNull().default(0),
  source: text("source", { enum: DIRECTORY_SOURCES }).notNull(),
  updatedAt: integer("updated_at").notNull(),
});

// The owner directory (used in shard 0 only; the table exists in every shard, as every shard runs the same
// migrations): which shard holds each owner's webhooks, events and deliveries, by owner key (`t:<tenant>`,
// `p:<partner>`). A row is written once, when the owner first needs a shard, and never changes (db/shards.ts).
export const ownerShards = sqliteTable("owner_shards", {
  ownerKey: text("owner_key").primaryKey(),
  shard: integer("shard").notNull(),
  placedAt: integer("placed_at").notNull(),
});

// Events of a tenant whose partner's partner-level webhooks live in another shard: written in the publish's own
// batch, in the tenant's shard, so that the partner's share is never lost between the two shards' writes; the
// partner's shard then gets its copy (domain/partner-fanout.ts), and the retry sweep finishes and removes what is left.
export const partnerFanouts = sqliteTable(
  "partner_fanouts",
  {
    ownerKey: text("owner_key").notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    tenantId: text("tenant_id").notNull(),
    // The tenant's partner per the directory, and that partner's shard.
    partnerId: text("partner_id").notNull(),
    partnerShard: integer("partner_shard").notNull(),
    // The event's payload as stored (its bytes travel to the partner's shard unchanged).
    payload: text("payload").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.ownerKey, t.eventId] })],
);

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

/** An active delivery is one still to be sent: pending (never attempted) or retrying. The one definition of the rule. */
export const ACTIVE_DELIVERY_STATUSES = ["pending", "retrying"] as const satisfies readonly DeliveryStatus[];
export const isActiveDelivery = (status: DeliveryStatus): boolean =>
  (ACTIVE_DELIVERY_STATUSES as readonly DeliveryStatus[]).includes(status);
/** The same rule in SQL, over a `status` column. */
export const ACTIVE_DELIVERY_SQL = `status IN (${ACTIVE_DELIVERY_STATUSES.map((s) => `'${s}'`).join(", ")})`;

/** One attempt, as its delivery row records it (`attempts`, a JSON array in attempt order). */
export interface AttemptRecord {
  attempt: number;
  /** ms since the epoch */
  started_at: number;
  duration_ms: number;
  success: boolean;
  status_code: number | null;
  error_class: ErrorClass | null;
  error: string | null;
  response_body: string | null;
  /**
   * A failed attempt's response headers, [name, value] pairs, at most RESPONSE_HEADERS_MAX_BYTES serialized (cookies
   * never kept); absent after a success or when no response came (domain/http-attempt.ts).
   */
  response_headers?: [string, string][];
}

export const deliveries = sqliteTable(
  "deliveries",
  {
    webhookId: text("webhook_id").notNull(),
    // X-ScaiKey-Webhook-ID: its creation time in ms × 1024, plus one for each earlier delivery of the same webhook in
    // that ms (db/partitions.ts), so the id names the delivery's partition and ids grow with time within a webhook.
    id: integer("id").notNull(),
    // The event it sends: its owner and id, and the hour of the partition that stored its row.
    eventOwner: text("event_owner").notNull(),
    eventId: text("event_id").notNull(),
    eventHour: integer("event_hour").notNull(),
    eventType: text("event_type").notNull(),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    // Attempts claimed. `attempts` holds those recorded; the last claimed one is in flight while lease_until is set.
    attemptCount: integer("attempt_count").notNull().default(0),
    // Set by a claim until its attempt is recorded (cleared then). Not indexed, so a claim writes one row and nothing else.
    leaseUntil: integer("lease_until"),
    // When the next attempt is due (the creation time for the first).
    dueAt: integer("due_at").notNull(),
    // A queue message is expected to carry the delivery; otherwise the sweep enqueues it once due.
    inQueue: integer("in_queue", { mode: "boolean" }).notNull().default(true),
    lastAttemptAt: integer("last_attempt_at"),
    // The last attempt's status code and error class (null after a success), for the list's filters.
    lastStatusCode: integer("last_status_code"),
    lastErrorClass: text("last_error_class", { enum: ERROR_CLASSES }),
    lastError: text("last_error"),
    attempts: text("attempts", { mode: "json" }).$type<AttemptRecord[]>().notNull().default(sql`'[]'`),
    // A delivery created to send an archived one again (a retry or recover of history): the id it sends again.
    retryOf: integer("retry_of"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    primaryKey({ columns: [t.webhookId, t.id] }),
    // Open deliveries by id, for the sweep and the health checks. A delivery enters it once, when created, and leaves it
    // when it ends (removing an entry writes nothing); nothing it indexes changes while the delivery is open.
    index("deliveries_open_idx").on(t.id).where(sql`completed_at IS NULL`),
  ],
);

// Per-webhook rollups of delivery attempts by hour and by day (UTC), written with the attempts they count, in the same
// transaction (domain/stats/record.ts): exact by construction. Hours serve the 1 h and 24 h windows and are kept 26 h;
// days serve 7 d and 30 d and are kept STATS_RETENTION_DAYS. Both WITHOUT ROWID (in their migration: drizzle-kit cannot
// say it): a row is small, its primary key is the table, and a new one writes one entry less.
const statColumns = {
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
};
export const webhookStatsHourly = sqliteTable(
  "webhook_stats_hourly",
  { webhookId: text("webhook_id").notNull(), hourStart: integer("hour_start").notNull(), ...statColumns },
  (t) => [primaryKey({ columns: [t.webhookId, t.hourStart] }), index("webhook_stats_hourly_hour_idx").on(t.hourStart)],
);
export const webhookStatsDaily = sqliteTable(
  "webhook_stats_daily",
  { webhookId: text("webhook_id").notNull(), dayStart: integer("day_start").notNull(), ...statColumns },
  (t) => [primaryKey({ columns: [t.webhookId, t.dayStart] }), index("webhook_stats_daily_day_idx").on(t.dayStart)],
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

// The hot window's partitions as the storage job sees them: a row per hour once its archiving has begun (stage
// `sealing`, with the position reached), gone when the partition is dropped.
export const hotPartitions = sqliteTable("hot_partitions", {
  hour: integer("hour").primaryKey(),
  stage: text("stage", { enum: ["sealing"] }).notNull(),
  // When archiving began: deliveries that finished before (this - HOT_WINDOW_HOURS) are history and go to R2; the rest
  // move to the deliveries table when the partition is dropped.
  startedAt: integer("started_at").notNull(),
  // JSON: how far the archiving got ({ webhook_id, id, chunk } for deliveries; { owner_key, event_id, chunk } for events).
  cursor: text("cursor", { mode: "json" }).$type<Record<string, unknown>>(),
});

export const ARCHIVE_KINDS = ["deliveries", "events"] as const;
export type ArchiveKind = (typeof ARCHIVE_KINDS)[number];

// The archive (R2, bucket ARCHIVE) holds history past the hot window in chunks: NDJSON objects of one hour, sorted by
// webhook (deliveries) or owner (events), each opening with a header line that says where each one's lines are
// (domain/archive/). One row per kind and hour lists the hour's chunks with the range of webhooks or owners each holds.
export const archiveHours = sqliteTable(
  "archive_hours",
  {
    kind: text("kind", { enum: ARCHIVE_KINDS }).notNull(),
    hour: integer("hour").notNull(),
    // JSON object: chunk ref → [first scope, last scope, header bytes, lines].
    chunks: text("chunks", { mode: "json" }).$type<Record<string, [string, string, number, number]>>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.kind, t.hour] })],
);

// What the archive holds of one webhook (or one event owner, scope `ev:<owner_key>`) on one UTC day, without reading
// it: line counts by hour and chunk for each combination of the list's filter values, and, while the day is small, a
// 24-bit hash of each line's event id (a large day keeps them in R2, index/<scope>/<day>.json). A rowid table: a busy
// webhook's day row passes the 1 KB a WITHOUT ROWID row may keep in its page.
export const archiveDays = sqliteTable(
  "archive_days",
  {
    scope: text("scope").notNull(),
    day: integer("day").notNull(),
    // JSON: combination (`status|event_type|status_code|error_class`) → { "<hour of day>/<chunk ref>": lines }.
    counts: text("counts", { mode: "json" }).$type<Record<string, Record<string, number>>>().notNull(),
    // JSON: "<hour of day>/<chunk ref>" → its lines' event id hashes, packed (archive/format.ts packHashes); null once
    // the day has outgrown the row.
    eventHashes: text("event_hashes", { mode: "json" }).$type<Record<string, string> | null>(),
  },
  // Retention deletes whole days (the index is written once per scope and day: the day never changes).
  (t) => [primaryKey({ columns: [t.scope, t.day] }), index("archive_days_day_idx").on(t.day)],
);

// Archived deliveries sent again as new deliveries (a retry or recover of history), so a recover does not send one
// twice. Rows go with the archive, by RETENTION_DAYS. WITHOUT ROWID, like the stats.
export const resentDeliveries = sqliteTable(
  "resent_deliveries",
  {
    webhookId: text("webhook_id").notNull(),
    deliveryId: integer("delivery_id").notNull(),
    // The new delivery.
    resentAs: integer("resent_as").notNull(),
  },
  (t) => [primaryKey({ columns: [t.webhookId, t.deliveryId] })],
);

// Deliveries created before migration 0010 kept their AUTOINCREMENT ids, which do not name their creation time as later
// ids do (db/partitions.ts): the hour of each run of them, for finding one in the archive. Written once by that
// migration (a row per hour of the history it found); retention deletes a row once its hour is past RETENTION_DAYS.
export const legacyDeliveryHours = sqliteTable("legacy_delivery_hours", {
  // The highest id created in the hour.
  lastId: integer("last_id").primaryKey(),
  hour: integer("hour").notNull(),
});

// Progress markers of cron jobs: `queue_watermark`, the latest send time of a queue message the consumer has received
// (what tells a message still waiting in the queue from a lost one); `queue_probe`, the send time of the oldest
// watermark probe sent since the watermark last passed one (what tells a stuck consumer from an idle queue); `sweep`,
// where the last sweep stopped; `storage`, the storage job's lease.
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
export type EventRow = typeof events.$inferSelect;

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
