// Who is calling: the principal a verified access token describes. What it may do is in policy.ts.

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
  /**
   * Issued by its own tenant's ScaiKey issuer (`<JWT_ISSUER>tenants/<tenant_id>`): ScaiKey vouches that the tenant
   * belongs to the token's partner_id, so the tenant directory may learn that pairing (auth/policy.ts).
   */
  issuedByOwnTenant: boolean;
}
