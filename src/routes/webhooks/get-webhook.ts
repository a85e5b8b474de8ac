import { createRoute } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { WebhookSchema } from "../../domain/webhook-fields";
import { toPublicWebhooks } from "../../domain/webhooks";
import type { Router } from "../create-router";
import { jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { WebhookIdParam } from "./schemas";

export type { WebhookResponse as GetWebhookResponse } from "../../domain/webhook-fields";

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/{webhook_id}",
  operationId: "getWebhook",
  tags: ["Webhooks"],
  summary: "Get Webhook",
  description: "Get a webhook by ID (never its secret).",
  middleware: [requireScope("read"), onWebhookShard],
  request: { params: WebhookIdParam },
  responses: { 200: jsonContent(WebhookSchema, "The endpoint"), ...standardErrors, ...notFoundError },
});

export const registerGetWebhook = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const [webhook] = await toPublicWebhooks(c.var.services, [await requireVisibleWebhook(c, webhook_id)]);
    return c.json(webhook!, 200);
  });
