// POST /api/v1/admin/webhooks/portal-sessions: a single-use magic link into the delivery portal for one tenant or partner.
import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { resolveNewOwner } from "../../auth/policy";
import { PartnerIdSchema, TenantIdSchema } from "../../domain/owner-id";
import {
  issuePortalLink,
  PORTAL_LINK_DEFAULT_SECONDS,
  PORTAL_LINK_MAX_SECONDS,
  PORTAL_LINK_MIN_SECONDS,
} from "../../domain/portal-sessions";
import { tenantDirectory } from "../../domain/tenant-directory";
import { requireOwner } from "../../domain/webhook-writes";
import { laxBoolean, laxInteger } from "../../lib/pydantic";
import { toIso } from "../../lib/time";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, standardErrors } from "../shared-schemas";

const CreatePortalSessionBody = z
  .object({
    tenant_id: TenantIdSchema.optional().openapi({ description: "Tenant the portal shows; defaults to the token's." }),
    partner_id: PartnerIdSchema.optional().openapi({
      description: "Partner the portal shows (all its webhooks) when no tenant_id is given.",
    }),
    read_only: laxBoolean()
      .optional()
      .openapi({ description: "The session may look but not change anything (default false)." }),
    expires_in: laxInteger({ ge: PORTAL_LINK_MIN_SECONDS, le: PORTAL_LINK_MAX_SECONDS })
      .optional()
      .openapi({
        description: `Seconds the link stays valid until it is opened, once (default ${PORTAL_LINK_DEFAULT_SECONDS}).`,
      }),
  })
  .openapi("CreatePortalSession");

const PortalSessionSchema = z
  .object({
    url: z.string().openapi({
      description: "Single-use link; send the user there. Opening it starts a cookie session.",
      example: "https://webhooks.example.com/portal/link/Qm9vb…",
    }),
    expires_at: z.string().openapi({ description: "When the link stops working if it was not opened." }),
  })
  .openapi("PortalSession");

const route = createRoute({
  method: "post",
  path: "/api/v1/admin/webhooks/portal-sessions",
  operationId: "createPortalSession",
  tags: ["Portal"],
  summary: "Create Portal Session",
  description:
    "Issue a single-use, short-lived link into the delivery portal (`/portal`), scoped to a tenant or a partner and optionally read-only. " +
    "The owner defaults to the caller's and follows the same rules as creating a webhook.",
  middleware: [requireScope("write")],
  request: { body: jsonBody(CreatePortalSessionBody, { required: false }) },
  responses: { 201: jsonContent(PortalSessionSchema, "The link"), ...standardErrors },
});

export const registerCreatePortalSession = (router: Router) =>
  router.openapi(route, async (c) => {
    const body = c.req.valid("json") ?? {}; // no body at all: every field takes its default
    const { db, now } = c.var.services;
    const principal = c.var.principal;
    const directory = tenantDirectory(c.var.services);
    const { owner, learn } = await resolveNewOwner(
      principal,
      { tenantId: body.tenant_id, partnerId: body.partner_id },
      directory,
    );
    requireOwner(owner);
    // Authorised: the pairing the token vouches for may be learned, and the grant takes the partner recorded.
    const partnerId = learn ? await directory.learn(learn) : owner.partnerId;
    const grant = { ...owner, partnerId, readOnly: body.read_only ?? false };
    const link = await issuePortalLink(
      db,
      grant,
      principal.subject,
      body.expires_in ?? PORTAL_LINK_DEFAULT_SECONDS,
      now(),
    );
    const url = new URL(`/portal/link/${link.token}`, c.req.url).toString();
    c.header("Cache-Control", "no-store");
    return c.json({ url, expires_at: toIso(link.expiresAt)! }, 201);
  });
