// The test endpoint's event: a `webhook.test` for one endpoint alone, attempted synchronously.
import type { WebhookEndpointRow } from "../db/schema";
import { attemptDelivery } from "./delivery/attempt";
import type { DeliveryDeps } from "./delivery/deps";
import type { AttemptOutcome } from "./delivery/record";
import { completeEnvelope, storeEvent } from "./publish";

export async function sendTestEvent(
  deps: DeliveryDeps,
  endpoint: WebhookEndpointRow,
  actorId: string | null,
): Promise<{ eventId: string; outcome: Extract<AttemptOutcome, { kind: "attempted" }> }> {
  const now = deps.now();
  const envelope = completeEnvelope(
    {
      event_type: "webhook.test",
      tenant_id: endpoint.tenantId,
      partner_id: endpoint.partnerId,
      resource: { type: "webhook", id: endpoint.id },
      actor: { id: actorId, type: "admin" },
      data: { webhook_id: endpoint.id, message: "This is a test event from ScaiKey webhooks." },
    },
    now,
  );
  const [deliveryId] = await storeEvent(deps.db, envelope, now, endpoint.id);
  if (deliveryId === undefined) throw new Error("test delivery was not created");
  const outcome = await attemptDelivery(deps, deliveryId, { allowDisabled: true });
  if (outcome.kind !== "attempted") throw new Error(`test delivery was not attempted: ${outcome.reason}`);
  return { eventId: envelope.event_id, outcome };
}
