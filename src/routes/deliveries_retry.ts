import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { visibilityOf } from "../auth/principal";
import { getDelivery, hasPayload, toPublicDelivery } from "../domain/deliveries";
import { getVisibleEndpoint } from "../domain/webhook-endpoints";
import { requeueDelivery } from "../jobs/delivery-consumer";
import { conflict } from "../lib/errors";
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
    const delivery = await getDelivery(services.db, webhook_id, delivery_id, services);
    if (delivery.status === "success") throw conflict("Delivery already succeeded");
    if (delivery.status === "pending" || delivery.status === "retrying") throw conflict("Delivery is already scheduled or in flight");
    if (!endpoint.enabled) throw conflict("Webhook is disabled: enable it (PATCH enabled=true) before retrying");
    if (!(await hasPayload(services.db, delivery.eventId))) throw conflict("The event's payload has been purged by retention; it cannot be sent again");
    if (!(await requeueDelivery(services, delivery_id))) throw conflict("Delivery changed state; fetch it again");
    return c.json(toPublicDelivery(await getDelivery(services.db, webhook_id, delivery_id)), 200);
  });
