import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { WebhookSchema, webhookCreateShape } from "../../domain/webhook-fields";
import { saveWebhook } from "../../domain/webhook-writes";
import { toPublicWebhook } from "../../domain/webhooks";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, standardErrors } from "../shared-schemas";

const CreateWebhookBody = z.object(webhookCreateShape).openapi("CreateWebhook");

const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z.string().openapi({
    description: "Signing secret. Shown only in this response (and on rotation): store it now.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3Dq2r8Gk6ho=",
  }),
}).openapi("CreatedWebhook");
export type CreateWebhookResponse = z.infer<typeof CreatedWebhookSchema>;

const route = createRoute({
  method: "post",
  path: "/api/v1/admin/webhooks/",
  operationId: "createWebhook",
  tags: ["Webhooks"],
  summary: "Create Webhook",
  description:
    "Create a new webhook endpoint. The response carries the signing secret, the only time it is shown. " +
    "An owner (a tenant, or a partner's partner-level webhooks) has at most `MAX_WEBHOOKS_PER_OWNER` (100) live webhooks.",
  middleware: [requireScope("write")],
  request: { body: jsonBody(CreateWebhookBody) },
  responses: { 201: jsonContent(CreatedWebhookSchema, "The endpoint, with its signing secret"), ...standardErrors },
});

export const registerCreateWebhook = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook, secret } = await saveWebhook(c.var.services, c.var.principal, c.req.valid("json"));
    return c.json({ ...toPublicWebhook(webhook), secret }, 201);
  });
