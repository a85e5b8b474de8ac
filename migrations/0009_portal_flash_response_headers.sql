ALTER TABLE `delivery_attempts` ADD `response_headers` text;--> statement-breakpoint
ALTER TABLE `portal_sessions` ADD `flash` text;