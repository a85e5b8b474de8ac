CREATE TABLE `job_cursors` (
	`name` text PRIMARY KEY NOT NULL,
	`value` integer DEFAULT 0 NOT NULL,
	`updated_at` integer
);
--> statement-breakpoint
CREATE INDEX `deliveries_webhook_created_idx` ON `deliveries` (`webhook_id`,`created_at`,`status`);--> statement-breakpoint
CREATE INDEX `delivery_attempts_started_idx` ON `delivery_attempts` (`started_at`);--> statement-breakpoint
CREATE INDEX `events_unpurged_created_idx` ON `events` (`created_at`) WHERE payload != '';--> statement-breakpoint
CREATE INDEX `webhook_stats_hourly_hour_idx` ON `webhook_stats_hourly` (`hour_start`);