// Recording an attempt (record.ts): the retry schedule with its jitter and Retry-After, which retries ride the queue
// and which wait for the sweep, and a record retried after a D1 error without sending again.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDb } from "../../../src/db/client";
import { attemptDelivery } from "../../../src/domain/delivery/attempt";
import { api, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import {
  attemptRows,
  deliveryDeps,
  deliveryRow,
  seedDelivery,
  storedPayloadsOfType,
  updateDelivery,
} from "../../helpers/deliveries";
import { recorded } from "../../helpers/receiver";

describe("retries", () => {
  it("follows the schedule with jitter, then fails for good after the last attempt", async () => {
    const wh = await webhookAtReceiver("tnt_sched", { plan: [500] });
    const clock = { now: Date.now() };
    const id = await seedDelivery(wh.id, "tnt_sched", clock.now);
    const gaps: number[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      const outcome = await attemptDelivery(deliveryDeps(clock), id);
      expect(outcome.kind).toBe("attempted");
      const row = await deliveryRow(id);
      if (attempt < 6) {
        expect(row!.status).toBe("retrying");
        expect(row!.lease_until).toBeNull();
        gaps.push((row!.due_at - clock.now) / 1000);
        // A message arriving before the retry is due does nothing.
        expect((await attemptDelivery(deliveryDeps(clock), id)).kind).toBe("skipped");
        clock.now = row!.due_at;
      } else {
        expect(row).toMatchObject({ status: "failed", attempt_count: 6, lease_until: null, completed_at: clock.now });
        const shown = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${id.id}`, { token: wh.token });
        expect(shown.body).toMatchObject({ status: "failed", attempt_count: 6, next_attempt_at: null });
      }
    }
    // random() = 0.5 → no jitter; the schedule is 60 s, 5 min, 15 min, 1 h, 2 h.
    expect(gaps).toEqual([60, 300, 900, 3600, 7200]);
    expect((await attemptRows(id)).map((a) => [a.attempt, a.success, a.status_code, a.error_class])).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => [n, false, 500, "http_5xx"]),
    );
    expect(await recorded(wh.hookKey)).toHaveLength(6);
    const endpoint = await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token });
    expect(endpoint.body.failure_count).toBe(1);
    expect(endpoint.body.last_failure_at).not.toBeNull();
    // Below the threshold: still enabled, and no webhook.auto_disabled event was stored.
    expect(endpoint.body.status).toBe("active");
    const announcements = await storedPayloadsOfType("webhook.auto_disabled");
    expect(announcements.filter((p) => p.includes(wh.id))).toEqual([]);
  });

  it("applies ±10% jitter", async () => {
    const wh = await webhookAtReceiver("tnt_jitter", { plan: [503] });
    const clock = { now: Date.now() };
    for (const [random, expected] of [
      [0, 54],
      [0.999999, 66],
    ] as const) {
      const id = await seedDelivery(wh.id, "tnt_jitter", clock.now++);
      await attemptDelivery({ ...deliveryDeps(clock), random: () => random }, id);
      expect(((await deliveryRow(id))!.due_at - clock.now) / 1000).toBe(expected);
    }
  });

  it("honours Retry-After when it asks for longer, within bounds", async () => {
    const clock = { now: Date.now() };
    for (const [retryAfter, expected] of [
      ["120", 120],
      ["5", 60],
      ["999999", 86400],
    ] as const) {
      const wh = await webhookAtReceiver("tnt_retry_after", { plan: [429], retryAfter });
      const id = await seedDelivery(wh.id, "tnt_retry_after", clock.now);
      await attemptDelivery(deliveryDeps(clock), id);
      expect(((await deliveryRow(id))!.due_at - clock.now) / 1000).toBe(expected);
      expect((await attemptRows(id))[0]).toMatchObject({ status_code: 429, error_class: "http_4xx" });
    }
  });

  it("short delays ride the queue, long ones wait in D1 for the cron sweep", async () => {
    const wh = await webhookAtReceiver("tnt_via", { plan: [500] });
    const clock = { now: Date.now() };
    const id = await seedDelivery(wh.id, "tnt_via", clock.now);
    expect((await attemptDelivery(deliveryDeps(clock), id)) as { retryVia: string }).toMatchObject({
      retryVia: "queue",
      retryInSeconds: 60,
    });
    expect((await deliveryRow(id))!.in_queue).toBe(1);
    for (let i = 0; i < 3; i++) {
      clock.now = (await deliveryRow(id))!.due_at;
      await attemptDelivery(deliveryDeps(clock), id);
    }
    expect((await deliveryRow(id))!).toMatchObject({ status: "retrying", attempt_count: 4, in_queue: 0 });
  });
});

describe("recording", () => {
  it("retries recording an attempt after a transient D1 error instead of sending again", async () => {
    const wh = await webhookAtReceiver("tnt_d1blip", { plan: [500] });
    const id = await seedDelivery(wh.id, "tnt_d1blip");
    await updateDelivery(id, { attempt_count: 5 }); // last attempt: counts a failure
    let batchCalls = 0;
    const blippingD1 = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch")
          return async (statements: D1PreparedStatement[]) => {
            if (++batchCalls === 2) throw new Error("D1_ERROR: transient"); // 1: claim, 2: record
            return target.batch(statements);
          };
        return Reflect.get(target, prop);
      },
    });
    const outcome = await attemptDelivery({ ...deliveryDeps({ now: Date.now() }), db: createDb(blippingD1) }, id);
    expect(outcome).toMatchObject({ status: "failed" });
    expect(batchCalls).toBe(3);
    expect(await recorded(wh.hookKey)).toHaveLength(1);
    expect(await attemptRows(id)).toHaveLength(1);
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body.failure_count).toBe(1);
  });
});
