// Bad input: every validation failure is pydantic's 422 naming the exact place (its type, loc, msg, input and ctx;
// test/routes/fastapi-reference.test.ts holds them to FastAPI's own answers); nothing is stored.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, createWebhook, WEBHOOKS } from "../../helpers/api";
import { tenantAdmin } from "../../helpers/tokens";

let token: string;
let webhookId: string;
beforeAll(async () => {
  token = await tenantAdmin("tnt_err", "prt_err");
  webhookId = (await createWebhook(token)).id;
});

const valid = { url: "https://receiver.example.com/hook", events: ["user.created"] };

function expectValidationError(res: { status: number; body: any }, loc: (string | number)[], type?: string) {
  expect(res.status).toBe(422);
  expect(Array.isArray(res.body.detail)).toBe(true);
  for (const issue of res.body.detail) {
    expect(Object.keys(issue).slice(0, 4)).toEqual(["type", "loc", "msg", "input"]);
    expect(typeof issue.msg).toBe("string");
  }
  const match = res.body.detail.find((d: { loc: unknown[] }) => JSON.stringify(d.loc) === JSON.stringify(loc));
  expect(match, `no issue at ${JSON.stringify(loc)} in ${JSON.stringify(res.body)}`).toBeDefined();
  if (type) expect(match.type).toBe(type);
  return match as { msg: string; type: string };
}

const count = async () =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints").first<{ n: number }>())!.n;

describe("POST /api/v1/admin/webhooks/", () => {
  const post = (body: unknown) => api("POST", `${WEBHOOKS}/`, { token, body });

  it.each([
    ["missing url", { events: ["*"] }, ["body", "url"], "missing"],
    ["missing events", { url: valid.url }, ["body", "events"], "missing"],
    ["url of the wrong type", { ...valid, url: 42 }, ["body", "url"], "string_type"],
    ["events not a list", { ...valid, events: "user.created" }, ["body", "events"], "list_type"],
    ["empty events", { ...valid, events: [] }, ["body", "events"], "too_short"],
    [
      "unknown event type",
      { ...valid, events: ["user.created", "user.exploded"] },
      ["body", "events", 1],
      "value_error",
    ],
    ["unknown wildcard group", { ...valid, events: ["nope.*"] }, ["body", "events", 0], "value_error"],
    ["too many events", { ...valid, events: Array(101).fill("user.created") }, ["body", "events"], "too_long"],
    ["enabled not a boolean", { ...valid, enabled: "maybe" }, ["body", "enabled"], "bool_parsing"],
    ["oversized description", { ...valid, description: "x".repeat(501) }, ["body", "description"], "string_too_long"],
    [
      "oversized url",
      { ...valid, url: `https://a.example.com/${"x".repeat(2100)}` },
      ["body", "url"],
      "string_too_long",
    ],
    [
      "reserved header",
      { ...valid, headers: { "X-ScaiKey-Signature": "forged" } },
      ["body", "headers", "X-ScaiKey-Signature", "[key]"],
      "value_error",
    ],
    [
      "Content-Type header",
      { ...valid, headers: { "content-type": "text/plain" } },
      ["body", "headers", "content-type", "[key]"],
      "value_error",
    ],
    [
      "header value with CRLF",
      { ...valid, headers: { "X-A": "a\r\nX-Injected: 1" } },
      ["body", "headers", "X-A"],
      "value_error",
    ],
    [
      "invalid header name",
      { ...valid, headers: { "Bad Header": "1" } },
      ["body", "headers", "Bad Header", "[key]"],
      "string_pattern_mismatch",
    ],
    [
      "too many headers",
      { ...valid, headers: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, "1"])) },
      ["body", "headers"],
      "value_error",
    ],
    ["metadata not an object", { ...valid, metadata: [1, 2] }, ["body", "metadata"], "dict_type"],
    ["oversized metadata", { ...valid, metadata: { blob: "x".repeat(5000) } }, ["body", "metadata"], "value_error"],
    [
      "tenant_id with odd characters",
      { ...valid, tenant_id: "tnt x/../" },
      ["body", "tenant_id"],
      "string_pattern_mismatch",
    ],
    ["http url where insecure URLs are off", { ...valid, url: "ftp://x.example.com/" }, ["body", "url"], "value_error"],
    ["url with credentials", { ...valid, url: "https://user:pass@x.example.com/" }, ["body", "url"], "value_error"],
    ["not a URL", { ...valid, url: "not a url" }, ["body", "url"], "value_error"],
  ] as const)("answers 422 for %s and stores nothing", async (_label, body, loc, type) => {
    const before = await count();
    expectValidationError(await post(body), [...loc], type);
    expect(await count()).toBe(before);
  });

  it("explains an invalid header name with the pattern it must match", async () => {
    const issue = expectValidationError(await post({ ...valid, headers: { "Bad Header": "1" } }), [
      "body",
      "headers",
      "Bad Header",
      "[key]",
    ]);
    expect(issue).toMatchObject({
      msg: "String should match pattern '^[!#$%&'*+.^_`|~0-9A-Za-z-]+$'",
      input: "Bad Header",
      ctx: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" },
    });
  });

  it("reports every problem at once, in the order of the fields", async () => {
    const res = await post({ url: 1, events: [], extra: true, enabled: "maybe" });
    expect(res.body.detail.map((d: { loc: unknown[] }) => d.loc.join("."))).toEqual([
      "body.url",
      "body.events",
      "body.enabled",
    ]);
  });

  it.each([
    ["an unknown field", { colour: "red" }],
    [
      "what a GET answers, sent back",
      { id: "wh_other", status: "auto_disabled", secret: "whsec_mine", failure_count: 3 },
    ],
  ])("ignores %s, as pydantic's default models do", async (_label, extra) => {
    const res = await post({ ...valid, ...extra });
    expect(res.status).toBe(201);
    expect(res.body.id).not.toBe("wh_other");
    expect(res.body.status).toBe("active");
    expect(res.body.failure_count).toBe(0);
    expect(res.body.secret).not.toBe("whsec_mine");
  });

  it("answers 422 json_invalid for malformed JSON", async () => {
    const res = await api("POST", `${WEBHOOKS}/`, {
      token,
      rawBody: '{"url": "https://x.example.com/",',
      headers: { "content-type": "application/json" },
    });
    expectValidationError(res, ["body", 33], "json_invalid");
  });

  it("answers 422 for a body that is not a JSON object", async () => {
    const res = await api("POST", `${WEBHOOKS}/`, {
      token,
      rawBody: "[1,2]",
      headers: { "content-type": "application/json" },
    });
    expectValidationError(res, ["body"], "model_attributes_type");
  });

  it("answers 422 for a wrong content type", async () => {
    const res = await api("POST", `${WEBHOOKS}/`, {
      token,
      rawBody: JSON.stringify(valid),
      headers: { "content-type": "text/plain" },
    });
    expectValidationError(res, ["body"], "model_attributes_type");
  });

  // FastAPI: a required body that is not there is one issue at ["body"], not one per field.
  it.each([
    ["no body", undefined, {}],
    ["an empty body with a JSON content type", "", { "content-type": "application/json" }],
    ["JSON null", "null", { "content-type": "application/json" }],
  ])("answers create with %s with exactly one missing-body issue", async (_label, rawBody, headers) => {
    const res = await api("POST", `${WEBHOOKS}/`, { token, rawBody, headers });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ detail: [{ type: "missing", loc: ["body"], msg: "Field required", input: null }] });
  });

  it("answers a body of whitespace as malformed JSON, as json.loads does", async () => {
    const res = await api("POST", `${WEBHOOKS}/`, {
      token,
      rawBody: " \n",
      headers: { "content-type": "application/json" },
    });
    expect(res.body).toEqual({
      detail: [
        {
          type: "json_invalid",
          loc: ["body", 2],
          msg: "JSON decode error",
          input: {},
          ctx: { error: "Expecting value" },
        },
      ],
    });
  });

  it("answers PATCH with no body with the same missing-body issue", async () => {
    const res = await api("PATCH", `${WEBHOOKS}/${webhookId}`, { token });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ detail: [{ type: "missing", loc: ["body"], msg: "Field required", input: null }] });
  });

  it("answers an empty object with one issue per missing field", async () => {
    const res = await api("POST", `${WEBHOOKS}/`, { token, body: {} });
    expectValidationError(res, ["body", "url"], "missing");
    expectValidationError(res, ["body", "events"], "missing");
  });

  it("answers 413 for a body over 256 KiB", async () => {
    const res = await post({ ...valid, description: "x".repeat(300 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body.detail).toMatch(/at most 262144 bytes/);
  });
});

describe("GET /api/v1/admin/webhooks/ query", () => {
  it.each([
    ["per_page=0", ["query", "per_page"], "greater_than_equal"],
    ["per_page=101", ["query", "per_page"], "less_than_equal"],
    ["per_page=abc", ["query", "per_page"], "int_parsing"],
    ["page=0", ["query", "page"], "greater_than_equal"],
    ["page=1.5", ["query", "page"], "int_parsing"],
    ["page=-3", ["query", "page"], "greater_than_equal"],
    [`tenant_id=${"t".repeat(65)}`, ["query", "tenant_id"], "string_too_long"],
  ] as const)("answers 422 for %s", async (query, loc, type) => {
    expectValidationError(await api("GET", `${WEBHOOKS}/?${query}`, { token }), [...loc], type);
  });
});

describe("PATCH /api/v1/admin/webhooks/{webhook_id}", () => {
  const patch = (body: unknown) => api("PATCH", `${WEBHOOKS}/${webhookId}`, { token, body });

  it.each([
    ["null url", { url: null }, ["body", "url"], "string_type"],
    ["empty events", { events: [] }, ["body", "events"], "too_short"],
    ["bad url", { url: "ftp://nope.example.com" }, ["body", "url"], "value_error"],
    ["enabled as a number other than 0 and 1", { enabled: 2 }, ["body", "enabled"], "bool_parsing"],
  ] as const)("answers 422 for %s and changes nothing", async (_label, body, loc, type) => {
    const before = await api("GET", `${WEBHOOKS}/${webhookId}`, { token });
    expectValidationError(await patch(body), [...loc], type);
    expect((await api("GET", `${WEBHOOKS}/${webhookId}`, { token })).body).toEqual(before.body);
  });
});

describe("path parameters", () => {
  it("answers 422 for an oversized webhook_id", async () => {
    expectValidationError(
      await api("GET", `${WEBHOOKS}/${"w".repeat(65)}`, { token }),
      ["path", "webhook_id"],
      "string_too_long",
    );
  });
});

describe("errors that are not validation", () => {
  it("answers unknown routes with a JSON 404", async () => {
    const res = await api("GET", "/api/v1/nothing-here", { token });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "Not Found" });
  });
});
