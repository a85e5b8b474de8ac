import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { DELIVERY_STATUSES, ERROR_CLASSES } from "../../db/schema";
import { listDeliveryHistory, toPublicDelivery } from "../../domain/deliveries";
import { isKnownEventType } from "../../domain/event-catalog";
import { awareDatetime, laxInteger, pyString } from "../../lib/pydantic";
import type { Router } from "../create-router";
import { jsonContent, notFoundError, PageQuery, pageOf, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { DeliverySchema, WebhookIdParam } from "./schemas";

const DeliveryListSchema = pageOf(DeliverySchema, "DeliveryList");

// A validator of `until` in pydantic terms: it runs when since and until themselves are valid, whatever the rest.
const untilAndSinceValid = (payload: { issues: readonly { path?: PropertyKey[] }[] }) =>
  !payload.issues.some((issue) => !issue.path?.length || issue.path[0] === "since" || issue.path[0] === "until");
export type ListWebhookDeliveriesResponse = z.infer<typeof DeliveryListSchema>;

const isoDateTime = (description: string) =>
  awareDatetime().optional().openapi({ description, example: "2026-11-24T01:05:00Z" });

const DeliveryListQuery = PageQuery.extend({
  status: z.enum(DELIVERY_STATUSES).optional(),
  event_type: pyString({ max: 100 })
    .refine(isKnownEventType, { message: "Unknown event type (see GET /api/v1/admin/webhooks/events)" })
    .optional()
    .openapi({ example: "user.created" }),
  event_id: pyString({ min: 1, max: 128 }).optional().openapi({ example: "evt_YCawVDzDIUI6cAixhPCj" }),
  since: isoDateTime("Deliveries created at or after this time (ISO 8601)."),
  until: isoDateTime("Deliveries created before this time (ISO 8601)."),
  status_code: laxInteger({ ge: 100, le: 599 })
    .optional()
    .openapi({ description: "HTTP status of the last attempt.", example: 503 }),
  error_class: z.enum(ERROR_CLASSES).optional().openapi({ description: "Error class of the last attempt." }),
}).refine((q) => q.since === undefined || q.until === undefined || Date.parse(q.until) > Date.parse(q.since), {
  message: "until must be after since",
  path: ["until"],
  when: untilAndSinceValid,
});

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/{webhook_id}/deliveries",
  operationId: "listWebhookDeliveries",
  tags: ["Deliveries"],
  summary: "List Webhook Deliveries",
  description:
    "List delivery history for a webhook, newest first. Every filter is optional and combines with the others and with " +
    "pagination; `since`/`until` apply to `created_at`, `status_code` and `error_class` to the last attempt.",
  middleware: [requireScope("read"), onWebhookShard],
  request: { params: WebhookIdParam, query: DeliveryListQuery },
  responses: { 200: jsonContent(DeliveryListSchema, "A page of deliveries"), ...standardErrors, ...notFoundError },
});

export const registerListWebhookDeliveries = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const { page, per_page, status, event_type, event_id, since, until, status_code, error_class } =
      c.req.valid("query");
    await requireVisibleWebhook(c, webhook_id);
    const filter = {
      status,
      eventType: event_type,
      eventId: event_id,
      createdFrom: since === undefined ? undefined : Date.parse(since),
      createdBefore: until === undefined ? undefined : Date.parse(until),
      lastStatusCode: status_code,
      lastErrorClass: error_class,
    };
    const { rows, total, pages } = await listDeliveryHistory(c.var.services, webhook_id, filter, {
      page,
      perPage: per_page,
    });
    return c.json({ items: rows.map(toPublicDelivery), total, page, per_page, pages }, 200);
  });
