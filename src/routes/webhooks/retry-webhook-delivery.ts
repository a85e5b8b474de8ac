import { createRoute } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { getDelivery, hasPayload, toPublicDelivery } from "../../domain/deliveries";
import { requeueDelivery } from "../../domain/delivery/requeue";
import { conflict } from "../../lib/errors";
import type { Router } from "../create-router";
import { conflictError, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { requireVisibleWebhook } from "./guards";
import { DeliveryIdParams, DeliverySchema } from "./schemas";

export type { DeliveryResponse as RetryWebhookDeliveryResponse } from "./schemas";

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
    ...conflictError("The delivery already succeeded, is still in flight, is archived, its webhook is disabled, or its payload was purged"),
  },
});

export const registerRetryWebhookDelivery = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id, delivery_id } = c.req.valid("param");
    const services = c.var.services;
    const webhook = await requireVisibleWebhook(c, webhook_id);
    const delivery = await getDelivery(services.db, webhook_id, delivery_id, services);
    if (delivery.status === "success") throw conflict("Delivery already succeeded");
    if (delivery.status === "pending" || delivery.status === "retrying") throw conflict("Delivery is already scheduled or in flight");
    if (!webhook.enabled) throw conflict("Webhook is disabled: enable it (PATCH enabled=true) before retrying");
    if (!(await hasPayload(services.db, delivery.eventId))) throw conflict("The event's payload has been purged by retention; it cannot be sent again");
    if (!(await requeueDelivery(services, delivery_id))) throw conflict("Delivery changed state; fetch it again");
    return c.json(toPublicDelivery(await getDelivery(services.db, webhook_id, delivery_id)), 200);
  });
