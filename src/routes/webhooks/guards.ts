// Checks the webhook operations share: the webhook the caller may see, an acceptable target URL, an owner.
import type { Context } from "hono";
import { visibilityOf } from "../../auth/policy";
import type { WebhookEndpointRow } from "../../db/schema";
import { targetPolicyOf, targetUrlProblem } from "../../domain/target-url";
import { getVisibleWebhook } from "../../domain/webhooks";
import { invalidField } from "../../lib/errors";
import type { AppEnv } from "../../lib/services";

/** The webhook `id` if the caller can see it; otherwise 404 (the same answer for "absent" and "not yours"). */
export function requireVisibleWebhook(c: Context<AppEnv>, id: string): Promise<WebhookEndpointRow> {
  return getVisibleWebhook(c.var.services.db, id, visibilityOf(c.var.principal));
}

/** A 422 on `body.url` unless the deployment's target policy accepts it. */
export function requireAcceptableTargetUrl(c: Context<AppEnv>, url: string): void {
  const problem = targetUrlProblem(url, targetPolicyOf(c.var.services.config));
  if (problem) throw invalidField(["body", "url"], problem);
}

/** A webhook belongs to a tenant, a partner, or both: never to no one. */
export function requireOwner(owner: { tenantId: string | null; partnerId: string | null }): void {
  if (!owner.tenantId && !owner.partnerId)
    throw invalidField(["body", "tenant_id"], "tenant_id or partner_id is required when the token has neither", "missing");
}
