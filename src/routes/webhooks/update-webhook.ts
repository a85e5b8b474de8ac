import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { resolveNewOwner } from "../../auth/policy";
import { tenantDirectory } from "../../domain/tenant-directory";
import { toPublicWebhook, updateWebhook } from "../../domain/webhooks";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { requireAcceptableTargetUrl, requireOwner, requireVisibleWebhook } from "./guards";
import { WebhookIdParam, WebhookSchema, webhookFieldShape } from "./schemas";

export type { WebhookResponse as UpdateWebhookResponse } from "./schemas";

const UpdateWebhookBody = z
  .object({
    ...webhookFieldShape,
    url: webhookFieldShape.url.optional(),
    events: webhookFieldShape.events.optional(),
  })
  .openapi("UpdateWebhook");

const route = createRoute({
  method: "patch",
  path: "/api/v1/admin/webhooks/{webhook_id}",
  operationId: "updateWebhook",
  tags: ["Webhooks"],
  summary: "Update Webhook",
  description:
    "Partially update a webhook. `enabled: true` on a disabled endpoint clears `failure_count` and `disabled_at`.",
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
    if (body.url !== undefined) await requireAcceptableTargetUrl(c, body.url);
    let owner: { tenantId: string | null; partnerId: string | null } | undefined;
    if (body.tenant_id !== undefined || body.partner_id !== undefined) {
      const tenantId = body.tenant_id === undefined ? existing.tenantId : body.tenant_id;
      // A tenant webhook's partner is the directory's, so only a partner-level webhook carries its partner over.
      const partnerId =
        body.partner_id !== undefined ? body.partner_id : tenantId === null ? existing.partnerId : undefined;
      owner = await resolveNewOwner(c.var.principal, { tenantId, partnerId }, tenantDirectory(db, now));
      requireOwner(owner);
    }
    const row = await updateWebhook(
      db,
      existing,
      { ...body, tenantId: owner?.tenantId, partnerId: owner?.partnerId },
      now(),
    );
    return c.json(toPublicWebhook(row), 200);
  });
