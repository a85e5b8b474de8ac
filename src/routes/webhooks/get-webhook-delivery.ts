import { createRoute } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { getDeliveryDetail } from "../../domain/deliveries";
import type { Router } from "../create-router";
import { jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { requireVisibleWebhook } from "./guards";
import { DeliveryDetailSchema, DeliveryIdParams } from "./schemas";

export type { DeliveryDetailResponse as GetWebhookDeliveryResponse } from "./schemas";

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/{webhook_id}/deliveries/{delivery_id}",
  operationId: "getWebhookDelivery",
  tags: ["Deliveries"],
  summary: "Get Webhook Delivery",
  description: "Get details of a specific delivery: its payload and every attempt.",
  middleware: [requireScope("read")],
  request: { params: DeliveryIdParams },
  responses: {
    200: jsonContent(DeliveryDetailSchema, "The delivery and its attempts"),
    ...standardErrors,
    ...notFoundError,
  },
});

export const registerGetWebhookDelivery = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id, delivery_id } = c.req.valid("param");
    await requireVisibleWebhook(c, webhook_id);
    return c.json(await getDeliveryDetail(c.var.services, webhook_id, delivery_id), 200);
  });
