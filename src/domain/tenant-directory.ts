// The tenant → partner directory: which partner owns each tenant. Partner visibility, the partner_id filter, creation
// defaults and fan-out to partner endpoints all read it; webhook_endpoints.partner_id mirrors it for every tenant
// endpoint, and an assignment moves the tenant's endpoints in the same atomic batch.
import { eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { type DirectorySource, tenantPartners } from "../db/schema";

export interface TenantDirectory {
  /** The partner the directory assigns `tenantId` to, or null when it does not know the tenant. */
  partnerOf(tenantId: string): Promise<string | null>;
  /** Records tenantId → partnerId (a move when it differed) and moves the tenant's endpoints along. */
  assign(tenantId: string, partnerId: string, source: DirectorySource): Promise<Assignment>;
}

export interface Assignment {
  tenant_id: string;
  partner_id: string;
  /** Endpoints of the tenant whose partner_id changed. */
  moved_webhooks: number;
}

// Only a change writes: re-stating a known assignment (every event of a tenant does) touches no row.
const UPSERT = `INSERT INTO tenant_partners (tenant_id, partner_id, source, updated_at) VALUES (?1, ?2, ?3, ?4)
  ON CONFLICT (tenant_id) DO UPDATE SET partner_id = excluded.partner_id, source = excluded.source, updated_at = excluded.updated_at
  WHERE tenant_partners.partner_id != excluded.partner_id`;
// One statement over the tenant's endpoints (webhook_endpoints_tenant_created_idx): bounded by what the tenant owns.
const MOVE_ENDPOINTS = `UPDATE webhook_endpoints SET partner_id = ?2, updated_at = ?3
  WHERE tenant_id = ?1 AND partner_id IS NOT ?2`;

/** The two statements of an assignment, for callers that add them to a larger batch (publishing an event). */
export function assignmentStatements(
  d1: D1Database,
  tenantId: string,
  partnerId: string,
  source: DirectorySource,
  now: number,
): D1PreparedStatement[] {
  return [
    d1.prepare(UPSERT).bind(tenantId, partnerId, source, now),
    d1.prepare(MOVE_ENDPOINTS).bind(tenantId, partnerId, now),
  ];
}

export function tenantDirectory(db: Database, now: () => number): TenantDirectory {
  // Per request: a tenant looked up twice (policy, then defaults) costs one read.
  const known = new Map<string, string | null>();
  return {
    async partnerOf(tenantId) {
      if (known.has(tenantId)) return known.get(tenantId)!;
      const row = await db
        .select({ partnerId: tenantPartners.partnerId })
        .from(tenantPartners)
        .where(eq(tenantPartners.tenantId, tenantId))
        .get();
      known.set(tenantId, row?.partnerId ?? null);
      return row?.partnerId ?? null;
    },
    async assign(tenantId, partnerId, source) {
      const [, moved] = await db.$client.batch(assignmentStatements(db.$client, tenantId, partnerId, source, now()));
      known.set(tenantId, partnerId);
      return { tenant_id: tenantId, partner_id: partnerId, moved_webhooks: moved?.meta.changes ?? 0 };
    },
  };
}
