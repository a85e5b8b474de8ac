// POST /api/v1/admin/webhooks/portal-sessions: the body's limits, each a precise 422.
import { describe, expect, it } from "vitest";
import { api, WEBHOOKS } from "../../helpers/api";
import { superAdmin, tenantAdmin } from "../../helpers/tokens";

const PATH = `${WEBHOOKS}/portal-sessions`;

describe("create portal session: errors", () => {
  it.each([
    [{ expires_in: 59 }, "expires_in", "greater_than_equal"],
    [{ expires_in: 86_401 }, "expires_in", "less_than_equal"],
    [{ expires_in: 1.5 }, "expires_in", "int_from_float"],
    [{ expires_in: "soon" }, "expires_in", "int_parsing"],
    [{ read_only: "maybe" }, "read_only", "bool_parsing"],
    [{ tenant_id: "bad id!" }, "tenant_id", "string_pattern_mismatch"],
  ])("422 for %j", async (body, field, type) => {
    const res = await api("POST", PATH, { token: await tenantAdmin("tnt_ps1"), body });
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(["body", field]);
    expect(res.body.detail[0].type).toBe(type);
  });

  it("reads lax values and ignores unknown fields, as pydantic does", async () => {
    const res = await api("POST", PATH, {
      token: await tenantAdmin("tnt_ps1"),
      body: { read_only: "yes", expires_in: "600", surprise: 1 },
    });
    expect(res.status).toBe(201);
    expect(Date.parse(res.body.expires_at) - Date.now()).toBeGreaterThan(590_000);
    expect(Date.parse(res.body.expires_at) - Date.now()).toBeLessThanOrEqual(600_000);
  });

  it("422 when a super admin names no tenant or partner", async () => {
    const res = await api("POST", PATH, { token: await superAdmin(), body: {} });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toEqual({
      type: "value_error",
      loc: ["body", "tenant_id"],
      msg: "Value error, tenant_id or partner_id is required when the token has neither",
      input: null,
      ctx: { error: {} },
    });
  });
});
