import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { requireScope } from "../../auth/middleware";
import { assertMaySetDirectory } from "../../auth/policy";
import { PartnerIdSchema, TenantIdSchema } from "../../domain/owner-id";
import { tenantDirectory } from "../../domain/tenant-directory";
import type { AppEnv } from "../../lib/services";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, standardErrors } from "../shared-schemas";

const AssignTenantPartnerBody = z.object({ partner_id: PartnerIdSchema }).openapi("AssignTenantPartner");

const TenantAssignmentSchema = z
  .object({
    tenant_id: z.string().openapi({ example: "tnt_a3f9k2bWqL8Hn5pZ" }),
    partner_id: z.string().openapi({ example: "prt_7Hq2LmX9" }),
    moved_webhooks: z
      .number()
      .int()
      .openapi({ description: "The tenant's webhooks whose partner_id changed with this call." }),
  })
  .openapi("TenantAssignment");
export type AssignTenantPartnerResponse = z.infer<typeof TenantAssignmentSchema>;

const route = createRoute({
  method: "put",
  path: "/api/v1/admin/webhooks/tenants/{tenant_id}/partner",
  operationId: "assignTenantPartner",
  tags: ["Tenants"],
  summary: "Assign Tenant Partner",
  description:
    "Record which partner owns a tenant in the tenant directory, moving the tenant's webhooks along. " +
    "This (and the service binding's assignTenantPartner) is the only way to change an entry: the directory otherwise " +
    "only learns a tenant it does not know yet, from the platform's events or a token of the tenant's own issuer. " +
    "Only a super admin or a platform token with `admin:write` may call this.",
  middleware: [
    requireScope("write"),
    createMiddleware<AppEnv>(async (c, next) => (assertMaySetDirectory(c.var.principal), next())),
  ],
  request: {
    params: z.object({ tenant_id: TenantIdSchema.openapi({ param: { name: "tenant_id", in: "path" } }) }),
    body: jsonBody(AssignTenantPartnerBody),
  },
  responses: { 200: jsonContent(TenantAssignmentSchema, "The tenant's partner, as now recorded"), ...standardErrors },
});

export const registerAssignTenantPartner = (router: Router) =>
  router.openapi(route, async (c) => {
    const { tenant_id } = c.req.valid("param");
    const { partner_id } = c.req.valid("json");
    return c.json(await tenantDirectory(c.var.services).assign(tenant_id, partner_id, "admin"), 200);
  });
