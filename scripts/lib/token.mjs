// Development access tokens with ScaiKey's claim names: the one minting code of the project, used by `npm run token`,
// the bench (RS256 against its local JWKS), the fault harness and the tests (test/helpers/tokens.ts, inside workerd).
// Imports jose only, so it runs in Node and in workerd alike.
import { SignJWT } from "jose";

export const ROLES = ["super_admin", "partner_admin", "tenant_admin"];

/** The issuer ScaiKey gives a tenant's tokens (`<prefix>tenants/<id>`), or the platform's when there is no tenant. */
export function issuerFor(issuerPrefix, tenant) {
  return `${issuerPrefix.endsWith("/") ? issuerPrefix : `${issuerPrefix}/`}tenants/${tenant || "platform"}`;
}

/**
 * A signed JWT. `key`: the HS256 secret as a string, or a private CryptoKey/KeyObject for `alg` (e.g. RS256, with `kid`).
 * `role: null` leaves the role claim out; `platform: true` makes a client_credentials platform token. `issuer` wins
 * over `issuerPrefix` (which gets the tenant's issuer); without either the token has no `iss`, likewise `audience`.
 * `expiration`: as jose's setExpirationTime, a time span from now such as "1h", or a number: the absolute `exp` (seconds).
 */
export async function mintToken({
  key,
  alg = "HS256",
  kid,
  role = "super_admin",
  tenant = null,
  partner = null,
  scope = "admin:read admin:write",
  platform = false,
  subject = "usr_dev",
  issuer,
  issuerPrefix,
  audience,
  expiration = "1h",
}) {
  const claims = { scope };
  if (role !== null) claims.role = role;
  if (tenant) claims.tenant_id = tenant;
  if (partner) claims.partner_id = partner;
  if (platform) {
    claims.platform_token = true;
    claims.token_type = "client_credentials";
  }
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, typ: "JWT", ...(kid ? { kid } : {}) })
    .setSubject(subject)
    .setIssuedAt(now)
    .setExpirationTime(expiration);
  const iss = issuer ?? (issuerPrefix ? issuerFor(issuerPrefix, tenant) : undefined);
  if (iss) jwt.setIssuer(iss);
  if (audience) jwt.setAudience(audience);
  return jwt.sign(typeof key === "string" ? new TextEncoder().encode(key) : key);
}
