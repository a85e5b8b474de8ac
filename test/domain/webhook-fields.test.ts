// A webhook's API fields are derived from its table (src/domain/webhook-fields.ts, src/db/api-columns.ts): the shown
// object and its schema cannot drift apart, nothing internal is shown, a create's required fields are the columns'
// required ones, and a column of a new kind needs no more than its place in a list.
import { z } from "@hono/zod-openapi";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { createSchemaFactory } from "drizzle-zod";
import { describe, expect, it } from "vitest";
import { apiInsertShape, apiShape, integersAsShown, shownRowOf, storedValuesOf } from "../../src/db/api-columns";
import { WebhookSchema, webhookCreateShape, webhookUpdateShape } from "../../src/domain/webhook-fields";
import { api, createWebhook, WEBHOOKS } from "../helpers/api";
import { tenantAdmin } from "../helpers/tokens";

// The API's webhook object, in its documented order (shared/seeds/webhooks-api-reference.md).
const WEBHOOK_FIELDS = [
  "id",
  "tenant_id",
  "partner_id",
  "url",
  "description",
  "events",
  "enabled",
  "status",
  "failure_count",
  "disabled_at",
  "disabled_reason",
  "headers",
  "metadata",
  "last_success_at",
  "last_failure_at",
  "missed_events_since_disabled",
  "rate_limit",
  "ordered",
  "ordered_head_delivery_id",
  "created_at",
  "updated_at",
];

describe("the webhook object", () => {
  it("is shown as its schema says, field for field and in order, and never with a secret", async () => {
    const token = await tenantAdmin("tnt_fields");
    const created = await createWebhook(token, { description: "fields", enabled: false });
    const res = await api("GET", `${WEBHOOKS}/${created.id}`, { token });
    expect(res.status).toBe(200);
    expect(Object.keys(WebhookSchema.shape)).toEqual(WEBHOOK_FIELDS);
    expect(Object.keys(res.body)).toEqual(WEBHOOK_FIELDS);
    expect(WebhookSchema.strict().parse(res.body)).toEqual(res.body);
    expect(res.body).toMatchObject({ description: "fields", enabled: false, status: "disabled", failure_count: 0 });
    expect(res.body.disabled_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(res.body.last_success_at).toBeNull();
  });

  it("takes on create the columns without a default as required, and anything on update", () => {
    const required = (shape: Record<string, z.ZodType>) =>
      Object.keys(shape).filter((name) => !shape[name]!.safeParse(undefined).success);
    expect(Object.keys(webhookCreateShape)).toEqual([
      "url",
      "events",
      "description",
      "enabled",
      "tenant_id",
      "partner_id",
      "headers",
      "metadata",
      "rate_limit",
      "ordered",
    ]);
    expect(required(webhookCreateShape)).toEqual(["url", "events"]);
    expect(required(webhookUpdateShape)).toEqual([]);
    // Nullable where the column is.
    const nullable = (shape: Record<string, z.ZodType>) =>
      Object.keys(shape).filter((name) => shape[name]!.safeParse(null).success);
    expect(nullable(webhookCreateShape)).toEqual(["description", "tenant_id", "partner_id", "rate_limit"]);
  });
});

describe("a table's columns as the API shows and takes them", () => {
  // A table with one column of each kind a new webhook field might be.
  const table = sqliteTable("example", {
    id: text("id").notNull(),
    rateLimit: integer("rate_limit"),
    ordered: integer("ordered", { mode: "boolean" }).notNull().default(false),
    pausedAt: integer("paused_at"),
  });
  const { createSelectSchema, createInsertSchema } = createSchemaFactory({ zodInstance: z });

  it("shows each under its column's name, an integer as an integer and a time as ISO 8601", () => {
    const shape = apiShape(table, createSelectSchema(table, integersAsShown(table)).shape, [
      "id",
      "rateLimit",
      "ordered",
      "pausedAt",
    ]);
    const schema = z.object(shape);
    expect(Object.keys(shape)).toEqual(["id", "rate_limit", "ordered", "paused_at"]);
    const row = { id: "x", rateLimit: 5, ordered: true, pausedAt: Date.UTC(2026, 0, 2, 3, 4, 5) };
    const shown = shownRowOf(table, Object.keys(shape))(row);
    expect(shown).toEqual({ id: "x", rate_limit: 5, ordered: true, paused_at: "2026-01-02T03:04:05.000Z" });
    expect(schema.parse(shown)).toEqual(shown);
    expect(schema.safeParse({ ...shown, rate_limit: 1.5 }).success).toBe(false);
    expect(schema.parse({ ...shown, rate_limit: null, paused_at: null })).toMatchObject({ rate_limit: null });
    expect(() => shownRowOf(table, ["secret"])).toThrow();
  });

  it("takes each under its column's name, optional where the column is nullable or has a default", () => {
    const rules = { rateLimit: () => z.number().int().min(1), ordered: () => z.boolean() };
    const shape = apiInsertShape(table, createInsertSchema(table, rules).shape, ["rateLimit", "ordered"]);
    const schema = z.object(shape);
    expect(schema.parse({})).toEqual({});
    expect(schema.parse({ rate_limit: null, ordered: true })).toEqual({ rate_limit: null, ordered: true });
    expect(schema.safeParse({ rate_limit: 0 }).success).toBe(false);
    expect(
      storedValuesOf(table, { rate_limit: 3, ordered: undefined, id: "ignored" }, ["rate_limit", "ordered"]),
    ).toEqual({ rateLimit: 3 });
  });
});
