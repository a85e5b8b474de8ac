// 1. Admin API vs the bare route of the baseline Worker, in rounds alternating the order, with workerd's CPU per request.
// Two more targets split the cost: …/webhooks/events (token check and framework, no D1) and /health (one D1 call, no token).
import { cannon, combine } from "../client.mjs";
import { withWorkerdCpu } from "../cpu.mjs";

const ADMIN_TARGET_RATIO = 0.5;

export async function measureAdminApi({ subject, baseline, data, tenantToken, settings, note }) {
  const auth = { authorization: `Bearer ${tenantToken}` };
  const targets = {
    bare: { worker: baseline, url: `${baseline.base}/bare` },
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
  const rounds = { bare: [], get: [], list: [], events: [], health: [] };
  for (let round = 0; round < settings.rounds; round++) {
    const order =
      round % 2 === 0 ? ["bare", "get", "list", "events", "health"] : ["health", "events", "list", "get", "bare"];
    for (const name of order) rounds[name].push(await run(name, settings.duration));
  }
  const r = Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, combine(v)]));
  note(
    `   bare ${r.bare.rps.toFixed(0)} req/s, get ${r.get.rps.toFixed(0)}, list ${r.list.rps.toFixed(0)}, events ${r.events.rps.toFixed(0)}, health ${r.health.rps.toFixed(0)}`,
  );
  return {
    bare: r.bare,
    get: { ...r.get, ratio: r.get.rps / r.bare.rps },
    list: { ...r.list, ratio: r.list.rps / r.bare.rps },
    events_no_d1: { ...r.events, ratio: r.events.rps / r.bare.rps },
    health_no_token: { ...r.health, ratio: r.health.rps / r.bare.rps },
    target_ratio: ADMIN_TARGET_RATIO,
  };
}
