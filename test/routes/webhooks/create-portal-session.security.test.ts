// POST /api/v1/admin/webhooks/portal-sessions: who may issue links for whom.
import { describe, expect, it } from "vitest";
import { api, WEBHOOKS } from "../../helpers/api";
import { mintToken, partnerAdmin, tenantAdmin } from "../../helpers/tokens";

const PATH = `${WEBHOOKS}/portal-sessions`;

describe("create portal session: security", () => {
  it.each([
    ["another tenant", () => tenantAdmin("tnt_ps1"), { tenant_id: "tnt_other" }, 403],
    ["another partner (tenant admin)", () => tenantAdmin("tnt_ps1", "prt_a"), { partner_id: "prt_b" }, 403],
    ["another partner (partner admin)", () => partnerAdmin("prt_a"), { partner_id: "prt_b" }, 403],
    ["read scope only", () => mintToken({ role: null, tenant: "tnt_ps1", scope: "webhooks:read" }), {}, 403],
    ["no token", async () => "", {}, 401],
  ] as [string, () => Promise<string>, Record<string, unknown>, number][])(
    "%s → %i",
    async (_name, token, body, status) => {
      const res = await api("POST", PATH, { token: (await token()) || undefined, body });
      expect(res.status).toBe(status);
    },
  );
});
