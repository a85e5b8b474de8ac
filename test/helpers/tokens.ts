// Development-style tokens for tests: HS256 with the test JWT_SECRET, ScaiKey's claim names. The minting itself is the
// project's one copy, scripts/lib/token.mjs (jose only, so it runs here inside workerd too).
import { env } from "cloudflare:workers";
import { issuerFor, mintToken as mint } from "../../scripts/lib/token.mjs";

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

export function mintToken(opts: TokenOptions = {}): Promise<string> {
  return mint({
    key: opts.secret ?? env.JWT_SECRET,
    role: opts.role === undefined ? "super_admin" : opts.role,
    tenant: opts.tenant,
    partner: opts.partner,
    scope: opts.scope,
    platform: opts.platform,
    subject: opts.subject ?? "usr_test",
    issuer: opts.issuer ?? issuerFor(env.JWT_ISSUER, opts.tenant),
    audience: opts.audience ?? env.JWT_AUDIENCE,
    expiration: opts.expiresIn ?? "1h",
  });
}

export const superAdmin = () => mintToken({ role: "super_admin" });
export const platformToken = (scope = "admin:read admin:write") => mintToken({ role: null, platform: true, scope });
export const partnerAdmin = (partner: string, scope = "admin:read admin:write") =>
  mintToken({ role: "partner_admin", partner, scope });
export const tenantAdmin = (tenant: string, partner: string | null = null, scope = "admin:read admin:write") =>
  mintToken({ role: "tenant_admin", tenant, partner, scope });
/** A publisher's token: no admin role, only webhooks:publish, scoped to a tenant (and partner). */
export const publisher = (tenant: string, partner: string | null = null) =>
  mintToken({ role: null, tenant, partner, scope: "webhooks:publish" });
