// The OpenAPI document against the contract existing clients rely on (shared/seeds/webhooks-api-reference.md):
// every path, method, parameter and success status of the 14 admin endpoints, plus the 422 body; and, for every
// operation, the errors it can really give (checked against the running routes where they can be provoked).
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";
import { superAdmin } from "../helpers/tokens";

const W = "/api/v1/admin/webhooks";
// [method, path, success status, path params (with type), query params]
const CONTRACT: [string, string, string, Record<string, string>, string[]][] = [
  ["get", `${W}/`, "200", {}, ["page", "per_page", "tenant_id", "partner_id"]],
  ["post", `${W}/`, "201", {}, []],
  ["get", `${W}/events`, "200", {}, []],
  ["delete", `${W}/{webhook_id}`, "204", { webhook_id: "string" }, []],
  ["get", `${W}/{webhook_id}`, "200", { webhook_id: "string" }, []],
  ["patch", `${W}/{webhook_id}`, "200", { webhook_id: "string" }, []],
  [
    "get",
    `${W}/{webhook_id}/deliveries`,
    "200",
    { webhook_id: "string" },
    ["page", "per_page", "status", "event_type", "event_id", "since", "until", "status_code", "error_class"],
  ],
  ["get", `${W}/{webhook_id}/deliveries/{delivery_id}`, "200", { webhook_id: "string", delivery_id: "integer" }, []],
  [
    "post",
    `${W}/{webhook_id}/deliveries/{delivery_id}/retry`,
    "200",
    { webhook_id: "string", delivery_id: "integer" },
    [],
  ],
  ["post", `${W}/{webhook_id}/rotate-secret`, "200", { webhook_id: "string" }, []],
  ["get", `${W}/{webhook_id}/stats`, "200", { webhook_id: "string" }, []],
  ["post", `${W}/{webhook_id}/test`, "200", { webhook_id: "string" }, []],
];
// Operations this service adds under the same prefix, beyond the 12 of the reference.
const EXTENSIONS: [string, string, string, Record<string, string>, string[]][] = [
  // Links into the delivery portal.
  ["post", `${W}/{webhook_id}/recover`, "202", { webhook_id: "string" }, []],
  ["post", `${W}/{webhook_id}/replay`, "202", { webhook_id: "string" }, []],
  ["post", `${W}/portal-sessions`, "201", {}, []],
  // The tenant directory.
  ["put", `${W}/tenants/{tenant_id}/partner`, "200", { tenant_id: "string" }, []],
  // The pipeline for the platform's operators.
  ["get", `${W}/operations`, "200", {}, []],
];

describe("OpenAPI document", async () => {
  const doc = (await api("GET", "/openapi.json")).body;

  it("is OpenAPI 3.1 with a bearer security scheme applied to every operation", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
  });

  it("has exactly the 12 admin operations of the contract, and the service's extensions (portal sessions, tenant directory, recover, replay, operations)", () => {
    const admin = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .filter(([path]) => path.startsWith(W) && path !== W) // W itself only redirects (below)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(admin.sort()).toEqual([...CONTRACT, ...EXTENSIONS].map(([m, p]) => `${m.toUpperCase()} ${p}`).sort());
  });

  it.each([...CONTRACT, ...EXTENSIONS])(
    "%s %s: success %s, its parameters, and the 422 body",
    (method, path, success, pathParams, query) => {
      const op = doc.paths[path][method];
      expect(op.responses[success]).toBeDefined();
      // The reference lists 422 everywhere (FastAPI counts its `authorization` header as a parameter); here it is listed
      // only where input can fail (below), and then with the FastAPI body.
      if (op.responses["422"])
        expect(op.responses["422"].content["application/json"].schema).toEqual({
          $ref: "#/components/schemas/HTTPValidationError",
        });
      const params = (op.parameters ?? []) as {
        name: string;
        in: string;
        required?: boolean;
        schema: { type?: string };
      }[];
      for (const [name, type] of Object.entries(pathParams)) {
        const p = params.find((x) => x.in === "path" && x.name === name);
        expect(p, `${name} in path`).toMatchObject({ required: true });
        expect(p!.schema.type).toBe(type);
      }
      for (const name of query) {
        const p = params.find((x) => x.in === "query" && x.name === name);
        expect(p, `${name} in query`).toBeDefined();
        expect(p!.required ?? false).toBe(false);
      }
    },
  );

  it("answers recover and replay with the recovery result, and takes their window as the body", () => {
    for (const operation of ["recover", "replay"]) {
      const op = doc.paths[`${W}/{webhook_id}/${operation}`].post;
      expect(op.responses["202"].content["application/json"].schema).toEqual({
        $ref: "#/components/schemas/RecoveryResult",
      });
      expect(op.responses["409"]).toBeDefined();
      expect(op.requestBody.required).toBe(true);
    }
    expect(doc.components.schemas.RecoveryResult.required.sort()).toEqual([
      "deliveries",
      "since",
      "until",
      "webhook_id",
    ]);
    expect(doc.components.schemas.ReplayEvents.required).toEqual(["since"]);
  });

  it("describes the FastAPI validation error shape", () => {
    const { HTTPValidationError, ValidationError } = doc.components.schemas;
    expect(HTTPValidationError.properties.detail.items).toEqual({ $ref: "#/components/schemas/ValidationError" });
    expect(ValidationError.required.sort()).toEqual(["loc", "msg", "type"]);
    expect(ValidationError.properties.loc).toEqual({
      type: "array",
      items: { anyOf: [{ type: "string" }, { type: "integer" }] },
    });
  });

  it("describes pydantic's input and ctx on a validation error, as FastAPI does", () => {
    const { ValidationError } = doc.components.schemas;
    expect(Object.keys(ValidationError.properties)).toEqual(["loc", "msg", "type", "input", "ctx"]);
    expect(ValidationError.properties.ctx.type).toBe("object");
  });

  it("describes a delivery's payload as the delivered event envelope, or null once purged", () => {
    const detail = doc.components.schemas.DeliveryDetail.allOf[1].properties.payload;
    expect(detail.anyOf).toEqual([{ $ref: "#/components/schemas/DeliveredEvent" }, { type: "null" }]);
    const envelope = doc.components.schemas.DeliveredEvent;
    expect(envelope.required.sort()).toEqual(["actor", "data", "event_id", "event_type", "resource", "timestamp"]);
    expect(Object.keys(envelope.properties).sort()).toEqual([
      "actor",
      "data",
      "event_id",
      "event_type",
      "partner_id",
      "resource",
      "tenant_id",
      "timestamp",
    ]);
  });

  it("names the server: the origin serving the document", () => {
    expect(doc.servers).toEqual([{ url: "/", description: expect.any(String) }]);
  });

  it("documents the collection path without its trailing slash as a 307 for each of the collection's methods", () => {
    const bare = doc.paths[W];
    expect(Object.keys(bare).sort()).toEqual(Object.keys(doc.paths[`${W}/`]).sort());
    for (const op of Object.values(bare) as any[]) {
      expect(Object.keys(op.responses)).toEqual(["307"]);
      expect(op.responses["307"].headers.Location.schema).toEqual({ type: "string" });
      expect(op.security).toEqual([]);
    }
  });
});

// Every operation of the document, bare redirects aside: [METHOD path, operation].
type Operation = {
  operationId: string;
  security?: unknown[];
  requestBody?: unknown;
  parameters?: unknown[];
  responses: Record<string, any>;
};
const operations = async () => {
  const doc = (await api("GET", "/openapi.json")).body;
  return Object.entries(doc.paths as Record<string, Record<string, Operation>>)
    .filter(([path]) => path !== W)
    .flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op] as const),
    );
};

describe("the errors each operation documents", async () => {
  const ops = await operations();

  it("covers every operation, including ones added later", () => {
    expect(ops.length).toBeGreaterThanOrEqual(CONTRACT.length + 2); // the 14, publishing, health
  });

  // rotate-secret reads its optional body leniently (the reference takes none): what it cannot read, it ignores.
  const LENIENT_BODY = "POST /api/v1/admin/webhooks/{webhook_id}/rotate-secret";

  it.each(ops)("%s: 400 and 413 exactly when it refuses a body, 422 exactly when input can fail", (name, op) => {
    const refusesBody = op.requestBody !== undefined && name !== LENIENT_BODY;
    expect("400" in op.responses).toBe(refusesBody);
    expect("413" in op.responses).toBe(refusesBody);
    expect("422" in op.responses).toBe(op.requestBody !== undefined || (op.parameters ?? []).length > 0);
  });

  it.each(ops)("%s: answers a body that is not UTF-8 with 400 exactly when it documents 400", async (name, op) => {
    const [method, path] = name.split(" ") as [string, string];
    if (method === "GET") return; // fetch refuses a GET with a body
    const concrete = path.replace("{webhook_id}", "wh_contract").replace("{delivery_id}", "1");
    const res = await exports.default.fetch(
      new Request(`https://webhooks.test${concrete}`, {
        method,
        headers: { authorization: `Bearer ${await superAdmin()}`, "content-type": "application/json" },
        body: new Uint8Array([0x7b, 0xff, 0x7d]),
      }),
    );
    expect(res.status === 400, `${res.status} ${await res.text()}`).toBe("400" in op.responses);
  });

  it.each(ops)("%s: answers an oversized body with 413 exactly when it documents 413", async (name, op) => {
    const [method, path] = name.split(" ") as [string, string];
    const concrete = path.replace("{webhook_id}", "wh_contract").replace("{delivery_id}", "1");
    const res = await api(method, concrete, {
      token: await superAdmin(),
      rawBody: method === "GET" ? undefined : `{}${" ".repeat(300 * 1024)}`, // fetch refuses a GET with a body
      headers: { "content-type": "application/json" },
    });
    expect(res.status === 413, `${res.status} ${JSON.stringify(res.body)}`).toBe("413" in op.responses);
  });

  it.each(ops)("%s: 500 documented", (_, op) => {
    expect(op.responses["500"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Error" });
  });

  it.each(ops.filter(([, op]) => op.security === undefined))("%s: 401 documents WWW-Authenticate", (_, op) => {
    expect(op.responses["401"].headers["WWW-Authenticate"]).toMatchObject({ schema: { type: "string" } });
  });
});
