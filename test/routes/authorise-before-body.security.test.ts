// A caller that may not call an operation gets its 403 whatever the body holds: the body is read (and can fail with
// 422 or 413) only after the access check. Every operation of the OpenAPI document that takes a body is probed,
// including ones added later.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, createWebhook } from "../helpers/api";
import { mintToken, platformToken, tenantAdmin } from "../helpers/tokens";

const OVERSIZED = 300 * 1024;

const bodyOperations = async () => {
  const doc = (await api("GET", "/openapi.json")).body;
  return Object.entries(doc.paths as Record<string, Record<string, { requestBody?: unknown }>>).flatMap(
    ([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.requestBody !== undefined)
        .map(([method, _op]) => [method.toUpperCase(), path] as const),
  );
};

let webhookId: string;
beforeAll(async () => {
  webhookId = (await createWebhook(await tenantAdmin("tnt_authz_first"))).id;
});
const concrete = (path: string) => path.replace("{webhook_id}", webhookId).replace("{delivery_id}", "1");

const endpointCount = async () =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints").first<{ n: number }>())!.n;

/** A body that cannot be read as JSON: what each probe sends. */
const BODIES: [string, () => { body: BodyInit; headers: Record<string, string> }][] = [
  [
    "malformed JSON",
    () => ({ body: '{"url": "https://x.example/", ', headers: { "content-type": "application/json" } }),
  ],
  ["a 300 KB body", () => ({ body: `{}${" ".repeat(OVERSIZED)}`, headers: { "content-type": "application/json" } })],
  [
    "a 300 KB chunked body (no Content-Length)",
    () => ({
      body: new Blob([`{}${" ".repeat(OVERSIZED)}`]).stream(),
      headers: { "content-type": "application/json" },
    }),
  ],
  [
    "a non-JSON content type",
    () => ({ body: "url=https://x.example/", headers: { "content-type": "application/x-www-form-urlencoded" } }),
  ],
  ["no body", () => ({ body: "", headers: {} })],
];

const TOKENS: [string, () => Promise<string>][] = [
  ["a read-only platform token (admin:read)", () => platformToken("admin:read")],
  [
    "a token with no role, no platform flag and no scope",
    () => mintToken({ role: null, tenant: "tnt_authz_first", scope: "" }),
  ],
];

describe("authorisation answers before the body is read", async () => {
  const ops = await bodyOperations();

  it("probes every operation that takes a body", () => {
    expect(ops.map(([m, p]) => `${m} ${p}`)).toEqual(
      expect.arrayContaining([
        "POST /api/v1/admin/webhooks/",
        "PATCH /api/v1/admin/webhooks/{webhook_id}",
        "POST /api/v1/admin/webhooks/{webhook_id}/rotate-secret",
        "POST /api/v1/events",
      ]),
    );
  });

  for (const [tokenName, token] of TOKENS)
    describe(tokenName, () => {
      it.each(
        ops.flatMap(([method, path]) => BODIES.map(([bodyName, body]) => [method, path, bodyName, body] as const)),
      )("%s %s with %s: 403", async (method, path, _bodyName, makeBody) => {
        const before = await endpointCount();
        const { body, headers } = makeBody();
        const res = await exports.default.fetch(
          new Request(`https://webhooks.test${concrete(path)}`, {
            method,
            headers: { ...headers, authorization: `Bearer ${await token()}` },
            body,
          }),
        );
        const text = await res.text();
        expect(res.status, text).toBe(403);
        expect(Object.keys(JSON.parse(text))).toEqual(["detail"]);
        expect(await endpointCount()).toBe(before);
      });
    });
});
