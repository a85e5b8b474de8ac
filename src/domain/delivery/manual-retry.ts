// A manual retry of one delivery (the API's retry route and the portal's retry button): the rules, then the requeue.
// A delivery in the hot window is queued again in place (same id, one more attempt); one that is history (finished
// before the window: immutable, maybe archived) is sent again as a new delivery whose retry_of names it.

import type { DeliveryRow, WebhookEndpointRow } from "../../db/schema";
import { isActiveDelivery } from "../../db/schema";
import type { Config } from "../../lib/config";
import { conflict } from "../../lib/errors";
import { type DeliveryStore, deliveryEvent, findHotDelivery, getDelivery } from "../deliveries";
import { enqueueDeliveries } from "../publish";
import { hotSince, type RequeueDeps, requeueDelivery } from "./requeue";
import { storeResends } from "./resend";

/** The 409 for anything queued for a disabled webhook (a retry, a recover, a replay). */
export const WEBHOOK_DISABLED = "Webhook is disabled: enable it (PATCH enabled=true) before retrying";

export type RetryDeps = RequeueDeps & DeliveryStore & { config: Pick<Config, "hotWindowHours" | "retentionDays"> };

/** Queues the delivery for one more attempt now, or throws 404/409 saying why it cannot be; returns what was queued. */
export async function retryDeliveryNow(
  services: RetryDeps,
  webhook: WebhookEndpointRow,
  deliveryId: number,
): Promise<DeliveryRow> {
  const delivery = await getDelivery(services, webhook.id, deliveryId);
  if (delivery.status === "success") throw conflict("Delivery already succeeded");
  if (isActiveDelivery(delivery.status)) throw conflict("Delivery is already scheduled or in flight");
  if (!webhook.enabled) throw conflict(WEBHOOK_DISABLED);
  const ref = { webhookId: webhook.id, id: deliveryId };
  const now = services.now();
  if (delivery.completedAt !== null && delivery.completedAt >= hotSince(services.config, now)) {
    if (!(await requeueDelivery(services, ref, { ordered: webhook.ordered })))
      throw conflict("Delivery changed state; fetch it again");
    return (await findHotDelivery(services.db, webhook.id, deliveryId)) ?? delivery;
  }
  return resendHistory(services, webhook, delivery);
}

/** Sends a delivery that is history again, as a new delivery (once: a second retry of it is a 409 naming the first). */
async function resendHistory(services: RetryDeps, webhook: WebhookEndpointRow, delivery: DeliveryRow) {
  const d1 = services.db.$client;
  const earlier = await d1
    .prepare("SELECT resent_as FROM resent_deliveries WHERE webhook_id = ?1 AND delivery_id = ?2")
    .bind(webhook.id, delivery.id)
    .first<{ resent_as: number }>();
  if (earlier) throw conflict(`Delivery was already sent again, as delivery ${earlier.resent_as}`);
  const event = await deliveryEvent(services, delivery);
  if (event === null) throw conflict("The event's payload has been removed by retention; it cannot be sent again");
  const [created] = await storeResends(d1, services.now(), [{ webhookId: webhook.id, retryOf: delivery.id, event }]);
  if (!created) throw conflict("Delivery changed state; fetch it again");
  await enqueueDeliveries(services.queue, [created]);
  return (await findHotDelivery(services.db, created.webhookId, created.id))!;
}
