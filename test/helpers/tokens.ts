// Development-style tokens for tests: HS256 with the test JWT_SECRET, ScaiKey's claim names.
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";

export interface TokenOptions {
  role?: "super_admin" | "partner_admin" | "tenant_admin" | null;
  tenant?: string | null;
  partner?: string | null;
  scope?: string;
  platform?: boolean;
  issuer?: string;
  audience?: string;
  expiresIn?: string | number;
  secret?: string;
  subject?: string;
}

export async function mintToken(opts: TokenOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = { scope: opts.scope ?? "admin:read admin:write" };
  if (opts.role !== null) claims.role = opts.role ?? "super_admin";
  if (opts.tenant) claims.tenant_id = opts.tenant;
  if (opts.partner) claims.partner_id = opts.partner;
  if (opts.platform) {
    claims.platform_token = true;
    claims.token_type = "client_credentials";
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(opts.subject ?? "usr_test")
    .setIssuer(opts.issuer ?? `${env.JWT_ISSUER}tenants/${opts.tenant ?? "platform"}`)
    .setAudience(opts.audience ?? env.JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? "1h")
    .sign(new TextEncoder().encode(opts.secret ?? env.JWT_SECRET));
}

export const superAdmin = () => mintToken({ role: "super_admin" });
export const platformToken = (scope = "admin:read admin:write") => mintToken({ role: null, platform: true, scope });
export const partnerAdmin = (partner: string, scope = "admin:read admin:write") => mintToken({ role: "partner_admin", partner, scope });
export const tenantAdmin = (tenant: string, partner: string | null = null, scope = "admin:read admin:write") =>
  mintToken({ role: "tenant_admin", tenant, partner, scope });
/** A publisher's token: no admin role, only webhooks:publish, scoped to a tenant (and partner). */
export const publisher = (tenant: string, partner: string | null = null) =>
  mintToken({ role: null, tenant, partner, scope: "webhooks:publish" });
