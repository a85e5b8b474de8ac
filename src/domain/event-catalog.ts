// The catalog of event types this service delivers: the one place to add a type.
interface EventTypeInfo {
  type: string;
  group: string;
  description: string;
}

const CATALOG: Record<string, Record<string, string>> = {
  partner: {
    created: "A partner was created.",
    updated: "A partner was updated (suspension sets data.status to SUSPENDED).",
    deleted: "A partner was deleted.",
  },
  tenant: {
    created: "A tenant was created.",
    updated: "A tenant was updated (suspension sets data.status to SUSPENDED).",
    deleted: "A tenant was deleted.",
  },
  user: {
    created: "A user was created.",
    updated: "A user's profile or attributes changed.",
    deleted: "A user was deleted.",
    suspended: "A user was suspended and can no longer sign in.",
    activated: "A user was activated or re-activated.",
    password_changed: "A user's password was changed or reset.",
    mfa_enabled: "A user enrolled a multi-factor authentication method.",
    mfa_disabled: "A user's multi-factor authentication was removed.",
  },
  group: {
    created: "A group was created.",
    updated: "A group was updated.",
    deleted: "A group was deleted.",
    member_added: "A user was added to a group.",
    member_removed: "A user was removed from a group.",
  },
  application: {
    created: "An application was registered.",
    updated: "An application's settings changed.",
    deleted: "An application was deleted.",
    user_assigned: "A user was granted access to an application.",
    user_unassigned: "A user's access to an application was removed.",
  },
  session: {
    created: "A user signed in and a session started.",
    revoked: "A session was revoked (sign-out or admin action).",
    expired: "A session expired.",
  },
  registration: {
    requested: "A self-service registration was submitted.",
    approved: "A pending registration was approved.",
    rejected: "A pending registration was rejected.",
  },
  authentication: {
    succeeded: "A sign-in attempt succeeded.",
    failed: "A sign-in attempt failed.",
    locked_out: "An account was locked after repeated failed sign-ins.",
  },
  webhook: {
    test: "A test event sent by POST /api/v1/admin/webhooks/{webhook_id}/test.",
    auto_disabled: "A webhook endpoint was disabled after consecutive failed deliveries.",
    failing:
      "A webhook endpoint's consecutive failed deliveries reached 50, 70 or 90 % of the threshold that disables it " +
      "(once per level per streak).",
    recovered: "A webhook endpoint that was warned as failing delivered successfully again.",
  },
};

export const EVENT_TYPES: readonly EventTypeInfo[] = Object.entries(CATALOG).flatMap(([group, actions]) =>
  Object.entries(actions).map(([action, description]) => ({ type: `${group}.${action}`, group, description })),
);

const KNOWN_TYPES = new Set(EVENT_TYPES.map((e) => e.type));
const KNOWN_GROUPS = new Set(Object.keys(CATALOG));

export const isKnownEventType = (type: string) => KNOWN_TYPES.has(type);

/** Types only the service itself emits (the test endpoint, its announcements about endpoints): nobody may publish them. */
const SERVICE_EVENT_TYPES: readonly string[] = [
  "webhook.test",
  "webhook.auto_disabled",
  "webhook.failing",
  "webhook.recovered",
];
export const isServiceEventType = (type: string) => SERVICE_EVENT_TYPES.includes(type);

/** A subscription pattern: an exact type, `group.*`, or `*`. */
export function isValidSubscription(pattern: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith(".*")) return KNOWN_GROUPS.has(pattern.slice(0, -2));
  return KNOWN_TYPES.has(pattern);
}

/** Whether subscription `patterns` cover `eventType` (the rule fan-out applies in SQL, for replay's choice of types). */
export function subscriptionMatches(patterns: readonly string[], eventType: string): boolean {
  const group = eventType.slice(0, eventType.indexOf("."));
  return patterns.some((p) => p === "*" || p === eventType || p === `${group}.*`);
}
