ALTER TABLE `webhook_endpoints` ADD `rate_limit` integer;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `ordered` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `ordered_from` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `ordered_reopened_from` integer;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `failure_warning_percent` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `failure_warned_at` integer;