// 1. Admin API, in rounds alternating the order, with workerd's CPU per request: our GET and list against the least
// the same job must do in the same runtime (the baseline Worker reading the same rows from the same D1 schema: one row
// by primary key; a page of 20 and its count), and against the bare route. Two more targets split our cost:
// …/webhooks/events (token check and framework, no D1) and /health (one D1 call, no token).
import { ADMIN_TENANT, cannon, combine } from "../client.mjs";
import { withWorkerdCpu } from "../cpu.mjs";

const ADMIN_TARGET_RATIO = 0.5; // of the bare route
const GET_TARGET_RATIO = 0.8; // of the D1 point read
const LIST_TARGET_RATIO = 0.7; // of the D1 page

export async function measureAdminApi({ subject, baseline, data, tenantToken, settings, note }) {
  const auth = { authorization: `Bearer ${tenantToken}` };
  const targets = {
    bare: { worker: baseline, url: `${baseline.base}/bare` },
    d1_get: { worker: baseline, url: `${baseline.base}/d1/webhooks/${data.admin[0]}` },
    d1_list: { worker: baseline, url: `${baseline.base}/d1/webhooks?tenant_id=${ADMIN_TENANT}` },
    get: { worker: subject, url: `${subject.base}/api/v1/admin/webhooks/${data.admin[0]}`, headers: auth },
    list: { worker: subject, url: `${subject.base}/api/v1/admin/webhooks/`, headers: auth },
    events: { worker: subject, url: `${subject.base}/api/v1/admin/webhooks/events`, headers: auth },
    health: { worker: subject, url: `${subject.base}/health` },
  };
  const run = (name, duration) => {
    const { worker, ...target } = targets[name];
    return withWorkerdCpu(worker, () => cannon(name, { connections: settings.connections, duration, ...target }));
  };
  for (const name of Object.keys(targets)) await run(name, 1); // warm-up
  const rounds = Object.fromEntries(Object.keys(targets).map((name) => [name, []]));
  // Each floor right beside what it judges, the order reversed every other round.
  const order = ["bare", "d1_get", "get", "d1_list", "list", "events", "health"];
  for (let round = 0; round < settings.rounds; round++)
    for (const name of round % 2 === 0 ? order : order.toReversed())
      rounds[name].push(await run(name, settings.duration));
  const r = Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, combine(v)]));
  note(
    `   bare ${r.bare.rps.toFixed(0)} req/s; D1 point read ${r.d1_get.rps.toFixed(0)}, get ${r.get.rps.toFixed(0)}; ` +
      `D1 page ${r.d1_list.rps.toFixed(0)}, list ${r.list.rps.toFixed(0)}; events ${r.events.rps.toFixed(0)}, health ${r.health.rps.toFixed(0)}`,
  );
  return {
    bare: r.bare,
    d1_point_read: r.d1_get,
    d1_page: r.d1_list,
    get: {
      ...r.get,
      ratio: r.get.rps / r.bare.rps,
      ratio_vs_d1_point_read: r.get.rps / r.d1_get.rps,
      target_ratio_vs_d1_point_read: GET_TARGET_RATIO,
    },
    list: {
      ...r.list,
      ratio: r.list.rps / r.bare.rps,
      ratio_vs_d1_page: r.list.rps / r.d1_list.rps,
      target_ratio_vs_d1_page: LIST_TARGET_RATIO,
    },
    events_no_d1: { ...r.events, ratio: r.events.rps / r.bare.rps },
    health_no_token: { ...r.health, ratio: r.health.rps / r.bare.rps },
    target_ratio: ADMIN_TARGET_RATIO,
  };
}
