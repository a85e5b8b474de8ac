// Fault injection, small and deterministic, inside workerd (the full run against wrangler dev is `npm run test:faults`).
// The pipeline is driven by hand on a fake clock: events published with publishEvent, messages consumed one at a time by
// handleDeliveryBatch from an in-memory queue (retries and dead-lettering as Queues does them), the retry sweep every
// minute. D1 fails at a fixed rate from a seeded PRNG and processed messages come back as duplicates (the fault
// harness's wrappers, test/helpers/faults.ts); the receivers are the real local test receiver. Then the "nothing lost"
// invariants, shared with the full run (scripts/faults/invariants.mjs), are checked against what the receiver logged.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type CheckedDelivery,
  checkInvariants,
  checkOrdered,
  checkStats,
  type ReceivedRequest,
} from "../../scripts/faults/invariants.mjs";
import { createDb } from "../../src/db/client";
import { allShards } from "../../src/db/shards";
import type { Lane } from "../../src/domain/delivery/lanes";
import type { DeliveryMessage } from "../../src/domain/delivery/message";
import { sweepDueDeliveries } from "../../src/domain/delivery/sweep";
import { sweepPartnerShares } from "../../src/domain/partner-fanout";
import { publishEvent } from "../../src/domain/publish";
import { handleDeadLetterBatch, handleDeliveryBatch } from "../../src/jobs/delivery-consumer";
import { createServices, type Services } from "../../src/lib/services";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { type Faults, seededRandom, withD1Faults, withDuplicateMessages } from "../helpers/faults";
import { hookUrl, recorded } from "../helpers/receiver";
import { allShardRows, placeOwner, shardD1s } from "../helpers/shards";
import { mintToken, tenantAdmin } from "../helpers/tokens";

const SEED = 20261123;
const D1_ERROR_RATE = 0.08;
const DUPLICATE_RATE = 0.15;
const EVENTS = 100;
const TIMEOUT_MS = 400;
const QUEUES = { main: "scaikey-webhook-deliveries", slow: "scaikey-webhook-deliveries-slow" } as const;
const QUEUE_MAX_ATTEMPTS = 11; // wrangler.toml: max_retries = 10, then the dead-letter queue
const DLQ_MAX_ATTEMPTS = 4; // the dead-letter consumer's default max_retries = 3, then dropped
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

type Step = number | "hang" | "close";
/** A receiver plan: what its 1st, 2nd, … request is answered (the test receiver counts per endpoint, not per delivery). */
const cycle = (pattern: Step[], times = 25) => Array.from({ length: times }, () => pattern).flat();
interface EndpointSpec {
  behaviour: string;
  events: string[];
  plan?: Step[];
  retryAfter?: string;
  delayMs?: number;
  body?: string;
  repeat?: number;
  ordered?: boolean;
}
const TENANT_ENDPOINTS: EndpointSpec[] = [
  { behaviour: "healthy", events: ["user.created"] },
  { behaviour: "fail-then-ok", events: ["user.updated"], plan: cycle([500, 500, 200]) },
  { behaviour: "rate-limited", events: ["application.*"], plan: cycle([429, 200]), retryAfter: "90" },
  { behaviour: "reset-then-ok", events: ["group.*"], plan: cycle(["close", 200]) },
  { behaviour: "hang-then-ok", events: ["session.revoked"], plan: cycle(["hang", 200]) },
  { behaviour: "always-500", events: ["tenant.updated"], plan: [500] },
  { behaviour: "always-redirect", events: ["tenant.created"], plan: [302] },
  { behaviour: "slow-ok", events: ["user.deleted"], delayMs: 30 },
  { behaviour: "chaos", events: ["authentication.*"], plan: cycle([200, 500, "close", 503, 200, 429, 404, 200], 15) },
  { behaviour: "always-hang", events: ["user.suspended"], plan: ["hang"] }, // times out every attempt: the slow lane
  // One delivery at a time, in publish order, each failing once first: every retry holds the line.
  { behaviour: "ordered", events: ["user.created"], plan: cycle([500, 200]), ordered: true },
];
const PARTNER_ENDPOINTS: EndpointSpec[] = [{ behaviour: "big-body", events: ["session.*"], body: "x", repeat: 50_000 }];
const EVENT_MIX: [string, number][] = [
  ["user.created", 0.22],
  ["user.suspended", 0.03],
  ["user.updated", 0.12],
  ["user.deleted", 0.06],
  ["application.updated", 0.1],
  ["group.member_added", 0.1],
  ["session.created", 0.1],
  ["session.revoked", 0.04],
  ["authentication.failed", 0.15],
  ["tenant.updated", 0.04],
  ["tenant.created", 0.04],
];
// Two shards: the partner and tenant a in shard 0, tenant b in shard 1, so the partner's webhook gets tenant b's events
// through its shard's share (domain/partner-fanout.ts), under the same faults.
const TENANTS = [
  { id: "tnt_faults_a", partner: "prt_faults", shard: 0 },
  { id: "tnt_faults_b", partner: "prt_faults", shard: 1 },
];

interface Endpoint extends EndpointSpec {
  id: string;
  key: string;
  tenantId: string | null;
  partnerId: string;
}
interface Queued {
  seq: number;
  body: DeliveryMessage;
  at: number;
  attempts: number;
  lane: Lane;
}

/** Captures the Worker's JSON log lines instead of printing thousands of them. */
function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  const keep = (...args: unknown[]) => {
    try {
      lines.push(JSON.parse(String(args[0])) as Record<string, unknown>);
    } catch {
      // not one of ours
    }
  };
  const spies = [
    vi.spyOn(console, "log").mockImplementation(keep),
    vi.spyOn(console, "warn").mockImplementation(keep),
    vi.spyOn(console, "error").mockImplementation(keep),
  ];
  return { lines, restore: () => spies.forEach((s) => s.mockRestore()) };
}

describe("fault injection: nothing lost", () => {
  const clock = { now: Date.now() - 6 * HOUR }; // the whole story ends in the past, inside the stats window
  const injected = { d1_error: 0, duplicate_message: 0 };
  const faults: Faults = {
    d1ErrorRate: D1_ERROR_RATE,
    duplicateRate: DUPLICATE_RATE,
    random: seededRandom(SEED),
    onInject: (f) => void injected[f]++,
  };
  const queued: Queued[] = [];
  let seq = 0;
  const push = (lane: Lane, body: DeliveryMessage, delaySeconds = 0, attempts = 1) =>
    queued.push({ seq: seq++, body, at: clock.now + delaySeconds * 1000, attempts, lane });
  const queueOf = (lane: Lane) =>
    ({
      send: async (body: DeliveryMessage, opts?: QueueSendOptions) => void push(lane, body, opts?.delaySeconds),
      sendBatch: async (messages: Iterable<MessageSendRequest<DeliveryMessage>>, opts?: QueueSendBatchOptions) => {
        for (const m of messages) push(lane, m.body, m.delaySeconds ?? opts?.delaySeconds);
      },
    }) as unknown as Queue<DeliveryMessage>;
  const queues = { main: queueOf("main"), slow: queueOf("slow") };
  const real = createServices(env);
  // D1 fails at the same rate in every shard.
  const shards = shardD1s().map((d1, n) => ({ ...real.shards[n]!, db: createDb(withD1Faults(d1, faults)) }));
  // `random` fixes the retry jitter, so the order of D1 calls, and so every injected fault, follows from SEED.
  const services: Services = Object.assign(
    {
      ...real,
      db: shards[0]!.db,
      shards,
      queue: queues.main,
      slowQueue: queues.slow,
      now: () => clock.now,
      config: { ...real.config, deliveryTimeoutMs: TIMEOUT_MS, failureThreshold: 1_000_000 },
    },
    { random: () => 0.5 },
  );
  const endpoints: Endpoint[] = [];
  const stats = {
    messages: 0,
    slowLaneMessages: 0,
    queueRetries: 0,
    deadLettered: 0,
    sweeps: 0,
    sweepFailures: 0,
    publishRetries: 0,
    fakeMinutes: 0,
  };
  let logs: ReturnType<typeof captureLogs>;

  beforeAll(async () => {
    await placeOwner("p:prt_faults", 0);
    for (const t of TENANTS) await placeOwner(`t:${t.id}`, t.shard);
    for (const t of TENANTS)
      for (const spec of TENANT_ENDPOINTS) {
        const hook = hookUrl({
          plan: spec.plan,
          retryAfter: spec.retryAfter,
          delayMs: spec.delayMs,
          body: spec.body,
          repeat: spec.repeat,
        });
        const wh = await createWebhook(await tenantAdmin(t.id, t.partner), {
          url: hook.url,
          events: spec.events,
          ordered: spec.ordered ?? false,
        });
        endpoints.push({ ...spec, id: wh.id, key: hook.key, tenantId: t.id, partnerId: t.partner });
      }
    for (const spec of PARTNER_ENDPOINTS) {
      const hook = hookUrl({ plan: spec.plan, body: spec.body, repeat: spec.repeat });
      const wh = await createWebhook(await mintToken({ role: "partner_admin", partner: "prt_faults" }), {
        url: hook.url,
        events: spec.events,
      });
      endpoints.push({ ...spec, id: wh.id, key: hook.key, tenantId: null, partnerId: "prt_faults" });
    }
    logs = captureLogs();
  });
  afterAll(() => logs?.restore());

  it("publishes, delivers through D1 errors and duplicate messages, and settles with every invariant intact", {
    timeout: 60_000,
  }, async () => {
    const random = seededRandom(SEED + 1);
    const events = Array.from({ length: EVENTS }, (_, n) => {
      const tenant = TENANTS[n % TENANTS.length]!;
      let r = random();
      const type = EVENT_MIX.find(([, w]) => (r -= w) < 0)?.[0] ?? "user.created";
      return {
        event_id: `evt_faults_${SEED}_${n}`,
        event_type: type,
        tenant_id: tenant.id,
        partner_id: tenant.partner,
        resource: { type: "user", id: `usr_${n}` },
        data: { n },
      };
    });

    // Publish as a publisher would: an error (an injected D1 error) means "try again", with the same event_id.
    for (const event of events) {
      for (let tries = 1; ; tries++) {
        try {
          await publishEvent(services, event);
          break;
        } catch (err) {
          if (tries >= 20) throw err;
          stats.publishRetries++;
        }
      }
      clock.now += 50;
    }

    // Drive: every due message (oldest first), the sweep once a minute, and the clock jumps to the next thing to do.
    // Open deliveries, and partner shares not yet given, in every shard.
    const openDeliveries = async () =>
      (
        await allShardRows<{ n: number }>(
          `SELECT (SELECT count(*) FROM deliveries_live WHERE completed_at IS NULL)
             + (SELECT count(*) FROM partner_fanouts) AS n`,
        )
      ).reduce((n, r) => n + r.n, 0);
    const start = clock.now;
    let nextSweep = clock.now + MINUTE;
    for (let step = 0; step < 20_000; step++) {
      const due = queued.filter((m) => m.at <= clock.now).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due) {
        queued.splice(queued.indexOf(due), 1);
        await consume(due);
        continue;
      }
      if (clock.now >= nextSweep) {
        stats.sweeps++;
        for (const shard of allShards(services)) {
          // A failed cron run waits for the next.
          await sweepPartnerShares(shard, { deadline: Date.now() + MINUTE }).catch(() => void stats.sweepFailures++);
          await sweepDueDeliveries(shard).catch(() => void stats.sweepFailures++);
        }
        nextSweep = clock.now + MINUTE;
        continue;
      }
      if (queued.length === 0 && (await openDeliveries()) === 0) break;
      if (clock.now - start > 12 * HOUR) break; // bounded: the checks below then report what is unsettled
      clock.now = Math.min(nextSweep, ...queued.map((m) => m.at));
    }
    stats.fakeMinutes = Math.round((clock.now - start) / MINUTE);

    async function consume(m: Queued) {
      stats.messages++;
      const batch = createMessageBatch(QUEUES[m.lane], [
        { id: `m${m.seq}`, timestamp: new Date(clock.now), attempts: m.attempts, body: m.body },
      ]);
      const duplicating = withDuplicateMessages(batch, faults, queues[m.lane]);
      const ctx = createExecutionContext();
      await handleDeliveryBatch(duplicating.batch, services, ctx);
      const result = await getQueueResult(batch, ctx); // and whatever the batch handed over has ended
      await duplicating.sent();
      stats.slowLaneMessages += m.lane === "slow" ? 1 : 0;
      for (const retry of result.retryMessages) {
        stats.queueRetries++;
        if (m.attempts < QUEUE_MAX_ATTEMPTS) push(m.lane, m.body, retry.delaySeconds ?? 0, m.attempts + 1);
        else await deadLetter(m);
      }
    }
    async function deadLetter(m: Queued) {
      stats.deadLettered++;
      for (let tries = 1; tries <= DLQ_MAX_ATTEMPTS; tries++) {
        try {
          return await handleDeadLetterBatch(
            createMessageBatch(`${QUEUES.main}-dlq`, [
              { id: `d${m.seq}`, timestamp: new Date(clock.now), attempts: tries, body: m.body },
            ]),
            services,
          );
        } catch {
          // retried, then dropped: the sweep still finds the delivery
        }
      }
    }

    // Read everything back: deliveries and attempts through the admin API, requests from the receiver's own log.
    const token = await mintToken({ role: "super_admin" });
    const deliveries: CheckedDelivery[] = [];
    for (const e of endpoints) {
      for (let page = 1; ; page++) {
        const list = await api("GET", `${WEBHOOKS}/${e.id}/deliveries?per_page=100&page=${page}`, { token });
        for (const d of list.body.items) {
          const detail = await api("GET", `${WEBHOOKS}/${e.id}/deliveries/${d.id}`, { token });
          deliveries.push({
            ...d,
            attempts: detail.body.attempts.map((a) => ({ ...a, started_at: Date.parse(a.started_at) })),
          });
        }
        if (page >= list.body.pages) break;
      }
    }
    const requests: ReceivedRequest[] = [];
    for (const e of endpoints) {
      const log = await recorded(e.key);
      log.forEach((req, i) => requests.push(asReceived(e, req.headers, req.received_at, i)));
    }
    const subscribed = (patterns: string[], type: string) =>
      patterns.some((p) => p === type || p === `${type.split(".")[0]}.*`);
    const expected = events.flatMap((ev) =>
      endpoints
        .filter(
          (e) =>
            subscribed(e.events, ev.event_type) &&
            (e.tenantId ? e.tenantId === ev.tenant_id && e.partnerId === ev.partner_id : e.partnerId === ev.partner_id),
        )
        .map((e) => ({ webhook_id: e.id, event_id: ev.event_id })),
    );
    const lostRecords = new Set(
      logs.lines
        .filter((l) => l.msg === "recording attempts failed for good; they were sent but are not recorded")
        .flatMap((l) => l.deliveries as string[]),
    );

    const { violations, counts } = checkInvariants({
      deliveries,
      requests,
      expected,
      opts: {
        maxAttempts: real.config.retryScheduleSeconds.length + 1,
        timeoutMs: TIMEOUT_MS,
        scheduleSeconds: real.config.retryScheduleSeconds,
        unrecordedWindow: lostRecords,
      },
    });
    expect(violations).toEqual([]);
    expect(counts).toMatchObject({ lost: 0, not_settled: 0, duplicate_event_sends: 0 });
    const ordered = checkOrdered({
      requests,
      deliveries,
      orderedWebhookIds: new Set(endpoints.filter((e) => e.ordered).map((e) => e.id)),
    });
    expect(ordered.violations).toEqual([]);
    expect(ordered.figures.ordered_in_order).toBeGreaterThan(10);
    expect(deliveries.length).toBe(expected.length);
    expect(counts.success).toBeGreaterThan(0);
    expect(counts.failed).toBeGreaterThan(0); // always-500 and always-redirect use up their six attempts

    // The faults did happen, in every part of the pipeline.
    expect(injected.d1_error).toBeGreaterThan(20);
    expect(injected.duplicate_message).toBeGreaterThan(10);
    expect(stats.queueRetries).toBeGreaterThan(5);
    expect(stats.publishRetries + stats.sweepFailures).toBeGreaterThan(0);
    // Retries 5 and 6 (1 h and 2 h) wait in D1 and only the sweep brings them back.
    expect(stats.fakeMinutes).toBeGreaterThan(180);
    // The always-hang endpoint's attempts after its first timeout took the slow lane.
    expect(stats.slowLaneMessages).toBeGreaterThan(0);

    // The stats endpoint agrees with the deliveries and attempts at once (they are written with the attempts).
    for (const e of endpoints) {
      const res = await api("GET", `${WEBHOOKS}/${e.id}/stats?window=24h`, { token });
      expect(res.status).toBe(200);
      expect(
        checkStats(
          res.body,
          deliveries.filter((d) => d.webhook_id === e.id),
        ),
      ).toEqual([]);
    }
    logs.restore();
    console.log(JSON.stringify({ faults_test: { seed: SEED, injected, ...stats, ...counts } }));
  });
});

/** What the receiver answered its `index`-th request (0-based), from the endpoint's plan. */
function asReceived(e: Endpoint, headers: Record<string, string>, receivedAt: number, index: number): ReceivedRequest {
  const plan = e.plan ?? [200];
  const step = plan[Math.min(index, plan.length - 1)]!;
  const base = {
    webhook_id: e.id,
    delivery_id: Number(headers["x-scaikey-webhook-id"]),
    event_id: headers["x-scaikey-event-id"] ?? "",
    ts: Number(headers["x-scaikey-timestamp"]),
    received_at: receivedAt,
  };
  if (step === "hang" || (e.delayMs ?? 0) >= TIMEOUT_MS)
    return { ...base, status: null, sent2xx: false, finished_at: null, answer: "hang" };
  if (step === "close") return { ...base, status: null, sent2xx: false, finished_at: null, answer: "reset" };
  return { ...base, status: step, sent2xx: step >= 200 && step <= 299, finished_at: receivedAt, answer: String(step) };
}
