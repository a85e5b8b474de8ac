import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { resolveNewOwner } from "../../auth/policy";
import { tenantDirectory } from "../../domain/tenant-directory";
import { createWebhook, toPublicWebhook } from "../../domain/webhooks";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, standardErrors } from "../shared-schemas";
import { requireAcceptableTargetUrl, requireOwner } from "./guards";
import { WebhookSchema, webhookFieldShape } from "./schemas";

const CreateWebhookBody = z.object(webhookFieldShape).openapi("CreateWebhook");

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
  description: "Create a new webhook endpoint. The response carries the signing secret, the only time it is shown.",
  middleware: [requireScope("write")],
  request: { body: jsonBody(CreateWebhookBody) },
  responses: { 201: jsonContent(CreatedWebhookSchema, "The endpoint, with its signing secret"), ...standardErrors },
});

export const registerCreateWebhook = (router: Router) =>
  router.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const { db, now, secretBox } = c.var.services;
    await requireAcceptableTargetUrl(c, body.url);
    const owner = await resolveNewOwner(
      c.var.principal,
      { tenantId: body.tenant_id, partnerId: body.partner_id },
      tenantDirectory(db, now),
    );
    requireOwner(owner);
    const { webhook, secret } = await createWebhook(db, secretBox, body, owner, now());
    return c.json({ ...toPublicWebhook(webhook), secret }, 201);
  });
