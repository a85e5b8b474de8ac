// Every size limit answers 413 or 422 with a message that says which limit; nothing is stored past one.
import { env, exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_DATA_DEPTH } from "../../src/domain/event-envelope";
import { MAX_BODY_BYTES } from "../../src/lib/request-body";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { seedDelivery, storedPayloads } from "../helpers/deliveries";
import { mintToken, tenantAdmin } from "../helpers/tokens";

const HEADER_CTL = "Value error, Header values must not contain CR, LF, NUL or other control characters";
const TOO_LARGE = { detail: `Request body must be at most ${MAX_BODY_BYTES} bytes` };

let token: string;
let publisher: string;
let webhookId: string;
let deliveryId: number;
beforeAll(async () => {
  token = await tenantAdmin("tnt_lim", "prt_lim");
  publisher = await mintToken({ role: null, tenant: "tnt_lim", partner: "prt_lim", scope: "webhooks:publish" });
  webhookId = (await createWebhook(token)).id;
  deliveryId = (await seedDelivery(webhookId, "tnt_lim")).id;
});

const valid = { url: "https://receiver.example.com/hook", events: ["user.created"] };
const event = (extra: Record<string, unknown> = {}) => ({
  event_type: "user.created",
  tenant_id: "tnt_lim",
  resource: { type: "user", id: "usr_1" },
  data: { email: "ada@example.com" },
  ...extra,
});

/** A body streamed in `chunk`-byte pieces with no Content-Length (chunked), counting what was pulled. */
function streamedBody(totalBytes: number, chunk = 16 * 1024, fill = 0x20) {
  const seen = { pulledBytes: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.pulledBytes >= totalBytes) return controller.close();
      const size = Math.min(chunk, totalBytes - seen.pulledBytes);
      seen.pulledBytes += size;
      controller.enqueue(new Uint8Array(size).fill(fill));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { stream, seen };
}

async function sendStream(method: string, path: string, stream: ReadableStream<Uint8Array>, auth = token) {
  const req = new Request(`https://webhooks.test${path}`, {
    method,
    headers: { authorization: `Bearer ${auth}`, "content-type": "application/json" },
    body: stream,
  });
  expect(req.headers.get("content-length")).toBeNull();
  const res = await exports.default.fetch(req);
  return { status: res.status, body: (await res.json()) as any };
}

function expectIssue(res: { status: number; body: any }, loc: (string | number)[], msg: string | RegExp) {
  expect(res.status, JSON.stringify(res.body)).toBe(422);
  const issue = res.body.detail.find((d: { loc: unknown[] }) => JSON.stringify(d.loc) === JSON.stringify(loc));
  expect(issue, `no issue at ${JSON.stringify(loc)} in ${JSON.stringify(res.body)}`).toBeDefined();
  if (typeof msg === "string") expect(issue.msg).toBe(msg);
  else expect(issue.msg).toMatch(msg);
}

const endpointCount = async () =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_endpoints").first<{ n: number }>())!.n;
const eventCount = async () =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM events_live").first<{ n: number }>())!.n;

describe("request body size (256 KiB)", () => {
  const padding = (bytes: number) => " ".repeat(bytes);

  it.each([
    ["POST", () => `${WEBHOOKS}/`],
    ["PATCH", () => `${WEBHOOKS}/${webhookId}`],
    ["POST", () => "/api/v1/events"],
  ])("%s %s answers 413 past the limit (with Content-Length)", async (method, path) => {
    const auth = path() === "/api/v1/events" ? publisher : token;
    const res = await api(method, path(), {
      token: auth,
      rawBody: `{}${padding(MAX_BODY_BYTES)}`,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect(res.body).toEqual(TOO_LARGE);
  });

  it("rotate-secret ignores an oversized body, as it ignores any it cannot read (the reference takes none)", async () => {
    const res = await api("POST", `${WEBHOOKS}/${webhookId}/rotate-secret`, {
      token,
      rawBody: `{}${padding(MAX_BODY_BYTES)}`,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(res.body.secret).toMatch(/^whsec_/);
  });

  it("accepts a body of exactly the limit", async () => {
    const body = JSON.stringify(event());
    const res = await api("POST", "/api/v1/events", {
      token: publisher,
      rawBody: body + padding(MAX_BODY_BYTES - body.length),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(202);
  });

  it("answers 413 one byte past the limit", async () => {
    const body = JSON.stringify(event());
    const before = await eventCount();
    const res = await api("POST", "/api/v1/events", {
      token: publisher,
      rawBody: body + padding(MAX_BODY_BYTES - body.length + 1),
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect(await eventCount()).toBe(before);
  });

  it("answers 413 to an event whose data alone is over the limit", async () => {
    const res = await api("POST", "/api/v1/events", {
      token: publisher,
      body: event({ data: { blob: "x".repeat(MAX_BODY_BYTES) } }),
    });
    expect(res.status).toBe(413);
    expect(res.body).toEqual(TOO_LARGE);
  });

  it.each([
    ["POST", () => `${WEBHOOKS}/`, () => token],
    ["PATCH", () => `${WEBHOOKS}/${webhookId}`, () => token],
    ["POST", () => "/api/v1/events", () => publisher],
  ])(
    "%s %s answers 413 to a chunked body without Content-Length, reading little past the limit",
    async (method, path, auth) => {
      const before = [await endpointCount(), await eventCount()];
      const { stream, seen } = streamedBody(64 * 1024 * 1024);
      const res = await sendStream(method, path(), stream, auth());
      expect(res.status).toBe(413);
      expect(res.body).toEqual(TOO_LARGE);
      // Cut off at the limit, not buffered whole (64 MiB would be half a Worker's memory).
      expect(seen.pulledBytes).toBeLessThan(MAX_BODY_BYTES + 256 * 1024);
      expect([await endpointCount(), await eventCount()]).toEqual(before);
    },
  );

  it("handles an endless chunked body", async () => {
    const { stream, seen } = streamedBody(Number.POSITIVE_INFINITY);
    const res = await sendStream("POST", "/api/v1/events", stream, publisher);
    expect(res.status).toBe(413);
    expect(seen.pulledBytes).toBeLessThan(MAX_BODY_BYTES + 256 * 1024);
  });

  it("accepts a small chunked body", async () => {
    const bytes = new TextEncoder().encode(JSON.stringify(event()));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, 10));
        controller.enqueue(bytes.slice(10));
        controller.close();
      },
    });
    const res = await sendStream("POST", "/api/v1/events", stream, publisher);
    expect(res.status).toBe(202);
  });
});

describe("string, array and record limits on endpoints", () => {
  const headers = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, "1"]));
  it.each([
    [
      "url",
      { url: `https://receiver.example.com/${"x".repeat(2048)}` },
      ["body", "url"],
      "String should have at most 2048 characters",
    ],
    ["description", { description: "x".repeat(501) }, ["body", "description"], /at most 500 /],
    ["events count", { events: Array(101).fill("user.created") }, ["body", "events"], /at most 100 /],
    ["event type length", { events: ["x".repeat(101)] }, ["body", "events", 0], /at most 100 /],
    ["tenant_id", { tenant_id: "t".repeat(65) }, ["body", "tenant_id"], /at most 64 /],
    ["partner_id", { partner_id: "p".repeat(65) }, ["body", "partner_id"], /at most 64 /],
    ["header count", { headers: headers(21) }, ["body", "headers"], "Value error, At most 20 custom headers"],
    [
      "header name",
      { headers: { [`X-${"a".repeat(127)}`]: "1" } },
      ["body", "headers", `X-${"a".repeat(127)}`, "[key]"],
      /at most 128 /,
    ],
    ["header value", { headers: { "X-A": "v".repeat(1025) } }, ["body", "headers", "X-A"], /at most 1024 /],
    ["header value with LF", { headers: { "X-A": "a\nb" } }, ["body", "headers", "X-A"], HEADER_CTL],
    ["header value with CR", { headers: { "X-A": "a\rb" } }, ["body", "headers", "X-A"], HEADER_CTL],
    ["header value with NUL", { headers: { "X-A": "a\u0000b" } }, ["body", "headers", "X-A"], HEADER_CTL],
    ["header value with VT", { headers: { "X-A": "a\u000bb" } }, ["body", "headers", "X-A"], HEADER_CTL],
    ["header value with DEL", { headers: { "X-A": "a\u007fb" } }, ["body", "headers", "X-A"], HEADER_CTL],
    [
      "header value with a lone surrogate",
      { headers: { "X-A": "\udc00" } },
      ["body", "headers", "X-A"],
      "Value error, Header values must be well-formed Unicode (no lone surrogates)",
    ],
    [
      "metadata size",
      { metadata: { blob: "x".repeat(4096) } },
      ["body", "metadata"],
      "Value error, metadata must serialise to at most 4096 bytes of JSON",
    ],
    [
      "metadata key",
      { metadata: { ["k".repeat(129)]: 1 } },
      ["body", "metadata", "k".repeat(129), "[key]"],
      /at most 128 /,
    ],
  ] as const)("%s: POST and PATCH answer 422 and store nothing", async (_label, field, loc, msg) => {
    const before = await endpointCount();
    const created = await api("POST", `${WEBHOOKS}/`, { token, body: { ...valid, ...field } });
    expectIssue(created, [...loc], msg as string | RegExp);
    expect(await endpointCount()).toBe(before);
    const current = await api("GET", `${WEBHOOKS}/${webhookId}`, { token });
    expectIssue(
      await api("PATCH", `${WEBHOOKS}/${webhookId}`, { token, body: field }),
      [...loc],
      msg as string | RegExp,
    );
    expect((await api("GET", `${WEBHOOKS}/${webhookId}`, { token })).body).toEqual(current.body);
  });

  it("rotate-secret bounds the grace period", async () => {
    const res = await api("POST", `${WEBHOOKS}/${webhookId}/rotate-secret`, {
      token,
      body: { expire_previous_in: 7 * 24 * 3600 + 1 },
    });
    expectIssue(res, ["body", "expire_previous_in"], /604800/);
  });
});

describe("event envelope limits", () => {
  const nested = (depth: number): unknown => {
    let value: unknown = "leaf";
    for (let i = 0; i < depth; i++) value = i % 2 ? { k: value } : [value];
    return value;
  };

  it.each([
    ["event_id", { event_id: `evt_${"a".repeat(65)}` }, ["body", "event_id"], /\{1,64\}/],
    ["event_type", { event_type: "x".repeat(101) }, ["body", "event_type"], /at most 100 /],
    [
      "timestamp",
      { timestamp: `2026-01-01T00:00:00${"1".repeat(60)}Z` },
      ["body", "timestamp"],
      "Input should be a valid datetime or date, unexpected extra characters at the end of the input",
    ],
    ["tenant_id", { tenant_id: "t".repeat(65) }, ["body", "tenant_id"], /at most 64 /],
    ["resource.type", { resource: { type: "t".repeat(65), id: "1" } }, ["body", "resource", "type"], /at most 64 /],
    ["resource.id", { resource: { type: "user", id: "i".repeat(129) } }, ["body", "resource", "id"], /at most 128 /],
    ["actor.id", { actor: { id: "a".repeat(129), type: "user" } }, ["body", "actor", "id"], /at most 128 /],
    [
      "data depth",
      { data: { deep: nested(MAX_DATA_DEPTH) } },
      ["body", "data"],
      `Value error, data must not nest objects or arrays more than ${MAX_DATA_DEPTH} levels deep`,
    ],
  ] as const)("%s: 422 and nothing stored", async (_label, field, loc, msg) => {
    const before = await eventCount();
    expectIssue(
      await api("POST", "/api/v1/events", { token: publisher, body: event(field) }),
      [...loc],
      msg as string | RegExp,
    );
    expect(await eventCount()).toBe(before);
  });

  it(`accepts data nested exactly ${MAX_DATA_DEPTH} levels deep`, async () => {
    const res = await api("POST", "/api/v1/events", {
      token: publisher,
      body: event({ data: { deep: nested(MAX_DATA_DEPTH - 1) } }),
    });
    expect(res.status).toBe(202);
  });

  // Regression: 10,000 nested arrays overflowed canonicalJson's recursion, a 500 after validation had passed.
  it.each([10_000, 100_000])("answers 422, not 500, to data nested %i levels deep", async (depth) => {
    const before = await eventCount();
    const res = await api("POST", "/api/v1/events", {
      token: publisher,
      rawBody: `{"event_type":"user.created","tenant_id":"tnt_lim","resource":{"type":"user","id":"u"},"data":{"d":${"[".repeat(depth)}${"]".repeat(depth)}}}`,
      headers: { "content-type": "application/json" },
    });
    expectIssue(res, ["body", "data"], /levels deep/);
    expect(await eventCount()).toBe(before);
  });
});

describe("event data the envelope cannot carry as sent", () => {
  const publishRaw = (dataText: string) =>
    api("POST", "/api/v1/events", {
      token: publisher,
      rawBody: `{"event_type":"user.created","tenant_id":"tnt_lim","resource":{"type":"user","id":"u"},"data":${dataText}}`,
      headers: { "content-type": "application/json" },
    });
  const OUT_OF_RANGE = "Value error, data must not contain numbers outside the range JSON can carry (such as 1e400)";

  // Regression: 1e400 parses to Infinity, which canonicalJson refuses to serialise: a 500 after validation had passed.
  it.each([
    ['{"n":1e400}', ["body", "data"], OUT_OF_RANGE],
    ['{"n":[1,{"m":-1e309}]}', ["body", "data"], OUT_OF_RANGE],
  ] as const)("%s answers 422 and stores nothing", async (dataText, loc, msg) => {
    const before = await eventCount();
    expectIssue(await publishRaw(dataText), [...loc], msg);
    expect(await eventCount()).toBe(before);
  });

  it("keeps other awkward but representable data exactly", async () => {
    const res = await publishRaw(
      '{"constructor":{"prototype":1},"toString":"x","n":-0,"big":1e308,"tiny":5e-324,"s":"\\ud800","nested":{"__proto__":{"x":1}}}',
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const [stored] = await storedPayloads(res.body.event_id);
    const data = JSON.parse(stored!).data;
    expect(data).toEqual({
      big: 1e308,
      constructor: { prototype: 1 },
      n: 0,
      s: "\ud800",
      tiny: 5e-324,
      toString: "x",
      nested: JSON.parse('{"__proto__":{"x":1}}'),
    });
    // A nested "__proto__" is data like any other key (delivered as sent); zod drops one at the top level of data.
    expect(Object.keys(data.nested)).toEqual(["__proto__"]);
  });
});

describe("query and path limits", () => {
  it.each([
    [`${WEBHOOKS}/?per_page=101`, ["query", "per_page"], /100/],
    [`${WEBHOOKS}/?per_page=1e309`, ["query", "per_page"], /.+/],
    [`${WEBHOOKS}/?page=1000001`, ["query", "page"], /1000000/],
    [`${WEBHOOKS}/?tenant_id=${"t".repeat(65)}`, ["query", "tenant_id"], /at most 64 /],
    [() => `${WEBHOOKS}/${webhookId}/deliveries?per_page=1000`, ["query", "per_page"], /100/],
    [() => `${WEBHOOKS}/${webhookId}/deliveries/${"9".repeat(20)}`, ["path", "delivery_id"], /.+/],
    [`${WEBHOOKS}/${"w".repeat(65)}`, ["path", "webhook_id"], /at most 64 /],
  ] as const)("%s answers 422", async (path, loc, msg) => {
    const url = typeof path === "function" ? path() : path;
    expectIssue(await api("GET", url, { token }), [...loc], msg);
  });

  it("still finds the delivery with an in-range id", async () => {
    expect((await api("GET", `${WEBHOOKS}/${webhookId}/deliveries/${deliveryId}`, { token })).status).toBe(200);
  });
});
