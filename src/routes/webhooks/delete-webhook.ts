import { createRoute } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { deleteWebhook } from "../../domain/webhooks";
import type { Router } from "../create-router";
import { notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { WebhookIdParam } from "./schemas";

const route = createRoute({
  method: "delete",
  path: "/api/v1/admin/webhooks/{webhook_id}",
  operationId: "deleteWebhook",
  tags: ["Webhooks"],
  summary: "Delete Webhook",
  description: "Delete a webhook. Deliveries not yet sent are cancelled; its stats are removed.",
  middleware: [requireScope("write"), onWebhookShard],
  request: { params: WebhookIdParam },
  responses: { 204: { description: "Deleted" }, ...standardErrors, ...notFoundError },
});

export const registerDeleteWebhook = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    await requireVisibleWebhook(c, webhook_id);
    await deleteWebhook(c.var.services.db, webhook_id, c.var.services.now());
    return c.body(null, 204);
  });
