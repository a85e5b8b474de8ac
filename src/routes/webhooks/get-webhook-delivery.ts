import { createRoute } from "@hono/zod-openapi";
import type { TypedResponse } from "hono";
import type { JSONParsed } from "hono/utils/types";
import { requireScope } from "../../auth/middleware";
import { getDeliveryDetail } from "../../domain/deliveries";
import { jsonWithRawMember } from "../../lib/json-text";
import type { Router } from "../create-router";
import { jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { type DeliveryDetailResponse, DeliveryDetailSchema, DeliveryIdParams } from "./schemas";

export type { DeliveryDetailResponse as GetWebhookDeliveryResponse } from "./schemas";

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/{webhook_id}/deliveries/{delivery_id}",
  operationId: "getWebhookDelivery",
  tags: ["Deliveries"],
  summary: "Get Webhook Delivery",
  description:
    "Get details of a specific delivery: every attempt, and the payload byte for byte as it was signed and delivered " +
    "(numbers as written: 1.0 stays 1.0, 12345678901234567890 keeps every digit).",
  middleware: [requireScope("read"), onWebhookShard],
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
    const { payload, attempts, ...delivery } = await getDeliveryDetail(c.var.services, webhook_id, delivery_id);
    // The stored payload text goes out verbatim inside the answer: no JSON.parse round trip to change its numbers.
    const text = jsonWithRawMember({ ...delivery, payload: null, attempts }, "payload", payload ?? "null");
    // The text is a DeliveryDetailResponse (the envelope schema describes the stored payload); the typed client keeps it.
    return c.body(text, 200, { "content-type": "application/json" }) as unknown as TypedResponse<
      JSONParsed<DeliveryDetailResponse>,
      200,
      "json"
    >;
  });
