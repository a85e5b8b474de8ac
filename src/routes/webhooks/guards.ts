// Checks the webhook operations share: the webhook the caller may see, and that it is enabled.
import type { Context } from "hono";
import { visibilityOf } from "../../auth/policy";
import type { WebhookEndpointRow } from "../../db/schema";
import { WEBHOOK_DISABLED } from "../../domain/delivery/manual-retry";
import { getVisibleWebhook } from "../../domain/webhooks";
import { conflict } from "../../lib/errors";
import type { AppEnv } from "../../lib/services";

/** The webhook `id` if the caller can see it; otherwise 404 (the same answer for "absent" and "not yours"). */
export function requireVisibleWebhook(c: Context<AppEnv>, id: string): Promise<WebhookEndpointRow> {
  return getVisibleWebhook(c.var.services.db, id, visibilityOf(c.var.principal));
}

/** A 409 unless the webhook is enabled: nothing is sent to a disabled one, so nothing is queued for it either. */
export function requireEnabledWebhook(webhook: Pick<WebhookEndpointRow, "enabled">): void {
  if (!webhook.enabled) throw conflict(WEBHOOK_DISABLED);
}
