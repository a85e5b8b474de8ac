CREATE TABLE `webhook_recoveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`webhook_id` text NOT NULL,
	`kind` text NOT NULL,
	`since` integer NOT NULL,
	`until` integer NOT NULL,
	`event_types` text,
	`cursor` integer NOT NULL,
	`requested_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `webhook_recoveries_open_idx` ON `webhook_recoveries` (`id`) WHERE finished_at IS NULL;--> statement-breakpoint
ALTER TABLE `deliveries` ADD `last_error_class` text;--> statement-breakpoint
CREATE INDEX `deliveries_webhook_event_type_idx` ON `deliveries` (`webhook_id`,`event_type`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_webhook_status_code_idx` ON `deliveries` (`webhook_id`,`last_status_code`,`id`);--> statement-breakpoint
CREATE INDEX `deliveries_webhook_error_class_idx` ON `deliveries` (`webhook_id`,`last_error_class`,`id`) WHERE last_error_class IS NOT NULL;--> statement-breakpoint
ALTER TABLE `webhook_endpoints` ADD `missed_events` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `events_tenant_created_idx` ON `events` (`tenant_id`,`created_at`) WHERE tenant_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_partner_created_idx` ON `events` (`partner_id`,`created_at`) WHERE partner_id IS NOT NULL;--> statement-breakpoint
-- The last error class of deliveries recorded before the column existed, from the class their last_error starts with.
UPDATE `deliveries` SET `last_error_class` = substr(`last_error`, 1, instr(`last_error` || ':', ':') - 1)
WHERE `last_error` IS NOT NULL AND `status` IN ('retrying', 'failed')
  AND substr(`last_error`, 1, instr(`last_error` || ':', ':') - 1) IN
    ('timeout', 'connection_refused', 'dns', 'tls', 'invalid_response', 'redirect', 'http_4xx', 'http_5xx', 'network', 'blocked_target');
