CREATE TABLE `owner_shards` (
	`owner_key` text PRIMARY KEY NOT NULL,
	`shard` integer NOT NULL,
	`placed_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `partner_fanouts` (
	`owner_key` text NOT NULL,
	`event_id` text NOT NULL,
	`event_type` text NOT NULL,
	`tenant_id` text NOT NULL,
	`partner_id` text NOT NULL,
	`partner_shard` integer NOT NULL,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`owner_key`, `event_id`)
);
--> statement-breakpoint
ALTER TABLE `tenant_partners` ADD `partner_shard` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Hand-written (drizzle-kit writes no data): every owner this database already holds stays in it, shard 0, so adding
-- shards later moves nobody. In a shard other than 0 these tables are empty when the migration runs: nothing is added.
INSERT OR IGNORE INTO `owner_shards` (`owner_key`, `shard`, `placed_at`)
SELECT 't:' || `tenant_id`, 0, 0 FROM `webhook_endpoints` WHERE `tenant_id` IS NOT NULL
UNION SELECT 'p:' || `partner_id`, 0, 0 FROM `webhook_endpoints` WHERE `tenant_id` IS NULL AND `partner_id` IS NOT NULL
UNION SELECT 't:' || `tenant_id`, 0, 0 FROM `tenant_partners`
UNION SELECT 'p:' || `partner_id`, 0, 0 FROM `tenant_partners`
UNION SELECT `owner_key`, 0, 0 FROM `events`;
