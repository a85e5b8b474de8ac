// POST /api/v1/events: an invalid envelope is a 422 naming the field; a publisher outside its scope is refused.
import { describe, expect, it } from "vitest";
import { api } from "../../helpers/api";
import { mintToken, platformToken, publisher } from "../../helpers/tokens";

describe("fan-out", () => {
  it("validates the envelope and the publisher's scope", async () => {
    const base = { event_type: "user.created", tenant_id: "tnt_pub", resource: { type: "user", id: "u" }, data: {} };
    const token = await publisher("tnt_pub");
    const unknown = await api("POST", "/api/v1/events", { token, body: { ...base, event_type: "user.teleported" } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.detail[0].loc).toEqual(["body", "event_type"]);
    const noOwner = await api("POST", "/api/v1/events", {
      token: await mintToken({ role: null, platform: true, scope: "admin:write" }),
      body: { ...base, tenant_id: undefined },
    });
    expect(noOwner.status).toBe(422);
    expect(
      (await api("POST", "/api/v1/events", { token, body: { ...base, tenant_id: "tnt_someone_else" } })).status,
    ).toBe(403);
    expect((await api("POST", "/api/v1/events", { token: await platformToken("admin:read"), body: base })).status).toBe(
      403,
    );
    expect((await api("POST", "/api/v1/events", { body: base })).status).toBe(401);
    const badId = await api("POST", "/api/v1/events", { token, body: { ...base, event_id: "not-an-event-id" } });
    expect(badId.body.detail[0].loc).toEqual(["body", "event_id"]);
  });
});
