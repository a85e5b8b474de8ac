import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { DELIVERY_STATUSES } from "../../db/schema";
import { listDeliveries, toPublicDelivery } from "../../domain/deliveries";
import type { Router } from "../create-router";
import { jsonContent, notFoundError, pageOf, PageQuery, standardErrors } from "../shared-schemas";
import { requireVisibleWebhook } from "./guards";
import { DeliverySchema, WebhookIdParam } from "./schemas";

const DeliveryListSchema = pageOf(DeliverySchema, "DeliveryList");
export type ListWebhookDeliveriesResponse = z.infer<typeof DeliveryListSchema>;

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/{webhook_id}/deliveries",
  operationId: "listWebhookDeliveries",
  tags: ["Deliveries"],
  summary: "List Webhook Deliveries",
  description: "List delivery history for a webhook, newest first.",
  middleware: [requireScope("read")],
  request: { params: WebhookIdParam, query: PageQuery.extend({ status: z.enum(DELIVERY_STATUSES).optional() }) },
  responses: { 200: jsonContent(DeliveryListSchema, "A page of deliveries"), ...standardErrors, ...notFoundError },
});

export const registerListWebhookDeliveries = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const { page, per_page, status } = c.req.valid("query");
    await requireVisibleWebhook(c, webhook_id);
    const { rows, total, pages } = await listDeliveries(c.var.services.db, webhook_id, { status }, { page, perPage: per_page });
    return c.json({ items: rows.map(toPublicDelivery), total, page, per_page, pages }, 200);
  });
