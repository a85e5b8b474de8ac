CREATE TABLE `job_runs` (
	`name` text PRIMARY KEY NOT NULL,
	`registered_at` integer NOT NULL,
	`last_started_at` integer,
	`last_finished_at` integer,
	`last_outcome` text,
	`last_error_class` text,
	`last_succeeded_at` integer
);
--> statement-breakpoint
CREATE INDEX `webhook_endpoints_failing_idx` ON `webhook_endpoints` (`failure_count`) WHERE failure_count > 0 AND deleted_at IS NULL;