// Every request of the FastAPI stand-in's fixture (test/fixtures/fastapi-reference.json, written by
// scripts/gen-fastapi-reference.py with FastAPI 0.142 and pydantic 2.13) sent to the Worker: a 422, 400, 405 or 307
// must be byte for byte FastAPI's (Allow aside: see below); what FastAPI accepts must pass validation here too.
import { beforeAll, describe, expect, it } from "vitest";
import { createWebhook } from "../helpers/api";
import { referenceCases as cases, reference, sendReferenceCase, withWebhook } from "../helpers/fastapi-reference";
import { superAdmin, tenantAdmin } from "../helpers/tokens";

// Deliberate differences (docs/api.md, "Differences from FastAPI"):
// - Allow lists every method the path has; Starlette lists those of the first route matching the path.
// - The target URL policy's messages are the Worker's own (the stand-in raises one of its kind, for the shape).
const OWN_MESSAGE = new Set(["refused target url"]);

let tenantToken: string;
let adminToken: string;
let webhookId: string;
beforeAll(async () => {
  tenantToken = await tenantAdmin("tnt_fixture", "prt_fixture");
  adminToken = await superAdmin();
  webhookId = (await createWebhook(tenantToken)).id;
});

const send = (c: (typeof cases)[number]) =>
  sendReferenceCase(c, c.path.includes("/tenants/") ? adminToken : tenantToken, webhookId);

const refused = cases.filter((c) => c.expected.status >= 300);
const accepted = cases.filter((c) => c.expected.status < 300);

describe("what FastAPI refuses or redirects, answered the same", () => {
  it.each(refused.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const res = await send(c);
    const text = await res.text();
    expect(res.status).toBe(c.expected.status);
    if (c.expected.location !== undefined)
      expect(res.headers.get("location")).toBe(withWebhook(c.expected.location, webhookId));
    if (c.expected.allow !== undefined) {
      const allow = res.headers.get("allow")!.split(", ");
      expect(allow).toEqual(expect.arrayContaining(c.expected.allow.split(", ")));
      expect(allow).not.toContain("HEAD");
    }
    if (c.method === "HEAD") expect(text).toBe("");
    else if (OWN_MESSAGE.has(c.name)) {
      const [ours] = JSON.parse(text).detail;
      const [theirs] = JSON.parse(c.expected.body!).detail;
      expect({ ...ours, msg: ours.msg.startsWith("Value error, ") }).toEqual({ ...theirs, msg: true });
    } else if (c.expected.body !== undefined) expect(text).toBe(c.expected.body);
    if (c.expected.status === 422) expect(res.headers.get("content-type")).toBe("application/json");
  });
});

describe("what FastAPI accepts passes validation", () => {
  it.each(accepted.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const res = await send(c);
    const text = await res.text();
    const echoed = JSON.parse(c.expected.body ?? "null");
    if (/\/deliveries\/[^/]+(\/retry)?$/.test(c.path)) {
      // No such delivery here: a 404 comes after validation.
      expect(res.status, text).toBe(404);
      return;
    }
    if (/\/(recover|replay)$/.test(c.path) && res.status === 422) {
      // Validated; then the window itself is checked against the retention horizon and now (recovery.ts).
      expect(JSON.parse(text).detail).toEqual([
        expect.objectContaining({ type: "value_error", loc: ["body", "since"] }),
      ]);
      return;
    }
    expect(res.status, text).toBe(c.expected.status);
    const ours = text ? JSON.parse(text) : null;
    // What the stand-in echoes of the values it read, the Worker stored or used.
    if (echoed?.body?.enabled !== undefined) expect(ours.enabled).toBe(echoed.body.enabled);
    if (echoed?.page !== undefined) expect([ours.page, ours.per_page]).toEqual([echoed.page, echoed.per_page]);
    if (echoed?.body?.description !== undefined) expect(ours.description).toBe(echoed.body.description);
    if (c.method === "PATCH") expect(ours.id).toBe(webhookId);
  });
});

describe("the fixture", () => {
  it("was written by the generator against FastAPI and pydantic", () => {
    expect(reference.meta.generator).toBe("scripts/gen-fastapi-reference.py");
    expect(reference.meta.fastapi).toMatch(/^0\.142\./);
    expect(reference.meta.pydantic).toMatch(/^2\.13\./);
  });
});
