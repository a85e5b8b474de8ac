// What travels on the delivery queue.
import type { DeliveryRef } from "../publish";
import type { WatermarkProbe } from "../queue-watermark";

/**
 * A queue message: deliveries travel by reference, the row in D1 holds everything else. `webhook_id` completes the
 * row's key; a message without it (sent before it was added) is found through the open deliveries' index.
 */
export interface DeliveryMessage {
  delivery_id: number;
  webhook_id?: string;
}

export const deliveryMessage = (ref: DeliveryRef): DeliveryMessage => ({
  delivery_id: ref.id,
  webhook_id: ref.webhookId,
});

export const isDeliveryMessage = (body: unknown): body is DeliveryMessage =>
  typeof body === "object" &&
  body !== null &&
  Number.isSafeInteger((body as DeliveryMessage).delivery_id) &&
  ((body as DeliveryMessage).webhook_id === undefined || typeof (body as DeliveryMessage).webhook_id === "string");

/** Everything the delivery queue carries: deliveries, and the sweep's probes of the queue watermark. */
export type QueueMessage = DeliveryMessage | WatermarkProbe;
