// POST /api/v1/admin/webhooks/portal-sessions: who may issue links for whom, the body's limits, and the link's lifetime.
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
    expect((await api("POST", PATH, { token: await partnerAdmin("prt_ps"), body: { tenant_id: "tnt_of_prt" } })).status).toBe(201);
    expect((await api("POST", PATH, { token: await partnerAdmin("prt_ps"), body: {} })).status).toBe(201);
  });
});

describe("create portal session: errors", () => {
  it.each([
    [{ expires_in: 59 }, "expires_in", "greater_than_equal"],
    [{ expires_in: 86401 }, "expires_in", "less_than_equal"],
    [{ expires_in: 1.5 }, "expires_in", "int_type"],
    [{ read_only: "yes" }, "read_only", "boolean_type"],
    [{ tenant_id: "bad id!" }, "tenant_id", "string_pattern_mismatch"],
    [{ surprise: 1 }, "surprise", "extra_forbidden"],
  ])("422 for %j", async (body, field, type) => {
    const res = await api("POST", PATH, { token: await tenantAdmin("tnt_ps1"), body });
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(["body", field]);
    if (type !== "int_type") expect(res.body.detail[0].type).toBe(type);
  });

  it("422 when a super admin names no tenant or partner", async () => {
    const res = await api("POST", PATH, { token: await superAdmin(), body: {} });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ["body", "tenant_id"], type: "missing" });
  });
});

describe("create portal session: security", () => {
  it.each([
    ["another tenant", () => tenantAdmin("tnt_ps1"), { tenant_id: "tnt_other" }, 403],
    ["another partner (tenant admin)", () => tenantAdmin("tnt_ps1", "prt_a"), { partner_id: "prt_b" }, 403],
    ["another partner (partner admin)", () => partnerAdmin("prt_a"), { partner_id: "prt_b" }, 403],
    ["read scope only", () => tenantAdmin("tnt_ps1", null, "admin:read"), {}, 403],
    ["no token", async () => "", {}, 401],
  ] as [string, () => Promise<string>, Record<string, unknown>, number][])("%s → %i", async (_name, token, body, status) => {
    const res = await api("POST", PATH, { token: (await token()) || undefined, body });
    expect(res.status).toBe(status);
  });
});
