CREATE TABLE `archive_days` (
	`scope` text NOT NULL,
	`day` integer NOT NULL,
	`counts` text NOT NULL,
	`event_hashes` text,
	PRIMARY KEY(`scope`, `day`)
);
--> statement-breakpoint
CREATE INDEX `archive_days_day_idx` ON `archive_days` (`day`);--> statement-breakpoint
CREATE TABLE `archive_hours` (
	`kind` text NOT NULL,
	`hour` integer NOT NULL,
	`chunks` text NOT NULL,
	PRIMARY KEY(`kind`, `hour`)
);
--> statement-breakpoint
CREATE TABLE `hot_partitions` (
	`hour` integer PRIMARY KEY NOT NULL,
	`stage` text NOT NULL,
	`started_at` integer NOT NULL,
	`cursor` text
);
--> statement-breakpoint
CREATE TABLE `resent_deliveries` (
	`webhook_id` text NOT NULL,
	`delivery_id` integer NOT NULL,
	`resent_as` integer NOT NULL,
	PRIMARY KEY(`webhook_id`, `delivery_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `webhook_stats_daily` (
	`webhook_id` text NOT NULL,
	`day_start` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`successes` integer DEFAULT 0 NOT NULL,
	`failures_timeout` integer DEFAULT 0 NOT NULL,
	`failures_connection` integer DEFAULT 0 NOT NULL,
	`failures_4xx` integer DEFAULT 0 NOT NULL,
	`failures_5xx` integer DEFAULT 0 NOT NULL,
	`failures_other` integer DEFAULT 0 NOT NULL,
	`deliveries_succeeded` integer DEFAULT 0 NOT NULL,
	`deliveries_failed` integer DEFAULT 0 NOT NULL,
	`latency_sum_ms` integer DEFAULT 0 NOT NULL,
	`latency_min_ms` integer,
	`latency_max_ms` integer,
	`latency_histogram` text DEFAULT '[]' NOT NULL,
	PRIMARY KEY(`webhook_id`, `day_start`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE INDEX `webhook_stats_daily_day_idx` ON `webhook_stats_daily` (`day_start`);--> statement-breakpoint
-- Hand-written: the hourly stats, the resent deliveries and the daily stats above become WITHOUT ROWID (drizzle-kit
-- cannot say it): their rows are small, so the primary key is the table, and a new row writes one entry less.
CREATE TABLE `__new_webhook_stats_hourly` (
	`webhook_id` text NOT NULL,
	`hour_start` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`successes` integer DEFAULT 0 NOT NULL,
	`failures_timeout` integer DEFAULT 0 NOT NULL,
	`failures_connection` integer DEFAULT 0 NOT NULL,
	`failures_4xx` integer DEFAULT 0 NOT NULL,
	`failures_5xx` integer DEFAULT 0 NOT NULL,
	`failures_other` integer DEFAULT 0 NOT NULL,
	`deliveries_succeeded` integer DEFAULT 0 NOT NULL,
	`deliveries_failed` integer DEFAULT 0 NOT NULL,
	`latency_sum_ms` integer DEFAULT 0 NOT NULL,
	`latency_min_ms` integer,
	`latency_max_ms` integer,
	`latency_histogram` text DEFAULT '[]' NOT NULL,
	PRIMARY KEY(`webhook_id`, `hour_start`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_webhook_stats_hourly` SELECT `webhook_id`, `hour_start`, `attempts`, `successes`, `failures_timeout`,
  `failures_connection`, `failures_4xx`, `failures_5xx`, `failures_other`, `deliveries_succeeded`, `deliveries_failed`,
  `latency_sum_ms`, `latency_min_ms`, `latency_max_ms`, `latency_histogram` FROM `webhook_stats_hourly`;--> statement-breakpoint
DROP TABLE `webhook_stats_hourly`;--> statement-breakpoint
ALTER TABLE `__new_webhook_stats_hourly` RENAME TO `webhook_stats_hourly`;--> statement-breakpoint
CREATE INDEX `webhook_stats_hourly_hour_idx` ON `webhook_stats_hourly` (`hour_start`);--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_deliveries` (
	`webhook_id` text NOT NULL,
	`id` integer NOT NULL,
	`event_owner` text NOT NULL,
	`event_id` text NOT NULL,
	`event_hour` integer NOT NULL,
	`event_type` text NOT NULL,
	`status` text NOT NULL,
	`attempt_count` integer DEFAULT 0 NOT NULL,
	`lease_until` integer,
	`due_at` integer NOT NULL,
	`in_queue` integer DEFAULT true NOT NULL,
	`last_attempt_at` integer,
	`last_status_code` integer,
	`last_error_class` text,
	`last_error` text,
	`attempts` text DEFAULT '[]' NOT NULL,
	`retry_of` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer,
	PRIMARY KEY(`webhook_id`, `id`)
) WITHOUT ROWID;
--> statement-breakpoint
-- Hand-edited (drizzle-kit cannot say WITHOUT ROWID, nor fill the new columns): existing deliveries keep their ids in
-- this table (the hot partitions hold new ones), with their attempts folded into `attempts`.
-- An event's old key (events.id, deliveries.event_id) is `<event_id>:<owner key>` (migration 0008): split in two.
INSERT INTO `__new_deliveries`("webhook_id", "id", "event_owner", "event_id", "event_hour", "event_type", "status", "attempt_count", "lease_until", "due_at", "in_queue", "last_attempt_at", "last_status_code", "last_error_class", "last_error", "attempts", "retry_of", "created_at", "updated_at", "completed_at")
  SELECT d.webhook_id, d.id,
    substr(d.event_id, instr(d.event_id, ':') + 1), substr(d.event_id, 1, instr(d.event_id, ':') - 1),
    d.created_at / 3600000, d.event_type, d.status, d.attempt_count, NULL,
    coalesce(d.next_attempt_at, d.created_at), d.in_queue, d.last_attempt_at, d.last_status_code, d.last_error_class,
    d.last_error,
    coalesce((SELECT json_group_array(json_object('attempt', a.attempt_number, 'started_at', a.started_at,
        'duration_ms', a.duration_ms, 'success', json(CASE WHEN a.success THEN 'true' ELSE 'false' END),
        'status_code', a.status_code, 'error_class', a.error_class, 'error', a.error_message,
        'response_body', a.response_excerpt))
      FROM (SELECT * FROM delivery_attempts WHERE delivery_id = d.id ORDER BY attempt_number) a), '[]'),
    NULL, d.created_at, d.updated_at,
    CASE WHEN d.status IN ('pending', 'retrying') THEN NULL ELSE coalesce(d.completed_at, d.updated_at) END
  FROM deliveries d;--> statement-breakpoint
CREATE TABLE `legacy_delivery_hours` (
	`last_id` integer PRIMARY KEY NOT NULL,
	`hour` integer NOT NULL
);
--> statement-breakpoint
-- Hand-written: the hour of each run of the kept AUTOINCREMENT ids (db/partitions.ts deliveryTimeWindow).
INSERT INTO `legacy_delivery_hours` (`last_id`, `hour`)
  SELECT max(id), created_at / 3600000 FROM `__new_deliveries` GROUP BY created_at / 3600000;--> statement-breakpoint
DROP TABLE `delivery_archives`;--> statement-breakpoint
DROP TABLE `delivery_attempts`;--> statement-breakpoint
DROP TABLE `deliveries`;--> statement-breakpoint
ALTER TABLE `__new_deliveries` RENAME TO `deliveries`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `deliveries_open_idx` ON `deliveries` (`id`) WHERE completed_at IS NULL;--> statement-breakpoint
CREATE TABLE `__new_events` (
	`owner_key` text NOT NULL,
	`event_id` text NOT NULL,
	`event_type` text NOT NULL,
	`tenant_id` text,
	`partner_id` text,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`owner_key`, `event_id`)
) WITHOUT ROWID;
--> statement-breakpoint
-- Hand-edited like deliveries above: the owner and the event_id of the old key become the two columns of the new one.
INSERT INTO `__new_events`("owner_key", "event_id", "event_type", "tenant_id", "partner_id", "payload", "created_at")
  SELECT substr(id, instr(id, ':') + 1), substr(id, 1, instr(id, ':') - 1), event_type,
    tenant_id, partner_id, payload, created_at
  FROM events;--> statement-breakpoint
DROP TABLE `events`;--> statement-breakpoint
ALTER TABLE `__new_events` RENAME TO `events`;--> statement-breakpoint
-- Hand-written: the views over every partition and the table itself, which db/partitions.ts redefines whenever it
-- creates or drops a partition. Until the first partition exists, each is the table alone.
CREATE VIEW `deliveries_live` AS SELECT * FROM `deliveries`;--> statement-breakpoint
CREATE VIEW `events_live` AS SELECT * FROM `events`;--> statement-breakpoint
-- Hand-written: the stats rollup and the retention job are gone (stats are written with the attempts; the storage job
-- replaced retention); their run records would read as overdue forever.
DELETE FROM `job_runs` WHERE `name` IN ('stats_rollup', 'retention');
