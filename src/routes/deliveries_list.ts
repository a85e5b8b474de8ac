import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { visibilityOf } from "../auth/principal";
import { DELIVERY_STATUSES } from "../db/schema";
import { listDeliveries } from "../domain/deliveries";
import { getVisibleEndpoint } from "../domain/webhook-endpoints";
import type { AppEnv } from "../lib/services";
import { DeliverySchema, jsonContent, notFoundError, pageOf, PageQuery, standardErrors, WebhookIdParam } from "./schemas";

const DeliveryListSchema = pageOf(DeliverySchema, "DeliveryList");

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

export const registerListDeliveries = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const { page, per_page, status } = c.req.valid("query");
    const services = c.var.services;
    await getVisibleEndpoint(services.db, webhook_id, visibilityOf(c.var.principal));
    const { items, total, pages } = await listDeliveries(services, webhook_id, status, { page, perPage: per_page });
    return c.json({ items, total, page, per_page, pages }, 200);
  });
