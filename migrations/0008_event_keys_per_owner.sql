-- Event ids are per owner: the same event_id from two tenants is two events. An event's key (events.id, and
-- deliveries.event_id that refers to it) becomes its event_id qualified by its owner, exactly as
-- src/domain/event-key.ts builds it: `<event_id>:t:<tenant_id>` for a tenant event, `<event_id>:p:<partner_id>` for a
-- partner-level one. Written by hand: drizzle-kit generates schema changes, not data changes, and the columns keep
-- their names and types. Only keys without ':' (every key before this migration) are rewritten, deliveries first
-- while their events still carry the old keys; the foreign key is checked at the end of the migration's transaction.
PRAGMA defer_foreign_keys = on;
--> statement-breakpoint
UPDATE deliveries SET event_id = (
    SELECT e.id || ':' || CASE WHEN e.tenant_id IS NOT NULL THEN 't:' || e.tenant_id ELSE 'p:' || coalesce(e.partner_id, '') END
    FROM events e WHERE e.id = deliveries.event_id)
  WHERE instr(event_id, ':') = 0;
--> statement-breakpoint
UPDATE events SET id = id || ':' || CASE WHEN tenant_id IS NOT NULL THEN 't:' || tenant_id ELSE 'p:' || coalesce(partner_id, '') END
  WHERE instr(id, ':') = 0;
