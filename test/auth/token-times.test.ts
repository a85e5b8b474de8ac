// What a 401 says about a token's times and headers, and the checks jose leaves to us: an `iat` in the future, and
// JWT_MAX_LIFETIME_SECONDS. Tokens are hand-built (HS256 with the test JWT_SECRET) so any header or claim can be sent.
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { verifyAccessToken } from "../../src/auth/jwt";
import { createServices } from "../../src/lib/services";
import { api, WEBHOOKS } from "../helpers/api";

const nowS = () => Math.floor(Date.now() / 1000);

async function hs256(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const encode = (part: unknown) => base64url.encode(JSON.stringify(part));
  const input = `${encode({ alg: "HS256", typ: "JWT", ...header })}.${encode({
    role: "super_admin",
    scope: "admin:read",
    iss: `${env.JWT_ISSUER}tenants/platform`,
    aud: env.JWT_AUDIENCE,
    iat: nowS(),
    exp: nowS() + 300,
    ...claims,
  })}`;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(env.JWT_SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input));
  return `${input}.${base64url.encode(new Uint8Array(signature))}`;
}

const call = (token: string) => api("GET", `${WEBHOOKS}/`, { token });

describe("401 messages say what is wrong", () => {
  it.each([
    ["an nbf in the future", { nbf: nowS() + 120 }, {}, "Token is not yet valid"],
    ["an nbf that is not a number", { nbf: "soon" }, {}, "Invalid token claim: nbf"],
    ["an exp that is not a number", { exp: "tomorrow" }, {}, "Invalid token claim: exp"],
    ["an iat that is not a number", { iat: "now" }, {}, "Invalid token claim: iat"],
    ["no exp", { exp: undefined }, {}, "Missing token claim: exp"],
    ["an expired token", { exp: nowS() - 60 }, {}, "Token has expired"],
    [
      "a crit header parameter we do not know",
      {},
      { crit: ["x-scaikey-tier"], "x-scaikey-tier": 1 },
      "Token has a critical header parameter this service does not support",
    ],
    ["a malformed crit header", {}, { crit: "x-scaikey-tier" }, "Token crit header is malformed"],
    ["an alg not allowed", {}, { alg: "HS512" }, "Token algorithm not allowed"],
    ["an iat more than 30 s in the future", { iat: nowS() + 90 }, {}, "Token was issued in the future"],
  ])("%s", async (_label, claims, header, detail) => {
    const res = await call(await hs256(claims, header));
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail });
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });

  it("an iat a little ahead (within the 30 s clock tolerance) is accepted", async () => {
    expect((await call(await hs256({ iat: nowS() + 20 }))).status).toBe(200);
  });
});

describe("JWT_MAX_LIFETIME_SECONDS", () => {
  const withMaxLifetime = (seconds: number | null) =>
    createApp((e) => {
      const services = createServices(e);
      return {
        ...services,
        config: { ...services.config, jwt: { ...services.config.jwt, maxLifetimeSeconds: seconds } },
      };
    });
  const send = async (app: ReturnType<typeof createApp>, token: string) => {
    const req = new Request(`https://webhooks.test${WEBHOOKS}/`, { headers: { authorization: `Bearer ${token}` } });
    const res = await app.fetch(req, env, createExecutionContext());
    return { status: res.status, body: await res.json() };
  };

  it("refuses a token living longer (exp − iat; without iat, what is left of it), accepts one up to it", async () => {
    const app = withMaxLifetime(3600);
    const iat = nowS() - 10;
    expect((await send(app, await hs256({ iat, exp: iat + 3600 }))).status).toBe(200);
    expect(await send(app, await hs256({ iat, exp: iat + 3601 }))).toEqual({
      status: 401,
      body: { detail: "Token lifetime is longer than this service accepts" },
    });
    expect((await send(app, await hs256({ iat: undefined, exp: nowS() + 3600 }))).status).toBe(200);
    expect((await send(app, await hs256({ iat: undefined, exp: nowS() + 3700 }))).status).toBe(401);
  });

  it("is off by default", async () => {
    expect(createServices(env).config.jwt.maxLifetimeSeconds).toBeNull();
    expect((await call(await hs256({ exp: nowS() + 10 * 365 * 86_400 }))).status).toBe(200);
  });
});

describe("a token verified before", () => {
  const config = createServices(env).config.jwt;
  const at = (ms: number) => ({ fetch, now: () => ms });

  it("is judged on its times again at every use", async () => {
    const start = Date.now();
    const token = await hs256({ exp: Math.floor(start / 1000) + 60 });
    await expect(verifyAccessToken(token, config, at(start))).resolves.toMatchObject({ role: "super_admin" });
    await expect(verifyAccessToken(token, config, at(start + 60_000))).resolves.toMatchObject({ role: "super_admin" });
    // Past exp and the 30 s clock tolerance.
    await expect(verifyAccessToken(token, config, at(start + 91_000))).rejects.toMatchObject({
      status: 401,
      detail: "Token has expired",
    });
  });

  it("is not valid before its nbf, however often it was sent", async () => {
    const start = Date.now();
    const token = await hs256({ nbf: Math.floor(start / 1000) + 120 });
    await expect(verifyAccessToken(token, config, at(start))).rejects.toMatchObject({ status: 401 });
    await expect(verifyAccessToken(token, config, at(start + 100_000))).resolves.toMatchObject({ role: "super_admin" });
    await expect(verifyAccessToken(token, config, at(start))).rejects.toMatchObject({
      status: 401,
      detail: "Token is not yet valid",
    });
  });

  it("is checked again under another configuration", async () => {
    const token = await hs256({});
    await expect(verifyAccessToken(token, config, at(Date.now()))).resolves.toMatchObject({ role: "super_admin" });
    await expect(
      verifyAccessToken(token, { ...config, audience: "another-service" }, at(Date.now())),
    ).rejects.toMatchObject({ status: 401, detail: "Invalid token audience" });
    await expect(
      verifyAccessToken(token, { ...config, secret: "another secret entirely, 32 bytes or more" }, at(Date.now())),
    ).rejects.toMatchObject({ status: 401, detail: "Invalid token signature" });
  });
});
