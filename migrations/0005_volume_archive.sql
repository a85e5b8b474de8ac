CREATE TABLE `delivery_archives` (
	`webhook_id` text NOT NULL,
	`first_id` integer NOT NULL,
	`last_id` integer NOT NULL,
	`hour_start` integer NOT NULL,
	`object_key` text NOT NULL,
	`succeeded` integer NOT NULL,
	`failed` integer NOT NULL,
	`cancelled` integer NOT NULL,
	PRIMARY KEY(`webhook_id`, `last_id`)
);
--> statement-breakpoint
CREATE INDEX `delivery_archives_hour_idx` ON `delivery_archives` (`hour_start`);--> statement-breakpoint
DROP INDEX `deliveries_webhook_event_uq`;--> statement-breakpoint
DROP INDEX `deliveries_status_next_attempt_idx`;--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_event_webhook_uq` ON `deliveries` (`event_id`,`webhook_id`);--> statement-breakpoint
CREATE INDEX `deliveries_active_next_attempt_idx` ON `deliveries` (`next_attempt_at`) WHERE status IN ('pending', 'retrying');--> statement-breakpoint
DROP INDEX `delivery_attempts_webhook_started_idx`;--> statement-breakpoint
DROP INDEX `delivery_attempts_started_idx`;--> statement-breakpoint
DROP INDEX `events_unpurged_created_idx`;