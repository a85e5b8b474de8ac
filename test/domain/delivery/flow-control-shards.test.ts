// Flow control over two shards (docs/architecture.md#shards, #flow-control): an ordered webhook's line, its head and a
// rate limit's refused sends live in the webhook's own shard, whichever shards one consumer batch holds; a webhook's
// rate limiter is one Durable Object whatever its shard; a failure warning of a tenant's webhook away from its partner's
// shard reaches the partner's webhooks through the share, as an auto-disable does.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { onShard, shardOfWebhook } from "../../../src/db/shards";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { sweepPartnerShares } from "../../../src/domain/partner-fanout";
import type { DeliveryRef } from "../../../src/domain/publish";
import { createServices } from "../../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { deliveryDeps, deliveryRow, seedDelivery, updateDeliveries } from "../../helpers/deliveries";
import { mostInWindow, pump } from "../../helpers/flow";
import { hookUrl, type RecordedRequest, recorded } from "../../helpers/receiver";
import { placeOwner, shardD1s } from "../../helpers/shards";
import { partnerAdmin, superAdmin, tenantAdmin } from "../../helpers/tokens";

const uid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const [DB0, DB1] = shardD1s() as [D1Database, D1Database];
const ANSWER_DELAY_MS = 100;

/** A webhook of a new tenant of `partner` placed in `shard`, at the test receiver. */
async function webhookIn(shard: number, partner: string, hook: Parameters<typeof hookUrl>[0], extra = {}) {
  const tenant = `tnt_fcs${shard}_${uid()}`;
  await placeOwner(`t:${tenant}`, shard);
  const token = await tenantAdmin(tenant, partner);
  const at = hookUrl(hook);
  const wh = await createWebhook(token, { url: at.url, events: ["*"], ...extra });
  expect(shardOfWebhook(wh.id)).toBe(shard);
  return { ...wh, tenant, token, hookKey: at.key };
}

async function seed(webhookId: string, tenant: string, n: number) {
  const refs: DeliveryRef[] = [];
  for (let i = 0; i < n; i++) refs.push(await seedDelivery(webhookId, tenant));
  return refs;
}

/** The deliveries of two webhooks one after the other's, as one stream of messages would mix them. */
const interleaved = (a: readonly DeliveryRef[], b: readonly DeliveryRef[]) => a.flatMap((ref, i) => [ref, b[i]!]);

const allFinished = (refs: readonly DeliveryRef[]) => async () =>
  (await Promise.all(refs.map(deliveryRow))).every((row) => row!.status === "success" || row!.status === "failed");

const idsOf = (requests: readonly RecordedRequest[]) =>
  [...requests].sort((a, b) => a.received_at - b.received_at).map((r) => Number(r.headers["x-scaikey-webhook-id"]));

describe("flow control over two shards", { timeout: 60_000 }, () => {
  it("keeps each ordered webhook's line in its own shard: heads shown across shards, one at a time, in publish order", async () => {
    const partner = `prt_fcs_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const hooks = [
      await webhookIn(0, partner, { delayMs: ANSWER_DELAY_MS }, { ordered: true }),
      await webhookIn(1, partner, { delayMs: ANSWER_DELAY_MS }, { ordered: true }),
    ];
    const refs = [await seed(hooks[0]!.id, hooks[0]!.tenant, 5), await seed(hooks[1]!.id, hooks[1]!.tenant, 5)];
    // Before anything is sent, each line's head is its first delivery, read in its own shard: one webhook at a time,
    // and both in one list across the partner's shards.
    for (const [i, wh] of hooks.entries())
      expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body).toMatchObject({
        ordered_head_delivery_id: refs[i]![0]!.id,
      });
    const listed = await api("GET", `${WEBHOOKS}/?per_page=100`, { token: await partnerAdmin(partner) });
    expect(Object.fromEntries(listed.body.items.map((w) => [w.id, w.ordered_head_delivery_id]))).toEqual(
      Object.fromEntries(hooks.map((wh, i) => [wh.id, refs[i]![0]!.id])),
    );

    // Both lines through the same consumers, every message twice.
    const all = interleaved(refs[0]!, refs[1]!);
    await pump(createServices(env), all, { duplicates: true, consumers: 2, until: allFinished(all) });
    for (const [i, wh] of hooks.entries()) {
      const got = await recorded(wh.hookKey);
      expect(idsOf(got)).toEqual(refs[i]!.map((r) => r.id));
      const times = got.map((r) => r.received_at).sort((a, b) => a - b);
      for (let k = 1; k < times.length; k++) expect(times[k]! - times[k - 1]!).toBeGreaterThanOrEqual(ANSWER_DELAY_MS);
      expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body).toMatchObject({
        ordered_head_delivery_id: null,
      });
    }
  });

  it("holds each webhook's rate limit when one batch holds both shards: refused sends released in their own shard", async () => {
    const LIMIT = 10;
    const partner = `prt_fcs_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const hooks = [
      await webhookIn(0, partner, {}, { rate_limit: LIMIT }),
      await webhookIn(1, partner, {}, { rate_limit: LIMIT }),
    ];
    const refs = [await seed(hooks[0]!.id, hooks[0]!.tenant, 20), await seed(hooks[1]!.id, hooks[1]!.tenant, 20)];
    const all = interleaved(refs[0]!, refs[1]!);
    await pump(createServices(env), all, { until: allFinished(all), timeoutMs: 30_000 });
    for (const [i, wh] of hooks.entries()) {
      const got = await recorded(wh.hookKey);
      expect(got).toHaveLength(20);
      expect(
        mostInWindow(
          got.map((r) => r.received_at),
          1000,
        ),
      ).toBeLessThanOrEqual(Math.ceil(LIMIT * 1.1));
      // A refused send is no attempt: released in the wrong shard, its lease would have held it and the sweep sent it
      // again with a second attempt number.
      for (const ref of refs[i]!)
        expect(await deliveryRow(ref)).toMatchObject({ status: "success", attempt_count: 1, lease_until: null });
    }
  });

  it("announces a failure warning of a tenant's webhook away from its partner's shard to the partner's webhooks", async () => {
    const partner = `prt_fcw_${uid()}`;
    await placeOwner(`p:${partner}`, 0);
    const tenant = `tnt_fcw_${uid()}`;
    await placeOwner(`t:${tenant}`, 1);
    await api("PUT", `${WEBHOOKS}/tenants/${tenant}/partner`, {
      token: await superAdmin(),
      body: { partner_id: partner },
    });
    const failing = await createWebhook(await tenantAdmin(tenant), {
      url: hookUrl({ plan: [500] }).url,
      events: ["user.*"],
    });
    const watching = await createWebhook(await partnerAdmin(partner), {
      url: hookUrl().url,
      events: ["webhook.failing"],
    });
    const clock = { now: Date.now() };
    const lastAttempt = deliveryDeps(clock).config.retryScheduleSeconds.length + 1;
    // Half the threshold of failed deliveries in a row: the first warning.
    const half = Math.ceil(deliveryDeps(clock).config.failureThreshold / 2);
    for (let i = 0; i < half; i++) {
      const ref = await seedDelivery(failing.id, tenant, clock.now);
      await updateDeliveries([ref], { attempt_count: lastAttempt - 1 });
      expect(await attemptDelivery(deliveryDeps(clock), ref)).toMatchObject({ status: "failed" });
      clock.now += 1;
    }
    // Stored with the attempt in the tenant's shard, its share beside it; the sweep of that shard gives the share.
    expect(
      await DB1.prepare(
        "SELECT partner_id, partner_shard FROM partner_fanouts WHERE event_type = 'webhook.failing'",
      ).all(),
    ).toMatchObject({ results: [{ partner_id: partner, partner_shard: 0 }] });
    const later = { ...createServices(env), now: () => clock.now + 60_000 };
    await sweepPartnerShares(onShard(later, 1), { deadline: Date.now() + 10_000 });
    expect(
      await DB0.prepare("SELECT event_type FROM deliveries_live WHERE webhook_id = ?").bind(watching.id).all(),
    ).toMatchObject({ results: [{ event_type: "webhook.failing" }] });
  });
});
