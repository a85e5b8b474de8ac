// The `webhook.test` event of POST …/{webhook_id}/test: sent to one webhook alone, attempted synchronously.
import type { WebhookEndpointRow } from "../db/schema";
import { attemptDelivery } from "./delivery/attempt";
import type { DeliveryDeps } from "./delivery/deps";
import type { AttemptOutcome } from "./delivery/record";
import { completeEnvelope, storeEvent } from "./publish";

export async function sendWebhookTestEvent(
  deps: DeliveryDeps,
  webhook: WebhookEndpointRow,
  actorId: string | null,
): Promise<{ eventId: string; outcome: Extract<AttemptOutcome, { kind: "attempted" }> }> {
  const now = deps.now();
  const envelope = completeEnvelope(
    {
      event_type: "webhook.test",
      tenant_id: webhook.tenantId,
      partner_id: webhook.partnerId,
      resource: { type: "webhook", id: webhook.id },
      actor: { id: actorId, type: "admin" },
      data: { webhook_id: webhook.id, message: "This is a test event from ScaiKey webhooks." },
    },
    now,
  );
  const {
    refs: [deliveryId],
  } = await storeEvent(deps.db, envelope, now, webhook.id);
  if (deliveryId === undefined) throw new Error("test delivery was not created");
  const outcome = await attemptDelivery(deps, deliveryId, { allowDisabled: true, goneDisables: false });
  if (outcome.kind !== "attempted") throw new Error(`test delivery was not attempted: ${outcome.reason}`);
  return { eventId: envelope.event_id, outcome };
}
