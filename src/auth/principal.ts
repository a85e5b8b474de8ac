// Who is calling, what they may do, and which tenants they can see.
import { forbidden } from "../lib/errors";

export const ADMIN_ROLES = ["super_admin", "partner_admin", "tenant_admin"] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface Principal {
  subject: string;
  role: AdminRole | null;
  tenantId: string | null;
  partnerId: string | null;
  scopes: Set<string>;
  /** client_credentials token of a GLOBAL app: cross-tenant admin access. */
  platformToken: boolean;
}

export type AccessLevel = "read" | "write" | "publish";

/** The exact rejection ScaiKey's admin API gives a platform token without admin scopes. */
export const PLATFORM_SCOPE_REQUIRED = "Platform token requires admin:read or admin:write scope";

// ScaiKey's rule: an admin role, or a platform client_credentials token with admin:read (reads) / admin:write (writes).
// A token with neither may still hold the narrower webhooks:* grants, which this service defines for publishers and
// tools acting inside one tenant or partner.
const PLATFORM_SCOPES: Record<AccessLevel, string[]> = {
  read: ["admin:read", "admin:write"],
  write: ["admin:write"],
  publish: ["admin:write", "webhooks:publish"],
};
const NARROW_SCOPES: Record<AccessLevel, string[]> = {
  read: ["webhooks:read", "webhooks:write"],
  write: ["webhooks:write"],
  publish: ["webhooks:publish"],
};

const hasAny = (p: Principal, scopes: string[]) => scopes.some((s) => p.scopes.has(s));

/**
 * Throws 403 unless the token may perform an operation of this level. Role tokens (what ScaiKey's admin console
 * issues, with ordinary OIDC scopes) are authorised by their role; which tenants they reach is their visibility.
 */
export function requireAccess(p: Principal, level: AccessLevel): void {
  if (p.role !== null) return;
  if (p.platformToken) {
    if (hasAny(p, PLATFORM_SCOPES[level])) return;
    if (level === "read" || !hasAny(p, PLATFORM_SCOPES.read)) throw forbidden(PLATFORM_SCOPE_REQUIRED);
    throw forbidden(level === "write" ? "Platform token requires admin:write scope for this operation" : "Platform token requires admin:write or webhooks:publish scope to publish");
  }
  if (hasAny(p, NARROW_SCOPES[level])) return;
  throw forbidden(
    level === "publish"
      ? "Token requires an admin role, or the webhooks:publish scope"
      : `Token requires an admin role, a platform token with admin:${level}, or the webhooks:${level} scope`,
  );
}

export type Visibility =
  | { kind: "all" }
  | { kind: "partner"; partnerId: string }
  | { kind: "tenant"; tenantId: string; partnerId: string | null };

export function visibilityOf(p: Principal): Visibility {
  if (p.role === "super_admin" || (p.role === null && p.platformToken)) return { kind: "all" };
  if (p.role === "partner_admin" && p.partnerId) return { kind: "partner", partnerId: p.partnerId };
  if (p.tenantId) return { kind: "tenant", tenantId: p.tenantId, partnerId: p.partnerId };
  // A partner-level token without a role (webhooks:* grants) reaches that partner's tenants.
  if (p.role === null && p.partnerId) return { kind: "partner", partnerId: p.partnerId };
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
