import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { resolveNewOwner, visibilityOf } from "../auth/principal";
import { targetUrlProblem } from "../domain/target-url";
import { tenantDirectory } from "../domain/tenant-directory";
import { getVisibleEndpoint, toPublicEndpoint, updateEndpoint } from "../domain/webhook-endpoints";
import { invalidField } from "../lib/errors";
import type { AppEnv } from "../lib/services";
import { endpointFieldShape, jsonBody, jsonContent, notFoundError, standardErrors, WebhookEndpointSchema, WebhookIdParam } from "./schemas";

const UpdateWebhookBody = z
  .strictObject({ ...endpointFieldShape, url: endpointFieldShape.url.optional(), events: endpointFieldShape.events.optional() })
  .openapi("UpdateWebhook");

const route = createRoute({
  method: "patch",
  path: "/api/v1/admin/webhooks/{webhook_id}",
  operationId: "updateWebhook",
  tags: ["Webhooks"],
  summary: "Update Webhook",
  description: "Partially update a webhook. `enabled: true` on a disabled endpoint clears `failure_count` and `disabled_at`.",
  middleware: [requireScope("write")],
  request: { params: WebhookIdParam, body: jsonBody(UpdateWebhookBody) },
  responses: { 200: jsonContent(WebhookEndpointSchema, "The updated endpoint"), ...standardErrors, ...notFoundError },
});

export const registerUpdateWebhook = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const body = c.req.valid("json");
    const { db, config, now } = c.var.services;
    const visibility = visibilityOf(c.var.principal);
    const existing = await getVisibleEndpoint(db, webhook_id, visibility);
    if (body.url !== undefined) {
      const problem = targetUrlProblem(body.url, { allowInsecure: config.allowInsecureUrls, allowPrivate: config.allowPrivateTargets });
      if (problem) throw invalidField(["body", "url"], problem);
    }
    let owner: { tenantId: string | null; partnerId: string | null } | undefined;
    if (body.tenant_id !== undefined || body.partner_id !== undefined) {
      const tenantId = body.tenant_id === undefined ? existing.tenantId : body.tenant_id;
      // A tenant endpoint's partner is the directory's, so only a change of tenant (or a partner-level endpoint) carries one over.
      const partnerId = body.partner_id !== undefined ? body.partner_id : tenantId === null ? existing.partnerId : undefined;
      owner = await resolveNewOwner(c.var.principal, { tenantId, partnerId }, tenantDirectory(db, now));
      if (!owner.tenantId && !owner.partnerId) throw invalidField(["body", "tenant_id"], "An endpoint needs a tenant_id or a partner_id");
    }
    const row = await updateEndpoint(db, existing, { ...body, tenantId: owner?.tenantId, partnerId: owner?.partnerId }, now());
    return c.json(toPublicEndpoint(row), 200);
  });
