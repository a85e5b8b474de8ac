// A webhook's rate limit, held across everything (docs/architecture.md#flow-control): whatever the batches, the
// consumers at once and the retries, the real receiver never gets more than the limit (plus 10 % for clock edges) in
// any second of its own clock. Deliveries over the limit wait: no attempt used, nothing counted as failed.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeliveryRef } from "../../../src/domain/publish";
import { createServices, type Services } from "../../../src/lib/services";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { deliveryRow, seedDelivery } from "../../helpers/deliveries";
import { mostInWindow, pump } from "../../helpers/flow";
import { recorded } from "../../helpers/receiver";

const LIMIT = 10;
/** What the receiver may see in any second: the limit plus 10 % for clock edges. */
const MOST_IN_A_SECOND = Math.ceil(LIMIT * 1.1);

async function limitedWebhook(tenant: string, plan?: (number | string)[]) {
  return webhookAtReceiver(tenant, plan ? { plan } : {}, { rate_limit: LIMIT });
}

async function seed(webhookId: string, tenant: string, n: number) {
  const refs: DeliveryRef[] = [];
  for (let i = 0; i < n; i++) refs.push(await seedDelivery(webhookId, tenant));
  return refs;
}

const allFinished = (refs: readonly DeliveryRef[]) => async () =>
  (await Promise.all(refs.map(deliveryRow))).every((row) => row!.status === "success" || row!.status === "failed");

/** The real services, retrying within a second (jitter aside) so a retry can land in the limit's windows. */
const quickRetries = (): Services => {
  const real = createServices(env);
  return { ...real, config: { ...real.config, retryScheduleSeconds: [1, 1, 1, 1, 1] } };
};

describe("a rate limit", { timeout: 60_000 }, () => {
  it("holds across a batch of 25: the rest wait for their slots, pending, with no attempt used", async () => {
    const wh = await limitedWebhook("tnt_rate_batch");
    const refs = await seed(wh.id, "tnt_rate_batch", 25);
    // The first batch carries all 25; what the limit refuses comes back in later ones.
    await pump(createServices(env), refs, { until: allFinished(refs), timeoutMs: 30_000 });

    const got = await recorded(wh.hookKey);
    expect(got).toHaveLength(25);
    expect(
      mostInWindow(
        got.map((r) => r.received_at),
        1000,
      ),
    ).toBeLessThanOrEqual(MOST_IN_A_SECOND);
    for (const ref of refs)
      expect(await deliveryRow(ref)).toMatchObject({ status: "success", attempt_count: 1, last_error: null });
    const stats = await api("GET", `${WEBHOOKS}/${wh.id}/stats?window=1h`, { token: wh.token });
    expect(stats.body).toMatchObject({ attempts: 25, success_rate: 1, deliveries: { total: 25, success: 25 } });
  });

  it("holds across several consumers at once", async () => {
    const wh = await limitedWebhook("tnt_rate_consumers");
    const refs = await seed(wh.id, "tnt_rate_consumers", 45);
    // Three invocations at once, 15 deliveries each: one Durable Object grants them all.
    await pump(createServices(env), refs, { consumers: 3, batchSize: 15, until: allFinished(refs), timeoutMs: 30_000 });

    const got = await recorded(wh.hookKey);
    expect(got).toHaveLength(45);
    expect(
      mostInWindow(
        got.map((r) => r.received_at),
        1000,
      ),
    ).toBeLessThanOrEqual(MOST_IN_A_SECOND);
    for (const ref of refs) expect(await deliveryRow(ref)).toMatchObject({ status: "success", attempt_count: 1 });
  });

  it("counts retries too, and never a wait as a failure", async () => {
    // Every third request fails once: its retry comes back within a second and asks the same limit.
    const plan = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 500 : 200));
    const wh = await limitedWebhook("tnt_rate_retries", plan);
    const refs = await seed(wh.id, "tnt_rate_retries", 30);
    await pump(quickRetries(), refs, { consumers: 2, until: allFinished(refs), timeoutMs: 40_000 });

    const got = await recorded(wh.hookKey);
    expect(
      mostInWindow(
        got.map((r) => r.received_at),
        1000,
      ),
    ).toBeLessThanOrEqual(MOST_IN_A_SECOND);
    const rows = await Promise.all(refs.map(deliveryRow));
    for (const row of rows) expect(row).toMatchObject({ status: "success" });
    // Every attempt is a request the receiver got, and every failure one it answered 500: waiting used none.
    const attempts = rows.map((row) => JSON.parse(row!.attempts) as { success: boolean; status_code: number }[]);
    expect(rows.reduce((n, row) => n + row!.attempt_count, 0)).toBe(got.length);
    expect(attempts.flat()).toHaveLength(got.length);
    expect(attempts.flat().filter((a) => !a.success)).toHaveLength(
      plan.slice(0, got.length).filter((s) => s === 500).length,
    );
    expect(
      attempts
        .flat()
        .filter((a) => !a.success)
        .every((a) => a.status_code === 500),
    ).toBe(true);
  });

  it("costs a webhook without a limit nothing: its deliveries never reach the limiter", async () => {
    const wh = await webhookAtReceiver("tnt_rate_none");
    const refs = await seed(wh.id, "tnt_rate_none", 25);
    const real = createServices(env);
    let asked = 0;
    const services: Services = {
      ...real,
      rateLimiter: { acquire: (...args) => (asked++, real.rateLimiter.acquire(...args)) },
    };
    await pump(services, refs, { until: allFinished(refs), timeoutMs: 20_000 });
    expect(await recorded(wh.hookKey)).toHaveLength(25);
    expect(asked).toBe(0);
  });

  it("is set, shown, changed and removed through the API, 1 to 1000 a second", async () => {
    const wh = await limitedWebhook("tnt_rate_api");
    expect(wh).toMatchObject({ rate_limit: LIMIT, ordered: false, ordered_head_delivery_id: null });
    const changed = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { rate_limit: 1000 } });
    expect(changed.body).toMatchObject({ rate_limit: 1000 });
    const listed = await api("GET", `${WEBHOOKS}/`, { token: wh.token });
    expect(listed.body.items.find((w) => w.id === wh.id)).toMatchObject({ rate_limit: 1000 });
    const removed = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { rate_limit: null } });
    expect(removed.body).toMatchObject({ rate_limit: null });
    for (const bad of [0, 1001, 2.5, "ten", [5]]) {
      const res = await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { rate_limit: bad } });
      expect(res.status, String(bad)).toBe(422);
      expect(res.body.detail[0].loc).toEqual(["body", "rate_limit"]);
    }
  });
});
