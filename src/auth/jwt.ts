// Bearer JWT verification with jose, in ScaiKey's access-token format.
import { errors, type JWTPayload, jwtVerify } from "jose";
import type { Config } from "../lib/config";
import { ApiError, unauthorized } from "../lib/errors";
import { logger } from "../lib/logger";
import { freshKeys, type JwksDeps, jwksKeyLookup } from "./jwks";
import { ADMIN_ROLES, type AdminRole, type Principal } from "./principal";

// Asymmetric algorithms only with a JWKS: an HS* token can never be checked against a public key set.
const JWKS_ALGORITHMS = ["RS256", "ES256"];
const SECRET_ALGORITHMS = ["HS256"];
const CLOCK_TOLERANCE_SECONDS = 30;

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

/** The issuer ScaiKey gives one tenant's tokens: `<prefix>tenants/<tenant_id>`. */
function tenantIssuer(prefix: string, tenantId: string): string {
  return `${prefix.endsWith("/") ? prefix : `${prefix}/`}tenants/${tenantId}`;
}

export function bearerToken(header: string | undefined): string {
  if (!header) throw unauthorized("Not authenticated");
  const match = /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthorized("Authorization header must be 'Bearer <token>'");
  return match[1];
}

const UNSUPPORTED_CRIT = "Token has a critical header parameter this service does not support";

/** What was wrong with a token jose refused, in the 401's words. */
function describeJoseError(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return "Token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === "missing") return `Missing token claim: ${err.claim}`;
    if (err.reason === "check_failed" && err.claim === "aud") return "Invalid token audience";
    if (err.reason === "check_failed" && err.claim === "nbf") return "Token is not yet valid";
    return `Invalid token claim: ${err.claim}`; // e.g. an `nbf` that is not a number
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "Invalid token signature";
  if (err instanceof errors.JOSEAlgNotAllowed) return "Token algorithm not allowed";
  if (err instanceof errors.JOSENotSupported)
    return err.message.startsWith("Extension Header Parameter") ? UNSUPPORTED_CRIT : "Token algorithm not supported";
  if (err instanceof errors.JWSInvalid && err.message.includes('"crit"')) return "Token crit header is malformed";
  if (err instanceof errors.JWKSNoMatchingKey) return "Token signing key not recognised";
  if (err instanceof errors.JWKSMultipleMatchingKeys) return "Token has no kid and several signing keys match it";
  return "Malformed token";
}

// Tokens this isolate has verified, by their text, with the configuration and the keys that verified them: while both
// are still the ones in use (fresh JWKS keys, or the development secret), the same token's signature and decoding
// need not be done again; its times are judged again on every use. The signature check is most of an admin
// request's own CPU (docs/performance.md).
const VERIFIED_KEPT = 1000;
const verified = new Map<string, { config: Config["jwt"]; keys: object; payload: JWTPayload }>();

/** The keys in use for `config` at `now` that a verification may be reused with; null when none may be. */
const reusableKeys = (config: Config["jwt"], now: number): object | null =>
  config.jwksUrl ? freshKeys(config.jwksUrl, now) : config;

/** Whether jose would accept `payload`'s times at `now` (exp and nbf, in whole seconds, with the clock tolerance). */
function withinTimes(payload: JWTPayload, now: number): boolean {
  const seconds = Math.floor(now / 1000);
  return (
    payload.exp !== undefined &&
    payload.exp > seconds - CLOCK_TOLERANCE_SECONDS &&
    (payload.nbf === undefined || payload.nbf <= seconds + CLOCK_TOLERANCE_SECONDS)
  );
}

/**
 * The caller behind a bearer token: 401 when the token is not valid, 503 (from the JWKS) when it cannot be checked.
 * `deps.now` is the clock every time claim is judged by; `deps.fetch` fetches the JWKS.
 */
export async function verifyAccessToken(token: string, config: Config["jwt"], deps: JwksDeps): Promise<Principal> {
  const { jwksUrl, secret } = config;
  if (!jwksUrl && !secret) throw new Error("no JWT key configured: set JWT_JWKS_URL (or JWT_SECRET in development)");
  const now = deps.now();
  const keys = reusableKeys(config, now);
  const known = verified.get(token);
  let payload: JWTPayload;
  if (known && keys !== null && known.keys === keys && known.config === config && withinTimes(known.payload, now))
    payload = known.payload;
  else {
    payload = await verifySignature(token, config, deps, now);
    // Kept only if the keys did not change while it was checked (a refresh in between).
    if (keys !== null && reusableKeys(config, deps.now()) === keys) {
      verified.delete(token);
      if (verified.size >= VERIFIED_KEPT) verified.delete(verified.keys().next().value!);
      verified.set(token, { config, keys, payload });
    }
  }
  const wrongType = wronglyTypedClaim(payload);
  if (wrongType) throw unauthorized(`Invalid token claim: ${wrongType}`);
  if (!issuerMatches(payload.iss, config.issuerPrefix)) throw unauthorized("Invalid token issuer");
  const timing = timingProblem(payload as JWTPayload & { exp: number }, config, Math.floor(now / 1000));
  if (timing) throw unauthorized(timing);
  return principalFromClaims(payload, config.issuerPrefix);
}

/** jose's verification of the token's signature, algorithm, audience and times at `now`: its payload, or our 401/503. */
async function verifySignature(token: string, config: Config["jwt"], deps: JwksDeps, now: number) {
  const { jwksUrl, secret } = config;
  const options = {
    audience: config.audience || undefined,
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    requiredClaims: ["exp"],
    currentDate: new Date(now),
  };
  try {
    const { payload } = jwksUrl
      ? await jwtVerify(token, jwksKeyLookup({ ...config, jwksUrl }, deps), { ...options, algorithms: JWKS_ALGORITHMS })
      : await jwtVerify(token, secretKey(secret!), { ...options, algorithms: SECRET_ALGORITHMS });
    return payload;
  } catch (err) {
    if (err instanceof ApiError) throw err; // the JWKS cannot be read: 503
    if (err instanceof errors.JOSEError) throw unauthorized(describeJoseError(err));
    // Not a verdict on the token (a key jose cannot use, say); still the caller's 401, and worth a look.
    logger.warn("token verification failed unexpectedly", { error: String(err) });
    throw unauthorized("Malformed token");
  }
}

/** What jose does not check about a token's times: an `iat` in the future, and (when configured) its lifetime. */
function timingProblem(payload: JWTPayload & { exp: number }, config: Config["jwt"], nowSeconds: number) {
  const { iat, exp } = payload;
  if (iat !== undefined && iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) return "Token was issued in the future";
  if (config.maxLifetimeSeconds !== null) {
    // Without `iat`, what is left of it from now counts (with the clock tolerance, as for `exp` itself).
    const lifetime = iat !== undefined ? exp - iat : exp - nowSeconds - CLOCK_TOLERANCE_SECONDS;
    if (lifetime > config.maxLifetimeSeconds) return "Token lifetime is longer than this service accepts";
  }
  return null;
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

function principalFromClaims(payload: JWTPayload, issuerPrefix: string): Principal {
  const role = optionalString(payload.role);
  const tenantId = optionalString(payload.tenant_id);
  return {
    subject: optionalString(payload.sub) ?? "",
    role: role && (ADMIN_ROLES as readonly string[]).includes(role) ? (role as AdminRole) : null,
    tenantId,
    partnerId: optionalString(payload.partner_id),
    scopes: new Set(typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : []),
    platformToken: payload.platform_token === true,
    // Without an issuer prefix the issuer is not checked, so no issuer can vouch for anything.
    issuedByOwnTenant: tenantId !== null && issuerPrefix !== "" && payload.iss === tenantIssuer(issuerPrefix, tenantId),
  };
}
