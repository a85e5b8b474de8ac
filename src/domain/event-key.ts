// An event's key in D1 (events.id, and deliveries.event_id that refers to it): its event_id qualified by its owner, so
// event ids belong to their owner. The same event_id published by two tenants is two events, each delivered; publishing
// an id again is a duplicate only for the owner that used it, and nothing tells one owner which ids another used.
// The event_id comes first, so one event_id's keys are one range of the (event, webhook) index; migration 0007 built
// the keys of older events with the same format.

/** Who an event belongs to: its tenant, or its partner for a partner-level event. */
interface EventOwner {
  tenant_id?: string | null;
  partner_id?: string | null;
}

/** `evt_…:t:<tenant_id>` for a tenant event, `evt_…:p:<partner_id>` for a partner-level one. */
export const eventKey = (eventId: string, owner: EventOwner): string =>
  `${eventId}:${owner.tenant_id ? `t:${owner.tenant_id}` : `p:${owner.partner_id ?? ""}`}`;

/** The event_id a key stands for: what the API and receivers see. (event ids and owner ids never contain ':') */
export function eventIdOf(key: string): string {
  const end = key.indexOf(":");
  return end === -1 ? key : key.slice(0, end);
}

/** The keys of one event_id, whoever owns it: `key >= from AND key < to` (';' follows ':'). */
export const eventKeyRange = (eventId: string) => ({ from: `${eventId}:`, to: `${eventId};` });
