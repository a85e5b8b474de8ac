import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { visibilityOf } from "../auth/principal";
import { deleteEndpoint, getVisibleEndpoint } from "../domain/webhook-endpoints";
import type { AppEnv } from "../lib/services";
import { notFoundError, standardErrors, WebhookIdParam } from "./schemas";

const route = createRoute({
  method: "delete",
  path: "/api/v1/admin/webhooks/{webhook_id}",
  operationId: "deleteWebhook",
  tags: ["Webhooks"],
  summary: "Delete Webhook",
  description: "Delete a webhook. Deliveries not yet sent are cancelled; its stats are removed.",
  middleware: [requireScope("write")],
  request: { params: WebhookIdParam },
  responses: { 204: { description: "Deleted" }, ...standardErrors, ...notFoundError },
});

export const registerDeleteWebhook = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const { db, now } = c.var.services;
    await getVisibleEndpoint(db, webhook_id, visibilityOf(c.var.principal));
    await deleteEndpoint(db, webhook_id, now());
    return c.body(null, 204);
  });
