// The OpenAPI document against the contract existing clients rely on (shared/seeds/webhooks-api-reference.md):
// every path, method, parameter and success status of the 14 admin endpoints, plus the 422 body.
import { describe, expect, it } from "vitest";
import { api } from "../helpers/api";

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
  ["post", `${W}/{webhook_id}/deliveries/{delivery_id}/retry`, "200", { webhook_id: "string", delivery_id: "integer" }, []],
  ["post", `${W}/{webhook_id}/rotate-secret`, "200", { webhook_id: "string" }, []],
  ["get", `${W}/{webhook_id}/stats`, "200", { webhook_id: "string" }, []],
  ["post", `${W}/{webhook_id}/test`, "200", { webhook_id: "string" }, []],
  ["post", `${W}/{webhook_id}/recover`, "202", { webhook_id: "string" }, []],
  ["post", `${W}/{webhook_id}/replay`, "202", { webhook_id: "string" }, []],
];

describe("OpenAPI document", async () => {
  const doc = (await api("GET", "/openapi.json")).body;

  it("is OpenAPI 3.1 with a bearer security scheme applied to every operation", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
  });

  it("has exactly the 14 admin operations of the contract", () => {
    const admin = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .filter(([path]) => path.startsWith(W))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(admin.sort()).toEqual(CONTRACT.map(([m, p]) => `${m.toUpperCase()} ${p}`).sort());
  });

  it.each(CONTRACT)("%s %s: success %s, its parameters, and the 422 body", (method, path, success, pathParams, query) => {
    const op = doc.paths[path][method];
    expect(op.responses[success]).toBeDefined();
    expect(op.responses["422"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/HTTPValidationError" });
    const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean; schema: { type?: string } }[];
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
  });

  it("answers recover and replay with the recovery result, and takes their window as the body", () => {
    for (const operation of ["recover", "replay"]) {
      const op = doc.paths[`${W}/{webhook_id}/${operation}`].post;
      expect(op.responses["202"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/RecoveryResult" });
      expect(op.responses["409"]).toBeDefined();
      expect(op.requestBody.required).toBe(true);
    }
    expect(doc.components.schemas.RecoveryResult.required.sort()).toEqual(["deliveries", "since", "until", "webhook_id"]);
    expect(doc.components.schemas.ReplayEvents.required).toEqual(["since"]);
  });

  it("describes the FastAPI validation error shape", () => {
    const { HTTPValidationError, ValidationError } = doc.components.schemas;
    expect(HTTPValidationError.properties.detail.items).toEqual({ $ref: "#/components/schemas/ValidationError" });
    expect(ValidationError.required.sort()).toEqual(["loc", "msg", "type"]);
  });
});
