// Delivery history spread over many hours, stored as the engine leaves it (each delivery and its event in the partition
// of its creation hour), and the storage job run at a clock the test sets: what a test needs to read deliveries back
// from D1 (the hot window's partitions, the deliveries table) and from the archive (R2) at once.
import { env } from "cloudflare:workers";
import { createPartitions, firstDeliveryIdAt, hourOf, partitionName } from "../../src/db/partitions";
import { type AttemptRecord, type DeliveryStatus, type ErrorClass, isActiveDelivery } from "../../src/db/schema";
import { allShards, groupByShard } from "../../src/db/shards";
import { runStorage } from "../../src/domain/archive/storage-job";
import type { Config } from "../../src/lib/config";
import { createServices } from "../../src/lib/services";
import { d1OfWebhook, shardD1s } from "./shards";

/** One delivery as a test describes it; the rest is filled in as the engine would. */
export interface PastDelivery {
  webhookId: string;
  tenantId: string;
  /** ms; the id is this × 1024 (one delivery per webhook and ms). */
  createdAt: number;
  status: DeliveryStatus;
  /** Defaults: a minute after creation for a finished delivery, null for an open one. */
  completedAt?: number | null;
  eventType?: string;
  eventId?: string;
  lastStatusCode?: number | null;
  lastErrorClass?: ErrorClass | null;
  lastError?: string | null;
  retryOf?: number | null;
  data?: Record<string, unknown>;
  /** The event's resource.id (default usr_1). */
  resourceId?: string;
  /** The attempt's response headers, as a failed attempt keeps them. */
  responseHeaders?: [string, string][];
}

/** A stored delivery: its row's columns (snake_case, as D1 and the API name them) and its event's exact payload. */
export interface StoredDelivery {
  webhook_id: string;
  id: number;
  event_owner: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  created_at: number;
  completed_at: number | null;
  last_status_code: number | null;
  last_error_class: ErrorClass | null;
  last_error: string | null;
  attempts: AttemptRecord[];
  payload: string;
}

/** The payload of a past event: canonical JSON as publish writes it (keys sorted), with non-ASCII escaped. */
const payloadOf = (d: PastDelivery, eventId: string) =>
  JSON.stringify({
    actor: { id: null, type: "system" },
    data: d.data ?? { at: d.createdAt, note: "Zoë ✓" },
    event_id: eventId,
    event_type: d.eventType ?? "user.created",
    resource: { id: d.resourceId ?? "usr_1", type: "user" },
    tenant_id: d.tenantId,
    timestamp: new Date(d.createdAt).toISOString(),
  }).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** Stores `deliveries` (and one event each) in the partitions of their creation hours, creating those partitions. */
export async function storePastDeliveries(deliveries: readonly PastDelivery[]): Promise<StoredDelivery[]> {
  for (const [shard, inShard] of groupByShard(deliveries, (d) => d.webhookId))
    await createPartitions(shardD1s()[shard]!, [...new Set(inShard.map((d) => hourOf(d.createdAt)))]);
  const stored = deliveries.map((d): StoredDelivery => {
    const eventId = d.eventId ?? `evt_past_${d.webhookId.slice(3, 9)}_${d.createdAt}`;
    const finished = !isActiveDelivery(d.status);
    const attempts: AttemptRecord[] =
      d.status === "pending"
        ? []
        : [
            {
              attempt: 1,
              started_at: d.createdAt + 10,
              duration_ms: 25,
              success: d.status === "success",
              status_code: d.lastStatusCode ?? null,
              error_class: d.lastErrorClass ?? null,
              error: d.lastError ?? null,
              response_body: d.status === "success" ? "ok" : null,
              ...(d.responseHeaders ? { response_headers: d.responseHeaders } : {}),
            },
          ];
    return {
      webhook_id: d.webhookId,
      id: firstDeliveryIdAt(d.createdAt),
      event_owner: `t:${d.tenantId}`,
      event_id: eventId,
      event_type: d.eventType ?? "user.created",
      status: d.status,
      created_at: d.createdAt,
      completed_at: d.completedAt !== undefined ? d.completedAt : finished ? d.createdAt + 60_000 : null,
      last_status_code: d.lastStatusCode ?? null,
      last_error_class: d.lastErrorClass ?? null,
      last_error: d.lastError ?? null,
      attempts,
      payload: payloadOf(d, eventId),
    };
  });
  const statements = stored.map((s, i) => {
    const d = deliveries[i]!;
    const hour = hourOf(s.created_at);
    const d1 = d1OfWebhook(s.webhook_id);
    return [
      d1
        .prepare(
          `INSERT OR IGNORE INTO "${partitionName("events", hour)}"
           (owner_key, event_id, event_type, tenant_id, partner_id, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6)`,
        )
        .bind(s.event_owner, s.event_id, s.event_type, d.tenantId, s.payload, s.created_at),
      d1
        .prepare(
          `INSERT INTO "${partitionName("deliveries", hour)}" (webhook_id, id, event_owner, event_id, event_hour,
           event_type, status, attempt_count, lease_until, due_at, in_queue, last_attempt_at, last_status_code,
           last_error_class, last_error, attempts, retry_of, created_at, updated_at, completed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, 0, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)`,
        )
        .bind(
          s.webhook_id,
          s.id,
          s.event_owner,
          s.event_id,
          hour,
          s.event_type,
          s.status,
          s.attempts.length,
          s.status === "retrying" ? s.created_at + 24 * 3_600_000 : s.created_at,
          s.attempts.length > 0 ? s.created_at + 10 : null,
          s.last_status_code,
          s.last_error_class,
          s.last_error,
          JSON.stringify(s.attempts),
          d.retryOf ?? null,
          s.created_at,
          s.completed_at ?? s.created_at,
          s.completed_at,
        ),
    ];
  });
  const pairs = statements.map((pair, i) => ({ pair, webhookId: stored[i]!.webhook_id }));
  for (const [shard, inShard] of groupByShard(pairs, (p) => p.webhookId)) {
    const flat = inShard.flatMap((p) => p.pair);
    for (let i = 0; i < flat.length; i += 200) await shardD1s()[shard]!.batch(flat.slice(i, i + 200));
  }
  return stored;
}

/** Shard 0's services at the clock `now`, with config overrides. */
export const servicesAt = (now: number, config: Partial<Config> = {}) => {
  const base = createServices(env);
  return { ...base, now: () => now, config: { ...base.config, ...config } };
};

/** The storage job of shard 0 at `now` until done (as its cron keeps running it), with config overrides; its last run. */
export async function storageRun(now: number, config: Partial<Config> = {}) {
  for (;;) {
    const result = await runStorage(servicesAt(now, config));
    if (result.complete) return result;
  }
}

/** The archive's object keys under `prefix`. */
export const archiveKeys = async (prefix: string) => (await env.ARCHIVE.list({ prefix })).objects.map((o) => o.key);

/** The hours of `kind` the archive index of shard 0 holds, in order. */
export const archivedHours = async (kind: string) =>
  (
    await env.DB.prepare("SELECT hour FROM archive_hours WHERE kind = ? ORDER BY hour")
      .bind(kind)
      .all<{ hour: number }>()
  ).results.map((r) => r.hour);

/**
 * The storage job at `now` in every shard, as its cron runs it, until it has nothing left to do there; answers how many
 * hours it sealed in all.
 */
export async function storageAt(now: number) {
  const services = { ...createServices(env), now: () => now };
  let hoursSealed = 0;
  for (const shard of allShards(services))
    for (;;) {
      const result = await runStorage(shard);
      hoursSealed += result.hoursSealed;
      if (result.complete) break;
    }
  return { hoursSealed };
}

/** Where D1 holds a webhook's deliveries now: how many in the hourly partitions, in the deliveries table, and how many
 * lines the archive's day rows count for it. */
export async function whereStored(webhookId: string) {
  const d1 = d1OfWebhook(webhookId);
  const [partitions, table, archive] = await d1.batch<{ n: number }>([
    d1.prepare("SELECT count(*) AS n FROM deliveries_live WHERE webhook_id = ?1").bind(webhookId),
    d1.prepare("SELECT count(*) AS n FROM deliveries WHERE webhook_id = ?1").bind(webhookId),
    d1
      .prepare(
        `SELECT coalesce(sum(n.value), 0) AS n FROM archive_days d, json_each(d.counts) c, json_each(c.value) n
       WHERE d.scope = ?1`,
      )
      .bind(webhookId),
  ]);
  const inTable = table!.results[0]!.n;
  return { partitions: partitions!.results[0]!.n - inTable, table: inTable, archive: archive!.results[0]!.n };
}
