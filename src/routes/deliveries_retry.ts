import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { visibilityOf } from "../auth/principal";
import { toPublicDelivery } from "../domain/deliveries";
import { retryDeliveryNow } from "../domain/manual-retry";
import { getVisibleEndpoint } from "../domain/webhook-endpoints";
import type { AppEnv } from "../lib/services";
import { conflictError, DeliveryIdParams, DeliverySchema, jsonContent, notFoundError, standardErrors } from "./schemas";

const route = createRoute({
  method: "post",
  path: "/api/v1/admin/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
  operationId: "retryWebhookDelivery",
  tags: ["Deliveries"],
  summary: "Retry Webhook Delivery",
  description: "Manually retry a failed (or cancelled) delivery now: one more attempt, signed afresh.",
  middleware: [requireScope("write")],
  request: { params: DeliveryIdParams },
  responses: {
    200: jsonContent(DeliverySchema, "The delivery, queued again"),
    ...standardErrors,
    ...notFoundError,
    ...conflictError("The delivery already succeeded, is still in flight, its webhook is disabled, or its payload was purged"),
  },
});

export const registerRetryDelivery = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const { webhook_id, delivery_id } = c.req.valid("param");
    const services = c.var.services;
    const endpoint = await getVisibleEndpoint(services.db, webhook_id, visibilityOf(c.var.principal));
    return c.json(toPublicDelivery(await retryDeliveryNow(services, endpoint, delivery_id)), 200);
  });
