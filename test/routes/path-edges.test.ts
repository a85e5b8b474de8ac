// FastAPI's answers where no operation takes a request: 405 with Allow for a method the path lacks, 307 across a
// trailing slash with a relative Location. Both are derived from the route registry, checked here on every path.
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { tenantAdmin } from "../helpers/tokens";

let token: string;
let webhookId: string;
beforeAll(async () => {
  token = await tenantAdmin("tnt_edges");
  webhookId = (await createWebhook(token)).id;
});

/** A row's path with the test's webhook id in place of {id}. */
const at = (path: string) => path.replace("{id}", webhookId);

const send = (method: string, path: string, headers: Record<string, string> = {}) =>
  exports.default.fetch(new Request(`https://webhooks.test${path}`, { method, headers, redirect: "manual" }));

describe("a method the path does not have", () => {
  it.each([
    ["PUT", "/api/v1/admin/webhooks/{id}", "GET, HEAD, PATCH, DELETE"],
    ["POST", "/api/v1/admin/webhooks/{id}", "GET, HEAD, PATCH, DELETE"],
    ["DELETE", "/api/v1/admin/webhooks/", "GET, HEAD, POST"],
    ["PUT", "/api/v1/admin/webhooks/", "GET, HEAD, POST"],
    ["OPTIONS", "/api/v1/admin/webhooks/", "GET, HEAD, POST"],
    ["GET", "/api/v1/admin/webhooks/{id}/rotate-secret", "POST"],
    ["GET", "/api/v1/admin/webhooks/{id}/test", "POST"],
    ["PATCH", "/api/v1/admin/webhooks/{id}/deliveries/7", "GET, HEAD"],
    ["GET", "/api/v1/admin/webhooks/{id}/deliveries/7/retry", "POST"],
    ["DELETE", "/api/v1/admin/webhooks/{id}/stats", "GET, HEAD"],
    ["GET", "/api/v1/events", "POST"],
    // /events is its own GET route and also matches /{webhook_id}: Allow lists what either takes
    ["PUT", "/api/v1/admin/webhooks/events", "GET, HEAD, PATCH, DELETE"],
    // so is /operations
    ["PUT", "/api/v1/admin/webhooks/operations", "GET, HEAD, PATCH, DELETE"],
    ["POST", "/api/v1/admin/webhooks/operations", "GET, HEAD, PATCH, DELETE"],
  ])("%s %s answers 405 with Allow: %s", async (method, path, allow) => {
    const res = await api(method, at(path), { token });
    expect(res.status).toBe(405);
    expect(res.body).toEqual({ detail: "Method Not Allowed" });
    expect(res.headers.get("allow")).toBe(allow);
  });

  it("answers 405 before authentication, as FastAPI routes before its dependencies run", async () => {
    const res = await send("PUT", `${WEBHOOKS}/${webhookId}`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD, PATCH, DELETE");
  });

  it("answers HEAD where the path has GET", async () => {
    const res = await send("HEAD", `${WEBHOOKS}/${webhookId}`, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
  });

  it("keeps an unknown path a 404", async () => {
    const res = await api("PUT", "/api/v1/nothing-here", { token });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "Not Found" });
  });
});

describe("a trailing slash the path does not have", () => {
  it.each([
    ["GET", "/api/v1/admin/webhooks/{id}/", "/api/v1/admin/webhooks/{id}"],
    ["PATCH", "/api/v1/admin/webhooks/{id}/", "/api/v1/admin/webhooks/{id}"],
    ["DELETE", "/api/v1/admin/webhooks/{id}/", "/api/v1/admin/webhooks/{id}"],
    ["GET", "/api/v1/admin/webhooks/events/", "/api/v1/admin/webhooks/events"],
    ["GET", "/api/v1/admin/webhooks/operations/", "/api/v1/admin/webhooks/operations"],
    [
      "GET",
      "/api/v1/admin/webhooks/{id}/deliveries/?page=2&status=failed",
      "/api/v1/admin/webhooks/{id}/deliveries?page=2&status=failed",
    ],
    ["GET", "/api/v1/admin/webhooks/{id}/deliveries/7/", "/api/v1/admin/webhooks/{id}/deliveries/7"],
    ["POST", "/api/v1/admin/webhooks/{id}/deliveries/7/retry/", "/api/v1/admin/webhooks/{id}/deliveries/7/retry"],
    ["POST", "/api/v1/admin/webhooks/{id}/rotate-secret/", "/api/v1/admin/webhooks/{id}/rotate-secret"],
    ["GET", "/api/v1/admin/webhooks/{id}/stats/?hours=24", "/api/v1/admin/webhooks/{id}/stats?hours=24"],
    ["POST", "/api/v1/events/", "/api/v1/events"],
    // the collection's own path ends in "/": the bare path redirects there
    ["GET", "/api/v1/admin/webhooks?page=2", "/api/v1/admin/webhooks/?page=2"],
    ["POST", WEBHOOKS, "/api/v1/admin/webhooks/"],
  ])("%s %s answers 307 to the other form, keeping the query", async (method, path, location) => {
    const res = await api(method, at(path), { token });
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(at(location));
  });

  it("redirects before authentication", async () => {
    const res = await send("GET", `${WEBHOOKS}/${webhookId}/`);
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(`${WEBHOOKS}/${webhookId}`);
  });

  it("builds Location from the path only, never from the Host (the request URL's host)", async () => {
    for (const [method, path, location] of [
      ["GET", `${WEBHOOKS}/${webhookId}/`, `${WEBHOOKS}/${webhookId}`],
      ["POST", WEBHOOKS, `${WEBHOOKS}/`],
    ]) {
      const res = await exports.default.fetch(
        new Request(`http://evil.example${path}`, { method, redirect: "manual" }),
      );
      expect(res.status).toBe(307);
      expect(res.headers.get("location")).toBe(location);
    }
  });

  it("keeps percent-encoding of the path", async () => {
    const res = await send("GET", `${WEBHOOKS}/wh%20x/`);
    expect(res.headers.get("location")).toBe(`${WEBHOOKS}/wh%20x`);
  });

  it("following the redirect with the same method reaches the operation", async () => {
    const first = await api("GET", `${WEBHOOKS}/${webhookId}/`, { token });
    const second = await api("GET", first.headers.get("location")!, { token });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(webhookId);
  });
});
