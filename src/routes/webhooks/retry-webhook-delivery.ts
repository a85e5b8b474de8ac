import { createRoute } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { toPublicDelivery } from "../../domain/deliveries";
import { retryDeliveryNow } from "../../domain/delivery/manual-retry";
import type { Router } from "../create-router";
import { conflictError, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { DeliveryIdParams, DeliverySchema } from "./schemas";

export type { DeliveryResponse as RetryWebhookDeliveryResponse } from "./schemas";

const route = createRoute({
  method: "post",
  path: "/api/v1/admin/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
  operationId: "retryWebhookDelivery",
  tags: ["Deliveries"],
  summary: "Retry Webhook Delivery",
  description: "Manually retry a failed (or cancelled) delivery now: one more attempt, signed afresh.",
  middleware: [requireScope("write"), onWebhookShard],
  request: { params: DeliveryIdParams },
  responses: {
    200: jsonContent(DeliverySchema, "The delivery, queued again"),
    ...standardErrors,
    ...notFoundError,
    ...conflictError(
      "The delivery already succeeded, is still in flight, is archived, its webhook is disabled, or its payload was purged",
    ),
  },
});

export const registerRetryWebhookDelivery = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id, delivery_id } = c.req.valid("param");
    const services = c.var.services;
    const webhook = await requireVisibleWebhook(c, webhook_id);
    return c.json(toPublicDelivery(await retryDeliveryNow(services, webhook, delivery_id)), 200);
  });
