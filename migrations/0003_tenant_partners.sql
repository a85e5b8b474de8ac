CREATE TABLE `tenant_partners` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`partner_id` text NOT NULL,
	`source` text NOT NULL,
	`updated_at` integer NOT NULL
);
