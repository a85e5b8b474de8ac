// The pipeline on a clock the test moves: the real services (D1, receiver, secrets) with `now` from `clock`, a queue
// binding that keeps what is sent (stamped with the clock, as the queue stamps message.timestamp) until the test hands
// it to the real consumer, a D1 that is down, and /health and the operations view called through the real app.
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { interceptD1 } from "../../scripts/lib/d1-intercept";
import { createApp } from "../../src/app";
import type { QueueMessage } from "../../src/domain/delivery/message";
import type { DeliveryRef } from "../../src/domain/publish";
import { DELIVERY_QUEUE, handleQueueBatch } from "../../src/jobs/delivery-consumer";
import { createServices, type Services } from "../../src/lib/services";
import { updateDeliveries } from "./deliveries";

export interface Clock {
  now: number;
}

export interface SentMessage {
  body: unknown;
  timestamp: Date;
}

/** A queue binding that keeps every message sent, stamped with the clock (a delay moves its stamp, as in the queue). */
export function keepingQueue(clock: Clock) {
  const sent: SentMessage[] = [];
  const queue = {
    send: async (body: unknown, opts?: QueueSendOptions) =>
      void sent.push({ body, timestamp: new Date(clock.now + (opts?.delaySeconds ?? 0) * 1000) }),
    sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>) => {
      for (const m of messages)
        sent.push({ body: m.body, timestamp: new Date(clock.now + (m.delaySeconds ?? 0) * 1000) });
    },
  } as unknown as Queue<QueueMessage>;
  /** The messages sent so far, taken out of the queue. */
  const take = () => sent.splice(0);
  return { queue, take };
}

/** A D1 that is down: every statement and every batch rejects, as D1 does when unavailable. */
export function unavailableD1(): D1Database {
  const fail = () => Promise.reject(new Error("D1_ERROR: database is unavailable"));
  const statement: Record<string, unknown> = { run: fail, all: fail, first: fail, raw: fail };
  statement.bind = () => statement;
  return new Proxy(env.DB, {
    get: (target, prop) =>
      prop === "prepare" ? () => statement : prop === "batch" || prop === "exec" ? fail : Reflect.get(target, prop),
  });
}

/** The real services with the test's clock and, where given, other bindings. */
export const servicesAt = (clock: Clock, overrides: Partial<Services> = {}): Services => ({
  ...createServices(env),
  now: () => clock.now,
  ...overrides,
});

/** Hands `messages` to the real delivery consumer as one batch; answers what it acked and retried. */
export async function consume(services: Services, messages: SentMessage[], attempts = 1) {
  const batch = createMessageBatch(
    DELIVERY_QUEUE,
    messages.map((m, i) => ({ id: `m${i}-${crypto.randomUUID()}`, attempts, ...m })),
  );
  const ctx = createExecutionContext();
  await handleQueueBatch(batch, services, ctx);
  return getQueueResult(batch, ctx);
}

/** GET `path` through the real app, with `services` in place of the container built from the bindings. */
export async function callWith(services: Services, path: string, token?: string) {
  const app = createApp(() => services);
  const ctx = createExecutionContext();
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await app.fetch(new Request(`https://webhooks.test${path}`, { headers }), env, ctx);
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as any };
}

/** Makes deliveries `refs` wait in the queue since `at` (pending, in_queue, due then), as publish leaves them. */
export async function queuedDeliveries(refs: readonly DeliveryRef[], at: number): Promise<void> {
  await updateDeliveries(refs, { status: "pending", in_queue: 1, due_at: at, lease_until: null });
}

/**
 * Runs `fn` against a D1 (`d1`, shard 0's by default) that keeps every batched statement (and, with `statements`,
 * every statement run on its own); answers each one's SQL and query plan.
 */
export async function queryPlansOf(
  fn: (d1: D1Database) => Promise<unknown>,
  opts: { statements?: boolean; d1?: D1Database } = {},
) {
  type Kept = { statement: string; params: unknown[] };
  const statements: Kept[] = [];
  const target = opts.d1 ?? env.DB;
  await fn(
    interceptD1(target, {
      batch: (batched, call) => {
        statements.push(...(batched as unknown as Kept[]));
        return call();
      },
      ...(opts.statements
        ? {
            statement: (
              _op: string,
              statement: D1PreparedStatement,
              _args: unknown[],
              call: () => Promise<unknown>,
            ) => {
              statements.push(statement as unknown as Kept);
              return call();
            },
          }
        : {}),
    }),
  );
  return Promise.all(
    statements.map(async ({ statement, params }) => {
      const { results } = await target
        .prepare(`EXPLAIN QUERY PLAN ${statement}`)
        .bind(...params)
        .all<{ detail: string }>();
      return { sql: statement, plan: results.map((r) => r.detail) };
    }),
  );
}
