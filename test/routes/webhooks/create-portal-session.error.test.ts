// POST /api/v1/admin/webhooks/portal-sessions: the body's limits, each a precise 422.
import { describe, expect, it } from "vitest";
import { api, WEBHOOKS } from "../../helpers/api";
import { superAdmin, tenantAdmin } from "../../helpers/tokens";

const PATH = `${WEBHOOKS}/portal-sessions`;

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
