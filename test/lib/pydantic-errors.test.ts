// The table of src/lib/errors.ts (zod issue → pydantic error): a case per row, answered by the Worker exactly as
// FastAPI answered it (test/fixtures/fastapi-reference.json); and every issue the request schemas of the API can
// produce lands on a row, found by sending each schema inputs of every kind.
import type { RouteConfig } from "@hono/zod-openapi";
import { beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { createApp } from "../../src/app";
import { PYDANTIC_ERRORS, pydanticRowOf } from "../../src/lib/errors";
import { createWebhook } from "../helpers/api";
import { referenceCases as cases, sendReferenceCase } from "../helpers/fastapi-reference";
import { tenantAdmin } from "../helpers/tokens";

let token: string;
let webhookId: string;
beforeAll(async () => {
  token = await tenantAdmin("tnt_fixture", "prt_fixture");
  webhookId = (await createWebhook(token)).id;
});

describe("each row of the table", () => {
  it.each(PYDANTIC_ERRORS.map((row) => [row.type] as const))("%s: FastAPI's answer to a case of it", async (type) => {
    const ofRow = cases.filter((c) => c.row === type);
    expect(ofRow.length, `no fixture case for row ${type}`).toBeGreaterThan(0);
    for (const c of ofRow) {
      const res = await sendReferenceCase(c, token, webhookId);
      const text = await res.text();
      expect(text, c.name).toBe(c.expected.body);
      expect(
        JSON.parse(text).detail.map((d: { type: string }) => d.type),
        c.name,
      ).toContain(type);
    }
  });
});

// ---- every issue the request schemas can produce ----

/** Values of every kind a client could send where a field is expected. */
const SCALARS: unknown[] = [
  undefined,
  null,
  true,
  false,
  0,
  1,
  2,
  -1,
  1.5,
  1e20,
  1e300,
  "",
  " ",
  "x",
  "yes",
  "1",
  "1.0",
  "1e3",
  "abc",
  "2026-11-24T01:05:00Z",
  "2026-11-24",
  "2026-13-01",
  "1795050300",
  "tnt x",
  "evt_1",
  "user.created",
  "user.*",
  "webhook.test",
  "nope.*",
  "a\r\nb",
  "\ud800",
  "x".repeat(65),
  "y".repeat(129),
  "z".repeat(2049),
  "1".repeat(4301),
];
const COMPOUND: unknown[] = [
  [],
  [1],
  ["user.created"],
  ["x".repeat(101)],
  Array(101).fill("user.created"),
  {},
  { a: 1 },
  { "Bad Key": 5 },
  { "X-ScaiKey-Signature": "v" },
  { ["k".repeat(129)]: 1 },
  { "X-A": "a\nb" },
  Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, "1"])),
  { blob: "x".repeat(5000) },
];

type Shape = Record<string, z.ZodType>;
const shapeOf = (schema: z.ZodType): Shape | undefined => (schema as unknown as { shape?: Shape }).shape;

/** Inputs for `schema`: each field given each value (the others left out), nested objects filled the same way. */
function inputsFor(schema: z.ZodType, depth = 0): unknown[] {
  const shape = shapeOf(unwrap(schema));
  const values = [...SCALARS, ...COMPOUND];
  if (!shape || depth > 2) return values;
  const out: unknown[] = [...values, { unknown_field: 1 }];
  for (const [name, field] of Object.entries(shape)) {
    for (const value of [...values, ...(shapeOf(unwrap(field)) ? inputsFor(field, depth + 1) : [])])
      out.push({ [name]: value });
  }
  out.push(Object.fromEntries(Object.keys(shape).map((name) => [name, "x"])));
  return out;
}

function unwrap(schema: z.ZodType): z.ZodType {
  const def = (schema as unknown as { _zod: { def: { innerType?: z.ZodType; out?: z.ZodType } } })._zod.def;
  if (def.innerType) return unwrap(def.innerType);
  if (def.out && (def as { type?: string }).type === "pipe") return unwrap(def.out);
  return schema;
}

function requestSchemas(): [string, z.ZodType][] {
  const app = createApp();
  const out: [string, z.ZodType][] = [];
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== "route") continue;
    const route = def.route as RouteConfig;
    const name = `${route.method.toUpperCase()} ${route.path}`;
    const { params, query, body } = route.request ?? {};
    if (params) out.push([`${name} path`, params as z.ZodType]);
    if (query) out.push([`${name} query`, query as z.ZodType]);
    const json = (body?.content?.["application/json"] as { schema?: z.ZodType } | undefined)?.schema;
    if (json) out.push([`${name} body`, json]);
  }
  return out;
}

describe("the table covers the request schemas", () => {
  const hit = new Set<string>();
  const schemas = requestSchemas();

  it("finds every operation's input schemas", () => {
    expect(schemas.length).toBeGreaterThanOrEqual(20);
  });

  it.each(schemas)("%s: every issue lands on a row", (_name, schema) => {
    for (const input of inputsFor(schema)) {
      const result = schema.safeParse(input);
      if (result.success) continue;
      for (const issue of result.error.issues) {
        let value: unknown = input;
        let present = true;
        for (const key of issue.path) {
          if (key === "[key]") break;
          present = value !== null && typeof value === "object" && Object.hasOwn(value, key);
          value = present ? (value as Record<PropertyKey, unknown>)[key] : undefined;
        }
        const row = pydanticRowOf(issue, { input: value, present: present && value !== undefined });
        expect(row, `${JSON.stringify(issue)} for ${JSON.stringify(input)}`).toBeDefined();
        hit.add(row!.type);
      }
    }
  });

  it("reaches every row of the table", () => {
    expect([...hit].sort()).toEqual(
      expect.arrayContaining(PYDANTIC_ERRORS.map((r) => r.type).filter((t) => t !== "datetime_parsing")),
    );
  });
});
