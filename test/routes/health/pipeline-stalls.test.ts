// /health turns 503 when the pipeline stalls, with the reason, and 200 once it clears: a consumer that fails every
// batch, a cron that does not run, a backlog older than HEALTH_MAX_DELIVERY_LAG_SECONDS. And no false alarm: an idle
// deployment, a fresh deploy, crons resuming after a pause, a backlog worked through within the threshold.
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { interceptD1 } from "../../../scripts/lib/d1-intercept";
import { createDb } from "../../../src/db/client";
import { createPartitions, hourOf, listPartitionHours, tablesOf } from "../../../src/db/partitions";
import { sweepDueDeliveries } from "../../../src/domain/delivery/sweep";
import type { DeliveryRef } from "../../../src/domain/publish";
import { runScheduled } from "../../../src/jobs/scheduled";
import { createServices, type Services } from "../../../src/lib/services";
import { createWebhook } from "../../helpers/api";
import {
  cancelOpenDeliveriesBut,
  countingD1,
  deliveryRow,
  messageOf,
  seedDelivery,
  updateDeliveries,
} from "../../helpers/deliveries";
import {
  type Clock,
  callWith,
  consume,
  keepingQueue,
  queryPlansOf,
  queuedDeliveries,
  type SentMessage,
  servicesAt as servicesOf,
  unavailableD1,
} from "../../helpers/pipeline";
import { hookUrl } from "../../helpers/receiver";
import { placeOwner } from "../../helpers/shards";
import { tenantAdmin } from "../../helpers/tokens";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const MAX_LAG = 300 * SECOND; // HEALTH_MAX_DELIVERY_LAG_SECONDS's default
const TENANT = "tnt_stalls";

// The pipeline of one shard, as a deployment of one database runs it (test/db/shards.test.ts holds /health over two):
// the tenant lives in shard 0, and the services this file builds reach shard 0 alone.
const servicesAt = (clock: Clock, overrides: Partial<Services> = {}) =>
  servicesOf(clock, { shards: createServices(env).shards.slice(0, 1), ...overrides });

type Checks = { status: string; d1: string; delivery: string; queue: string; cron: string };
const health = (lagSeconds: number, checks: Partial<Checks> = {}) => {
  const all = { status: "ok", d1: "ok", delivery: "ok", queue: "ok", cron: "ok", ...checks };
  return {
    ...all,
    lag_seconds: lagSeconds,
    jwks: "not_configured",
    shards: [{ shard: 0, d1: all.d1, delivery: all.delivery, queue: all.queue, lag_seconds: lagSeconds }],
  };
};
const healthy = (lagSeconds = 0) => health(lagSeconds);

let clock: Clock;
let webhookId: string;
beforeEach(async () => {
  clock = { now: Date.now() };
  // Each test starts from a fresh deploy: nothing active, no cron run, no queue cursor.
  await cancelOpenDeliveriesBut("");
  await env.DB.batch([
    env.DB.prepare("DELETE FROM job_runs"),
    env.DB.prepare(
      "DELETE FROM job_cursors WHERE name IN ('queue_watermark', 'queue_probe', 'sweep', 'oldest_due', 'oldest_due_id')",
    ),
  ]);
  await placeOwner(`t:${TENANT}`, 0);
  webhookId ??= (await createWebhook(await tenantAdmin(TENANT), { url: hookUrl().url, events: ["*"] })).id;
});

const healthAt = (at: number, services = servicesAt({ now: at })) => callWith(services, "/health");

/** Deliveries waiting in the queue since `at` (pending, in_queue, due then), as publish leaves them; oldest first. */
async function queued(count: number, at: number): Promise<DeliveryRef[]> {
  const ids: DeliveryRef[] = [];
  for (let i = 0; i < count; i++) ids.push(await seedDelivery(webhookId, TENANT, at));
  await queuedDeliveries(ids, at);
  return ids;
}

/**
 * A pass of the retry sweep at `at`, as its cron runs it: it records the oldest due delivery, which is what /health
 * reads. What it sends (its probe) is kept in `sent` for the test to hand to the consumer, or not.
 */
async function sweepAt(at: number, sent: SentMessage[] = []) {
  const queue = keepingQueue({ now: at });
  await sweepDueDeliveries(servicesAt({ now: at }, { queue: queue.queue }));
  sent.push(...queue.take());
}

describe("a backlog older than the threshold", () => {
  it("is healthy while the oldest due delivery waits up to the threshold, 503 beyond, 200 once worked through", async () => {
    const t0 = clock.now;
    const ids = await queued(30, t0);
    // The sweep of that minute records the oldest due delivery; its probe waits behind the backlog.
    const probes: SentMessage[] = [];
    await sweepAt(t0 + MAX_LAG - 10 * SECOND, probes);
    expect(await healthAt(t0 + MAX_LAG)).toEqual({ status: 200, body: healthy(300) });

    const late = await healthAt(t0 + MAX_LAG + SECOND);
    expect(late).toEqual({ status: 503, body: health(301, { status: "error", delivery: "lagging" }) });

    // The consumer works through it: half a batch (the oldest among them), still lagging once the sweep has looked
    // again, then the rest, and the probes behind them.
    clock.now = t0 + MAX_LAG + 2 * SECOND;
    const services = servicesAt(clock);
    const message = (id: DeliveryRef) => ({ body: messageOf(id), timestamp: new Date(t0) });
    await consume(services, ids.slice(0, 15).map(message));
    await sweepAt(clock.now, probes);
    expect(await healthAt(clock.now)).toEqual({
      status: 503,
      body: health(302, { status: "error", delivery: "lagging" }),
    });
    await consume(services, ids.slice(15).map(message));
    for (const id of ids) expect(await deliveryRow(id)).toMatchObject({ status: "success" });
    await consume(services, probes);
    expect(await healthAt(clock.now)).toEqual({ status: 200, body: healthy() });
    await sweepAt(clock.now);
    expect(await healthAt(clock.now)).toEqual({ status: 200, body: healthy() });
  });

  it("does not count a retry that is not due yet, nor an attempt in flight (its lease)", async () => {
    const t0 = clock.now;
    const [retry, inFlight] = await queued(2, t0);
    await updateDeliveries([retry!], { status: "retrying", in_queue: 0, due_at: t0 + 2 * 3_600_000 });
    await updateDeliveries([inFlight!], { attempt_count: 1, lease_until: t0 + 2 * MAX_LAG });
    const probes: SentMessage[] = [];
    await sweepAt(t0 + MAX_LAG + MINUTE, probes);
    await consume(servicesAt(clock), probes.splice(0));
    expect(await healthAt(t0 + MAX_LAG + MINUTE)).toEqual({ status: 200, body: healthy() });

    // A delivery the sweep found due, claimed since (its attempt in flight): not counted, without another sweep.
    const t1 = t0 + MAX_LAG + MINUTE;
    const [waiting] = await queued(1, t1);
    await sweepAt(t1 + MAX_LAG - SECOND);
    expect((await healthAt(t1 + MAX_LAG + SECOND)).body).toMatchObject({ delivery: "lagging", lag_seconds: 301 });
    await updateDeliveries([waiting!], { attempt_count: 1, lease_until: t1 + MAX_LAG + MINUTE });
    expect(await healthAt(t1 + MAX_LAG + SECOND)).toEqual({ status: 200, body: healthy(2) }); // the sweep's probe
  });
});

describe("a consumer that fails every batch", () => {
  it("turns /health 503 (delivery and queue lagging) after the threshold, and 200 once it consumes again", async () => {
    const t0 = clock.now;
    const [id] = await queued(1, t0);
    const queue = keepingQueue(clock);
    // The sweep runs as every minute and sends its probe; the consumer gets both messages, and fails on each batch.
    await runScheduled("* * * * *", servicesAt(clock, { queue: queue.queue }));
    const probe = queue.take();
    expect(probe).toHaveLength(1);
    const messages = [{ body: messageOf(id!), timestamp: new Date(t0) }, ...probe];
    const broken = servicesAt(clock, { db: createDb(unavailableD1()) });
    for (const [i, at] of [SECOND, MINUTE, 2 * MINUTE, 4 * MINUTE].entries()) {
      clock.now = t0 + at;
      const result = await consume(broken, i === 0 ? messages : messages.slice(0, 1), i + 1);
      expect(result.retryMessages).toHaveLength(1);
    }
    // The sweep keeps its probe's time while the watermark has not passed it (the crons themselves still run).
    await runScheduled("* * * * *", servicesAt(clock, { queue: queue.queue }));

    expect(await healthAt(t0 + MAX_LAG)).toEqual({ status: 200, body: healthy(300) });
    expect(await healthAt(t0 + MAX_LAG + SECOND)).toEqual({
      status: 503,
      body: health(301, { status: "error", delivery: "lagging", queue: "lagging" }),
    });

    // It consumes again: the retried message is delivered, the next probe moves the watermark past the waiting one.
    clock.now = t0 + MAX_LAG + 2 * SECOND;
    const working = servicesAt(clock);
    await consume(working, messages.slice(0, 1), 5);
    expect(await deliveryRow(id!)).toMatchObject({ status: "success" });
    await consume(working, queue.take());
    expect(await healthAt(clock.now)).toEqual({ status: 200, body: healthy() });
  });

  it("is seen on an idle queue too: only the probes wait", async () => {
    const t0 = clock.now;
    const queue = keepingQueue(clock);
    for (let minute = 0; minute <= 6; minute++) {
      clock.now = t0 + minute * MINUTE;
      await runScheduled("* * * * *", servicesAt(clock, { queue: queue.queue }));
    }
    expect(queue.take()).toHaveLength(7); // never consumed
    const stuck = await healthAt(clock.now);
    expect(stuck).toEqual({ status: 503, body: health(360, { status: "error", queue: "lagging" }) });
  });
});

describe("a cron that has not run", () => {
  it("is healthy on a fresh deploy, turns 503 three periods after the first cron run, and 200 once it runs", async () => {
    const t0 = clock.now;
    // No cron has run since the deploy: nothing to hold against any job, however long.
    expect(await healthAt(t0 + 7 * 24 * 3_600_000)).toEqual({ status: 200, body: healthy() });

    // The storage job runs; the retry sweep (every minute) does not.
    await runScheduled("*/3 * * * *", servicesAt(clock));
    expect(await healthAt(t0 + 3 * MINUTE)).toEqual({ status: 200, body: healthy() });
    expect(await healthAt(t0 + 3 * MINUTE + SECOND)).toEqual({
      status: 503,
      body: health(0, { status: "error", cron: "overdue" }),
    });

    clock.now = t0 + 3 * MINUTE + 2 * SECOND;
    const queue = keepingQueue(clock);
    await runScheduled("* * * * *", servicesAt(clock, { queue: queue.queue }));
    await consume(servicesAt(clock), queue.take());
    expect(await healthAt(clock.now)).toEqual({ status: 200, body: healthy() });
  });

  it("counts a job that keeps failing as not run", async () => {
    const t0 = clock.now;
    await runScheduled("* * * * *", servicesAt(clock, { queue: keepingQueue(clock).queue }));
    // The storage job fails on every run (D1 refuses its reads of the schema) for more than three periods.
    const failing = interceptD1(env.DB, {
      statement: (_op, statement, _args, call) =>
        (statement as unknown as { statement: string }).statement.includes("sqlite_master")
          ? Promise.reject(new Error("D1_ERROR: overloaded"))
          : call(),
    });
    for (let minute = 0; minute <= 9; minute += 3) {
      clock.now = t0 + minute * MINUTE;
      await expect(runScheduled("*/3 * * * *", servicesAt(clock, { db: createDb(failing) }))).rejects.toThrow();
    }
    expect(await env.DB.prepare("SELECT * FROM job_runs WHERE name = 'storage'").first()).toMatchObject({
      last_outcome: "failed",
      last_error_class: "d1",
      last_succeeded_at: null,
    });
    const sweep = async (at: number) => {
      clock.now = at;
      const queue = keepingQueue(clock);
      await runScheduled("* * * * *", servicesAt(clock, { queue: queue.queue }));
      await consume(servicesAt(clock), queue.take());
    };
    await sweep(t0 + 9 * MINUTE);
    expect(await healthAt(t0 + 9 * MINUTE)).toEqual({ status: 200, body: healthy() });
    expect((await healthAt(t0 + 9 * MINUTE + SECOND)).body).toEqual(health(0, { status: "error", cron: "overdue" }));
  });
});

describe("no false alarm", () => {
  it("an idle deployment: the sweep's probe comes back every minute, nothing is due", async () => {
    const t0 = clock.now;
    for (let minute = 0; minute <= 20; minute++) {
      clock.now = t0 + minute * MINUTE;
      const queue = keepingQueue(clock);
      for (const { cron } of [{ cron: "* * * * *" }, ...(minute % 3 === 0 ? [{ cron: "*/3 * * * *" }] : [])])
        await runScheduled(cron, servicesAt(clock, { queue: queue.queue }));
      clock.now += 2 * SECOND;
      await consume(servicesAt(clock), queue.take());
      expect(await healthAt(clock.now + 50 * SECOND)).toEqual({ status: 200, body: healthy() });
    }
  });

  it("crons resuming after a long pause: the old watermark is not held against the first new probe", async () => {
    const t0 = clock.now;
    const twoDaysAgo = t0 - 2 * 24 * 3_600_000;
    const queue = keepingQueue({ now: twoDaysAgo });
    await runScheduled("* * * * *", servicesAt({ now: twoDaysAgo }, { queue: queue.queue }));
    await consume(servicesAt({ now: twoDaysAgo }), queue.take());

    // Every cron runs again; the sweep's new probe has not reached the consumer yet.
    for (const cron of ["*/3 * * * *", "17 3 * * *", "* * * * *"])
      await runScheduled(cron, servicesAt(clock, { queue: keepingQueue(clock).queue }));
    expect(await healthAt(t0 + SECOND)).toEqual({ status: 200, body: healthy(1) });
  });
});

describe("the health check's cost", () => {
  it("is one D1 round trip whose reads stay a handful of rows behind a backlog", async () => {
    const t0 = clock.now;
    await queued(200, t0 - MINUTE);
    const probes: SentMessage[] = [];
    await sweepAt(t0, probes);
    await consume(servicesAt(clock), probes);
    const counted = countingD1(env.DB);
    const res = await healthAt(t0, servicesAt(clock, { db: createDb(counted.d1) }));
    expect(res.body).toEqual(healthy(60));
    expect(counted.counts).toMatchObject({ batches: 1, statements: 0 });
    // The oldest due delivery (an index entry and its row), the two queue cursors, the four job rows (each by key).
    expect(counted.counts.batchRowsRead).toBeLessThanOrEqual(16);
  });

  it("reads through indexes only, deliveries through each table's partial index of open ones", async () => {
    const hour = hourOf(clock.now);
    await createPartitions(env.DB, [hour - 2, hour - 1, hour, hour + 1]);
    const plans = await queryPlansOf((d1) => healthAt(clock.now, servicesAt(clock, { db: createDb(d1) })));
    expect(plans).toHaveLength(3);
    const tables = tablesOf("deliveries", await listPartitionHours(env.DB));
    for (const { sql, plan } of plans) {
      const reads = plan.filter((step) => !/^(COMPOUND QUERY|LEFT-MOST SUBQUERY|UNION ALL)$/.test(step));
      for (const step of reads) expect(step, sql).toMatch(/^SEARCH \w+ USING (COVERING )?INDEX \w+ \(/);
      if (sql.includes("FROM deliveries") || sql.includes("JOIN deliveries"))
        for (const table of tables)
          expect(reads).toContain(
            `SEARCH ${table} USING INDEX ${table === "deliveries" ? "" : `${table}_`}deliveries_open_idx (id=?)`,
          );
    }
  });
});

describe("the warn line when the health turns", () => {
  afterEach(() => vi.restoreAllMocks());

  it("is written once each way", async () => {
    const t0 = clock.now;
    const [id] = await queued(1, t0);
    const probes: SentMessage[] = [];
    await sweepAt(t0, probes);
    await consume(servicesAt(clock), probes);
    await healthAt(t0); // healthy: this isolate now remembers "ok"
    const warnings: Record<string, unknown>[] = [];
    vi.spyOn(console, "warn").mockImplementation((line: string) => void warnings.push(JSON.parse(line)));
    await healthAt(t0 + MAX_LAG + SECOND);
    await healthAt(t0 + MAX_LAG + 2 * SECOND);
    await updateDeliveries([id!], { status: "success", completed_at: t0 + MAX_LAG + 2 * SECOND });
    await healthAt(t0 + MAX_LAG + 3 * SECOND);
    await healthAt(t0 + MAX_LAG + 4 * SECOND);
    const { shards: _lagging, ...lagging } = health(301, { status: "error", delivery: "lagging" });
    const { shards: _ok, ...ok } = healthy();
    expect(warnings).toEqual([
      { level: "warn", msg: "health changed", ...lagging, failing_shards: "0", previous: "ok" },
      { level: "warn", msg: "health changed", ...ok, failing_shards: "", previous: "error" },
    ]);
  });
});
