// Every "may this caller…" rule: the access level of an operation, which tenants a caller sees, which owners it may
// give a webhook, for whom it may publish, and who may set the tenant directory. Callers answer 404 for what a caller
// cannot see, 403 for what it may not do.
import type { EventEnvelopeInput } from "../domain/event-envelope";
import type { TenantDirectory, TenantPairing } from "../domain/tenant-directory";
import { forbidden, invalidField } from "../lib/errors";
import { logger } from "../lib/logger";
import type { Principal } from "./principal";

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
    throw forbidden(
      level === "write"
        ? "Platform token requires admin:write scope for this operation"
        : "Platform token requires admin:write or webhooks:publish scope to publish",
    );
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

export interface Owner {
  tenantId: string | null;
  partnerId: string | null;
}

/**
 * Whether a resource owned by `owner` is visible; callers answer 404 when it is not. A partner sees its partner-level
 * endpoints and the endpoints of the tenants the directory assigns to it (`directoryPartnerId`: the partner the
 * directory gives the owner's tenant), never a tenant endpoint that merely carries its partner_id.
 */
export function canSee(v: Visibility, owner: Owner, directoryPartnerId: string | null): boolean {
  switch (v.kind) {
    case "all":
      return true;
    case "partner":
      return owner.partnerId === v.partnerId && (owner.tenantId === null || directoryPartnerId === v.partnerId);
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
      if (requested.tenantId && requested.tenantId !== v.tenantId)
        throw forbidden("Not allowed to list webhooks of another tenant");
      if (requested.partnerId && requested.partnerId !== v.partnerId)
        throw forbidden("Not allowed to list webhooks of another partner");
      return { tenantId: v.tenantId, partnerId: requested.partnerId };
  }
}

/** Super admins and platform tokens: the platform itself, above every partner and tenant. */
const isPlatform = (p: Principal) => p.role === "super_admin" || (p.role === null && p.platformToken);

/** What the platform publishes or states about a tenant's partner, the directory records. */
export const isTrustedPublisher = isPlatform;

/** The operations view shows the whole pipeline, every tenant's webhooks included: the platform only. */
export function assertMayViewOperations(p: Principal): void {
  if (!isPlatform(p)) throw forbidden("Only a super admin or a platform token may view the operations of the service");
}

/** Only the platform sets the directory directly. */
export function assertMaySetDirectory(p: Principal): void {
  if (!isTrustedPublisher(p)) throw forbidden("Only a super admin or a platform token may assign tenants to partners");
}

/**
 * What a token's own tenant_id and partner_id say to the directory, checked wherever they would reach it (creating or
 * moving a webhook, opening a portal session, publishing):
 * - the directory records another partner for the tenant: 403, logged at warn with both partners, nothing changes;
 * - the directory knows none, and the token comes from that tenant's own ScaiKey issuer: the pairing, which the caller
 *   may learn once the request has passed every check;
 * - otherwise null: nothing to learn.
 */
export async function tokenPairing(p: Principal, directory: TenantDirectory): Promise<TenantPairing | null> {
  if (!p.tenantId || !p.partnerId) return null;
  const known = await directory.partnerOf(p.tenantId);
  if (known !== null && known !== p.partnerId) {
    logger.warn("token refused: its partner_id contradicts the tenant directory", {
      subject: p.subject,
      tenant_id: p.tenantId,
      token_partner_id: p.partnerId,
      directory_partner_id: known,
    });
    throw forbidden(
      `The token's partner_id ${p.partnerId} is not the partner the tenant directory records for tenant ${p.tenantId}; ` +
        `only the platform changes a tenant's partner (PUT /api/v1/admin/webhooks/tenants/${p.tenantId}/partner)`,
    );
  }
  if (known === null && p.issuedByOwnTenant) return { tenantId: p.tenantId, partnerId: p.partnerId, source: "token" };
  return null;
}

/** The owner of a new (or moved) webhook, and the pairing the directory may learn once it is stored. */
export interface NewOwner {
  owner: Owner;
  learn: TenantPairing | null;
}

/**
 * The owner of a new (or moved) endpoint. A tenant endpoint's partner is always the directory's; a partner admin may
 * only name tenants the directory assigns to its partner (an unknown tenant is refused, not assumed); a tenant admin
 * only its own tenant. Where the directory knows no partner for the tenant, a trusted caller naming one, or a token of
 * that tenant's own issuer, states it: the owner takes it, and `learn` is that pairing (nothing is recorded here).
 */
export async function resolveNewOwner(
  p: Principal,
  requested: { tenantId?: string | null; partnerId?: string | null },
  directory: TenantDirectory,
): Promise<NewOwner> {
  const v = visibilityOf(p);
  const vouched = await tokenPairing(p, directory);
  const tenantId = v.kind === "tenant" ? v.tenantId : (requested.tenantId ?? null);
  if (v.kind === "tenant" && requested.tenantId && requested.tenantId !== v.tenantId)
    throw forbidden("Not allowed to create webhooks for another tenant");
  if (v.kind === "partner" && requested.partnerId && requested.partnerId !== v.partnerId)
    throw forbidden("Not allowed to create webhooks for another partner");
  if (tenantId === null)
    return {
      owner: { tenantId: null, partnerId: v.kind === "partner" ? v.partnerId : (requested.partnerId ?? null) },
      learn: null,
    };

  const known = await directory.partnerOf(tenantId);
  if (v.kind === "partner" && known !== v.partnerId)
    throw forbidden(`Not allowed to create webhooks for tenant ${tenantId}: it is not one of your partner's tenants`);
  const learn = known === null && vouched?.tenantId === tenantId ? vouched : null;
  const partnerId = known ?? learn?.partnerId ?? null;
  if (requested.partnerId && requested.partnerId !== partnerId) {
    if (v.kind !== "all") throw forbidden("Not allowed to create webhooks for another partner");
    if (partnerId !== null)
      throw invalidField(
        ["body", "partner_id"],
        `Tenant ${tenantId} belongs to another partner; move it with PUT /api/v1/admin/webhooks/tenants/${tenantId}/partner`,
      );
    return {
      owner: { tenantId, partnerId: requested.partnerId },
      learn: { tenantId, partnerId: requested.partnerId, source: "admin" },
    };
  }
  return { owner: { tenantId, partnerId }, learn };
}

/** The event as it will be published, and the tenant → partner pairing the directory may learn with it. */
export interface AuthorizedEvent {
  event: EventEnvelopeInput;
  learn: TenantPairing | null;
}

/**
 * Who may publish for whom. Trusted publishers (super admin, platform token, the service binding: `principal` null)
 * publish anywhere, and a tenant event naming its partner may teach the directory (publishEvent delivers it with the
 * directory's partner if the directory holds another). Everyone else publishes only inside its own tenant or its
 * partner's tenants per the directory; a tenant token from its tenant's own issuer may teach its pairing. A tenant
 * event always carries the directory's partner. Nothing is recorded here: the pairing is stored with the event.
 */
export async function authorizePublish(
  p: Principal | null,
  event: EventEnvelopeInput,
  directory: TenantDirectory,
): Promise<AuthorizedEvent> {
  const tenantId = event.tenant_id ?? null;
  if (p === null || isTrustedPublisher(p)) {
    if (p) await tokenPairing(p, directory);
    if (tenantId && event.partner_id)
      return { event, learn: { tenantId, partnerId: event.partner_id, source: "event" } };
    if (tenantId) return { event: withPartner(event, await directory.partnerOf(tenantId)), learn: null };
    return { event, learn: null };
  }
  const v = visibilityOf(p);
  const vouched = await tokenPairing(p, directory);
  if (v.kind === "tenant") {
    if (tenantId !== v.tenantId) throw forbidden("Not allowed to publish events for another tenant");
    const known = await directory.partnerOf(tenantId);
    const learn = known === null && vouched?.tenantId === tenantId ? vouched : null;
    const partnerId = known ?? learn?.partnerId ?? null;
    if (event.partner_id && event.partner_id !== partnerId)
      throw forbidden("Not allowed to publish events for another partner");
    return { event: withPartner(event, partnerId), learn };
  }
  if (v.kind === "partner") {
    if (event.partner_id && event.partner_id !== v.partnerId)
      throw forbidden("Not allowed to publish events for another partner");
    if (tenantId && (await directory.partnerOf(tenantId)) !== v.partnerId)
      throw forbidden(`Not allowed to publish events for tenant ${tenantId}: it is not one of your partner's tenants`);
    return { event: withPartner(event, v.partnerId), learn: null };
  }
  return { event, learn: null };
}

const withPartner = (event: EventEnvelopeInput, partnerId: string | null): EventEnvelopeInput => {
  const { partner_id: _named, ...rest } = event;
  return partnerId ? { ...rest, partner_id: partnerId } : rest;
};
