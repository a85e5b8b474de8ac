import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { scopeListFilter, visibilityOf } from "../auth/principal";
import { listEndpoints, toPublicEndpoint } from "../domain/webhook-endpoints";
import type { AppEnv } from "../lib/services";
import { jsonContent, pageOf, PageQuery, PartnerId, standardErrors, TenantId, WebhookEndpointSchema } from "./schemas";

const WebhookListSchema = pageOf(WebhookEndpointSchema, "WebhookList");

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
      tenant_id: TenantId.optional(),
      partner_id: PartnerId.optional().openapi({ description: "Filter by partner (all tenants in partner)" }),
    }),
  },
  responses: { 200: jsonContent(WebhookListSchema, "A page of webhook endpoints"), ...standardErrors },
});

export const registerListWebhooks = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const { page, per_page, tenant_id, partner_id } = c.req.valid("query");
    const filter = scopeListFilter(visibilityOf(c.var.principal), { tenantId: tenant_id, partnerId: partner_id });
    const { rows, total, pages } = await listEndpoints(c.var.services.db, filter, { page, perPage: per_page });
    return c.json({ items: rows.map(toPublicEndpoint), total, page, per_page, pages }, 200);
  });
