import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { WebhookSchema, webhookUpdateShape } from "../../domain/webhook-fields";
import { saveWebhook } from "../../domain/webhook-writes";
import { toPublicWebhooks } from "../../domain/webhooks";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { WebhookIdParam } from "./schemas";

export type { WebhookResponse as UpdateWebhookResponse } from "../../domain/webhook-fields";

const UpdateWebhookBody = z.object(webhookUpdateShape).openapi("UpdateWebhook");

const route = createRoute({
  method: "patch",
  path: "/api/v1/admin/webhooks/{webhook_id}",
  operationId: "updateWebhook",
  tags: ["Webhooks"],
  summary: "Update Webhook",
  description:
    "Partially update a webhook. `enabled: true` on a disabled endpoint clears `failure_count` and `disabled_at`.",
  middleware: [requireScope("write"), onWebhookShard],
  request: { params: WebhookIdParam, body: jsonBody(UpdateWebhookBody) },
  responses: { 200: jsonContent(WebhookSchema, "The updated endpoint"), ...standardErrors, ...notFoundError },
});

export const registerUpdateWebhook = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const existing = await requireVisibleWebhook(c, webhook_id);
    const { webhook } = await saveWebhook(c.var.services, c.var.principal, c.req.valid("json"), existing);
    const [updated] = await toPublicWebhooks(c.var.services, [webhook]);
    return c.json(updated!, 200);
  });
