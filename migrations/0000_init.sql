CREATE TABLE `deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`webhook_id` text NOT NULL,
	`event_id` text NOT NULL,
	`event_type` text NOT NULL,
	`status` text NOT NULL,
	`attempt_count` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer,
	`in_queue` integer DEFAULT false NOT NULL,
	`last_attempt_at` integer,
	`last_status_code` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer,
	FOREIGN KEY (`webhook_id`) REFERENCES `webhook_endpoints`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`event_id`) REFERENCES `events`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_webhook_event_uq` ON `deliveries` (`webhook_id`,`event_id`);--> statement-breakpoint
CREATE INDEX `deliveries_webhook_id_idx` ON `deliveries` (`webhook_id`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_webhook_status_idx` ON `deliveries` (`webhook_id`,`status`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_status_next_attempt_idx` ON `deliveries` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `delivery_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`delivery_id` integer NOT NULL,
	`webhook_id` text NOT NULL,
	`attempt_number` integer NOT NULL,
	`started_at` integer NOT NULL,
	`duration_ms` integer NOT NULL,
	`success` integer NOT NULL,
	`status_code` integer,
	`error_class` text,
	`error_message` text,
	`response_excerpt` text,
	FOREIGN KEY (`delivery_id`) REFERENCES `deliveries`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `delivery_attempts_delivery_attempt_uq` ON `delivery_attempts` (`delivery_id`,`attempt_number`);--> statement-breakpoint
CREATE INDEX `delivery_attempts_webhook_started_idx` ON `delivery_attempts` (`webhook_id`,`started_at`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`event_type` text NOT NULL,
	`tenant_id` text,
	`partner_id` text,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_created_idx` ON `events` (`created_at`);--> statement-breakpoint
CREATE TABLE `webhook_endpoints` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text,
	`partner_id` text,
	`url` text NOT NULL,
	`description` text,
	`events` text NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`disabled_at` integer,
	`disabled_reason` text,
	`headers` text DEFAULT '{}' NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`secret` text NOT NULL,
	`previous_secret` text,
	`previous_secret_expires_at` integer,
	`failure_count` integer DEFAULT 0 NOT NULL,
	`last_success_at` integer,
	`last_failure_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at` integer
);
--> statement-breakpoint
CREATE INDEX `webhook_endpoints_tenant_created_idx` ON `webhook_endpoints` (`tenant_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_endpoints_partner_created_idx` ON `webhook_endpoints` (`partner_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `webhook_endpoints_created_idx` ON `webhook_endpoints` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `webhook_stats_hourly` (
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
);
