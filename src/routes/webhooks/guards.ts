// Checks the webhook operations share: the webhook the caller may see, an acceptable target URL, an owner.
import type { Context } from "hono";
import { visibilityOf } from "../../auth/policy";
import type { WebhookEndpointRow } from "../../db/schema";
import { WEBHOOK_DISABLED } from "../../domain/delivery/manual-retry";
import { checkTargetUrl, dnsDepsOf, targetPolicyOf } from "../../domain/target-url";
import { getVisibleWebhook } from "../../domain/webhooks";
import { conflict, invalidField, serviceUnavailable } from "../../lib/errors";
import type { AppEnv } from "../../lib/services";

/** The webhook `id` if the caller can see it; otherwise 404 (the same answer for "absent" and "not yours"). */
export function requireVisibleWebhook(c: Context<AppEnv>, id: string): Promise<WebhookEndpointRow> {
  return getVisibleWebhook(c.var.services.db, id, visibilityOf(c.var.principal));
}

/** A 409 unless the webhook is enabled: nothing is sent to a disabled one, so nothing is queued for it either. */
export function requireEnabledWebhook(webhook: Pick<WebhookEndpointRow, "enabled">): void {
  if (!webhook.enabled) throw conflict(WEBHOOK_DISABLED);
}

/**
 * A 422 on `body.url` unless the deployment's target policy accepts it, where its host resolves to included; a 503 when
 * the resolver cannot answer (nothing is known about the target yet, and it is not the caller's mistake).
 */
export async function requireAcceptableTargetUrl(c: Context<AppEnv>, url: string): Promise<void> {
  const { services } = c.var;
  const verdict = await checkTargetUrl(url, targetPolicyOf(services.config), dnsDepsOf(services));
  if (verdict.ok) return;
  if (verdict.kind === "unavailable") throw serviceUnavailable(verdict.reason);
  throw invalidField(["body", "url"], verdict.reason);
}

/** A webhook belongs to a tenant, a partner, or both: never to no one. */
export function requireOwner(owner: { tenantId: string | null; partnerId: string | null }): void {
  if (!owner.tenantId && !owner.partnerId)
    throw invalidField(["body", "tenant_id"], "tenant_id or partner_id is required when the token has neither");
}
