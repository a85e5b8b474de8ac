// A group of deliveries attempted together (attempt.ts, the queue consumer's batch): one D1 round trip to claim and
// one to record, keys only, what is due sent once, retries in one queue call, quick answers recorded first, and a
// delivery whose attempt could not be recorded held by its lease.
import { createMessageBatch } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { interceptD1 } from "../../../scripts/lib/d1-intercept";
import { createDb } from "../../../src/db/client";
import {
  createPartitions,
  ensureCurrentPartitions,
  firstDeliveryIdAt,
  hourOf,
  listPartitionHours,
  livePartitions,
  partitionName,
  tablesOf,
} from "../../../src/db/partitions";
import { RECORD_GATHER_MS } from "../../../src/domain/delivery/attempt";
import { claimDeliveries } from "../../../src/domain/delivery/claim";
import { recordAttempts } from "../../../src/domain/delivery/record";
import { sweepDueDeliveries } from "../../../src/domain/delivery/sweep";
import type { DeliveryRef } from "../../../src/domain/publish";
import { createServices } from "../../../src/lib/services";
import { api, createWebhook, WEBHOOKS, webhookAtReceiver } from "../../helpers/api";
import { batchOf, consumeDeliveries, handleBatch, QUEUE, SLOW_QUEUE, servicesWith } from "../../helpers/consumer";
import {
  ANSWERED_200,
  attemptRows,
  countingD1,
  deliveryDeps,
  deliveryRow,
  messageOf,
  seedDelivery,
  updateDeliveries,
  updateDelivery,
} from "../../helpers/deliveries";
import { queryPlansOf } from "../../helpers/pipeline";
import { recorded } from "../../helpers/receiver";
import { tenantAdmin } from "../../helpers/tokens";

const byId = (a: unknown, b: unknown) =>
  (a as { delivery_id: number }).delivery_id - (b as { delivery_id: number }).delivery_id;

describe("a queue batch, handled at once", () => {
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
    const result = await handleBatch(batch, servicesWith(d1));
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
        await recordAttempts(
          deps,
          claimed.map((claim) => ({ claim, result: ANSWERED_200, startedAt: now, finishedAt: now + 3 })),
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
    await consumeDeliveries([done]);
    await updateDelivery(later, { due_at: Date.now() + 60_000 });
    await api("PATCH", `${WEBHOOKS}/${disabled.id}`, { token: disabled.token, body: { enabled: false } });
    const ids = [done!, later!, due!, due!, gone!, due!];
    const batch = createMessageBatch<unknown>(QUEUE, [
      ...ids.map((id, i) => ({ id: `mixed-${i}`, timestamp: new Date(), attempts: 1, body: messageOf(id) })),
      { id: "mixed-bad", timestamp: new Date(), attempts: 1, body: { delivery_id: "nope" } },
    ]);
    const result = await handleBatch(batch, createServices(env));
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
    const result = await handleBatch(
      batch,
      servicesWith(env.DB, () => at),
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
    const result = await handleBatch(batch, {
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
    expect((await handleBatch(batch, servicesWith(d1))).explicitAcks).toHaveLength(4);
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
      const result = await handleBatch(
        batch,
        servicesWith(d1, () => at),
      );
      expect(result.explicitAcks).toHaveLength(acked);
      expect(result.retryMessages).toHaveLength(retried);
      expect(await recorded(wh.hookKey)).toHaveLength(7); // sent, so the lease keeps a redelivered message from sending again
      const config = createServices(env).config;
      const lease = at + 2 * config.deliveryTimeoutMs + config.inFlightMarginMs; // 7 deliveries = 2 waves of CONSUMER_CONCURRENCY
      for (const id of ids)
        expect(await deliveryRow(id)).toMatchObject({ status: "pending", attempt_count: 1, lease_until: lease });
      await consumeDeliveries(ids, 2);
      expect(await recorded(wh.hookKey)).toHaveLength(7);
    },
  );
});
