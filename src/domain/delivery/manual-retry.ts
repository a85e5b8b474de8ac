// A manual retry of one delivery (the API's retry route and the portal's retry button): the rules, then the requeue.
import type { WebhookEndpointRow } from "../../db/schema";
import { conflict } from "../../lib/errors";
import { type DeliveryStore, getDelivery, hasPayload } from "../deliveries";
import { type RequeueDeps, requeueDelivery } from "./requeue";

/** The 409 for anything queued for a disabled webhook (a retry, a recover, a replay). */
export const WEBHOOK_DISABLED = "Webhook is disabled: enable it (PATCH enabled=true) before retrying";

/** Queues the delivery for one more attempt now, or throws 404/409 saying why it cannot be. */
export async function retryDeliveryNow(services: RequeueDeps, webhook: WebhookEndpointRow, deliveryId: number) {
  const delivery = await getDelivery(
    services.db,
    webhook.id,
    deliveryId,
    "archive" in services ? (services as DeliveryStore) : undefined,
  );
  if (delivery.status === "success") throw conflict("Delivery already succeeded");
  if (delivery.status === "pending" || delivery.status === "retrying")
    throw conflict("Delivery is already scheduled or in flight");
  if (!webhook.enabled) throw conflict(WEBHOOK_DISABLED);
  if (!(await hasPayload(services.db, delivery.eventKey)))
    throw conflict("The event's payload has been purged by retention; it cannot be sent again");
  if (!(await requeueDelivery(services, deliveryId))) throw conflict("Delivery changed state; fetch it again");
  return getDelivery(services.db, webhook.id, deliveryId);
}
