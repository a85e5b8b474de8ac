// Who may do what: authentication failures, scopes, and tenant/partner isolation for every endpoint.
import { env } from "cloudflare:workers";
import { SignJWT, UnsecuredJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { mintToken, partnerAdmin, platformToken, superAdmin, tenantAdmin } from "../../helpers/tokens";

const assignTenant = async (tenant: string, partner: string) =>
  expect(
    (
      await api("PUT", `${WEBHOOKS}/tenants/${tenant}/partner`, {
        token: await superAdmin(),
        body: { partner_id: partner },
      })
    ).status,
  ).toBe(200);

interface Call {
  name: string;
  method: string;
  path: (id: string) => string;
  body?: unknown;
  write: boolean;
  /** Addresses one webhook (so other tenants must get 404). */
  scoped: boolean;
}

const CALLS: Call[] = [
  { name: "list webhooks", method: "GET", path: () => `${WEBHOOKS}/`, write: false, scoped: false },
  {
    name: "create webhook",
    method: "POST",
    path: () => `${WEBHOOKS}/`,
    body: { url: "https://x.example.com/", events: ["*"] },
    write: true,
    scoped: false,
  },
  { name: "list event types", method: "GET", path: () => `${WEBHOOKS}/events`, write: false, scoped: false },
  { name: "get webhook", method: "GET", path: (id) => `${WEBHOOKS}/${id}`, write: false, scoped: true },
  {
    name: "update webhook",
    method: "PATCH",
    path: (id) => `${WEBHOOKS}/${id}`,
    body: { description: "x" },
    write: true,
    scoped: true,
  },
  { name: "delete webhook", method: "DELETE", path: (id) => `${WEBHOOKS}/${id}`, write: true, scoped: true },
];

let webhookId: string;
beforeAll(async () => {
  webhookId = (await createWebhook(await tenantAdmin("tnt_owner", "prt_owner"))).id;
});

const badTokens: [string, () => Promise<string | undefined>, string][] = [
  ["no token", async () => undefined, "Not authenticated"],
  ["a malformed token", async () => "not.a.jwt", "Malformed token"],
  ["a token signed with another key", () => mintToken({ secret: "some-other-secret" }), "Invalid token signature"],
  ["an expired token", () => mintToken({ expiresIn: Math.floor(Date.now() / 1000) - 3600 }), "Token has expired"],
  [
    "a token from another issuer",
    () => mintToken({ issuer: "https://evil.example.com/tenants/tnt_x" }),
    "Invalid token issuer",
  ],
  [
    "an issuer that only shares the prefix's characters",
    () => mintToken({ issuer: "https://auth.scaikey.local.evil.com/" }),
    "Invalid token issuer",
  ],
  ["a token for another audience", () => mintToken({ audience: "another-app" }), "Invalid token audience"],
  [
    "an unsigned token (alg: none)",
    async () =>
      new UnsecuredJWT({ role: "super_admin", scope: "admin:write" })
        .setIssuer(`${env.JWT_ISSUER}x`)
        .setAudience(env.JWT_AUDIENCE)
        .setExpirationTime("1h")
        .encode(),
    "Token algorithm not allowed",
  ],
  [
    "a token without exp",
    () =>
      new SignJWT({ role: "super_admin", scope: "admin:write" })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(`${env.JWT_ISSUER}x`)
        .setAudience(env.JWT_AUDIENCE)
        .sign(new TextEncoder().encode(env.JWT_SECRET)),
    "Missing token claim: exp",
  ],
];

describe.each(CALLS)("$name", (call) => {
  const send = (token: string | undefined) => api(call.method, call.path(webhookId), { token, body: call.body });

  it.each(badTokens)("answers 401 with WWW-Authenticate to %s", async (_label, makeToken, detail) => {
    const res = await send(await makeToken());
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
    expect(res.body).toEqual({ detail });
  });

  it("answers 401 for a non-Bearer Authorization header", async () => {
    const res = await api(call.method, call.path(webhookId), {
      headers: { authorization: "Basic dXNlcjpwYXNz" },
      body: call.body,
    });
    expect(res.status).toBe(401);
  });

  it("answers 403 to a platform token with no admin scope", async () => {
    const res = await send(await platformToken("openid profile"));
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ detail: "Platform token requires admin:read or admin:write scope" });
  });

  it("authorises an admin-console token by its role, whatever its scopes", async () => {
    const res = await send(
      await mintToken({ role: "tenant_admin", tenant: "tnt_owner", scope: "openid profile email" }),
    );
    expect(res.status).toBeLessThan(300);
    if (call.method === "DELETE") webhookId = (await createWebhook(await tenantAdmin("tnt_owner", "prt_owner"))).id;
  });

  it("answers 403 to a platform token without admin scope, and to a scoped token with neither role nor platform_token", async () => {
    expect((await send(await platformToken("openid"))).status).toBe(403);
    expect((await send(await mintToken({ role: null, tenant: "tnt_owner", scope: "admin:write" }))).status).toBe(403);
  });

  it(`${call.write ? "refuses" : "allows"} a read-only platform token`, async () => {
    const res = await send(await platformToken("admin:read"));
    if (call.write) {
      expect(res.status).toBe(403);
      expect(res.body.detail).toMatch(/admin:write/);
    } else expect(res.status).toBe(200);
  });

  it("accepts the narrower webhooks:* scopes", async () => {
    const scope = call.write ? "webhooks:write" : "webhooks:read";
    const res = await send(await mintToken({ role: null, tenant: "tnt_owner", scope }));
    expect(res.status).toBeLessThan(300);
    if (call.method === "DELETE") webhookId = (await createWebhook(await tenantAdmin("tnt_owner", "prt_owner"))).id;
  });

  if (call.scoped) {
    it("answers 404 (not 403) to another tenant's admin, another partner's admin, and a tenant-less token", async () => {
      const before = await api("GET", `${WEBHOOKS}/${webhookId}`, { token: await superAdmin() });
      for (const token of [
        await tenantAdmin("tnt_intruder", "prt_owner"),
        await partnerAdmin("prt_intruder"),
        await tenantAdmin("tnt_intruder", "prt_intruder"),
      ]) {
        const res = await send(token);
        expect(res.status).toBe(404);
        expect(res.body).toEqual({ detail: "Webhook not found" });
      }
      expect((await send(await mintToken({ role: "tenant_admin", scope: "admin:write" }))).status).toBe(403);
      // and nothing changed
      const still = await api("GET", `${WEBHOOKS}/${webhookId}`, { token: await superAdmin() });
      expect(still.body).toEqual(before.body);
    });

    it("is allowed for the owning partner's admin, a super admin and a platform token", async () => {
      for (const token of [await partnerAdmin("prt_owner"), await superAdmin(), await platformToken()]) {
        const res = await send(token);
        expect(res.status).toBeLessThan(300);
        if (call.method === "DELETE") webhookId = (await createWebhook(await tenantAdmin("tnt_owner", "prt_owner"))).id;
      }
    });

    it("answers 404 for an unknown id exactly as for a hidden one", async () => {
      const res = await api(call.method, call.path("wh_doesnotexist"), { token: await superAdmin(), body: call.body });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ detail: "Webhook not found" });
    });
  }
});

describe("list visibility", () => {
  beforeAll(async () => {
    await createWebhook(await tenantAdmin("tnt_vis_a", "prt_vis"));
    await createWebhook(await tenantAdmin("tnt_vis_b", "prt_vis"));
    await createWebhook(await partnerAdmin("prt_vis")); // partner-level endpoint
    await createWebhook(await tenantAdmin("tnt_vis_c", "prt_vis_other"));
  });
  const owners = (body: { items: { tenant_id: string | null; partner_id: string | null }[] }) =>
    body.items.map((w) => `${w.partner_id}/${w.tenant_id}`).sort();

  it("shows a tenant admin only its tenant", async () => {
    const res = await api("GET", `${WEBHOOKS}/`, { token: await tenantAdmin("tnt_vis_a", "prt_vis") });
    expect(owners(res.body)).toEqual(["prt_vis/tnt_vis_a"]);
  });

  it("shows a partner admin every tenant of its partner and its partner-level endpoints", async () => {
    const res = await api("GET", `${WEBHOOKS}/`, { token: await partnerAdmin("prt_vis") });
    expect(owners(res.body)).toEqual(["prt_vis/null", "prt_vis/tnt_vis_a", "prt_vis/tnt_vis_b"]);
  });

  it("answers 403 to a list filter outside the caller's scope", async () => {
    const tenant = await tenantAdmin("tnt_vis_a", "prt_vis");
    expect((await api("GET", `${WEBHOOKS}/?tenant_id=tnt_vis_b`, { token: tenant })).status).toBe(403);
    expect((await api("GET", `${WEBHOOKS}/?partner_id=prt_vis_other`, { token: tenant })).status).toBe(403);
    expect(
      (await api("GET", `${WEBHOOKS}/?partner_id=prt_vis_other`, { token: await partnerAdmin("prt_vis") })).status,
    ).toBe(403);
    expect((await api("GET", `${WEBHOOKS}/?tenant_id=tnt_vis_a`, { token: tenant })).status).toBe(200);
  });
});

describe("creating for someone else", () => {
  it("refuses a tenant admin creating for another tenant or partner", async () => {
    const token = await tenantAdmin("tnt_cr", "prt_cr");
    const body = { url: "https://x.example.com/", events: ["*"] };
    expect((await api("POST", `${WEBHOOKS}/`, { token, body: { ...body, tenant_id: "tnt_other" } })).status).toBe(403);
    expect((await api("POST", `${WEBHOOKS}/`, { token, body: { ...body, partner_id: "prt_other" } })).status).toBe(403);
    const own = await api("POST", `${WEBHOOKS}/`, { token, body: { ...body, tenant_id: "tnt_cr" } });
    expect(own.status).toBe(201);
    expect(own.body).toMatchObject({ tenant_id: "tnt_cr", partner_id: "prt_cr" });
  });

  it("lets a partner admin create for a tenant the directory gives its partner, not for another partner or an unknown tenant", async () => {
    await assignTenant("tnt_cr2", "prt_cr2");
    const token = await partnerAdmin("prt_cr2");
    const body = { url: "https://x.example.com/", events: ["*"] };
    const created = await api("POST", `${WEBHOOKS}/`, { token, body: { ...body, tenant_id: "tnt_cr2" } });
    expect(created.body).toMatchObject({ tenant_id: "tnt_cr2", partner_id: "prt_cr2" });
    expect((await api("POST", `${WEBHOOKS}/`, { token, body: { ...body, partner_id: "prt_other" } })).status).toBe(403);
    expect((await api("POST", `${WEBHOOKS}/`, { token, body: { ...body, tenant_id: "tnt_cr2_unknown" } })).status).toBe(
      403,
    );
  });

  it("requires a super admin without tenant claims to name the owner", async () => {
    const token = await superAdmin();
    const res = await api("POST", `${WEBHOOKS}/`, { token, body: { url: "https://x.example.com/", events: ["*"] } });
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(["body", "tenant_id"]);
    const ok = await api("POST", `${WEBHOOKS}/`, {
      token,
      body: { url: "https://x.example.com/", events: ["*"], tenant_id: "tnt_any" },
    });
    expect(ok.status).toBe(201);
  });

  it("refuses to move an endpoint outside the caller's tenants", async () => {
    await assignTenant("tnt_mv", "prt_mv");
    await assignTenant("tnt_mv2", "prt_mv");
    const token = await partnerAdmin("prt_mv");
    const created = await createWebhook(token, { tenant_id: "tnt_mv" });
    const res = await api("PATCH", `${WEBHOOKS}/${created.id}`, { token, body: { partner_id: "prt_elsewhere" } });
    expect(res.status).toBe(403);
    const moved = await api("PATCH", `${WEBHOOKS}/${created.id}`, { token, body: { tenant_id: "tnt_mv2" } });
    expect(moved.body).toMatchObject({ tenant_id: "tnt_mv2", partner_id: "prt_mv" });
  });
});
