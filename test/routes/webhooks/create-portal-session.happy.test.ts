// POST /api/v1/admin/webhooks/portal-sessions: links for the caller's own scope, the default and bounds of their lifetime.
import { describe, expect, it } from "vitest";
import { api, WEBHOOKS } from "../../helpers/api";
import { partnerAdmin, superAdmin, tenantAdmin } from "../../helpers/tokens";

const PATH = `${WEBHOOKS}/portal-sessions`;

describe("create portal session: happy", () => {
  it("answers 201 with a single-use /portal link for the caller's own tenant and the default hour", async () => {
    const before = Date.now();
    const res = await api("POST", PATH, { token: await tenantAdmin("tnt_ps1"), body: {} });
    expect(res.status).toBe(201);
    expect(res.body.url).toMatch(/^https:\/\/webhooks\.test\/portal\/link\/[A-Za-z0-9_-]{43}$/);
    const expires = Date.parse(res.body.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("accepts no body at all, and expires_in at both bounds", async () => {
    const token = await tenantAdmin("tnt_ps1");
    expect((await api("POST", PATH, { token })).status).toBe(201);
    for (const expires_in of [60, 86400]) {
      const res = await api("POST", PATH, { token, body: { expires_in } });
      expect(res.status).toBe(201);
      expect(Math.abs(Date.parse(res.body.expires_at) - Date.now() - expires_in * 1000)).toBeLessThan(5000);
    }
  });

  it("lets a super admin name any tenant and a partner admin one of its own", async () => {
    expect((await api("POST", PATH, { token: await superAdmin(), body: { tenant_id: "tnt_any" } })).status).toBe(201);
    // The partner's tenants are those the tenant directory assigns to it.
    await api("PUT", `${WEBHOOKS}/tenants/tnt_of_prt/partner`, {
      token: await superAdmin(),
      body: { partner_id: "prt_ps" },
    });
    expect(
      (await api("POST", PATH, { token: await partnerAdmin("prt_ps"), body: { tenant_id: "tnt_of_prt" } })).status,
    ).toBe(201);
    expect((await api("POST", PATH, { token: await partnerAdmin("prt_ps"), body: {} })).status).toBe(201);
  });
});
