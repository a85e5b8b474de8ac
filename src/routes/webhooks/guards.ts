// Checks the webhook operations share: the webhook the caller may see, and that it is enabled.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { visibilityOf } from "../../auth/policy";
import type { WebhookEndpointRow } from "../../db/schema";
import { onWebhookShard as servicesOfWebhook } from "../../db/shards";
import { WEBHOOK_DISABLED } from "../../domain/delivery/manual-retry";
import { getVisibleWebhook } from "../../domain/webhooks";
import { conflict } from "../../lib/errors";
import type { AppEnv } from "../../lib/services";

/**
 * Middleware of every operation on one webhook: from here on the request's services are those of the shard its id
 * names (db/shards.ts), so the handler and everything it calls read and write that shard. An id naming no shard of this
 * deployment keeps shard 0's, where no such webhook is found (404, as for any unknown id).
 */
export const onWebhookShard = createMiddleware<AppEnv>(async (c, next) => {
  const services = servicesOfWebhook(c.var.services, c.req.param("webhook_id") ?? "");
  if (services) c.set("services", services);
  await next();
});

/** The webhook `id` if the caller can see it; otherwise 404 (the same answer for "absent" and "not yours"). */
export function requireVisibleWebhook(c: Context<AppEnv>, id: string): Promise<WebhookEndpointRow> {
  return getVisibleWebhook(c.var.services.db, id, visibilityOf(c.var.principal));
}

/** A 409 unless the webhook is enabled: nothing is sent to a disabled one, so nothing is queued for it either. */
export function requireEnabledWebhook(webhook: Pick<WebhookEndpointRow, "enabled">): void {
  if (!webhook.enabled) throw conflict(WEBHOOK_DISABLED);
}
