// FastAPI's answers where no operation takes a request: 405 with Allow for a method the path lacks (HEAD included), 307
// across a trailing slash to an absolute Location on PUBLIC_ORIGIN (https://webhooks.test in vitest.config.ts). Both
// are derived from the route registry, checked here on every path; test/routes/fastapi-reference.test.ts holds them
// to FastAPI's own answers.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { createServices } from "../../src/lib/services";
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
const ORIGIN = "https://webhooks.test";

describe("a method the path does not have", () => {
  it.each([
    ["PUT", "/api/v1/admin/webhooks/{id}", "GET, PATCH, DELETE"],
    ["POST", "/api/v1/admin/webhooks/{id}", "GET, PATCH, DELETE"],
    ["DELETE", "/api/v1/admin/webhooks/", "GET, POST"],
    ["PUT", "/api/v1/admin/webhooks/", "GET, POST"],
    ["OPTIONS", "/api/v1/admin/webhooks/", "GET, POST"],
    ["GET", "/api/v1/admin/webhooks/{id}/rotate-secret", "POST"],
    ["GET", "/api/v1/admin/webhooks/{id}/test", "POST"],
    ["PATCH", "/api/v1/admin/webhooks/{id}/deliveries/7", "GET"],
    ["GET", "/api/v1/admin/webhooks/{id}/deliveries/7/retry", "POST"],
    ["DELETE", "/api/v1/admin/webhooks/{id}/stats", "GET"],
    ["GET", "/api/v1/events", "POST"],
    // /events is its own GET route and also matches /{webhook_id}: Allow lists what either takes (Starlette: GET)
    ["PUT", "/api/v1/admin/webhooks/events", "GET, PATCH, DELETE"],
    // so is /operations
    ["PUT", "/api/v1/admin/webhooks/operations", "GET, PATCH, DELETE"],
    ["POST", "/api/v1/admin/webhooks/operations", "GET, PATCH, DELETE"],
  ])("%s %s answers 405 with Allow: %s", async (method, path, allow) => {
    const res = await api(method, at(path), { token });
    expect(res.status).toBe(405);
    expect(res.body).toEqual({ detail: "Method Not Allowed" });
    expect(res.headers.get("allow")).toBe(allow);
  });

  it("answers 405 before authentication, as FastAPI routes before its dependencies run", async () => {
    const res = await send("PUT", `${WEBHOOKS}/${webhookId}`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, PATCH, DELETE");
  });

  it.each([
    ["/api/v1/admin/webhooks/{id}", "GET, PATCH, DELETE"],
    ["/api/v1/admin/webhooks/", "GET, POST"],
    ["/api/v1/admin/webhooks/{id}/stats", "GET"],
    ["/api/v1/admin/webhooks/{id}/test", "POST"],
  ])("answers HEAD %s with 405 and no body, as FastAPI's routes take only their methods", async (path, allow) => {
    const res = await send("HEAD", at(path), { authorization: `Bearer ${token}` });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe(allow);
    expect(await res.text()).toBe("");
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
  ])("%s %s answers 307 to the other form on the public origin, keeping the query", async (method, path, location) => {
    const res = await api(method, at(path), { token });
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(`${ORIGIN}${at(location)}`);
  });

  it("redirects before authentication, HEAD too", async () => {
    for (const method of ["GET", "HEAD"]) {
      const res = await send(method, `${WEBHOOKS}/${webhookId}/`);
      expect(res.status).toBe(307);
      expect(res.headers.get("location")).toBe(`${ORIGIN}${WEBHOOKS}/${webhookId}`);
    }
  });

  it("builds Location on PUBLIC_ORIGIN, never on the Host (the request URL's host)", async () => {
    for (const [method, path, location] of [
      ["GET", `${WEBHOOKS}/${webhookId}/`, `${WEBHOOKS}/${webhookId}`],
      ["POST", WEBHOOKS, `${WEBHOOKS}/`],
    ]) {
      const res = await exports.default.fetch(
        new Request(`http://evil.example${path}`, { method, redirect: "manual", headers: { host: "evil.example" } }),
      );
      expect(res.status).toBe(307);
      expect(res.headers.get("location")).toBe(`${ORIGIN}${location}`);
    }
  });

  it("without PUBLIC_ORIGIN, the Location is the path alone (still never the Host)", async () => {
    const app = createApp((bindings) => {
      const services = createServices(bindings);
      return { ...services, config: { ...services.config, publicOrigin: null } };
    });
    const res = await app.request(`http://evil.example${WEBHOOKS}/${webhookId}/`, { redirect: "manual" }, env);
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe(`${WEBHOOKS}/${webhookId}`);
  });

  it("keeps percent-encoding of the path", async () => {
    const res = await send("GET", `${WEBHOOKS}/wh%20x/`);
    expect(res.headers.get("location")).toBe(`${ORIGIN}${WEBHOOKS}/wh%20x`);
  });

  it("following the redirect with the same method reaches the operation", async () => {
    const first = await api("GET", `${WEBHOOKS}/${webhookId}/`, { token });
    const second = await api("GET", new URL(first.headers.get("location")!).pathname, { token });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(webhookId);
  });
});
