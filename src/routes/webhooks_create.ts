import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { resolveNewOwner } from "../auth/principal";
import { targetUrlProblem } from "../domain/target-url";
import { tenantDirectory } from "../domain/tenant-directory";
import { createEndpoint, toPublicEndpoint } from "../domain/webhook-endpoints";
import { invalidField } from "../lib/errors";
import type { AppEnv } from "../lib/services";
import { endpointFieldShape, jsonBody, jsonContent, standardErrors, WebhookEndpointSchema } from "./schemas";

const CreateWebhookBody = z.strictObject(endpointFieldShape).openapi("CreateWebhook");

const CreatedWebhookSchema = WebhookEndpointSchema.extend({
  secret: z.string().openapi({
    description: "Signing secret. Shown only in this response (and on rotation): store it now.",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw3Dq2r8Gk6ho=",
  }),
}).openapi("CreatedWebhook");

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

export const registerCreateWebhook = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const body = c.req.valid("json");
    const { db, config, now, secretBox } = c.var.services;
    const urlProblem = targetUrlProblem(body.url, { allowInsecure: config.allowInsecureUrls, allowPrivate: config.allowPrivateTargets });
    if (urlProblem) throw invalidField(["body", "url"], urlProblem);
    const owner = await resolveNewOwner(c.var.principal, { tenantId: body.tenant_id, partnerId: body.partner_id }, tenantDirectory(db, now));
    if (!owner.tenantId && !owner.partnerId)
      throw invalidField(["body", "tenant_id"], "tenant_id or partner_id is required when the token has neither", "missing");
    const { endpoint, secret } = await createEndpoint(db, secretBox, body, owner, now());
    return c.json({ ...toPublicEndpoint(endpoint), secret }, 201);
  });
