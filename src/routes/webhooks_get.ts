import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { visibilityOf } from "../auth/principal";
import { getVisibleEndpoint, toPublicEndpoint } from "../domain/webhook-endpoints";
import type { AppEnv } from "../lib/services";
import { jsonContent, notFoundError, standardErrors, WebhookEndpointSchema, WebhookIdParam } from "./schemas";

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/{webhook_id}",
  operationId: "getWebhook",
  tags: ["Webhooks"],
  summary: "Get Webhook",
  description: "Get a webhook by ID (never its secret).",
  middleware: [requireScope("read")],
  request: { params: WebhookIdParam },
  responses: { 200: jsonContent(WebhookEndpointSchema, "The endpoint"), ...standardErrors, ...notFoundError },
});

export const registerGetWebhook = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const row = await getVisibleEndpoint(c.var.services.db, webhook_id, visibilityOf(c.var.principal));
    return c.json(toPublicEndpoint(row), 200);
  });
