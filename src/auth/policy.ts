// Every "may this caller…" rule: the access level of an operation, which tenants a caller sees, which owners it may
// give a webhook, and for whom it may publish. Callers answer 404 for what a caller cannot see, 403 for what it may not do.
import type { EventEnvelopeInput } from "../domain/event-envelope";
import { forbidden } from "../lib/errors";
import type { Principal } from "./principal";

export type AccessLevel = "read" | "write" | "publish";

// Scopes that grant each level; ScaiKey's admin API uses admin:*, the webhooks:* ones are the narrower grants.
const SCOPES_FOR: Record<AccessLevel, string[]> = {
  read: ["admin:read", "admin:write", "webhooks:read", "webhooks:write"],
  write: ["admin:write", "webhooks:write"],
  publish: ["webhooks:publish", "admin:write"],
};

const hasAny = (p: Principal, scopes: string[]) => scopes.some((s) => p.scopes.has(s));

/** Throws 403 unless the token may perform an operation of this level. */
export function requireAccess(p: Principal, level: AccessLevel): void {
  if (level === "publish") {
    if (p.scopes.has("webhooks:publish")) return;
    if (p.scopes.has("admin:write") && (p.platformToken || p.role !== null)) return;
    throw forbidden("Token requires webhooks:publish scope (or admin:write on a platform token)");
  }
  if (!p.role && !p.platformToken) throw forbidden("Admin role or platform token required");
  if (!hasAny(p, SCOPES_FOR.read)) throw forbidden("Platform token requires admin:read or admin:write scope");
  if (level === "write" && !hasAny(p, SCOPES_FOR.write)) throw forbidden("Token requires admin:write scope for this operation");
}

export type Visibility =
  | { kind: "all" }
  | { kind: "partner"; partnerId: string }
  | { kind: "tenant"; tenantId: string; partnerId: string | null };

export function visibilityOf(p: Principal): Visibility {
  if (p.role === "super_admin" || p.platformToken) return { kind: "all" };
  if (p.role === "partner_admin" && p.partnerId) return { kind: "partner", partnerId: p.partnerId };
  if (p.tenantId) return { kind: "tenant", tenantId: p.tenantId, partnerId: p.partnerId };
  throw forbidden("Token carries no tenant_id or partner_id to scope its access");
}

/** Whether a resource owned by (tenantId, partnerId) is visible; callers answer 404 when it is not. */
export function canSee(v: Visibility, owner: { tenantId: string | null; partnerId: string | null }): boolean {
  switch (v.kind) {
    case "all":
      return true;
    case "partner":
      return owner.partnerId === v.partnerId;
    case "tenant":
      return owner.tenantId === v.tenantId;
  }
}

export interface OwnerFilter {
  tenantId?: string;
  partnerId?: string;
}

/** Narrows list filters to what the caller may see; a filter outside that is a 403. */
export function scopeListFilter(v: Visibility, requested: OwnerFilter): OwnerFilter {
  switch (v.kind) {
    case "all":
      return requested;
    case "partner":
      if (requested.partnerId && requested.partnerId !== v.partnerId)
        throw forbidden("Not allowed to list webhooks of another partner");
      return { tenantId: requested.tenantId, partnerId: v.partnerId };
    case "tenant":
      if (requested.tenantId && requested.tenantId !== v.tenantId) throw forbidden("Not allowed to list webhooks of another tenant");
      if (requested.partnerId && requested.partnerId !== v.partnerId)
        throw forbidden("Not allowed to list webhooks of another partner");
      return { tenantId: v.tenantId, partnerId: requested.partnerId };
  }
}

/**
 * The owner of a new endpoint: defaults from the token, and a caller can only create inside its own scope.
 * Returns null fields where the endpoint is partner-level (no tenant).
 */
export function resolveNewOwner(
  v: Visibility,
  requested: { tenantId?: string | null; partnerId?: string | null },
): { tenantId: string | null; partnerId: string | null } {
  switch (v.kind) {
    case "all":
      return { tenantId: requested.tenantId ?? null, partnerId: requested.partnerId ?? null };
    case "partner":
      if (requested.partnerId && requested.partnerId !== v.partnerId)
        throw forbidden("Not allowed to create webhooks for another partner");
      return { tenantId: requested.tenantId ?? null, partnerId: v.partnerId };
    case "tenant":
      if (requested.tenantId && requested.tenantId !== v.tenantId)
        throw forbidden("Not allowed to create webhooks for another tenant");
      if (requested.partnerId && requested.partnerId !== v.partnerId)
        throw forbidden("Not allowed to create webhooks for another partner");
      return { tenantId: v.tenantId, partnerId: v.partnerId };
  }
}

/** A tenant- or partner-scoped token publishes only inside its own scope. */
export function assertMayPublishFor(principal: Principal, event: Pick<EventEnvelopeInput, "tenant_id" | "partner_id">): void {
  const visibility = visibilityOf(principal);
  if (visibility.kind === "tenant" && event.tenant_id !== visibility.tenantId)
    throw forbidden("Not allowed to publish events for another tenant");
  if (visibility.kind === "tenant" && event.partner_id && event.partner_id !== visibility.partnerId)
    throw forbidden("Not allowed to publish events for another partner");
  if (visibility.kind === "partner" && event.partner_id !== visibility.partnerId)
    throw forbidden("Not allowed to publish events for another partner");
}
