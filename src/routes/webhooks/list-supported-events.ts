import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { EVENT_TYPES } from "../../domain/event-catalog";
import type { Router } from "../create-router";
import { jsonContent, standardErrors } from "../shared-schemas";

const EventTypeSchema = z
  .object({
    type: z.string().openapi({ example: "user.created" }),
    group: z.string().openapi({ example: "user" }),
    description: z.string(),
  })
  .openapi("EventType");

const EventCatalogSchema = z
  .object({ events: z.array(EventTypeSchema), total: z.number().int() })
  .openapi("EventCatalog");
export type ListSupportedEventsResponse = z.infer<typeof EventCatalogSchema>;

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

export const registerListSupportedEvents = (router: Router) =>
  router.openapi(route, (c) => c.json({ events: [...EVENT_TYPES], total: EVENT_TYPES.length }, 200));
