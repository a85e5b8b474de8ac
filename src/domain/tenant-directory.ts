// The tenant → partner directory: which partner owns each tenant. Partner visibility, the partner_id filter, creation
// defaults and fan-out to partner endpoints all read it; webhook_endpoints.partner_id mirrors it for every tenant
// endpoint, and every write of an entry brings the tenant's endpoints along in the same atomic batch.
//
// Two ways in (the rule and its reasons: docs/api.md#the-tenant-directory):
// - assign: the platform's explicit act (PUT …/tenants/{tenant_id}/partner, WebhooksService.assignTenantPartner); it
//   sets the entry and may move a tenant to another partner;
// - learn: a pairing a trusted source vouches for (a platform publisher's event, the tenant's own token), recorded only
//   where the directory knows no partner for the tenant. Nothing learned ever moves an entry.
//
// A tenant's entry lives in the tenant's own shard (db/shards.ts), beside its webhooks: fan-out and visibility read it
// there, and every write of it moves the tenant's webhooks along in that shard's one batch. Writing an entry places the
// tenant (and its partner) in the owner directory if they have no shard yet.
import { eq } from "drizzle-orm";
import { type DirectorySource, tenantPartners } from "../db/schema";
import { onShard, placeOwner, type ShardScoped, shardOfOwner } from "../db/shards";
import type { Config } from "../lib/config";
import { logger } from "../lib/logger";

/** How the directory may change: explicitly, or by learning. */
export type AssignSource = Extract<DirectorySource, "admin" | "service">;

/** A tenant → partner pairing a vouching source stated, to be learned if the directory knows none for the tenant. */
export interface TenantPairing {
  tenantId: string;
  partnerId: string;
  source: DirectorySource;
}

export interface TenantDirectory {
  /** The partner the directory assigns `tenantId` to, or null when it does not know the tenant. */
  partnerOf(tenantId: string): Promise<string | null>;
  /** Sets tenantId → partnerId (a move when it differed) and moves the tenant's endpoints along. */
  assign(tenantId: string, partnerId: string, source: AssignSource): Promise<Assignment>;
  /** Records the pairing if the tenant has no entry; answers the partner the directory holds afterwards. */
  learn(pairing: TenantPairing): Promise<string>;
}

export interface Assignment {
  tenant_id: string;
  partner_id: string;
  /** Endpoints of the tenant whose partner_id changed. */
  moved_webhooks: number;
}

// Only a change writes: re-stating a known assignment touches no row. ?5: the partner's shard.
const ASSIGN = `INSERT INTO tenant_partners (tenant_id, partner_id, source, updated_at, partner_shard)
  VALUES (?1, ?2, ?3, ?4, ?5)
  ON CONFLICT (tenant_id) DO UPDATE SET partner_id = excluded.partner_id, source = excluded.source,
    updated_at = excluded.updated_at, partner_shard = excluded.partner_shard
  WHERE tenant_partners.partner_id != excluded.partner_id`;
const LEARN = `INSERT INTO tenant_partners (tenant_id, partner_id, source, updated_at, partner_shard)
  VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (tenant_id) DO NOTHING`;
// The tenant's endpoints take the partner the directory holds, whichever statement set it (or left it). One statement
// over the tenant's endpoints (an index on tenant_id): bounded by what the tenant owns.
const DIRECTORY_PARTNER = "(SELECT d.partner_id FROM tenant_partners d WHERE d.tenant_id = ?1)";
const SYNC_ENDPOINTS = `UPDATE webhook_endpoints SET partner_id = ${DIRECTORY_PARTNER}, updated_at = ?2
  WHERE tenant_id = ?1 AND partner_id IS NOT ${DIRECTORY_PARTNER}`;

/** The two statements of an assignment: set the entry, move the tenant's endpoints along. */
function assignmentStatements(
  d1: D1Database,
  tenantId: string,
  partner: PlacedPartner,
  source: AssignSource,
  now: number,
) {
  return [
    d1.prepare(ASSIGN).bind(tenantId, partner.partnerId, source, now, partner.partnerShard),
    d1.prepare(SYNC_ENDPOINTS).bind(tenantId, now),
  ];
}

/** A partner and the shard of its partner-level webhooks, as a directory entry records them. */
interface PlacedPartner {
  partnerId: string;
  partnerShard: number;
}

/**
 * The two statements of learning a pairing, for callers that add them to a larger batch (publishing an event), in the
 * tenant's shard; `partnerShard` is where the pairing's partner lives (placePairing).
 */
export function learningStatements(
  d1: D1Database,
  pairing: TenantPairing,
  now: number,
  partnerShard: number,
): D1PreparedStatement[] {
  return [
    d1.prepare(LEARN).bind(pairing.tenantId, pairing.partnerId, pairing.source, now, partnerShard),
    d1.prepare(SYNC_ENDPOINTS).bind(pairing.tenantId, now),
  ];
}

export type DirectoryDeps = ShardScoped & { config: Pick<Config, "newOwnerShards">; now: () => number };

/** Places the tenant of a pairing (beside its partner while nothing else placed it) and the partner: both shards. */
export async function placePairing(
  deps: DirectoryDeps,
  tenantId: string,
  partnerId: string,
): Promise<{ tenantShard: number; partnerShard: number }> {
  const partnerShard = await placeOwner(deps, `p:${partnerId}`);
  const tenantShard = await placeOwner(deps, `t:${tenantId}`, partnerId);
  return { tenantShard, partnerShard };
}

export function tenantDirectory(deps: DirectoryDeps): TenantDirectory {
  const { now } = deps;
  // Per request: a tenant looked up twice (policy, then defaults) costs one read.
  const known = new Map<string, string | null>();
  return {
    async partnerOf(tenantId) {
      if (known.has(tenantId)) return known.get(tenantId)!;
      // A tenant with no shard has no entry anywhere.
      const shard = await shardOfOwner(deps, `t:${tenantId}`);
      const row =
        shard === null
          ? undefined
          : await onShard(deps, shard)
              .db.select({ partnerId: tenantPartners.partnerId })
              .from(tenantPartners)
              .where(eq(tenantPartners.tenantId, tenantId))
              .get();
      known.set(tenantId, row?.partnerId ?? null);
      return row?.partnerId ?? null;
    },
    async assign(tenantId, partnerId, source) {
      const { tenantShard, partnerShard } = await placePairing(deps, tenantId, partnerId);
      const d1 = onShard(deps, tenantShard).db.$client;
      const [, moved] = await d1.batch(assignmentStatements(d1, tenantId, { partnerId, partnerShard }, source, now()));
      known.set(tenantId, partnerId);
      return { tenant_id: tenantId, partner_id: partnerId, moved_webhooks: moved?.meta.changes ?? 0 };
    },
    async learn(pairing) {
      const { tenantShard, partnerShard } = await placePairing(deps, pairing.tenantId, pairing.partnerId);
      const d1 = onShard(deps, tenantShard).db.$client;
      const results = await d1.batch<{ partner_id: string }>([
        ...learningStatements(d1, pairing, now(), partnerShard),
        d1.prepare("SELECT partner_id FROM tenant_partners WHERE tenant_id = ?1").bind(pairing.tenantId),
      ]);
      const partnerId = results[2]?.results[0]?.partner_id ?? pairing.partnerId;
      // Another request filled the entry first (between this request's read and its write): that one stands.
      if (partnerId !== pairing.partnerId)
        logger.warn("tenant directory: a learned pairing lost to the entry already recorded", {
          tenant_id: pairing.tenantId,
          partner_id: pairing.partnerId,
          directory_partner_id: partnerId,
        });
      known.set(pairing.tenantId, partnerId);
      return partnerId;
    },
  };
}
