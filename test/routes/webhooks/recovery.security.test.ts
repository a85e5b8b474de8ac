// Who may recover and replay: the write scope, inside the caller's scope (404 outside it, as everywhere).
import { describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { mintToken, partnerAdmin, platformToken, superAdmin, tenantAdmin } from "../../helpers/tokens";

const since = () => new Date(Date.now() - 1000).toISOString();

describe.each(["recover", "replay"])("POST …/{webhook_id}/%s", (operation) => {
  it("answers by the caller's scope and access", async () => {
    const tenant = `tnt_rsec${crypto.randomUUID().slice(0, 8)}`;
    const wh = await createWebhook(await tenantAdmin(tenant, "prt_rsec"));
    const call = (token?: string) =>
      api("POST", `${WEBHOOKS}/${wh.id}/${operation}`, { token, body: { since: since() } });
    // [token, status]
    const table: [string | undefined, number][] = [
      [undefined, 401],
      [await tenantAdmin(tenant, "prt_rsec"), 202],
      [await partnerAdmin("prt_rsec"), 202],
      [await superAdmin(), 202],
      [await platformToken("admin:write"), 202],
      [await platformToken("admin:read"), 403],
      [await mintToken({ role: null, tenant, scope: "webhooks:read" }), 403],
      [await tenantAdmin("tnt_someone_else"), 404],
      [await partnerAdmin("prt_other"), 404],
    ];
    for (const [token, status] of table) {
      const res = await call(token);
      expect(res.status, `${status} expected: ${JSON.stringify(res.body)}`).toBe(status);
    }
  });
});
