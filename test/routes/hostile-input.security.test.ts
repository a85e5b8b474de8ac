// Property-based hostile input against every endpoint: random and adversarial bodies, query strings, path ids and
// headers. Whatever arrives, the answer is a 2xx or a 4xx with a well-formed JSON body (never a 5xx), and a request
// that failed changed nothing stored. Regressions found this way are kept as plain examples at the end.
import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { createWebhook, WEBHOOKS } from "../helpers/api";
import { seedDelivery } from "../helpers/deliveries";
import { hookUrl } from "../helpers/receiver";
import { tenantAdmin } from "../helpers/tokens";

const TENANT = "tnt_hostile";
const PARTNER = "prt_hostile";
const NUM_RUNS = 60;
const BODY_RUNS = 80; // bodies have the most room to hide a bug: nested places × hostile values

let token: string;
let webhookId: string;
let deliveryId: number;
beforeAll(async () => {
  token = await tenantAdmin(TENANT, PARTNER);
  // Disabled and subscribed to one type: no publish below fans out to it, so nothing runs in the background
  // between two snapshots. The test endpoint still reaches it (and the local receiver answers 200).
  webhookId = (await createWebhook(token, { url: hookUrl().url, events: ["user.created"], enabled: false })).id;
  deliveryId = (await seedDelivery(webhookId, TENANT)).id; // pending: a retry answers 409
});

// ---- calling the Worker and judging the answer ----------------------------------------------------------------

interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  auth?: boolean;
}

async function send(req: Sent) {
  const headers = new Headers(req.headers);
  if (req.auth !== false && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
  const res = await exports.default.fetch(
    new Request(`https://webhooks.test${req.path}`, {
      method: req.method,
      headers,
      body: req.body,
      redirect: "manual",
    }),
  );
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
}

/** 2xx or 4xx (or the 307 across a trailing slash), and a JSON body of the documented shape. */
function expectWellFormed(res: { status: number; contentType: string | null; text: string }, req: Sent) {
  const where = `${req.method} ${req.path.slice(0, 300)} → ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  if (res.status === 307) return expect(res.text, where).toBe(""); // a path with/without its trailing slash redirects
  if (res.status === 204) return expect(res.text, where).toBe("");
  expect(res.contentType, where).toMatch(/^application\/json/);
  const body = JSON.parse(res.text);
  expect(body, where).toBeTypeOf("object");
  if (res.status < 400) return;
  const { detail } = body;
  if (typeof detail === "string") return expect(Object.keys(body), where).toEqual(["detail"]);
  expect(Array.isArray(detail) && detail.length > 0, where).toBe(true);
  for (const issue of detail) {
    expect(Object.keys(issue), where).toEqual(
      "ctx" in issue ? ["type", "loc", "msg", "input", "ctx"] : ["type", "loc", "msg", "input"],
    );
    expect(
      Array.isArray(issue.loc) && issue.loc.every((p: unknown) => typeof p === "string" || typeof p === "number"),
      where,
    ).toBe(true);
    expect(typeof issue.msg === "string" && typeof issue.type === "string", where).toBe(true);
  }
}

/** Every table (the hourly partitions included, as they are now) with its rows, in a stable order. */
async function snapshot(): Promise<Record<string, unknown[]>> {
  const { results: tables } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  const out: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    // Several tables are WITHOUT ROWID: rows are ordered by their content.
    const rows = (await env.DB.prepare(`SELECT * FROM "${name}"`).all()).results.map((r) => JSON.stringify(r));
    out[name] = rows.sort();
  }
  return out;
}

/** Sends, checks the answer, and for a refused request checks that no table changed. */
async function probe(req: Sent) {
  const before = await snapshot();
  const res = await send(req);
  expectWellFormed(res, req);
  if (res.status >= 400)
    expect(await snapshot(), `${req.method} ${req.path.slice(0, 200)} changed stored data`).toEqual(before);
  return res;
}

// ---- the endpoints --------------------------------------------------------------------------------------------

const ID = "{id}";
const DID = "{did}";
const ROUTES: { method: string; path: string }[] = [
  { method: "GET", path: `${WEBHOOKS}/` },
  { method: "POST", path: `${WEBHOOKS}/` },
  { method: "GET", path: `${WEBHOOKS}/events` },
  { method: "GET", path: `${WEBHOOKS}/${ID}` },
  { method: "PATCH", path: `${WEBHOOKS}/${ID}` },
  { method: "DELETE", path: `${WEBHOOKS}/${ID}` },
  { method: "GET", path: `${WEBHOOKS}/${ID}/deliveries` },
  { method: "GET", path: `${WEBHOOKS}/${ID}/deliveries/${DID}` },
  { method: "POST", path: `${WEBHOOKS}/${ID}/deliveries/${DID}/retry` },
  { method: "POST", path: `${WEBHOOKS}/${ID}/test` },
  { method: "POST", path: `${WEBHOOKS}/${ID}/rotate-secret` },
  { method: "GET", path: `${WEBHOOKS}/${ID}/stats` },
  { method: "POST", path: "/api/v1/events" },
];
const fill = (path: string, id = webhookId, did = String(deliveryId)) => path.replace(ID, id).replace(DID, did);
// DELETE with the real id would remove the fixture; every other route gets the real ids so input reaches validation.
const realPath = (r: { method: string; path: string }) =>
  r.method === "DELETE" ? fill(r.path, "wh_hostile_missing") : fill(r.path);
const BODY_ROUTES = ROUTES.filter((r) => r.method === "POST" || r.method === "PATCH");

// Valid bodies: mutating one field at a time gets hostile values past the outer type checks.
const VALID_BODIES: Record<string, () => Record<string, unknown>> = {
  [`POST ${WEBHOOKS}/`]: () => ({
    url: hookUrl().url,
    events: ["user.created"],
    enabled: false,
    description: "d",
    headers: { "X-A": "1" },
    metadata: { a: 1 },
  }),
  [`PATCH ${WEBHOOKS}/${ID}`]: () => ({ description: "d", metadata: { a: 1 }, headers: { "X-A": "1" } }),
  [`POST ${WEBHOOKS}/${ID}/rotate-secret`]: () => ({ expire_previous_in: 60 }),
  "POST /api/v1/events": () => ({
    event_type: "tenant.updated",
    tenant_id: TENANT,
    partner_id: PARTNER,
    resource: { type: "tenant", id: TENANT },
    actor: { id: "usr_1", type: "admin" },
    data: { a: 1 },
  }),
};

// ---- generators -----------------------------------------------------------------------------------------------

const HOSTILE_NUMBERS = [
  "1e309",
  "-1e309",
  "1e400",
  "-0",
  "0.0000000000000000000000001",
  "123456789012345678901234567890",
  "9007199254740993",
  "1E+2",
  "-9".repeat(1) + "9".repeat(400),
  "5e-324",
];
const hugeNumberText = fc.constantFrom(...HOSTILE_NUMBERS);

/** A JSON text nested `depth` levels deep, arrays or objects. */
const deepJson = fc
  .tuple(fc.integer({ min: 1, max: 120_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? `${"[".repeat(depth)}${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`,
  );

const PROTO_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "__defineGetter__",
];
const pollutionText = fc
  .tuple(
    fc.constantFrom(...PROTO_KEYS),
    fc.constantFrom('{"admin":true}', '{"prototype":{"polluted":1}}', "null", "1", '"x"', "[]"),
  )
  .map(([key, value]) => `{"${key}":${value}}`);

const unicodeString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 50 }), // lone surrogates included
  fc.string({ unit: "grapheme", maxLength: 50 }),
  fc.constantFrom(
    "\u0000",
    "\ud800",
    "\udfff",
    "\ufeff",
    "\u202e",
    "𝕏",
    "Zoë",
    "\u2028\u2029",
    "%00",
    "../",
    "' OR 1=1 --",
  ),
);

/** A JSON value made hostile: numbers out of range, deep nesting, polluting keys, odd strings. */
const hostileLeafText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: hugeNumberText, weight: 3 },
  { arbitrary: deepJson, weight: 2 },
  { arbitrary: pollutionText, weight: 2 },
  { arbitrary: unicodeString.map((s) => JSON.stringify(s)), weight: 2 },
  { arbitrary: fc.json({ maxDepth: 4 }), weight: 1 },
  { arbitrary: fc.anything({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"), weight: 1 },
);
/** The same, also wrapped inside objects and arrays. */
const hostileValueText: fc.Arbitrary<string> = fc.oneof(
  hostileLeafText,
  fc
    .tuple(fc.oneof(fc.constantFrom("a", "X-A", ...PROTO_KEYS), fc.string({ maxLength: 20 })), hostileLeafText)
    .map(([k, v]) => `{${JSON.stringify(k)}:${v}}`),
  hostileLeafText.map((v) => `[1,${v}]`),
);

/** Every place in a body a value could go: each existing field at any depth, and a new key beside them. */
function placesIn(value: Record<string, unknown>, prefix: string[] = []): string[][] {
  const places: string[][] = [];
  for (const [key, child] of Object.entries(value)) {
    places.push([...prefix, key]);
    if (child !== null && typeof child === "object" && !Array.isArray(child))
      places.push(...placesIn(child as Record<string, unknown>, [...prefix, key]));
  }
  for (const extra of ["__proto__", "constructor", "extra"]) places.push([...prefix, extra]);
  return places;
}

const HOLE = "\u0000hostile\u0000";
/**
 * A valid body with the value at one place (any depth) replaced by a hostile value. Spliced in as raw JSON text,
 * so "__proto__" keys and numbers like 1e400 arrive exactly as written.
 */
const mutatedBody = (base: Record<string, unknown>) =>
  fc.tuple(fc.constantFrom(...placesIn(base)), hostileValueText).map(([place, value]) => {
    const copy = structuredClone(base);
    let target: Record<string, unknown> = copy;
    for (const key of place.slice(0, -1)) target = target[key] as Record<string, unknown>;
    Object.defineProperty(target, place.at(-1)!, { value: HOLE, enumerable: true, configurable: true, writable: true });
    return JSON.stringify(copy).replace(JSON.stringify(HOLE), value);
  });

const INVALID_UTF8: number[][] = [
  [0xff],
  [0xc0, 0xaf],
  [0xe0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
  [0xf0, 0x9f, 0x98],
];
/** A JSON body whose bytes are not UTF-8 (overlong, surrogate, truncated, stray continuation bytes). */
const invalidUtf8Body = (base: Record<string, unknown>) =>
  fc.tuple(fc.constantFrom(...INVALID_UTF8), fc.constantFrom(...Object.keys(base))).map(([bad, key]) => {
    const text = JSON.stringify({ ...base, [key]: "\u0001" });
    const [head = "", tail = ""] = text.split("\\u0001");
    const enc = new TextEncoder();
    return new Uint8Array([...enc.encode(head), ...bad, ...enc.encode(tail)]);
  });

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=latin1",
  "application/merge-patch+json",
  "APPLICATION/JSON",
  "text/plain",
  "text/json",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "",
  "application/jsonx",
  "*/*",
];
const contentType = fc.oneof(
  fc.constantFrom(...CONTENT_TYPES),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map(String.fromCharCode), maxLength: 40 }),
);

const bodyFor = (route: { method: string; path: string }) => {
  const valid = VALID_BODIES[`${route.method} ${route.path}`];
  const generic = fc.oneof(
    fc.json(),
    fc.anything().map((v) => JSON.stringify(v) ?? ""),
    hostileValueText,
    fc.string({ maxLength: 100 }),
  );
  return valid
    ? fc.oneof(
        { arbitrary: generic, weight: 1 },
        { arbitrary: mutatedBody(valid()), weight: 4 },
        { arbitrary: invalidUtf8Body(valid()), weight: 1 },
      )
    : fc.oneof(generic, invalidUtf8Body({ a: 1 }));
};

// Printable ASCII: CR, LF and NUL are refused by the Request constructor itself, and workerd re-encodes (and warns
// about) anything past 0x7e.
const headerChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const headerValue = (maxLength: number) => fc.string({ unit: headerChar, maxLength });

const QUERY_KEYS = ["page", "per_page", "tenant_id", "partner_id", "status", "window", "__proto__", "constructor"];
const QUERY_VALUES = [
  "1e309",
  "-0",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  "1.5",
  "",
  " 1",
  "１",
  "9".repeat(400),
  "%00",
  "%",
  "%zz",
  "%E0%A4%A",
  "null",
  "[]",
  "{}",
  "1,2",
  "success",
  "24h",
  "tnt_hostile",
  "prt_hostile",
];
const queryPart = fc.oneof(
  fc.constantFrom(...QUERY_VALUES),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  fc.integer().map(String),
  fc.double().map(String),
);
const queryString = fc
  .array(
    fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 10 }).map(encodeURIComponent)), queryPart),
    { maxLength: 8 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join("&"));

const PATH_IDS = [
  "..",
  "../",
  "..%2F..%2F",
  "%2e%2e",
  "%2e%2e%2f",
  "%",
  "%zz",
  "%E0%A4%A",
  "%00",
  "%ff",
  "%C0%AF",
  "wh_%00",
  "a%2Fb",
  ";",
  "?x=1",
  "#frag",
  "\\..\\",
  "0",
  "-1",
  "1e309",
  "NaN",
];
const pathId = fc.oneof(
  fc.constantFrom(...PATH_IDS),
  fc.string({ unit: "grapheme", maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: "binary", maxLength: 40 }).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "x"))),
  fc
    .string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map(String.fromCharCode), maxLength: 40 })
    .filter((s) => !s.includes("#") && !s.includes("?")),
  fc.integer({ min: 65, max: 8000 }).map((n) => "w".repeat(n)),
  fc.integer({ min: 1, max: 50 }).map((n) => "%2e%2e%2f".repeat(n)),
);

// ---- properties -----------------------------------------------------------------------------------------------

const run = <T>(arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>, numRuns = NUM_RUNS) =>
  fc.assert(fc.asyncProperty(arb, predicate), { numRuns, endOnFailure: true });

describe("hostile input never answers 5xx and never changes stored data when refused", { timeout: 60_000 }, () => {
  it.each(BODY_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))("bodies: %s", async (_label, route) => {
    await run(
      fc.tuple(bodyFor(route), fc.constantFrom(...CONTENT_TYPES.slice(0, 5)), fc.boolean()),
      async ([body, type, withType]) => {
        await probe({
          method: route.method,
          path: realPath(route),
          body,
          headers: withType ? { "content-type": type } : {},
        });
      },
      BODY_RUNS,
    );
  });

  // The fields where any JSON is valid (event data, endpoint metadata) get hostile values directly, at any depth.
  it.each([
    [
      "event data",
      "POST",
      "/api/v1/events",
      (v: string) =>
        JSON.stringify(VALID_BODIES["POST /api/v1/events"]!()).replace('"data":{"a":1}', `"data":{"a":${v}}`),
    ],
    ["endpoint metadata", "PATCH", `${WEBHOOKS}/${ID}`, (v: string) => `{"metadata":{"a":${v}}}`],
  ] as const)("free-form JSON: %s", async (_label, method, path, bodyWith) => {
    await run(hostileValueText, async (value) => {
      await probe({ method, path: fill(path), body: bodyWith(value), headers: { "content-type": "application/json" } });
    });
  });

  it("bodies with random content types, on every route", async () => {
    await run(
      fc.tuple(
        fc.constantFrom(...ROUTES),
        contentType,
        fc.oneof(fc.json({ maxDepth: 2 }), fc.string({ maxLength: 50 })),
      ),
      async ([route, type, body]) => {
        const hasBody = route.method !== "GET";
        await probe({
          method: route.method,
          path: realPath(route),
          body: hasBody ? body : undefined,
          headers: { "content-type": type },
        });
      },
    );
  });

  it("query strings, on every route", async () => {
    await run(
      fc.tuple(fc.constantFrom(...ROUTES.filter((r) => r.method !== "POST" && r.method !== "PATCH")), queryString),
      async ([route, query]) => {
        await probe({ method: route.method, path: `${realPath(route)}?${query}` });
      },
    );
  });

  it("path ids, on every route that takes one", async () => {
    const routes = ROUTES.filter((r) => r.path.includes(ID));
    await run(
      fc.tuple(fc.constantFrom(...routes), pathId, fc.oneof(pathId, fc.constant(String(deliveryId)))),
      async ([route, id, did]) => {
        await probe({
          method: route.method,
          path: fill(route.path, id, did),
          body: route.method === "POST" || route.method === "PATCH" ? "{}" : undefined,
          headers: { "content-type": "application/json" },
        });
      },
    );
  });

  it("Authorization headers, on every route", async () => {
    const authorization = fc.oneof(
      headerValue(200),
      headerValue(200).map((v) => `Bearer ${v}`),
      fc.constantFrom(
        "Bearer",
        "Bearer ",
        "bearer x.y.z",
        "Basic dXNlcjpwYXNz",
        "Bearer a.b",
        "Bearer ....",
        "Bearer =",
        `Bearer ${"A".repeat(16_000)}`,
      ),
      fc.constantFrom(0, 1, 2).map((i) => `Bearer ${"eyJhbGciOiJub25lIn0"}.${["e30", "eyJzdWIiOjF9", "%%%"][i]}.`),
      // A valid token with something appended (not only padding or whitespace, which leave it the same token).
      headerValue(50)
        .filter((junk) => junk.replace(/[\s=]/g, "") !== "")
        .map((junk) => `Bearer ${token}${junk}`),
    );
    await run(fc.tuple(fc.constantFrom(...ROUTES), authorization), async ([route, auth]) => {
      const res = await probe({
        method: route.method,
        path: realPath(route),
        headers: { authorization: auth, "content-type": "application/json" },
        body: route.method === "GET" || route.method === "DELETE" ? undefined : "{}",
      });
      expect(res.status, `${auth.slice(0, 60)} was accepted`).toBe(401);
    });
  });

  it("huge and odd X-Request-ID and other headers, on every route", async () => {
    await run(
      fc.tuple(
        fc.constantFrom(...ROUTES),
        headerValue(50),
        fc.integer({ min: 0, max: 16_000 }),
        fc.constantFrom(
          "x-request-id",
          "content-length",
          "transfer-encoding",
          "accept",
          "x-forwarded-for",
          "cf-connecting-ip",
          "origin",
        ),
      ),
      async ([route, value, repeat, name]) => {
        const headers: Record<string, string> = { "x-request-id": `${value}${"r".repeat(repeat)}` };
        if (name !== "x-request-id" && name !== "content-length" && name !== "transfer-encoding") headers[name] = value;
        const res = await send({ method: route.method, path: realPath(route), headers });
        expectWellFormed(res, { method: route.method, path: realPath(route) });
      },
      40,
    );
  });
});

// ---- regressions found by the properties above, kept as examples ---------------------------------------------

describe("regressions", () => {
  it("nothing above polluted Object.prototype in the Worker's isolate", () => {
    const probeObject: Record<string, unknown> = {};
    for (const key of ["admin", "polluted", "prototype", "x"]) expect(probeObject[key], key).toBeUndefined();
  });

  it.each(["1e400", "-1e309", '[1,{"m":1e999}]'])(
    "data holding %s answers 422 (canonicalJson refused Infinity: 500)",
    async (value) => {
      const body = JSON.stringify(VALID_BODIES["POST /api/v1/events"]!()).replace(
        '"data":{"a":1}',
        `"data":{"a":${value}}`,
      );
      const res = await probe({
        method: "POST",
        path: "/api/v1/events",
        body,
        headers: { "content-type": "application/json" },
      });
      expect(res.status).toBe(422);
      expect(JSON.parse(res.text).detail).toEqual([
        {
          type: "value_error",
          loc: ["body", "data"],
          msg: "Value error, data must not contain numbers outside the range JSON can carry (such as 1e400)",
          // echoed with null where JSON has no such number (FastAPI cannot answer at all: a 500)
          input: expect.any(Object),
          ctx: { error: {} },
        },
      ]);
    },
  );

  it("a header value with a lone surrogate answers 422 (it went on the wire as invalid UTF-8)", async () => {
    const res = await probe({
      method: "PATCH",
      path: `${WEBHOOKS}/${webhookId}`,
      body: '{"headers":{"X-A":"\\udc00"}}',
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(422);
    expect(JSON.parse(res.text).detail[0]).toMatchObject({
      loc: ["body", "headers", "X-A"],
      msg: "Value error, Header values must be well-formed Unicode (no lone surrogates)",
    });
  });

  it("data nested 10,000 levels deep answers 422 (canonicalJson used to overflow the stack: 500)", async () => {
    const body = JSON.stringify(VALID_BODIES["POST /api/v1/events"]!()).replace(
      '"data":{"a":1}',
      `"data":{"a":${"[".repeat(10_000)}${"]".repeat(10_000)}}`,
    );
    const res = await probe({
      method: "POST",
      path: "/api/v1/events",
      body,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(422);
    expect(JSON.parse(res.text).detail[0].loc).toEqual(["body", "data"]);
  });

  it("a body that is not UTF-8 answers 400 as FastAPI does, instead of being stored with U+FFFD in place of its bytes", async () => {
    const enc = new TextEncoder();
    const body = new Uint8Array([...enc.encode('{"description":"caf'), 0xe9, ...enc.encode('"}')]); // Latin-1 é
    const res = await probe({
      method: "PATCH",
      path: `${WEBHOOKS}/${webhookId}`,
      body,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ detail: "There was an error parsing the body" });
  });
});
