// GET /api/v1/admin/webhooks/{webhook_id}/stats: who may read it, what is not found, what is invalid.
import { beforeAll, describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { mintToken, partnerAdmin, platformToken, superAdmin, tenantAdmin } from "../../helpers/tokens";

let owner: string;
let webhookId: string;
beforeAll(async () => {
  owner = await tenantAdmin("tnt_stats_owner", "prt_stats_owner");
  webhookId = (await createWebhook(owner)).id;
});

const stats = (id: string, token?: string, query = "") => api("GET", `${WEBHOOKS}/${id}/stats${query}`, { token });

describe("stats: access", () => {
  it.each([
    ["the owning tenant's admin", () => tenantAdmin("tnt_stats_owner", "prt_stats_owner", "admin:read")],
    ["a narrower webhooks:read scope", () => tenantAdmin("tnt_stats_owner", null, "webhooks:read")],
    ["the partner's admin", () => partnerAdmin("prt_stats_owner", "admin:read")],
    ["a super admin", () => superAdmin()],
    ["a platform token", () => platformToken("admin:read")],
  ])("answers 200 to %s", async (_label, token) => {
    expect((await stats(webhookId, await token())).status).toBe(200);
  });

  it("answers 401 without a token", async () => {
    const res = await stats(webhookId);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });

  it.each([
    [
      "no admin role",
      () => mintToken({ role: null, tenant: "tnt_stats_owner", scope: "admin:read" }),
      "Token requires an admin role, a platform token with admin:read, or the webhooks:read scope",
    ],
    [
      "only the publish scope",
      () => mintToken({ role: null, tenant: "tnt_stats_owner", scope: "webhooks:publish" }),
      "Token requires an admin role, a platform token with admin:read, or the webhooks:read scope",
    ],
    [
      "a platform token without admin scopes",
      () => platformToken("openid"),
      "Platform token requires admin:read or admin:write scope",
    ],
  ])("answers 403 to a token with %s, before validating the query", async (_label, token, detail) => {
    const res = await stats(webhookId, await token(), "?window=forever");
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ detail });
  });

  it.each([
    ["another tenant's admin", () => tenantAdmin("tnt_stats_stranger", "prt_stats_owner")],
    ["another partner's admin", () => partnerAdmin("prt_stats_stranger")],
  ])("answers 404, not 403, to %s", async (_label, token) => {
    const res = await stats(webhookId, await token());
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "Webhook not found" });
  });
});

describe("stats: not found and invalid", () => {
  it("answers 404 for an unknown or deleted webhook", async () => {
    expect((await stats("wh_doesnotexist", owner)).status).toBe(404);
    const doomed = (await createWebhook(owner)).id;
    expect((await api("DELETE", `${WEBHOOKS}/${doomed}`, { token: owner })).status).toBe(204);
    const res = await stats(doomed, owner);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "Webhook not found" });
  });

  it.each(["2h", "24H", "1d", "", "7d,30d", "-1h"])("answers 422 for window=%s", async (window) => {
    const res = await stats(webhookId, owner, `?window=${encodeURIComponent(window)}`);
    expect(res.status).toBe(422);
    expect(res.body.detail).toHaveLength(1);
    expect(res.body.detail[0]).toMatchObject({ loc: ["query", "window"], type: "literal_error" });
  });

  it("answers 422 for an over-long webhook id", async () => {
    const res = await stats("x".repeat(65), owner);
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(["path", "webhook_id"]);
  });

  it.each(["1h", "24h", "7d", "30d"])("accepts window=%s", async (window) => {
    const res = await stats(webhookId, owner, `?window=${window}`);
    expect(res.status).toBe(200);
    expect(res.body.window).toBe(window);
  });
});
