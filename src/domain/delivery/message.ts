// What travels on the delivery queue.
import type { WatermarkProbe } from "../queue-watermark";

/** A queue message: deliveries travel by reference, the row in D1 holds everything else. */
export interface DeliveryMessage {
  delivery_id: number;
}

export const isDeliveryMessage = (body: unknown): body is DeliveryMessage =>
  typeof body === "object" && body !== null && Number.isSafeInteger((body as DeliveryMessage).delivery_id);

/** Everything the delivery queue carries: deliveries, and the sweep's probes of the queue watermark. */
export type QueueMessage = DeliveryMessage | WatermarkProbe;
