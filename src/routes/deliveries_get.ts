import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { visibilityOf } from "../auth/principal";
import { getDeliveryDetail } from "../domain/deliveries";
import { getVisibleEndpoint } from "../domain/webhook-endpoints";
import type { AppEnv } from "../lib/services";
import { DeliveryDetailSchema, DeliveryIdParams, jsonContent, notFoundError, standardErrors } from "./schemas";

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/{webhook_id}/deliveries/{delivery_id}",
  operationId: "getWebhookDelivery",
  tags: ["Deliveries"],
  summary: "Get Webhook Delivery",
  description: "Get details of a specific delivery: its payload and every attempt.",
  middleware: [requireScope("read")],
  request: { params: DeliveryIdParams },
  responses: { 200: jsonContent(DeliveryDetailSchema, "The delivery and its attempts"), ...standardErrors, ...notFoundError },
});

export const registerGetDelivery = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const { webhook_id, delivery_id } = c.req.valid("param");
    const services = c.var.services;
    await getVisibleEndpoint(services.db, webhook_id, visibilityOf(c.var.principal));
    return c.json(await getDeliveryDetail(services, webhook_id, delivery_id), 200);
  });
