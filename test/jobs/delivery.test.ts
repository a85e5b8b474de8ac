// The delivery engine against a real local receiver: sign, send, retry, record, disable.
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { interceptD1 } from "../../scripts/lib/d1-intercept";
import { createDb } from "../../src/db/client";
import {
  createPartitions,
  ensureCurrentPartitions,
  firstDeliveryIdAt,
  hourOf,
  listPartitionHours,
  livePartitions,
  partitionName,
  tablesOf,
} from "../../src/db/partitions";
import { payloadText, type StoredPayload } from "../../src/db/payload";
import { attemptDelivery, RECORD_GATHER_MS } from "../../src/domain/delivery/attempt";
import { claimDeliveries } from "../../src/domain/delivery/claim";
import { recordAttempts, SUCCESS_BODY_KEPT_CHARS } from "../../src/domain/delivery/record";
import type { DeliveryRef } from "../../src/domain/publish";
import worker from "../../src/index";
import { handleDeadLetterBatch, handleDeliveryBatch } from "../../src/jobs/delivery-consumer";
import { sweepDueDeliveries } from "../../src/jobs/retry-sweep";
import { createServices, type Services } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS, webhookAtReceiver } from "../helpers/api";
import {
  attemptRows,
  cancelOpenDeliveriesBut,
  countingD1,
  deliveryDeps,
  deliveryRow,
  messageOf,
  scaiKeyReceiverAccepts,
  seedDelivery,
  standardWebhooksAccepts,
  storedPayloadsOfType,
  updateDeliveries,
  updateDelivery,
  waitFor,
} from "../helpers/deliveries";
import { queryPlansOf } from "../helpers/pipeline";
import { hookUrl, recorded } from "../helpers/receiver";
import { publisher, tenantAdmin } from "../helpers/tokens";

const QUEUE = "scaikey-webhook-deliveries";
const SLOW_QUEUE = "scaikey-webhook-deliveries-slow";
const byId = (a: unknown, b: unknown) =>
  (a as { delivery_id: number }).delivery_id - (b as { delivery_id: number }).delivery_id;

/** The consumer handed one batch, and what it acked and retried once the work it handed over has ended. */
async function handle(batch: MessageBatch<unknown>, services: Services) {
  const ctx = createExecutionContext();
  await handleDeliveryBatch(batch, services, ctx);
  return getQueueResult(batch, ctx);
}

async function consume(refs: DeliveryRef[], attempts = 1) {
  const batch = createMessageBatch(
    QUEUE,
    refs.map((ref, i) => ({
      id: `m${ref.id}-${i}-${Math.random()}`,
      timestamp: new Date(),
      attempts,
      body: messageOf(ref),
    })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

describe("publish → queue → signed delivery", () => {
  it("delivers the canonical envelope with both signature schemes, verifiable as receivers do", async () => {
    const wh = await webhookAtReceiver("tnt_e2e", {}, { headers: { "X-Custom": "yes" } });
    const res = await api("POST", "/api/v1/events", {
      token: await publisher("tnt_e2e", "prt_engine"),
      body: {
        event_type: "user.created",
        tenant_id: "tnt_e2e",
        partner_id: "prt_engine",
        resource: { type: "user", id: "usr_42" },
        actor: { id: "usr_admin", type: "admin" },
        data: { name: "Zoë", roles: ["a", "b"], nested: { z: 1, a: 2 } },
      },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ deliveries: 1, duplicate: false });
    expect(res.body.event_id).toMatch(/^evt_/);

    // The real queue consumer picks the message up.
    const [req] = await waitFor(async () => {
      const got = await recorded(wh.hookKey);
      return got.length > 0 && got;
    });
    const delivery = await waitFor(async () => {
      const row = await env.DB.prepare("SELECT * FROM deliveries_live WHERE webhook_id = ?")
        .bind(wh.id)
        .first<Record<string, any>>();
      return row?.status === "success" && row;
    });
    expect(req!.method).toBe("POST");
    expect(req!.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": "ScaiKey-Webhook/1.0",
      "x-scaikey-webhook-id": String(delivery.id),
      "x-scaikey-event-id": res.body.event_id,
      "x-scaikey-event-type": "user.created",
      "x-custom": "yes",
      "webhook-id": res.body.event_id,
    });
    expect(req!.headers["x-scaikey-timestamp"]).toBe(req!.headers["webhook-timestamp"]);
    expect(req!.headers["x-scaikey-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(req!.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // Canonical: keys sorted at every level, compact, non-ASCII escaped (Python's json.dumps(sort_keys=True)).
    expect(req!.body).toContain('"data":{"name":"Zo\\u00eb","nested":{"a":2,"z":1},"roles":["a","b"]}');
    expect(req!.body.startsWith('{"actor":{"id":"usr_admin","type":"admin"},"data":')).toBe(true);
    expect(await scaiKeyReceiverAccepts(req!, wh.secret)).toBe(true);
    expect(await scaiKeyReceiverAccepts(req!, "whsec_wrong")).toBe(false);
    expect(await scaiKeyReceiverAccepts({ ...req!, body: req!.body.replace("Zo", "Jo") }, wh.secret)).toBe(false);
    expect(standardWebhooksAccepts(req!, wh.secret)).toBe(true);

    const detail = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries/${delivery.id}`, { token: wh.token });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({
      id: delivery.id,
      status: "success",
      attempt_count: 1,
      event_type: "user.created",
    });
    expect(JSON.stringify(detail.body.payload)).toBe(JSON.stringify(JSON.parse(req!.body)));
    expect(detail.body.attempts).toHaveLength(1);
    expect(detail.body.attempts[0]).toMatchObject({ attempt: 1, success: true, status_code: 200, error_class: null });
  });

  it("signs every attempt afresh with the current timestamp", async () => {
    const wh = await webhookAtReceiver("tnt_fresh", { plan: [500, 200] });
    const clock = { now: Date.now() - 200_000 };
    const id = await seedDelivery(wh.id, "tnt_fresh", clock.now);
    await attemptDelivery(deliveryDeps(clock), id);
    clock.now += 100_000;
    await updateDelivery(id, { due_at: clock.now });
    await attemptDelivery(deliveryDeps(clock), id);
    const [first, second] = await recorded(wh.hookKey);
    expect(Number(second!.headers["x-scaikey-timestamp"]) - Number(first!.headers["x-scaikey-timestamp"])).toBe(100);
    expect(second!.headers["x-scaikey-signature"]).not.toBe(first!.headers["x-scaikey-signature"]);
    expect(second!.body).toBe(first!.body);
    expect(await scaiKeyReceiverAccepts(second!, wh.secret, Math.floor(clock.now / 1000))).toBe(true);
  });
});

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

  it("records a timeout", async () => {
    const wh = await webhookAtReceiver("tnt_timeout", { delayMs: 3000 });
    const id = await seedDelivery(wh.id, "tnt_timeout");
    const outcome = await attemptDelivery(deliveryDeps({ now: Date.now() }, { deliveryTimeoutMs: 300 }), id);
    expect(outcome).toMatchObject({
      status: "retrying",
      result: { ok: false, errorClass: "timeout", statusCode: null },
    });
  });

  it("treats a redirect as a failure and does not follow it", async () => {
    const wh = await webhookAtReceiver("tnt_redirect", { plan: [302] });
    const id = await seedDelivery(wh.id, "tnt_redirect");
    const outcome = await attemptDelivery(deliveryDeps({ now: Date.now() }), id);
    expect(outcome).toMatchObject({
      status: "retrying",
      result: { ok: false, statusCode: 302, errorClass: "redirect" },
    });
    expect(await recorded(wh.hookKey)).toHaveLength(1);
  });

  it("keeps the first 4 KiB of a failure's response body, and 256 characters of a success's", async () => {
    const failing = await webhookAtReceiver("tnt_trunc_fail", { plan: [500], body: "é", repeat: 5000 });
    const failed = await seedDelivery(failing.id, "tnt_trunc_fail");
    await attemptDelivery(deliveryDeps({ now: Date.now() }), failed);
    const [failure] = await attemptRows(failed);
    expect(failure!.success).toBe(false);
    expect(new TextEncoder().encode(failure!.response_body!).byteLength).toBeLessThanOrEqual(4096);
    expect(failure!.response_body!.length).toBeGreaterThan(2000);

    const ok = await webhookAtReceiver("tnt_trunc_ok", { body: "é", repeat: 5000 });
    const succeeded = await seedDelivery(ok.id, "tnt_trunc_ok");
    await attemptDelivery(deliveryDeps({ now: Date.now() }), succeeded);
    const [success] = await attemptRows(succeeded);
    expect(success!.success).toBe(true);
    expect(success!.response_body).toBe("é".repeat(SUCCESS_BODY_KEPT_CHARS));
  });
});

describe("the queue consumer", () => {
  it("does not send an already-successful delivery again when its message is redelivered", async () => {
    const wh = await webhookAtReceiver("tnt_redeliver");
    const id = await seedDelivery(wh.id, "tnt_redeliver");
    const first = await consume([id]);
    expect(first.explicitAcks).toHaveLength(1);
    expect((await deliveryRow(id))!.status).toBe("success");
    const again = await consume([id, id], 2);
    expect(again.explicitAcks).toHaveLength(2);
    expect(again.retryMessages).toEqual([]);
    expect(await recorded(wh.hookKey)).toHaveLength(1);
    expect(await attemptRows(id)).toHaveLength(1);
  });

  it("sends a delivery only once when two copies of its message arrive together", async () => {
    const wh = await webhookAtReceiver("tnt_dupe", { delayMs: 200 });
    const id = await seedDelivery(wh.id, "tnt_dupe");
    await consume([id, id, id]);
    expect(await recorded(wh.hookKey)).toHaveLength(1);
    expect((await deliveryRow(id))!).toMatchObject({ status: "success", attempt_count: 1 });
  });

  it("retries the message, never drops it, when D1 fails", async () => {
    const wh = await webhookAtReceiver("tnt_d1fail");
    const id = await seedDelivery(wh.id, "tnt_d1fail");
    const failingD1 = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare" || prop === "batch" || prop === "exec")
          return () => {
            throw new Error("D1_ERROR: database is unavailable");
          };
        return Reflect.get(target, prop);
      },
    });
    const services = { ...createServices(env), db: createDb(failingD1) };
    const batch = createMessageBatch(QUEUE, [{ id: "m-d1", timestamp: new Date(), attempts: 1, body: messageOf(id) }]);
    const result = await handle(batch, services);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toMatchObject([{ msgId: "m-d1" }]);
    expect((await deliveryRow(id))!.status).toBe("pending");
    // With D1 back, the redelivered message goes through.
    await consume([id], 2);
    expect((await deliveryRow(id))!.status).toBe("success");
  });

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

  it("delivers a message without webhook_id (sent before messages named it), found among the open deliveries", async () => {
    const wh = await webhookAtReceiver("tnt_legacy_message");
    const id = await seedDelivery(wh.id, "tnt_legacy_message");
    const batch = createMessageBatch(QUEUE, [
      { id: "m-legacy", timestamp: new Date(), attempts: 1, body: { delivery_id: id.id } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["m-legacy"]);
    expect(await deliveryRow(id)).toMatchObject({ status: "success", attempt_count: 1 });
    expect(await recorded(wh.hookKey)).toHaveLength(1);
  });

  it("retries, never drops, messages without webhook_id when finding their deliveries fails", async () => {
    const wh = await webhookAtReceiver("tnt_legacy_d1fail");
    const id = await seedDelivery(wh.id, "tnt_legacy_d1fail");
    const failing = interceptD1(env.DB, {
      statement: (_op, statement, _args, call) =>
        (statement as unknown as { statement: string }).statement.includes("completed_at IS NULL AND id IN")
          ? Promise.reject(new Error("D1_ERROR: database is unavailable"))
          : call(),
    });
    const batch = createMessageBatch(QUEUE, [
      { id: "m-legacy-fail", timestamp: new Date(), attempts: 3, body: { delivery_id: id.id } },
      { id: "m-probe", timestamp: new Date(), attempts: 1, body: { watermark_probe: Date.now() } },
    ]);
    const result = await handle(batch, { ...createServices(env), db: createDb(failing) });
    expect(result.explicitAcks).toEqual(["m-probe"]);
    expect(result.retryMessages).toMatchObject([{ msgId: "m-legacy-fail" }]);
    expect(await deliveryRow(id)).toMatchObject({ status: "pending", attempt_count: 0 });
  });

  it("acknowledges and drops a malformed message", async () => {
    const batch = createMessageBatch(QUEUE, [
      { id: "m-bad", timestamp: new Date(), attempts: 1, body: { nope: true } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["m-bad"]);
  });

  it("cancels instead of sending when the endpoint was disabled or deleted", async () => {
    const wh = await webhookAtReceiver("tnt_cancel");
    const id = await seedDelivery(wh.id, "tnt_cancel");
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: false } });
    await consume([id]);
    expect((await deliveryRow(id))!).toMatchObject({ status: "cancelled", last_error: "endpoint disabled" });
    expect(await recorded(wh.hookKey)).toHaveLength(0);
  });

  it("marks dead-lettered deliveries failed, visibly", async () => {
    const wh = await webhookAtReceiver("tnt_dlq");
    const id = await seedDelivery(wh.id, "tnt_dlq");
    const batch = createMessageBatch(`${QUEUE}-dlq`, [
      { id: "m-dlq", timestamp: new Date(), attempts: 1, body: messageOf(id) },
    ]);
    await handleDeadLetterBatch(batch, createServices(env));
    const listed = await api("GET", `${WEBHOOKS}/${wh.id}/deliveries?status=failed`, { token: wh.token });
    expect(listed.body.items.map((d: { id: number }) => d.id)).toEqual([id.id]);
    expect(listed.body.items[0]!.last_error).toMatch(/dead-lettered/);
  });
});

describe("a queue batch, handled at once", () => {
  const services = (d1: D1Database, now?: () => number) => ({
    ...createServices(env),
    db: createDb(d1),
    ...(now ? { now } : {}),
  });
  const batchOf = (refs: DeliveryRef[], attempts = 1, queue = QUEUE) =>
    createMessageBatch(
      queue,
      refs.map((ref, i) => ({
        id: `b${ref.id}-${i}-${Math.random()}`,
        timestamp: new Date(),
        attempts,
        body: messageOf(ref),
      })),
    );

  it("claims every delivery in one D1 round trip and records them all in one more", async () => {
    const hooks = await Promise.all(["tnt_whole_a", "tnt_whole_b", "tnt_whole_c"].map((t) => webhookAtReceiver(t)));
    const ids: DeliveryRef[] = [];
    for (let i = 0; i < 12; i++) ids.push(await seedDelivery(hooks[i % 3]!.id, `tnt_whole_${"abc"[i % 3]}`));
    // A backlog of 2,000 other deliveries waiting, in this hour's partition (beside the batch's own) and in the
    // deliveries table: claiming this batch must not read through them.
    const backlog = await webhookAtReceiver("tnt_whole_backlog");
    const now = Date.now();
    const hour = await ensureCurrentPartitions(env.DB, now);
    const backlogIn = (deliveries: string, events: string, firstId: number) => [
      env.DB.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
        INSERT INTO "${events}" (owner_key, event_id, event_type, tenant_id, partner_id, payload, created_at)
        SELECT 't:tnt_whole_backlog', 'evt_backlog_' || ?1 || '_' || i, 'user.created', 'tnt_whole_backlog', NULL, '{}', ?2
        FROM n`).bind(deliveries, now),
      env.DB.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
        INSERT INTO "${deliveries}" (webhook_id, id, event_owner, event_id, event_hour, event_type, status, attempt_count,
          due_at, in_queue, attempts, created_at, updated_at)
        SELECT ?1, ?2 + i, 't:tnt_whole_backlog', 'evt_backlog_' || ?3 || '_' || i, ?4, 'user.created', 'pending', 0,
          0, 1, '[]', ?5, ?5
        FROM n`).bind(backlog.id, firstId, deliveries, hour, now),
    ];
    await env.DB.batch([
      ...backlogIn(partitionName("deliveries", hour), partitionName("events", hour), firstDeliveryIdAt(now - 1000)),
      ...backlogIn("deliveries", "events", firstDeliveryIdAt(now - 3 * 3_600_000)),
    ]);
    const { d1, counts } = countingD1(env.DB);
    await livePartitions(d1); // the partitions as a running isolate knows them (one look, then cached)
    counts.statements = 0;
    const batch = batchOf(ids);
    const result = await handle(batch, services(d1));
    expect(result.explicitAcks).toHaveLength(12);
    expect(counts).toMatchObject({ batches: 2, statements: 0 });
    expect(counts.batchRowsRead).toBeLessThan(1_000); // some rows per delivery, never the backlog
    for (const wh of hooks) expect(await recorded(wh.hookKey)).toHaveLength(4);
    for (const id of ids) {
      expect(await deliveryRow(id)).toMatchObject({
        status: "success",
        attempt_count: 1,
        in_queue: 0,
        lease_until: null,
      });
      expect(await attemptRows(id)).toMatchObject([{ attempt: 1, success: true, status_code: 200 }]);
    }
  });

  it("claims, records and sweeps through each table's keys, never reading a table through", async () => {
    const wh = await webhookAtReceiver("tnt_plans");
    const now = Date.now();
    await createPartitions(env.DB, [hourOf(now) - 2, hourOf(now) - 1, hourOf(now), hourOf(now) + 1]);
    const ids = [await seedDelivery(wh.id, "tnt_plans", now), await seedDelivery(wh.id, "tnt_plans", now + 1)];
    const plans = await queryPlansOf(
      async (d1) => {
        const deps = { ...deliveryDeps({ now }), db: createDb(d1) };
        const { claimed } = await claimDeliveries(deps, ids);
        const result = {
          ok: true,
          statusCode: 200,
          durationMs: 3,
          errorClass: null,
          errorMessage: null,
          responseExcerpt: "ok",
          retryAfterSeconds: null,
        };
        await recordAttempts(
          deps,
          claimed.map((claim) => ({ claim, result, startedAt: now, finishedAt: now + 3 })),
        );
        await sweepDueDeliveries({ ...createServices(env), db: createDb(d1), now: () => now });
      },
      { statements: true },
    );
    const tables = new Set([
      ...tablesOf("deliveries", await listPartitionHours(env.DB)),
      ...tablesOf("events", await listPartitionHours(env.DB)),
    ]);
    const reads = plans.flatMap(({ sql, plan }) => plan.map((step) => ({ sql, step })));
    // No deliveries or events table is scanned, nor sorted.
    for (const { sql, step } of reads) {
      const table = /^(SCAN|SEARCH) (\w+)/.exec(step)?.[2];
      if (table && tables.has(table)) expect(step, sql).toMatch(/^SEARCH \w+ USING (PRIMARY KEY|INDEX \w+) \(/);
    }
    const claim = plans.find((p) => p.sql.startsWith(`UPDATE "deliveries_p${hourOf(now)}" SET attempt_count`))!;
    expect(claim.plan).toContain(`SEARCH deliveries_p${hourOf(now)} USING PRIMARY KEY (webhook_id=? AND id=?)`);
    const record = plans.find((p) => p.sql.startsWith(`UPDATE "deliveries_p${hourOf(now)}" SET\n    status`))!;
    expect(record.plan).toContain(`SEARCH deliveries_p${hourOf(now)} USING PRIMARY KEY (webhook_id=? AND id=?)`);
    // The sweep walks each table's index of open deliveries.
    for (const table of tablesOf("deliveries", await listPartitionHours(env.DB)))
      expect(
        plans.some((p) =>
          p.plan.some((d) =>
            d.startsWith(`SEARCH ${table} USING INDEX ${table === "deliveries" ? "" : `${table}_`}deliveries_open_idx`),
          ),
        ),
        table,
      ).toBe(true);
  });

  it("sends only what is due, once, and acknowledges every message", async () => {
    const wh = await webhookAtReceiver("tnt_mixed");
    const disabled = await webhookAtReceiver("tnt_mixed");
    const [done, later, due, gone] = [
      await seedDelivery(wh.id, "tnt_mixed"),
      await seedDelivery(wh.id, "tnt_mixed"),
      await seedDelivery(wh.id, "tnt_mixed"),
      await seedDelivery(disabled.id, "tnt_mixed"),
    ];
    await consume([done]);
    await updateDelivery(later, { due_at: Date.now() + 60_000 });
    await api("PATCH", `${WEBHOOKS}/${disabled.id}`, { token: disabled.token, body: { enabled: false } });
    const ids = [done!, later!, due!, due!, gone!, due!];
    const batch = createMessageBatch<unknown>(QUEUE, [
      ...ids.map((id, i) => ({ id: `mixed-${i}`, timestamp: new Date(), attempts: 1, body: messageOf(id) })),
      { id: "mixed-bad", timestamp: new Date(), attempts: 1, body: { delivery_id: "nope" } },
    ]);
    const result = await handle(batch, createServices(env));
    expect(result.explicitAcks.sort()).toEqual([...ids.map((_, i) => `mixed-${i}`), "mixed-bad"].sort());
    expect(result.retryMessages).toEqual([]);
    expect(await recorded(wh.hookKey)).toHaveLength(2); // `done` earlier, `due` now
    expect(await deliveryRow(due!)).toMatchObject({ status: "success", attempt_count: 1 });
    expect(await deliveryRow(later!)).toMatchObject({ status: "pending", attempt_count: 0 });
    expect(await deliveryRow(gone!)).toMatchObject({ status: "cancelled", last_error: "endpoint disabled" });
    expect(await recorded(disabled.hookKey)).toEqual([]);
  });

  it("disables an endpoint once, and announces it once, when two final failures are recorded in the same millisecond", async () => {
    const wh = await webhookAtReceiver("tnt_twice", { plan: [500] });
    const listener = await createWebhook(await tenantAdmin("tnt_twice", "prt_engine"), {
      url: "https://receiver.example.com/ops",
      events: ["webhook.auto_disabled"],
    });
    await env.DB.prepare("UPDATE webhook_endpoints SET failure_count = 8 WHERE id = ?").bind(wh.id).run();
    const at = Date.now();
    const ids = [
      await seedDelivery(wh.id, "tnt_twice", at),
      await seedDelivery(wh.id, "tnt_twice", at),
      await seedDelivery(wh.id, "tnt_twice", at),
    ];
    await updateDeliveries(ids, { attempt_count: 5 }); // last attempts
    const batch = batchOf(ids);
    const result = await handle(
      batch,
      services(env.DB, () => at),
    ); // one clock reading for all: the same millisecond
    expect(result.explicitAcks).toHaveLength(3);
    expect(await recorded(wh.hookKey)).toHaveLength(3);
    const got = await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token });
    // Subscribed to everything, the disabled endpoint misses its own announcement: once.
    expect(got.body).toMatchObject({
      enabled: false,
      status: "auto_disabled",
      failure_count: 11,
      missed_events_since_disabled: 1,
    });
    const { results } = await env.DB.prepare(
      "SELECT d.event_id FROM deliveries_live d WHERE d.event_type = 'webhook.auto_disabled' AND d.webhook_id = ?",
    )
      .bind(listener.id)
      .all();
    expect(results).toHaveLength(1);
  });

  it("adds up one endpoint's outcomes in a group in the order they happened", async () => {
    const deps = deliveryDeps({ now: Date.now() });
    const ok = (at: number) => ({
      result: {
        ok: true,
        statusCode: 200,
        durationMs: 3,
        errorClass: null,
        errorMessage: null,
        responseExcerpt: "ok",
        retryAfterSeconds: null,
      },
      startedAt: at,
      finishedAt: at,
    });
    const lastFailure = (at: number) => ({
      result: {
        ok: false,
        statusCode: 500,
        durationMs: 3,
        errorClass: "http_5xx" as const,
        errorMessage: "HTTP 500",
        responseExcerpt: null,
        retryAfterSeconds: null,
      },
      startedAt: at,
      finishedAt: at,
    });
    for (const [order, expected] of [
      ["success, then a final failure", { failure_count: 1, enabled: true }],
      ["a final failure, then success", { failure_count: 0, enabled: false }],
    ] as const) {
      const wh = await webhookAtReceiver(`tnt_order_${order.length}`);
      await env.DB.prepare("UPDATE webhook_endpoints SET failure_count = 9 WHERE id = ?").bind(wh.id).run();
      const ids = [await seedDelivery(wh.id, "tnt_order"), await seedDelivery(wh.id, "tnt_order")];
      await updateDeliveries(ids, { attempt_count: 5 }); // last attempts
      const { claimed } = await claimDeliveries(deps, ids);
      const t = Date.now();
      const outcomes = order.startsWith("success")
        ? [
            { claim: claimed[0]!, ...ok(t) },
            { claim: claimed[1]!, ...lastFailure(t + 1) },
          ]
        : [
            { claim: claimed[0]!, ...lastFailure(t) },
            { claim: claimed[1]!, ...ok(t + 1) },
          ];
      const recordedOutcomes = await recordAttempts(deps, outcomes);
      expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body, order).toMatchObject(expected);
      expect(
        recordedOutcomes.some((o) => o.autoDisabled),
        order,
      ).toBe(!expected.enabled);
    }
  });

  it("schedules the batch's short retries with one queue call, each delayed by its own backoff", async () => {
    const wh = await webhookAtReceiver("tnt_batch_retry", { plan: [500] });
    const ids = [await seedDelivery(wh.id, "tnt_batch_retry"), await seedDelivery(wh.id, "tnt_batch_retry")];
    const sent: MessageSendRequest<unknown>[][] = [];
    const queue = {
      send: async () => {
        throw new Error("one sendBatch expected");
      },
      sendBatch: async (m: Iterable<MessageSendRequest<unknown>>) => void sent.push([...m]),
    };
    const batch = batchOf(ids);
    const result = await handle(batch, {
      ...createServices(env),
      queue: queue as unknown as Queue<{ delivery_id: number }>,
    });
    expect(result.explicitAcks).toHaveLength(2);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.map((m) => m.body).sort(byId)).toEqual(ids.map(messageOf).sort(byId));
    for (const m of sent[0]!)
      expect(m.delaySeconds).toBeGreaterThanOrEqual(54), expect(m.delaySeconds).toBeLessThanOrEqual(66); // 60 s ± 10 %
    for (const id of ids) expect(await deliveryRow(id)).toMatchObject({ status: "retrying", in_queue: 1 });
  });

  it("records quick answers without waiting for a slow receiver", async () => {
    const slow = await webhookAtReceiver("tnt_slowpoke", { delayMs: RECORD_GATHER_MS + 1_500 });
    const quick = await webhookAtReceiver("tnt_slowpoke");
    const slowId = await seedDelivery(slow.id, "tnt_slowpoke");
    const quickIds = [
      await seedDelivery(quick.id, "tnt_slowpoke"),
      await seedDelivery(quick.id, "tnt_slowpoke"),
      await seedDelivery(quick.id, "tnt_slowpoke"),
    ];
    // After each batch, which of these deliveries have their attempt recorded.
    const recordedAfter: DeliveryRef[][] = [];
    const d1 = interceptD1(env.DB, {
      batch: async (_statements, call) => {
        const results = await call();
        const all = [slowId, ...quickIds];
        const rows = await Promise.all(all.map(deliveryRow));
        recordedAfter.push(all.filter((_, i) => JSON.parse(rows[i]!.attempts).length > 0));
        return results;
      },
    });
    const batch = batchOf([slowId, ...quickIds]);
    expect((await handle(batch, services(d1))).explicitAcks).toHaveLength(4);
    // Claim, the quick ones after RECORD_GATHER_MS, the slow one when it answered.
    expect(recordedAfter).toEqual([[], quickIds, [slowId, ...quickIds]]);
  });

  it.each([
    // The main lane has acked every message by the time it hands over (all sent or being sent).
    { lane: "main", queue: QUEUE, acked: 7, retried: 0 },
    // The slow lane waits for its sends, and retries every message whose attempt could not be recorded.
    { lane: "slow", queue: SLOW_QUEUE, acked: 0, retried: 7 },
  ])(
    "holds a delivery whose attempt could not be recorded for all the batch's sends ($lane lane)",
    async ({ lane, queue, acked, retried }) => {
      const wh = await webhookAtReceiver(`tnt_unrecorded_${lane}`);
      const ids: DeliveryRef[] = [];
      for (let i = 0; i < 7; i++) ids.push(await seedDelivery(wh.id, `tnt_unrecorded_${lane}`));
      const { d1 } = countingD1(env.DB, { failBatchesFrom: 2 }); // the claim goes through, every recording fails
      const at = Date.now();
      const batch = batchOf(ids, 1, queue);
      const result = await handle(
        batch,
        services(d1, () => at),
      );
      expect(result.explicitAcks).toHaveLength(acked);
      expect(result.retryMessages).toHaveLength(retried);
      expect(await recorded(wh.hookKey)).toHaveLength(7); // sent, so the lease keeps a redelivered message from sending again
      const config = createServices(env).config;
      const lease = at + 2 * config.deliveryTimeoutMs + config.inFlightMarginMs; // 7 deliveries = 2 waves of CONSUMER_CONCURRENCY
      for (const id of ids)
        expect(await deliveryRow(id)).toMatchObject({ status: "pending", attempt_count: 1, lease_until: lease });
      await consume(ids, 2);
      expect(await recorded(wh.hookKey)).toHaveLength(7);
    },
  );
});

describe("the cron sweep", () => {
  it("enqueues due retries and orphaned deliveries, leaves the rest, and never enqueues one twice", async () => {
    const wh = await webhookAtReceiver("tnt_sweep");
    const now = Date.now();
    const due = await seedDelivery(wh.id, "tnt_sweep", now - 5);
    const orphan = await seedDelivery(wh.id, "tnt_sweep", now - 4);
    const notDue = await seedDelivery(wh.id, "tnt_sweep", now - 3);
    const queuedRecently = await seedDelivery(wh.id, "tnt_sweep", now - 2);
    const set = (id: DeliveryRef, status: string, due: number, inQueue: number) =>
      updateDelivery(id, { status, due_at: due, in_queue: inQueue });
    await set(due, "retrying", now - 1000, 0);
    await set(orphan, "pending", now - 10 * 60_000, 1);
    await set(notDue, "retrying", now + 3_600_000, 0);
    await set(queuedRecently, "pending", now - 1000, 1);
    // Leave only this test's rows eligible.
    await cancelOpenDeliveriesBut(wh.id);

    // The consumer has received messages sent just now: the orphan's message, due 10 minutes ago, is lost.
    await env.DB.prepare(
      "INSERT INTO job_cursors (name, value) VALUES ('queue_watermark', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
      .bind(now)
      .run();
    const services = createServices(env);
    const [a, b] = await Promise.all([sweepDueDeliveries(services), sweepDueDeliveries(services)]);
    expect(a.enqueued + b.enqueued).toBe(2);
    expect((await deliveryRow(due))!).toMatchObject({ in_queue: 1 });
    expect((await deliveryRow(notDue))!).toMatchObject({ in_queue: 0, due_at: now + 3_600_000 });
    expect((await sweepDueDeliveries(services)).enqueued).toBe(0);

    // Through the scheduled handler, the real queue then delivers them.
    await updateDelivery(notDue, { due_at: now - 1, in_queue: 0 });
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    for (const id of [due, orphan, notDue]) await waitFor(async () => (await deliveryRow(id))!.status === "success");
  });
});

describe("endpoint health", () => {
  it("auto-disables after consecutive failed deliveries, announces it, and a success resets the count", async () => {
    const wh = await webhookAtReceiver("tnt_health", { plan: [500] });
    const listener = await createWebhook(await tenantAdmin("tnt_health", "prt_engine"), {
      url: "https://receiver.example.com/ops",
      events: ["webhook.auto_disabled"],
    });
    // A query-string secret in the failing webhook's URL must not reach the other subscribers.
    await env.DB.prepare(
      "UPDATE webhook_endpoints SET failure_count = 9, url = url || '&token=SUPERSECRET123' WHERE id = ?",
    )
      .bind(wh.id)
      .run();
    const clock = { now: Date.now() };
    const id = await seedDelivery(wh.id, "tnt_health", clock.now);
    await updateDelivery(id, { attempt_count: 5 }); // the last attempt
    const outcome = await attemptDelivery(deliveryDeps(clock), id);
    expect(outcome).toMatchObject({ status: "failed", autoDisabled: true });
    const got = await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token });
    expect(got.body).toMatchObject({
      enabled: false,
      status: "auto_disabled",
      failure_count: 10,
      disabled_reason: "consecutive_failures",
    });
    expect(got.body.disabled_at).not.toBeNull();

    // The webhook.auto_disabled event and its deliveries were stored in the same batch as the disable.
    expect((outcome as { announcementDeliveries: DeliveryRef[] }).announcementDeliveries).toMatchObject([
      { webhookId: listener.id },
    ]);
    const announcedRow = await env.DB.prepare(
      `SELECT e.payload FROM deliveries_live d
       JOIN events_live e ON e.owner_key = d.event_owner AND e.event_id = d.event_id
       WHERE d.event_type = 'webhook.auto_disabled' AND d.webhook_id = ?`,
    )
      .bind(listener.id)
      .first<{ payload: StoredPayload }>();
    const announced = { payload: await payloadText(announcedRow!.payload) };
    expect(JSON.parse(announced!.payload)).toMatchObject({
      resource: { type: "webhook", id: wh.id },
      data: { reason: "consecutive_failures" },
    });
    expect(JSON.parse(announced!.payload).data).toEqual({
      webhook_id: wh.id,
      reason: "consecutive_failures",
      threshold: 10,
    });
    expect(announced!.payload).not.toContain("SUPERSECRET123");

    // Re-enabled, then one success resets the count.
    await api("PATCH", `${WEBHOOKS}/${wh.id}`, { token: wh.token, body: { enabled: true, url: hookUrl().url } });
    await env.DB.prepare("UPDATE webhook_endpoints SET failure_count = 4 WHERE id = ?").bind(wh.id).run();
    const ok = await seedDelivery(wh.id, "tnt_health", clock.now + 1);
    expect(await attemptDelivery(deliveryDeps(clock), ok)).toMatchObject({ status: "success" });
    expect((await api("GET", `${WEBHOOKS}/${wh.id}`, { token: wh.token })).body).toMatchObject({
      failure_count: 0,
      status: "active",
    });
  });
});
