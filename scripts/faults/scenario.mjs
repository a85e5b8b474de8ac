// The fault run's scenario: tenants under two partners, endpoints with a receiver behaviour and a subscription each,
// a weighted event mix, and the isolation probes. Deterministic for a seed.

// Each event type reaches about one endpoint of its tenant, so the load is set by the event count; the slow failures
// (hangs, stalled bodies) each hold a consumer slot for a whole timeout, so they get the rarest events.
const EVENT_MIX = [
  ["user.created", 0.2],
  ["user.updated", 0.12],
  ["user.deleted", 0.05],
  ["group.created", 0.04],
  ["group.updated", 0.04],
  ["group.member_added", 0.06],
  ["application.created", 0.05],
  ["application.updated", 0.05],
  ["session.created", 0.08],
  ["session.revoked", 0.04],
  ["authentication.succeeded", 0.1],
  ["authentication.failed", 0.08],
  ["tenant.updated", 0.03],
  ["tenant.created", 0.02],
  ["authentication.locked_out", 0.01],
  ["registration.requested", 0.01],
  ["registration.approved", 0.01],
  ["user.suspended", 0.01],
];
// The isolation probes, published before the mix: events only healthy endpoints get ("alone"), then events that also go
// to every tenant's always-hanging endpoint ("beside the timing-out receiver"); invariants.mjs compares the two.
const PROBE_EVENTS = 40;
const PROBE_ALONE = "user.activated";
const PROBE_BESIDE = "user.suspended";
const TENANT_ENDPOINTS = [
  ["healthy", ["user.created"]],
  ["flapping", ["user.updated"]],
  ["slow-ok", ["user.deleted"]],
  ["fail-then-ok", ["group.created", "group.updated"]],
  ["huge", ["group.member_added"]],
  ["rate-limited", ["application.*"]],
  ["reset-then-ok", ["session.created"]],
  ["redirect-then-ok", ["session.revoked"]],
  ["chaos", ["authentication.succeeded", "authentication.failed"]],
  ["always-500", ["tenant.updated"]],
  ["always-redirect", ["tenant.created"]],
  ["hang-then-ok", ["authentication.locked_out"]],
  ["slow-timeout-then-ok", ["registration.requested"]],
  ["always-hang", [PROBE_BESIDE]],
  ["healthy", [PROBE_ALONE, PROBE_BESIDE]], // the isolation probes' healthy endpoint
  ["healthy", ["user.*", "group.*", "registration.approved"], { onlyEvenTenants: true }], // overlapping subscriptions
  // Ordered: one delivery at a time, in publish order (invariants.mjs checkOrdered), through the same faults; retries
  // and a receiver that drops out hold their lines.
  ["healthy", ["user.deleted"], { ordered: true }],
  ["fail-then-ok", ["tenant.created"], { ordered: true }],
  ["flapping", ["group.updated"], { ordered: true }],
];
// Partner-level endpoints get their partner's events from every tenant.
const PARTNER_ENDPOINTS = [["healthy", ["session.*"]]];
const PARTNERS = ["prt_faults_a", "prt_faults_b"];

const subscribed = (patterns, type) =>
  patterns.some((p) => p === "*" || p === type || p === `${type.slice(0, type.indexOf("."))}.*`);

/**
 * The scenario for `tenantCount` tenants and `eventCount` events drawn with `random`:
 * { partners, tenants, endpoints: [{ name, behaviour, events, tenant_id, partner_id, ordered }], events, probes: { alone,
 * beside } (PROBE_EVENTS events each), targetsOf(event) }.
 */
export function buildScenario({ tenantCount, eventCount, random, runId }) {
  const tenants = Array.from({ length: tenantCount }, (_, i) => ({
    id: `tnt_faults_${i}`,
    partner: PARTNERS[i % PARTNERS.length],
  }));
  const endpoints = [];
  for (const [i, t] of tenants.entries()) {
    for (const [behaviour, events, flags] of TENANT_ENDPOINTS) {
      if (flags?.onlyEvenTenants && i % 2 === 1) continue;
      endpoints.push({
        name: `${t.id}-${endpoints.length}-${behaviour}${flags?.ordered ? "-ordered" : ""}`,
        behaviour,
        events,
        tenant_id: t.id,
        partner_id: t.partner,
        ordered: flags?.ordered ?? false,
      });
    }
  }
  for (const p of PARTNERS)
    for (const [behaviour, events] of PARTNER_ENDPOINTS)
      endpoints.push({
        name: `${p}-${endpoints.length}-${behaviour}`,
        behaviour,
        events,
        tenant_id: null,
        partner_id: p,
      });

  const pickType = () => {
    let r = random();
    for (const [type, weight] of EVENT_MIX) if ((r -= weight) < 0) return type;
    return EVENT_MIX[0][0];
  };
  const event = (id, tenant, type, n) => ({
    event_id: `evt_faults_${runId}_${id}`,
    event_type: type,
    tenant_id: tenant.id,
    partner_id: tenant.partner,
    resource: { type: type.slice(0, type.indexOf(".")), id: `res_${n}` },
    actor: { id: null, type: "system" },
    data: { n, note: "fault-injection run" },
  });
  const events = Array.from({ length: eventCount }, (_, n) =>
    event(n, tenants[Math.floor(random() * tenants.length)], pickType(), n),
  );
  const probe = (name, type) =>
    Array.from({ length: PROBE_EVENTS }, (_, n) => event(`${name}_${n}`, tenants[n % tenants.length], type, n));
  const probes = { alone: probe("alone", PROBE_ALONE), beside: probe("beside", PROBE_BESIDE) };

  /** The endpoints an event must reach (the publish fan-out, restated): its tenant's, and its partner's partner-level ones. */
  const targetsOf = (event) =>
    endpoints.filter(
      (e) =>
        subscribed(e.events, event.event_type) &&
        (e.tenant_id
          ? e.tenant_id === event.tenant_id && (!e.partner_id || e.partner_id === event.partner_id)
          : e.partner_id === event.partner_id),
    );

  return { partners: PARTNERS, tenants, endpoints, events, probes, targetsOf };
}
