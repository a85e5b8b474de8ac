// Warnings before a webhook is disabled (endpoint-health.ts): webhook.failing when its consecutive failed deliveries reach
// 50, 70 and 90 % of FAILURE_THRESHOLD (10 here: at 5, 7 and 9), once per level per streak, and webhook.recovered once
// when a success ends a streak that was warned about. Each rides in the batch that records the attempt, like
// webhook.auto_disabled, and reaches the tenant's subscribers.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { claimDeliveries } from "../../../src/domain/delivery/claim";
import { recordAttempts } from "../../../src/domain/delivery/record";
import { sendClaimedAttempt } from "../../../src/domain/delivery/send";
import { readConfig } from "../../../src/lib/config";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { deliveryDeps, seedDelivery, updateDeliveries } from "../../helpers/deliveries";

const THRESHOLD = readConfig(env).failureThreshold;
const LAST_ATTEMPT = readConfig(env).retryScheduleSeconds.length + 1;

/** A webhook of `tenant` whose receiver answers per `plan`, and one that listens to the service's announcements. */
async function failingWebhook(tenant: string, plan: (number | string)[]) {
  const wh = await webhookAtReceiver(tenant, { plan }, { events: ["user.*"] });
  const listener = await webhookAtReceiver(tenant, {}, { events: ["webhook.*"] });
  return { wh, listener };
}

/** One delivery's attempt: the last one it has (a failure is final), or its first. */
async function attempt(webhookId: string, tenant: string, opts: { last: boolean }) {
  const ref = await seedDelivery(webhookId, tenant);
  if (opts.last) await updateDeliveries([ref], { attempt_count: LAST_ATTEMPT - 1 });
  return attemptDelivery(deliveryDeps({ now: Date.now() }), ref);
}

/** The announcements the listener has been given, oldest first: type and data. */
async function announcements(listener: { id: string; token: string }) {
  const list = await api("GET", `${WEBHOOKS}/${listener.id}/deliveries?per_page=100`, { token: listener.token });
  const details = await Promise.all(
    list.body.items.map(
      async (d) => (await api("GET", `${WEBHOOKS}/${listener.id}/deliveries/${d.id}`, { token: listener.token })).body,
    ),
  );
  return details
    .sort((a, b) => a.id - b.id)
    .map((d) => ({ type: d.event_type, data: (d.payload as { data: unknown }).data }));
}

describe("failure warnings", { timeout: 30_000 }, () => {
  it("announces webhook.failing at 50, 70 and 90 % of the threshold, once each, then the auto-disable", async () => {
    expect(THRESHOLD).toBe(10);
    const { wh, listener } = await failingWebhook("tnt_warn_levels", [500]);
    const seen: number[] = [];
    for (let n = 1; n <= THRESHOLD; n++) {
      expect(await attempt(wh.id, "tnt_warn_levels", { last: true })).toMatchObject({ status: "failed" });
      seen.push((await announcements(listener)).length);
    }
    // Announced right when each level is reached: after failures 5, 7, 9; the tenth disables.
    expect(seen).toEqual([0, 0, 0, 0, 1, 1, 2, 2, 3, 4]);
    const warning = (failures: number, percent: number) => ({
      type: "webhook.failing",
      data: { webhook_id: wh.id, consecutive_failures: failures, threshold: THRESHOLD, percent },
    });
    expect(await announcements(listener)).toEqual([
      warning(5, 50),
      warning(7, 70),
      warning(9, 90),
      {
        type: "webhook.auto_disabled",
        data: { webhook_id: wh.id, reason: "consecutive_failures", threshold: THRESHOLD },
      },
    ]);
    // Retried attempts are not failed deliveries: they count for nothing.
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body).toMatchObject({
      status: "auto_disabled",
      failure_count: THRESHOLD,
    });
  });

  it("announces webhook.recovered once when a success ends a warned streak; the next streak is warned again", async () => {
    const tenant = "tnt_warn_recover";
    // Five failed deliveries, a failed attempt to be retried, two successes, five failed deliveries again.
    const { wh, listener } = await failingWebhook(tenant, [500, 500, 500, 500, 500, 500, 200, 200, 500]);
    for (let n = 0; n < 5; n++) await attempt(wh.id, tenant, { last: true });
    expect(await attempt(wh.id, tenant, { last: false })).toMatchObject({ status: "retrying" }); // ends nothing
    expect(await attempt(wh.id, tenant, { last: false })).toMatchObject({ status: "success" });
    expect(await attempt(wh.id, tenant, { last: false })).toMatchObject({ status: "success" });
    for (let n = 0; n < 5; n++) await attempt(wh.id, tenant, { last: true });
    expect((await announcements(listener)).map((a) => [a.type, (a.data as { percent?: number }).percent])).toEqual([
      ["webhook.failing", 50],
      ["webhook.recovered", undefined],
      ["webhook.failing", 50],
    ]);
    expect((await announcements(listener))[1]!.data).toEqual({ webhook_id: wh.id });
  });

  it("is announced once however the recording goes: a level crossed inside one batch, a batch recorded twice", async () => {
    const tenant = "tnt_warn_batch";
    const { wh, listener } = await failingWebhook(tenant, [500]);
    await env.DB.prepare("UPDATE webhook_endpoints SET failure_count = 4 WHERE id = ?").bind(wh.id).run();
    const refs = [];
    for (let n = 0; n < 3; n++) refs.push(await seedDelivery(wh.id, tenant));
    await updateDeliveries(refs, { attempt_count: LAST_ATTEMPT - 1 });
    const deps = deliveryDeps({ now: Date.now() });
    const { claimed } = await claimDeliveries(deps, refs);
    const sent = [];
    for (const claim of claimed) sent.push(await sendClaimedAttempt(deps, claim));
    // Failures 5, 6 and 7 in one batch: the 50 % and the 70 % warnings, each once; the same batch again adds nothing.
    await recordAttempts(deps, sent);
    await recordAttempts(deps, sent);
    expect((await announcements(listener)).map((a) => (a.data as { percent: number }).percent)).toEqual([50, 70]);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body).toMatchObject({ failure_count: 7 });
  });

  it("keeps both types to the service: nobody may publish them", async () => {
    const { wh } = await failingWebhook("tnt_warn_reserved", [200]);
    for (const type of ["webhook.failing", "webhook.recovered"]) {
      const res = await api("POST", "/api/v1/events", {
        token: wh.token,
        body: { event_type: type, tenant_id: "tnt_warn_reserved", resource: { type: "webhook", id: wh.id }, data: {} },
      });
      expect(res.status, type).toBe(422);
    }
    const catalog = await api("GET", `${WEBHOOKS}/events`, { token: wh.token });
    expect(JSON.stringify(catalog.body)).toContain("webhook.failing");
    expect(JSON.stringify(catalog.body)).toContain("webhook.recovered");
  });
});
