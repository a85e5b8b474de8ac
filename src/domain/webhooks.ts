// Webhooks (rows of webhook_endpoints): create, read, update, soft-delete. Plain functions over the database; no HTTP here.
import { and, count, desc, eq, inArray, isNull, or, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { canSee, type Owner, type OwnerFilter, type Visibility } from "../auth/policy";
import { shownRowOf, storedValuesOf } from "../db/api-columns";
import { allInOneBatch, type Database, oncePerDatabase } from "../db/client";
import { tablesOf, withPartitions } from "../db/partitions";
import {
  ACTIVE_DELIVERY_SQL,
  AUTO_DISABLE_REASONS,
  type WebhookEndpointRow,
  type WebhookStatus,
  webhookEndpoints,
  webhookStatsDaily,
  webhookStatsHourly,
} from "../db/schema";
import { allShards, groupByShard, onShard, type ShardScoped, shardOfOwner, webhookIdPrefix } from "../db/shards";
import { invalidField, notFound } from "../lib/errors";
import { newWebhookId } from "../lib/ids";
import type { SecretBox } from "../lib/secret-box";
import { toStatement } from "./delivery/claim";
import { orderedHeads, releaseLine } from "./delivery/ordered";
import { forgetSigningKeys } from "./delivery/signing-keys";
import { generateSigningSecret } from "./signing";
import { type WebhookFields, type WebhookResponse, WebhookSchema, WRITABLE_FIELD_NAMES } from "./webhook-fields";

export function webhookStatus(row: Pick<WebhookEndpointRow, "enabled" | "disabledReason">): WebhookStatus {
  if (row.enabled) return "active";
  return (AUTO_DISABLE_REASONS as readonly (string | null)[]).includes(row.disabledReason)
    ? "auto_disabled"
    : "disabled";
}

/** Events published since the webhook was disabled that it would otherwise have received; 0 while enabled. */
export const missedEventsSinceDisabled = (row: Pick<WebhookEndpointRow, "enabled" | "missedEvents">) =>
  row.enabled ? 0 : row.missedEvents;

/**
 * The API's view of a webhook (WebhookSchema: never the secret): its columns as shown, and the fields it computes.
 * `orderedHead` is the delivery at the head of an ordered webhook's line (orderedHeads), null when it is not ordered or
 * its line is empty.
 */
const shownWebhook = shownRowOf<WebhookEndpointRow, number | null>(webhookEndpoints, Object.keys(WebhookSchema.shape), {
  status: webhookStatus,
  missed_events_since_disabled: missedEventsSinceDisabled,
  ordered_head_delivery_id: (row, orderedHead) => (row.ordered ? orderedHead : null),
});

export const toPublicWebhook = (row: WebhookEndpointRow, orderedHead: number | null = null) =>
  shownWebhook(row, orderedHead) as WebhookResponse;

/**
 * The API's view of `rows`, an ordered one with the head of its line: one query per shard holding ordered ones (their
 * lines are in their own shards), none for the rest.
 */
export async function toPublicWebhooks(services: ShardScoped, rows: readonly WebhookEndpointRow[]) {
  const ordered = groupByShard(
    rows.filter((r) => r.ordered),
    (r) => r.id,
  );
  const heads = new Map<string, number>();
  await Promise.all(
    [...ordered].map(async ([shard, inShard]) => {
      const found = await orderedHeads(
        onShard(services, shard).db.$client,
        inShard.map((r) => r.id),
      );
      for (const [id, head] of found) heads.set(id, head);
    }),
  );
  return rows.map((r) => toPublicWebhook(r, heads.get(r.id) ?? null));
}

// Writable fields with rules of their own below (the owner's are auth/policy.ts's); any other is stored as given.
const OWN_RULES = new Set(["url", "events", "enabled", "tenant_id", "partner_id"]);
const storedAsGiven = (fields: Partial<WebhookFields>) =>
  storedValuesOf(
    webhookEndpoints,
    fields,
    WRITABLE_FIELD_NAMES.filter((name) => !OWN_RULES.has(name)),
  );

// The owner's live webhooks (webhook_endpoints_live_owner_idx): a tenant's, or a partner's partner-level ones.
const liveWebhooksOf = (owner: Owner) =>
  owner.tenantId !== null
    ? sql`(SELECT count(*) FROM webhook_endpoints o WHERE o.tenant_id = ${owner.tenantId} AND o.deleted_at IS NULL)`
    : sql`(SELECT count(*) FROM webhook_endpoints o
        WHERE o.tenant_id IS NULL AND o.partner_id = ${owner.partnerId} AND o.deleted_at IS NULL)`;

const tooManyWebhooks = (owner: Owner, max: number) =>
  invalidField(
    ["body"],
    `${owner.tenantId !== null ? `Tenant ${owner.tenantId}` : `Partner ${owner.partnerId}`} already has ${max} ` +
      `webhooks, the most one owner may have (MAX_WEBHOOKS_PER_OWNER = ${max}); delete one first`,
  );

/**
 * Stores a new webhook in shard `shard` (`db`; its id names the shard) unless its owner already has `maxPerOwner` live
 * ones (422). The check and the insert are one transaction: the batch inserts, then takes the row back out if it made
 * one too many, so concurrent creates can never pass the cap together. (SQLite's INSERT … VALUES takes no WHERE.)
 */
export async function createWebhook(
  db: Database,
  secretBox: SecretBox,
  fields: WebhookFields,
  owner: Owner,
  now: number,
  maxPerOwner: number,
  shard = 0,
): Promise<{ webhook: WebhookEndpointRow; secret: string }> {
  const secret = generateSigningSecret();
  const id = newWebhookId(webhookIdPrefix(shard));
  const enabled = fields.enabled ?? true;
  const insert = db
    .insert(webhookEndpoints)
    .values({
      id,
      tenantId: owner.tenantId,
      partnerId: owner.partnerId,
      ...storedAsGiven(fields),
      url: fields.url,
      events: dedupe(fields.events),
      enabled,
      disabledAt: enabled ? null : now,
      disabledReason: enabled ? null : "manual",
      secret: await secretBox.seal(secret, id),
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  const overCap = db
    .delete(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, id), sql`${liveWebhooksOf(owner)} > ${maxPerOwner}`));
  const [[webhook], takenBack] = await db.batch([insert, overCap]);
  if (takenBack.meta.changes > 0) throw tooManyWebhooks(owner, maxPerOwner);
  return { webhook: webhook!, secret };
}

const dedupe = (values: string[]) => [...new Set(values)];

/** The webhook by id, whoever owns it, for code that has just written it; 404 once deleted. */
export async function getWebhookRow(db: Database, id: string): Promise<WebhookEndpointRow> {
  const row = await db.query.webhookEndpoints.findFirst({
    where: and(eq(webhookEndpoints.id, id), isNull(webhookEndpoints.deletedAt)),
  });
  if (!row) throw notFound("Webhook not found");
  return row;
}

// The admin API's two hot reads, prepared once per database: drizzle builds their SQL once, not on every request.
const visibleWebhookQuery = oncePerDatabase((db) =>
  db
    .select({
      row: webhookEndpoints,
      // The directory's partner for the endpoint's tenant: what partner visibility goes by.
      directoryPartnerId: sql<
        string | null
      >`(SELECT d.partner_id FROM tenant_partners d WHERE d.tenant_id = "webhook_endpoints"."tenant_id")`,
    })
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, sql.placeholder("id")), isNull(webhookEndpoints.deletedAt)))
    .prepare(),
);

/** The webhook if it exists and the caller can see it; otherwise 404, the same answer for both. */
export async function getVisibleWebhook(db: Database, id: string, visibility: Visibility): Promise<WebhookEndpointRow> {
  const found = await visibleWebhookQuery(db).get({ id });
  if (!found || !canSee(visibility, found.row, found.directoryPartnerId)) throw notFound("Webhook not found");
  return found.row;
}

/** Webhooks of a partner: its partner-level ones, and those of the tenants the directory assigns to it. */
function ofPartner(partnerId: string | SQLWrapper): SQL {
  return and(
    eq(webhookEndpoints.partnerId, partnerId),
    or(
      isNull(webhookEndpoints.tenantId),
      // Qualified by hand: both tables have a tenant_id column, and drizzle leaves a single-table query's columns bare.
      sql`EXISTS (SELECT 1 FROM tenant_partners d WHERE d.tenant_id = "webhook_endpoints"."tenant_id" AND d.partner_id = ${partnerId})`,
    ),
  )!;
}

export interface Page {
  page: number;
  perPage: number;
}

/**
 * The webhooks a list shows: live, of the tenant, of the partner (and its tenants per the directory). Each of
 * `tenantId` and `partnerId` is a value or a placeholder of a prepared query.
 */
function listWhere(filter: { tenantId?: string | SQLWrapper | null; partnerId?: string | SQLWrapper | null }) {
  const conditions: SQL[] = [isNull(webhookEndpoints.deletedAt)];
  if (filter.tenantId) conditions.push(eq(webhookEndpoints.tenantId, filter.tenantId));
  if (filter.partnerId) conditions.push(ofPartner(filter.partnerId));
  return and(...conditions);
}

/**
 * A page of one shard's list and its count (`total` and `pages` count that shard's), prepared for each shape of
 * filter (by tenant, by partner, both, neither).
 */
const listQueries = oncePerDatabase((db) => {
  const byShape = new Map<string, ReturnType<typeof prepareList>>();
  function prepareList(byTenant: boolean, byPartner: boolean) {
    const where = listWhere({
      tenantId: byTenant ? sql.placeholder("tenantId") : undefined,
      partnerId: byPartner ? sql.placeholder("partnerId") : undefined,
    });
    return [
      db
        .select()
        .from(webhookEndpoints)
        .where(where)
        .orderBy(desc(webhookEndpoints.createdAt), desc(webhookEndpoints.id))
        .limit(sql.placeholder("limit"))
        .offset(sql.placeholder("offset"))
        .prepare(),
      db.select({ n: count() }).from(webhookEndpoints).where(where).prepare(),
    ] as const;
  }
  return (filter: OwnerFilter) => {
    const shape = `${Boolean(filter.tenantId)} ${Boolean(filter.partnerId)}`;
    let queries = byShape.get(shape);
    if (!queries) {
      queries = prepareList(Boolean(filter.tenantId), Boolean(filter.partnerId));
      byShape.set(shape, queries);
    }
    return queries;
  };
});

export async function listWebhooks(db: Database, filter: OwnerFilter, { page, perPage }: Page) {
  const [pageQuery, countQuery] = listQueries(db)(filter);
  const [rows, [total]] = await allInOneBatch(db, [pageQuery, countQuery], {
    tenantId: filter.tenantId,
    partnerId: filter.partnerId,
    limit: perPage,
    offset: (page - 1) * perPage,
  });
  const totalCount = total?.n ?? 0;
  return { rows, total: totalCount, pages: Math.ceil(totalCount / perPage) };
}

/**
 * A page of the webhooks visible under `filter`, newest first, over every shard that may hold them: a tenant's
 * webhooks are all in the tenant's shard (one shard read; none when the tenant has none), a partner's or the
 * platform's anywhere. Across shards, each shard answers its count and the keys of its first `page × perPage`
 * webhooks in one round trip; the keys merged in list order say which rows the page holds, and a second round trip
 * reads them from their shards. `total`, `page` and `pages` are exact.
 */
export async function listVisibleWebhooks(services: ShardScoped, filter: OwnerFilter, { page, perPage }: Page) {
  const empty = { rows: [] as WebhookEndpointRow[], total: 0, pages: 0 };
  if (filter.tenantId) {
    const shard = await shardOfOwner(services, `t:${filter.tenantId}`);
    return shard === null ? empty : listWebhooks(onShard(services, shard).db, filter, { page, perPage });
  }
  const shards = allShards(services);
  if (shards.length === 1) return listWebhooks(services.db, filter, { page, perPage });
  const where = listWhere(filter);
  const reach = page * perPage;
  const counted = await Promise.all(
    shards.map(async ({ db }, shard) => {
      const [keys, [total]] = await db.batch([
        db
          .select({ createdAt: webhookEndpoints.createdAt, id: webhookEndpoints.id })
          .from(webhookEndpoints)
          .where(where)
          .orderBy(desc(webhookEndpoints.createdAt), desc(webhookEndpoints.id))
          .limit(reach),
        db.select({ n: count() }).from(webhookEndpoints).where(where),
      ]);
      return { shard, keys, total: total?.n ?? 0 };
    }),
  );
  const total = counted.reduce((n, s) => n + s.total, 0);
  const onPage = counted
    .flatMap(({ shard, keys }) => keys.map((k) => ({ ...k, shard })))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(reach - perPage, reach);
  const rows = new Map<string, WebhookEndpointRow>();
  await Promise.all(
    [...new Set(onPage.map((k) => k.shard))].map(async (shard) => {
      const ids = onPage.filter((k) => k.shard === shard).map((k) => k.id);
      const found = await shards[shard]!.db.select().from(webhookEndpoints).where(inArray(webhookEndpoints.id, ids));
      for (const row of found) rows.set(row.id, row);
    }),
  );
  // A webhook deleted between the two reads drops out of the page.
  const pageRows = onPage.map((k) => rows.get(k.id)).filter((r): r is WebhookEndpointRow => r !== undefined);
  return { rows: pageRows, total, pages: Math.ceil(total / perPage) };
}

interface WebhookChanges extends Partial<WebhookFields> {
  tenantId?: string | null;
  partnerId?: string | null;
}

/**
 * Applies the changes. A change of owner (another tenant, or another partner for a partner-level webhook) happens only
 * while the new owner has fewer than `maxPerOwner` live webhooks (422 otherwise), checked in the update itself.
 */
export async function updateWebhook(
  db: Database,
  existing: WebhookEndpointRow,
  changes: WebhookChanges,
  now: number,
  maxPerOwner = Number.POSITIVE_INFINITY,
): Promise<WebhookEndpointRow> {
  const set: Partial<typeof webhookEndpoints.$inferInsert> = { ...storedAsGiven(changes), updatedAt: now };
  // A new URL is a new receiver: whether the old one timed out says nothing about it (it starts in the main lane).
  if (changes.url !== undefined && changes.url !== existing.url)
    Object.assign(set, { url: changes.url, slowSince: null });
  if (changes.events !== undefined) set.events = dedupe(changes.events);
  // Turned on, the line starts from the webhook's first open delivery: a search from 0 once, until the head moves it.
  if (changes.ordered === true && !existing.ordered) Object.assign(set, { orderedFrom: 0, orderedReopenedFrom: null });
  if (changes.tenantId !== undefined) set.tenantId = changes.tenantId;
  if (changes.partnerId !== undefined) set.partnerId = changes.partnerId;
  if (changes.enabled === true && !existing.enabled) {
    // Re-enabling starts the failure count afresh (ScaiLabs policy: PATCH {"enabled": true}), warnings with it.
    Object.assign(set, {
      enabled: true,
      failureCount: 0,
      failureWarningPercent: 0,
      disabledAt: null,
      disabledReason: null,
    });
  } else if (changes.enabled === false && existing.enabled) {
    Object.assign(set, { enabled: false, disabledAt: now, disabledReason: "manual", missedEvents: 0 });
  }
  const owner: Owner = {
    tenantId: changes.tenantId !== undefined ? changes.tenantId : existing.tenantId,
    partnerId: changes.partnerId !== undefined ? changes.partnerId : existing.partnerId,
  };
  const moves =
    owner.tenantId !== existing.tenantId || (owner.tenantId === null && owner.partnerId !== existing.partnerId);
  const capped = moves && Number.isFinite(maxPerOwner);
  const [row] = await db
    .update(webhookEndpoints)
    .set(set)
    .where(
      and(
        eq(webhookEndpoints.id, existing.id),
        isNull(webhookEndpoints.deletedAt),
        capped ? sql`${liveWebhooksOf(owner)} < ${maxPerOwner}` : undefined,
      ),
    )
    .returning();
  if (row) {
    if (existing.ordered && !row.ordered) await releaseLine(db.$client, row.id, existing.orderedFrom);
    return row;
  }
  if (
    capped &&
    (await db.$count(webhookEndpoints, and(eq(webhookEndpoints.id, existing.id), isNull(webhookEndpoints.deletedAt)))) >
      0
  )
    throw tooManyWebhooks(owner, maxPerOwner);
  throw notFound("Webhook not found");
}

/**
 * Soft-deletes the webhook, cancels what it had not yet been sent (in every table that holds its deliveries, through
 * their primary key), and drops its stats, in one atomic batch.
 */
export async function deleteWebhook(db: Database, id: string, now: number): Promise<void> {
  const d1 = db.$client;
  await withPartitions(d1, (live) =>
    d1.batch([
      toStatement(
        d1,
        db
          .update(webhookEndpoints)
          .set({ deletedAt: now, enabled: false, updatedAt: now })
          .where(eq(webhookEndpoints.id, id)),
      ),
      ...tablesOf("deliveries", live.hours).map((table) =>
        d1
          .prepare(
            `UPDATE "${table}" SET status = 'cancelled', lease_until = NULL, in_queue = 0, completed_at = ?2,
               updated_at = ?2, last_error = 'endpoint deleted'
             WHERE webhook_id = ?1 AND ${ACTIVE_DELIVERY_SQL}`,
          )
          .bind(id, now),
      ),
      toStatement(d1, db.delete(webhookStatsHourly).where(eq(webhookStatsHourly.webhookId, id))),
      toStatement(d1, db.delete(webhookStatsDaily).where(eq(webhookStatsDaily.webhookId, id))),
    ]),
  );
}

/** A new secret; the previous one keeps signing alongside it for `graceSeconds` (0: not at all). */
export async function rotateWebhookSecret(
  db: Database,
  secretBox: SecretBox,
  webhook: WebhookEndpointRow,
  graceSeconds: number,
  now: number,
) {
  const secret = generateSigningSecret();
  const previousSecretExpiresAt = graceSeconds > 0 ? now + graceSeconds * 1000 : null;
  await db
    .update(webhookEndpoints)
    // The previous secret moves over still sealed, as it was stored.
    .set({
      secret: await secretBox.seal(secret, webhook.id),
      previousSecret: previousSecretExpiresAt ? webhook.secret : null,
      previousSecretExpiresAt,
      updatedAt: now,
    })
    .where(eq(webhookEndpoints.id, webhook.id));
  // The secrets that stop signing leave this isolate's key cache (others age out: their sealed values are never read again).
  await forgetSigningKeys(
    secretBox,
    [webhook.previousSecret, previousSecretExpiresAt ? null : webhook.secret],
    webhook.id,
  );
  return { secret, previousSecretExpiresAt };
}
