import { createRoute, type z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { scopeListFilter, visibilityOf } from "../../auth/policy";
import { PartnerIdSchema, TenantIdSchema } from "../../domain/owner-id";
import { WebhookSchema } from "../../domain/webhook-fields";
import { listVisibleWebhooks, toPublicWebhooks } from "../../domain/webhooks";
import type { Router } from "../create-router";
import { jsonContent, PageQuery, pageOf, standardErrors } from "../shared-schemas";

const WebhookListSchema = pageOf(WebhookSchema, "WebhookList");
export type ListWebhooksResponse = z.infer<typeof WebhookListSchema>;

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/",
  operationId: "listWebhooks",
  tags: ["Webhooks"],
  summary: "List Webhooks",
  description: "List webhook endpoints visible to the caller, newest first.",
  middleware: [requireScope("read")],
  request: {
    query: PageQuery.extend({
      tenant_id: TenantIdSchema.optional(),
      partner_id: PartnerIdSchema.optional().openapi({ description: "Filter by partner (all tenants in partner)" }),
    }),
  },
  responses: { 200: jsonContent(WebhookListSchema, "A page of webhook endpoints"), ...standardErrors },
});

export const registerListWebhooks = (router: Router) =>
  router.openapi(route, async (c) => {
    const { page, per_page, tenant_id, partner_id } = c.req.valid("query");
    const filter = scopeListFilter(visibilityOf(c.var.principal), { tenantId: tenant_id, partnerId: partner_id });
    const { services } = c.var;
    const { rows, total, pages } = await listVisibleWebhooks(services, filter, { page, perPage: per_page });
    return c.json({ items: await toPublicWebhooks(services, rows), total, page, per_page, pages }, 200);
  });
