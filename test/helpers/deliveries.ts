// Seeding and inspecting deliveries without going through the queue, for tests that drive attempts one by one.
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { interceptD1 } from "../../scripts/lib/d1-intercept";
import { createDb } from "../../src/db/client";
import { listPartitionHours, tablesOf } from "../../src/db/partitions";
import { payloadText, type StoredPayload } from "../../src/db/payload";
import type { AttemptRecord } from "../../src/db/schema";
import { groupByShard, onShard, shardArchive, shardOfWebhook } from "../../src/db/shards";
import type { DeliveryDeps } from "../../src/domain/delivery/deps";
import type { LaneQueues } from "../../src/domain/delivery/lanes";
import type { QueueMessage } from "../../src/domain/delivery/message";
import type { RecordedResult } from "../../src/domain/delivery/send";
import { completeEnvelope, type DeliveryRef, storeEvent } from "../../src/domain/publish";
import { type Config, readConfig } from "../../src/lib/config";
import { createSecretBox } from "../../src/lib/secret-box";
import { createServices } from "../../src/lib/services";
import { api } from "./api";
import type { RecordedRequest } from "./receiver";
import { allShardRows, d1OfWebhook, placeOwner, shardD1s, shardOfOwner } from "./shards";

/** Shard 0's database (which also holds the owner directory). */
export const db = () => createDb(env.DB);

/** Every shard's database and archive, as the Worker's services hold them. */
const shardHandles = () =>
  shardD1s().map((d1, n) => ({ db: createDb(d1), archive: shardArchive(env.ARCHIVE ?? null, n) }));

/** The Worker's shard-0 view with a clock of the test's: what the directory and publish take. */
export const rootDeps = (now: () => number = () => Date.now()) => ({
  db: db(),
  shard: 0,
  shards: shardHandles(),
  config: readConfig(env),
  now,
});

/**
 * `n` live webhooks of the tenant, written directly in its shard (shard 0 if it has none yet, where it is then placed):
 * an owner at MAX_WEBHOOKS_PER_OWNER without 100 requests.
 */
export async function seedLiveWebhooks(tenant: string, n: number) {
  const shard = (await shardOfOwner(`t:${tenant}`)) ?? (await placeOwner(`t:${tenant}`, 0), 0);
  const prefix = shard === 0 ? "wh_seed_" : `wh_${shard}_seed_`;
  return shardD1s()
    [shard]!.prepare(
      `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?2)
     INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_at, updated_at)
     SELECT ?3 || ?1 || '_' || i, ?1, 'https://x.example.com/', '[]', 's', 1, 1 FROM k`,
    )
    .bind(tenant, n, prefix)
    .run();
}

/**
 * Real dependencies (the queues and the rate limiter too) with a clock the test moves, and optional config overrides;
 * shard 0's, reaching every shard.
 */
export function deliveryDeps(
  clock: { now: number },
  config: Partial<Config> = {},
): DeliveryDeps & LaneQueues<QueueMessage> {
  const { queue, slowQueue, rateLimiter } = createServices(env);
  return {
    db: db(),
    shard: 0,
    shards: shardHandles(),
    config: { ...readConfig(env), ...config },
    secretBox: createSecretBox(env.SECRET_ENCRYPTION_KEY),
    now: () => clock.now,
    fetch: (i, init) => fetch(i, init),
    random: () => 0.5,
    rateLimiter,
    queue,
    slowQueue,
  };
}

/** deliveryDeps in the shard of `webhookId`: what the stage functions take for that webhook's deliveries. */
export const webhookDeps = (
  webhookId: string,
  clock: { now: number },
  config: Partial<Config> = {},
): DeliveryDeps & LaneQueues<QueueMessage> => onShard(deliveryDeps(clock, config), shardOfWebhook(webhookId));

/** A receiver's 200, as a send reports it: for recording attempts without sending (recordAttempts). */
export const ANSWERED_200: RecordedResult = {
  ok: true,
  statusCode: 200,
  durationMs: 3,
  errorClass: null,
  errorMessage: null,
  responseExcerpt: "ok",
  retryAfterSeconds: null,
};

/** Stores an event with one delivery to `webhookId` (not enqueued) and returns the delivery. */
export async function seedDelivery(
  webhookId: string,
  tenantId: string,
  now = Date.now(),
  eventType = "user.created",
): Promise<DeliveryRef> {
  const envelope = completeEnvelope(
    {
      event_type: eventType,
      tenant_id: tenantId,
      resource: { type: "user", id: "usr_1" },
      data: { email: "ada@example.com", name: "Ada Lovelace ✓" },
    },
    now,
  );
  const {
    refs: [ref],
  } = await storeEvent(createDb(d1OfWebhook(webhookId)), envelope, now, webhookId);
  if (ref === undefined) throw new Error("no delivery created");
  return ref;
}

/** A delivery's row wherever it is in D1 (its shard's partition or deliveries table), raw. */
export async function deliveryRow(ref: DeliveryRef) {
  return d1OfWebhook(ref.webhookId)
    .prepare("SELECT * FROM deliveries_live WHERE webhook_id = ? AND id = ?")
    .bind(ref.webhookId, ref.id)
    .first<Record<string, any>>();
}

/** The tables of one shard that hold deliveries now: `deliveries`, then each hour's partition. */
async function deliveryTables(d1: D1Database = env.DB): Promise<string[]> {
  return tablesOf("deliveries", await listPartitionHours(d1));
}

/**
 * Sets columns of deliveries `refs` wherever they are (a partition or the deliveries table), as a test arranges a state
 * the pipeline would reach more slowly. `set` maps column names to values.
 */
export async function updateDeliveries(refs: readonly DeliveryRef[], set: Record<string, unknown>): Promise<number> {
  const columns = Object.keys(set);
  const assignments = columns.map((c, i) => `"${c}" = ?${i + 2}`).join(", ");
  let changes = 0;
  for (const [shard, inShard] of groupByShard(refs, (r) => r.webhookId)) {
    const d1 = shardD1s()[shard]!;
    const keys = JSON.stringify(inShard.map((r) => ({ w: r.webhookId, i: r.id })));
    const results = await d1.batch(
      (await deliveryTables(d1)).map((table) =>
        d1
          .prepare(
            `UPDATE "${table}" SET ${assignments}
             WHERE (webhook_id, id) IN (SELECT r.value ->> 'w', r.value ->> 'i' FROM json_each(?1) AS r)`,
          )
          .bind(keys, ...columns.map((c) => set[c] ?? null)),
      ),
    );
    changes += results.reduce((n, r) => n + r.meta.changes, 0);
  }
  return changes;
}

/** updateDeliveries for one delivery; throws if it is not in D1. */
export async function updateDelivery(ref: DeliveryRef, set: Record<string, unknown>): Promise<void> {
  if ((await updateDeliveries([ref], set)) !== 1) throw new Error(`delivery ${ref.webhookId}/${ref.id} not in D1`);
}

/** Sets columns of the event delivery `ref` sends, wherever it is stored (a partition or the events table). */
export async function updateEventOf(ref: DeliveryRef, set: Record<string, unknown>): Promise<void> {
  const delivery = await deliveryRow(ref);
  if (!delivery) throw new Error(`delivery ${ref.webhookId}/${ref.id} not in D1`);
  const columns = Object.keys(set);
  const assignments = columns.map((c, i) => `"${c}" = ?${i + 3}`).join(", ");
  const d1 = d1OfWebhook(ref.webhookId);
  const results = await d1.batch(
    tablesOf("events", await listPartitionHours(d1)).map((table) =>
      d1
        .prepare(`UPDATE "${table}" SET ${assignments} WHERE owner_key = ?1 AND event_id = ?2`)
        .bind(delivery.event_owner, delivery.event_id, ...columns.map((c) => set[c] ?? null)),
    ),
  );
  if (results.reduce((n, r) => n + r.meta.changes, 0) !== 1) throw new Error("event not in D1");
}

/** Ends every open delivery of other webhooks (cancelled), so that only the test's own are due. */
export async function cancelOpenDeliveriesBut(webhookId: string, at = Date.now()): Promise<void> {
  for (const d1 of shardD1s())
    await d1.batch(
      (await deliveryTables(d1)).map((table) =>
        d1
          .prepare(
            `UPDATE "${table}" SET status = 'cancelled', completed_at = ?2, in_queue = 0, lease_until = NULL
             WHERE webhook_id != ?1 AND completed_at IS NULL`,
          )
          .bind(webhookId, at),
      ),
    );
}

/**
 * The payload texts of the stored events (events_live, in every shard) with `eventId`, oldest owner key first; stored
 * compressed or not.
 */
export async function storedPayloads(eventId: string): Promise<string[]> {
  const rows = await allShardRows<{ owner_key: string; payload: StoredPayload }>(
    "SELECT owner_key, payload FROM events_live WHERE event_id = ?1",
    eventId,
  );
  rows.sort((a, b) => (a.owner_key < b.owner_key ? -1 : a.owner_key > b.owner_key ? 1 : 0));
  return Promise.all(rows.map((r) => payloadText(r.payload)));
}

/** The payload texts of the stored events of `eventType`, in every shard. */
export async function storedPayloadsOfType(eventType: string): Promise<string[]> {
  const rows = await allShardRows<{ payload: StoredPayload }>(
    "SELECT payload FROM events_live WHERE event_type = ?1",
    eventType,
  );
  return Promise.all(rows.map((r) => payloadText(r.payload)));
}

/** The queue message of a delivery, as publish sends it. */
export const messageOf = (ref: DeliveryRef) => ({ delivery_id: ref.id, webhook_id: ref.webhookId });

/** A delivery's recorded attempts (its `attempts` column), in order. */
export async function attemptRows(ref: DeliveryRef): Promise<AttemptRecord[]> {
  const row = await deliveryRow(ref);
  return row ? (JSON.parse(row.attempts) as AttemptRecord[]) : [];
}

async function hmacHex(key: string, message: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(message)));
  return [...sig].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The reference receiver, re-implemented as ScaiKey's receivers do it: split on ",", each part on the first "=",
 * into a dict (so only the LAST v1 survives), |now - t| <= 300, HMAC keyed by the whole secret string.
 */
export async function scaiKeyReceiverAccepts(
  req: RecordedRequest,
  secret: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<boolean> {
  const header = req.headers["x-scaikey-signature"] ?? "";
  const parts: Record<string, string> = {};
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) parts[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const t = Number(parts.t);
  if (!/^\d+$/.test(parts.t ?? "") || Math.abs(nowSeconds - t) > 300) return false;
  return (await hmacHex(secret, `${parts.t}.${req.body}`)) === parts.v1;
}

/** Verification with the real Standard Webhooks library. */
export function standardWebhooksAccepts(req: RecordedRequest, secret: string): boolean {
  try {
    new Webhook(secret).verify(req.body, {
      "webhook-id": req.headers["webhook-id"] ?? "",
      "webhook-timestamp": req.headers["webhook-timestamp"] ?? "",
      "webhook-signature": req.headers["webhook-signature"] ?? "",
    });
    return true;
  } catch {
    return false;
  }
}

/** Bindings that make the first retry come a second after a failure (RETRY_SCHEDULE), for api()/the portal. */
export const QUICK_RETRIES: Partial<Env> = { RETRY_SCHEDULE: "1" };

/** Waits until the delivery has succeeded (nobody calling retry) and returns it as the API shows it. */
export async function eventuallySucceeds(webhook: { id: string; token: string }, deliveryId: number) {
  return waitFor(async () => {
    const res = await api("GET", `/api/v1/admin/webhooks/${webhook.id}/deliveries/${deliveryId}`, {
      token: webhook.token,
    });
    return res.body.status === "success" && res.body;
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `d1` with a count of its round trips (each batch, and each statement run on its own: run/all/first/raw) and of the
 * rows its batches read (D1's own `meta.rows_read`). `failBatchesFrom` makes batches from that number on (1-based)
 * throw, as an unavailable database would.
 */
export function countingD1(d1: D1Database, opts: { failBatchesFrom?: number } = {}) {
  const counts = { batches: 0, statements: 0, batchRowsRead: 0 };
  const counted = interceptD1(d1, {
    statement: (_op, _statement, _args, call) => {
      counts.statements++;
      return call();
    },
    batch: async (_statements, call) => {
      counts.batches++;
      if (opts.failBatchesFrom !== undefined && counts.batches >= opts.failBatchesFrom)
        throw new Error("D1_ERROR: database is unavailable");
      const results = await call();
      for (const r of results) counts.batchRowsRead += r.meta.rows_read ?? 0;
      return results;
    },
  });
  return { d1: counted, counts };
}

/** A statement as the code sent it to D1: its SQL and bound values (workerd's D1PreparedStatement keeps both). */
export interface SentStatement {
  sql: string;
  params: unknown[];
}

/** Runs `work` against a D1 that records every statement it runs, alone or in a batch, in order. */
export async function statementsSent(work: (d1: D1Database) => Promise<unknown>): Promise<SentStatement[]> {
  const sent: D1PreparedStatement[] = [];
  const recording = interceptD1(env.DB, {
    statement: (_op, statement, _args, call) => (sent.push(statement), call()),
    batch: (statements, call) => (sent.push(...statements), call()),
  });
  await work(recording);
  return sent.map((s) => {
    const { statement, params } = s as unknown as { statement?: unknown; params?: unknown };
    if (typeof statement !== "string" || !Array.isArray(params))
      throw new Error("D1PreparedStatement no longer exposes statement and params");
    return { sql: statement, params };
  });
}
