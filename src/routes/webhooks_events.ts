import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { EVENT_TYPES } from "../domain/event-catalog";
import type { AppEnv } from "../lib/services";
import { jsonContent, standardErrors } from "./schemas";

const EventTypeSchema = z
  .object({
    type: z.string().openapi({ example: "user.created" }),
    group: z.string().openapi({ example: "user" }),
    description: z.string(),
  })
  .openapi("EventType");

const EventCatalogSchema = z.object({ events: z.array(EventTypeSchema), total: z.number().int() }).openapi("EventCatalog");

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/events",
  operationId: "listSupportedEvents",
  tags: ["Webhooks"],
  summary: "List Supported Events",
  description: "List supported event types for webhooks. Subscriptions may also use `group.*` or `*`.",
  middleware: [requireScope("read")],
  responses: { 200: jsonContent(EventCatalogSchema, "The event type catalog"), ...standardErrors },
});

export const registerListSupportedEvents = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, (c) => c.json({ events: [...EVENT_TYPES], total: EVENT_TYPES.length }, 200));
