import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { canSee, resolveNewOwner, visibilityOf } from "../../auth/policy";
import { toPublicWebhook, updateWebhook } from "../../domain/webhooks";
import { forbidden } from "../../lib/errors";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { requireAcceptableTargetUrl, requireOwner, requireVisibleWebhook } from "./guards";
import { webhookFieldShape, WebhookIdParam, WebhookSchema } from "./schemas";

export type { WebhookResponse as UpdateWebhookResponse } from "./schemas";

const UpdateWebhookBody = z
  .strictObject({ ...webhookFieldShape, url: webhookFieldShape.url.optional(), events: webhookFieldShape.events.optional() })
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
  responses: { 200: jsonContent(WebhookSchema, "The updated endpoint"), ...standardErrors, ...notFoundError },
});

export const registerUpdateWebhook = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const body = c.req.valid("json");
    const { db, now } = c.var.services;
    const existing = await requireVisibleWebhook(c, webhook_id);
    if (body.url !== undefined) requireAcceptableTargetUrl(c, body.url);
    let owner: { tenantId: string | null; partnerId: string | null } | undefined;
    if (body.tenant_id !== undefined || body.partner_id !== undefined) {
      const visibility = visibilityOf(c.var.principal);
      owner = resolveNewOwner(visibility, {
        tenantId: body.tenant_id === undefined ? existing.tenantId : body.tenant_id,
        partnerId: body.partner_id === undefined ? existing.partnerId : body.partner_id,
      });
      requireOwner(owner);
      if (!canSee(visibility, owner)) throw forbidden("Not allowed to move a webhook outside your tenants");
    }
    const row = await updateWebhook(db, existing, { ...body, tenantId: owner?.tenantId, partnerId: owner?.partnerId }, now());
    return c.json(toPublicWebhook(row), 200);
  });
