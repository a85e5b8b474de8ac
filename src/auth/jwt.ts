// Bearer JWT verification with jose, in ScaiKey's access-token format.
import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { Config } from "../lib/config";
import { unauthorized } from "../lib/errors";
import { ADMIN_ROLES, type AdminRole, type Principal } from "./principal";

// Asymmetric algorithms only with a JWKS: an HS* token can never be checked against a public key set.
const JWKS_ALGORITHMS = ["RS256", "ES256"];
const SECRET_ALGORITHMS = ["HS256"];
const CLOCK_TOLERANCE_SECONDS = 30;

// One remote key set per URL per isolate: jose caches the keys and refetches on an unknown `kid` (key rotation).
const remoteKeySets = new Map<string, JWTVerifyGetKey>();
function remoteKeySet(url: string): JWTVerifyGetKey {
  let set = remoteKeySets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 });
    remoteKeySets.set(url, set);
  }
  return set;
}

const secretKeys = new Map<string, Uint8Array>();
function secretKey(secret: string): Uint8Array {
  let key = secretKeys.get(secret);
  if (!key) secretKeys.set(secret, (key = new TextEncoder().encode(secret)));
  return key;
}

/** `https://host/` accepts `https://host/tenants/tnt_1`; a prefix never matches across a host boundary. */
export function issuerMatches(issuer: string | undefined, prefix: string): boolean {
  if (!prefix) return true;
  if (!issuer) return false;
  if (issuer === prefix) return true;
  const base = prefix.endsWith("/") ? prefix : `${prefix}/`;
  return issuer.startsWith(base);
}

export function bearerToken(header: string | undefined): string {
  if (!header) throw unauthorized("Not authenticated");
  const match = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthorized("Authorization header must be 'Bearer <token>'");
  return match[1];
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "Token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud") return "Invalid token audience";
    if (err.claim === "nbf") return "Token is not yet valid";
    return `Invalid token claim: ${err.claim}`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "Invalid token signature";
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
    return "Token algorithm not allowed";
  if (err instanceof errors.JWKSNoMatchingKey) return "Token signing key not recognised";
  return "Malformed token";
}

export async function verifyAccessToken(token: string, config: Config["jwt"]): Promise<Principal> {
  let payload: JWTPayload;
  try {
    if (config.jwksUrl) {
      ({ payload } = await jwtVerify(token, remoteKeySet(config.jwksUrl), {
        algorithms: JWKS_ALGORITHMS,
        audience: config.audience || undefined,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp"],
      }));
    } else if (config.secret) {
      ({ payload } = await jwtVerify(token, secretKey(config.secret), {
        algorithms: SECRET_ALGORITHMS,
        audience: config.audience || undefined,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ["exp"],
      }));
    } else {
      throw new Error("no JWT key configured");
    }
  } catch (err) {
    if (err instanceof Error && err.message === "no JWT key configured") throw err;
    throw unauthorized(describeJoseError(err));
  }
  const wrongType = wronglyTypedClaim(payload);
  if (wrongType) throw unauthorized(`Invalid token claim: ${wrongType}`);
  if (!issuerMatches(payload.iss, config.issuerPrefix)) throw unauthorized("Invalid token issuer");
  return principalFromClaims(payload);
}

// The type each claim we read must have when present. A signed token is still untrusted input: a number where a
// string belongs is a bad token (401), never a crash.
const CLAIM_TYPES: Record<string, "string" | "boolean" | "number"> = {
  iss: "string",
  sub: "string",
  scope: "string",
  role: "string",
  tenant_id: "string",
  partner_id: "string",
  client_id: "string",
  token_type: "string",
  app_scope: "string",
  platform_token: "boolean",
  exp: "number",
  iat: "number",
  nbf: "number",
};

/** The first claim present with the wrong type (`aud` may be a string or an array of strings), or null. */
function wronglyTypedClaim(payload: JWTPayload): string | null {
  for (const [claim, type] of Object.entries(CLAIM_TYPES)) {
    const value = payload[claim];
    if (value !== undefined && typeof value !== type) return claim;
  }
  const aud = payload.aud;
  if (aud !== undefined && typeof aud !== "string" && !(Array.isArray(aud) && aud.every((a) => typeof a === "string")))
    return "aud";
  return null;
}

const optionalString = (v: unknown) => (typeof v === "string" && v.length > 0 ? v : null);

function principalFromClaims(payload: JWTPayload): Principal {
  const role = optionalString(payload.role);
  return {
    subject: optionalString(payload.sub) ?? "",
    role: role && (ADMIN_ROLES as readonly string[]).includes(role) ? (role as AdminRole) : null,
    tenantId: optionalString(payload.tenant_id),
    partnerId: optionalString(payload.partner_id),
    scopes: new Set(typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : []),
    platformToken: payload.platform_token === true,
  };
}
