// Example events of every catalog type, with illustrative `data` for its resource type: what the event catalog shows and
// what a test of a real type sends (POST …/test in the portal with an event type).
import { EVENT_TYPES } from "./event-catalog";
import type { EventEnvelope, EventEnvelopeInput } from "./event-envelope";
import { completeEnvelope } from "./publish";

type EventTypeInfo = (typeof EVENT_TYPES)[number];

const EXAMPLE_WEBHOOK_ID = "wh_4n8XbQ2kLm9Pz7Rt1VcY";

const EXAMPLE_DATA: Record<string, Record<string, unknown>> = {
  partner: { id: "prt_7Hq2LmX9", name: "Acme Resellers", status: "ACTIVE" },
  tenant: { id: "tnt_a3f9k2bW", name: "Northwind", status: "ACTIVE" },
  user: { id: "usr_Kp4Vn8Rt", email: "ada@example.com", given_name: "Ada", family_name: "Lovelace", status: "ACTIVE" },
  group: { id: "grp_Z2mQ7xLa", name: "Engineering", user_id: "usr_Kp4Vn8Rt" },
  application: { id: "app_W9cD1sPe", name: "Expense tracker", user_id: "usr_Kp4Vn8Rt" },
  session: { id: "ses_B6tN3yHu", user_id: "usr_Kp4Vn8Rt", ip: "203.0.113.7" },
  registration: { id: "reg_F1gJ5kLo", email: "new.user@example.com" },
  authentication: { user_id: "usr_Kp4Vn8Rt", method: "password", ip: "203.0.113.7" },
  webhook: { webhook_id: EXAMPLE_WEBHOOK_ID, message: "This is a test event from ScaiKey webhooks." },
};

// The service's announcements about an endpoint carry their own data.
const EXAMPLE_DATA_OF_TYPE: Record<string, Record<string, unknown>> = {
  "webhook.auto_disabled": { webhook_id: EXAMPLE_WEBHOOK_ID, reason: "consecutive_failures", threshold: 10 },
  "webhook.failing": { webhook_id: EXAMPLE_WEBHOOK_ID, consecutive_failures: 7, threshold: 10, percent: 70 },
  "webhook.recovered": { webhook_id: EXAMPLE_WEBHOOK_ID },
};

const EXAMPLE_TIME = Date.UTC(2026, 0, 15, 9, 30);

interface ExampleOwner {
  tenantId: string | null;
  partnerId: string | null;
}

/** The example event of `type` for an owner, without id or time (a send gets fresh ones). */
export function exampleEventInput(type: string, owner: ExampleOwner): EventEnvelopeInput {
  const group = type.slice(0, type.indexOf("."));
  const data = EXAMPLE_DATA_OF_TYPE[type] ?? EXAMPLE_DATA[group] ?? {};
  return {
    event_type: type,
    tenant_id: owner.tenantId ?? undefined,
    partner_id: owner.partnerId ?? undefined,
    resource: { type: group, id: String(data.id ?? data.webhook_id ?? data.user_id ?? "res_1") },
    actor: { id: "usr_admin01", type: "admin" },
    data,
  };
}

/** The example envelope the catalog shows: a real envelope (completeEnvelope), with a fixed id and time. */
export function exampleEnvelope(info: EventTypeInfo, owner: ExampleOwner): EventEnvelope {
  return completeEnvelope(
    { ...exampleEventInput(info.type, owner), event_id: "evt_Example0000000000000" },
    EXAMPLE_TIME,
  );
}

/** The catalog grouped for display: [group, types][] in catalog order; a tenant's view leaves out the partner group
 * (partner events reach partner-level endpoints only). */
export function catalogByGroup(owner?: ExampleOwner): [string, EventTypeInfo[]][] {
  const groups = new Map<string, EventTypeInfo[]>();
  for (const info of EVENT_TYPES) {
    if (owner?.tenantId && info.group === "partner") continue;
    groups.set(info.group, [...(groups.get(info.group) ?? []), info]);
  }
  return [...groups];
}
