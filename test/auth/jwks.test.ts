// Production-style tokens: RS256/ES256 verified against a JWKS served by a real local server, through the real app.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { importJWK, type JWK, SignJWT } from "jose";
import { describe, expect, inject, it } from "vitest";
import { createApp } from "../../src/app";
import { issuerMatches } from "../../src/auth/jwt";
import { readConfig } from "../../src/lib/config";
import { createServices } from "../../src/lib/services";

const keys = JSON.parse(inject("jwtSigningKeys")) as { kid: string; alg: string; privateJwk: JWK }[];
const jwksUrl = `${inject("receiverUrl")}/jwks`;
const ISSUER = "https://auth.scaikey.local/";

// The app as production configures it: JWT_JWKS_URL set (so HS256 is never accepted).
const app = createApp((e) => ({
  ...createServices(e),
  config: {
    ...readConfig(e),
    jwt: { ...readConfig(e).jwt, jwksUrl, secret: e.JWT_SECRET, issuerPrefix: ISSUER, audience: "scaikey-webhooks" },
  },
}));

async function sign(alg: string, claims: Record<string, unknown> = {}, kid?: string) {
  const key = keys.find((k) => k.alg === alg)!;
  return new SignJWT({ role: "super_admin", scope: "admin:read", ...claims })
    .setProtectedHeader({ alg, kid: kid ?? key.kid })
    .setIssuer(`${ISSUER}tenants/tnt_jwks`)
    .setAudience("scaikey-webhooks")
    .setSubject("usr_1")
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(await importJWK(key.privateJwk, alg));
}

const call = async (token: string) => {
  const res = await app.fetch(
    new Request("https://webhooks.test/api/v1/admin/webhooks/", { headers: { authorization: `Bearer ${token}` } }),
    env,
    createExecutionContext(),
  );
  return { status: res.status, body: (await res.json()) as { detail?: string } };
};

describe("JWKS-verified tokens", () => {
  it.each(["RS256", "ES256"])("accepts %s tokens signed by a key in the set", async (alg) => {
    expect((await call(await sign(alg))).status).toBe(200);
  });

  it("refuses HS256 when a JWKS is configured, even signed with JWT_SECRET", async () => {
    const token = await new SignJWT({ role: "super_admin", scope: "admin:read" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer(`${ISSUER}x`)
      .setAudience("scaikey-webhooks")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    expect(await call(token)).toEqual({ status: 401, body: { detail: "Token algorithm not allowed" } });
  });

  it("refuses a token whose kid is not in the set", async () => {
    expect((await call(await sign("RS256", {}, "rotated-away"))).status).toBe(401);
  });

  it("refuses a token signed by a key outside the set under a known kid", async () => {
    const { privateKey } = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ])) as CryptoKeyPair;
    const forged = await new SignJWT({ role: "super_admin", scope: "admin:read" })
      .setProtectedHeader({ alg: "ES256", kid: "test-es256" })
      .setIssuer(`${ISSUER}x`)
      .setAudience("scaikey-webhooks")
      .setExpirationTime("5m")
      .sign(privateKey);
    expect(await call(forged)).toEqual({ status: 401, body: { detail: "Invalid token signature" } });
  });

  it("still applies scopes to JWKS platform tokens, and authorises role tokens by their role", async () => {
    expect((await call(await sign("RS256", { role: undefined, platform_token: true, scope: "openid" }))).status).toBe(
      403,
    );
    expect((await call(await sign("RS256", { scope: "openid profile email" }))).status).toBe(200);
  });
});

describe("issuer prefix", () => {
  it.each([
    ["https://auth.scaikey.local/", "https://auth.scaikey.local/tenants/tnt_1", true],
    ["https://auth.scaikey.local/", "https://auth.scaikey.local/", true],
    ["https://auth.scaikey.local", "https://auth.scaikey.local/tenants/tnt_1", true],
    ["https://auth.scaikey.local", "https://auth.scaikey.local.evil.com/tenants/tnt_1", false],
    ["https://auth.scaikey.local/", "https://evil.com/https://auth.scaikey.local/", false],
    ["https://auth.scaikey.local/", undefined, false],
  ])("prefix %s, issuer %s → %s", (prefix, issuer, expected) => {
    expect(issuerMatches(issuer, prefix)).toBe(expected);
  });
});
