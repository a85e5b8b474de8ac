CREATE TABLE `portal_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`link_hash` text NOT NULL,
	`session_hash` text,
	`tenant_id` text,
	`partner_id` text,
	`read_only` integer DEFAULT false NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`link_expires_at` integer NOT NULL,
	`redeemed_at` integer,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `portal_sessions_link_hash_uq` ON `portal_sessions` (`link_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `portal_sessions_session_hash_uq` ON `portal_sessions` (`session_hash`);--> statement-breakpoint
CREATE INDEX `portal_sessions_expires_idx` ON `portal_sessions` (`expires_at`);