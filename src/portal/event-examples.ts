// Example payloads for the event catalog screen: each one is a real envelope built by completeEnvelope (what receivers get),
// with illustrative `data` for its resource type.
import { EVENT_TYPES } from "../domain/event-catalog";

type EventTypeInfo = (typeof EVENT_TYPES)[number];

import type { EventEnvelope } from "../domain/event-envelope";
import { completeEnvelope } from "../domain/publish";

const EXAMPLE_DATA: Record<string, Record<string, unknown>> = {
  partner: { id: "prt_7Hq2LmX9", name: "Acme Resellers", status: "ACTIVE" },
  tenant: { id: "tnt_a3f9k2bW", name: "Northwind", status: "ACTIVE" },
  user: { id: "usr_Kp4Vn8Rt", email: "ada@example.com", given_name: "Ada", family_name: "Lovelace", status: "ACTIVE" },
  group: { id: "grp_Z2mQ7xLa", name: "Engineering", user_id: "usr_Kp4Vn8Rt" },
  application: { id: "app_W9cD1sPe", name: "Expense tracker", user_id: "usr_Kp4Vn8Rt" },
  session: { id: "ses_B6tN3yHu", user_id: "usr_Kp4Vn8Rt", ip: "203.0.113.7" },
  registration: { id: "reg_F1gJ5kLo", email: "new.user@example.com" },
  authentication: { user_id: "usr_Kp4Vn8Rt", method: "password", ip: "203.0.113.7" },
  webhook: { webhook_id: "wh_4n8XbQ2kLm9Pz7Rt1VcY", message: "This is a test event from ScaiKey webhooks." },
};

const EXAMPLE_TIME = Date.UTC(2026, 0, 15, 9, 30);

export function exampleEnvelope(
  info: EventTypeInfo,
  owner: { tenantId: string | null; partnerId: string | null },
): EventEnvelope {
  const data = EXAMPLE_DATA[info.group] ?? {};
  return completeEnvelope(
    {
      event_id: "evt_Example0000000000000",
      event_type: info.type,
      tenant_id: owner.tenantId ?? undefined,
      partner_id: owner.partnerId ?? undefined,
      resource: { type: info.group, id: String(data.id ?? data.webhook_id ?? data.user_id ?? "res_1") },
      actor: { id: "usr_admin01", type: "admin" },
      data,
    },
    EXAMPLE_TIME,
  );
}

/** The catalog grouped for display: [group, types][] in catalog order. */
export function catalogByGroup(): [string, EventTypeInfo[]][] {
  const groups = new Map<string, EventTypeInfo[]>();
  for (const info of EVENT_TYPES) groups.set(info.group, [...(groups.get(info.group) ?? []), info]);
  return [...groups];
}
