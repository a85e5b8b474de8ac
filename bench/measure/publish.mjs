// 4. Publish latency under load (POST /api/v1/events, one delivery each), alternating with the baseline's bare JSON
// POST; each round's deliveries drain before the next round.
import { cannon, combine, eventFor, PUBLISH_TENANT, waitFor } from "../client.mjs";
import { withWorkerdCpu } from "../cpu.mjs";

export async function measurePublishLatency({ subject, baseline, adminToken, settings, tagCount, tag }) {
  const body = JSON.stringify(eventFor(PUBLISH_TENANT, 0));
  const targets = {
    bare: {
      worker: baseline,
      url: `${baseline.base}/bare`,
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    },
    publish: {
      worker: subject,
      url: `${subject.base}/api/v1/events`,
      method: "POST",
      body,
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    },
  };
  const rounds = { bare: [], publish: [] };
  const before = await tagCount(`${tag}-publish`);
  let published = 0;
  for (let round = 0; round < settings.rounds; round++) {
    for (const name of round % 2 === 0 ? ["bare", "publish"] : ["publish", "bare"]) {
      const { worker, ...target } = targets[name];
      const r = await withWorkerdCpu(worker, () =>
        cannon(name, { connections: settings.connections, duration: settings.duration, ...target }),
      );
      rounds[name].push(r);
      if (name === "publish") {
        published += r.requests;
        await waitFor(
          "the publish rounds' deliveries",
          async () => (await tagCount(`${tag}-publish`)) - before >= published,
          { timeoutMs: 600_000, everyMs: 500 },
        );
      }
    }
  }
  const r = Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, combine(v)]));
  // The publish rounds' CPU includes the consumer delivering what they published; see delivery.mjs for the split.
  return { bare_post: r.bare, publish: { ...r.publish, ratio: r.publish.rps / r.bare.rps }, deliveries_per_event: 1 };
}
