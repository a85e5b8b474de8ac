// A validly signed token is still untrusted input: a claim of the wrong type is a bad token (401), never a 500.
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { api, WEBHOOKS } from "../helpers/api";

async function signed(claims: Record<string, unknown>) {
  return new SignJWT({
    role: "super_admin",
    scope: "openid profile email",
    iss: `${env.JWT_ISSUER}tenants/platform`,
    ...claims,
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setAudience(env.JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(env.JWT_SECRET));
}

describe("wrongly typed claims", () => {
  it.each([
    ["iss", 123],
    ["iss", ["https://auth.scaikey.local/tenants/a"]],
    ["iss", { href: "https://auth.scaikey.local/" }],
    ["sub", 42],
    ["scope", ["admin:read"]],
    ["role", { name: "super_admin" }],
    ["tenant_id", 7],
    ["partner_id", true],
    ["platform_token", "true"],
  ])("%s = %j → 401", async (claim, value) => {
    const res = await api("GET", `${WEBHOOKS}/`, { token: await signed({ [claim]: value }) });
    expect(res.status, JSON.stringify(res.body)).toBe(401);
    expect(res.body).toEqual({ detail: `Invalid token claim: ${claim}` });
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });

  it("the same token with well-typed claims is accepted", async () => {
    expect((await api("GET", `${WEBHOOKS}/`, { token: await signed({}) })).status).toBe(200);
  });
});
