// The test event of POST …/{webhook_id}/test: sent to one webhook alone, attempted synchronously, its retry (if it
// fails) queued like any other. `webhook.test` by default; the portal may send the catalog's example of any type the
// webhook subscribes to instead.
import type { WebhookEndpointRow } from "../db/schema";
import { conflict, invalidField } from "../lib/errors";
import { attemptDeliveryNow } from "./delivery/attempt";
import type { DeliveryDeps } from "./delivery/deps";
import type { AttemptOutcome } from "./delivery/record";
import type { RequeueDeps } from "./delivery/requeue";
import { isKnownEventType, isServiceEventType, subscriptionMatches } from "./event-catalog";
import type { EventEnvelopeInput } from "./event-envelope";
import { exampleEventInput } from "./event-examples";
import { completeEnvelope, storeEvent } from "./publish";

export const TEST_EVENT_TYPE = "webhook.test";

/** The event a test sends: `webhook.test`, or the catalog's example of a type the webhook subscribes to (422 otherwise). */
function testEventInput(webhook: WebhookEndpointRow, actorId: string | null, eventType: string): EventEnvelopeInput {
  if (eventType === TEST_EVENT_TYPE)
    return {
      event_type: TEST_EVENT_TYPE,
      tenant_id: webhook.tenantId,
      partner_id: webhook.partnerId,
      resource: { type: "webhook", id: webhook.id },
      actor: { id: actorId, type: "admin" },
      data: { webhook_id: webhook.id, message: "This is a test event from ScaiKey webhooks." },
    };
  const loc = ["body", "event_type"];
  if (!isKnownEventType(eventType) || isServiceEventType(eventType))
    throw invalidField(loc, `'${eventType}' is not an event type a test can send`);
  if (!subscriptionMatches(webhook.events, eventType))
    throw invalidField(loc, `The webhook is not subscribed to '${eventType}'`);
  return { ...exampleEventInput(eventType, webhook), actor: { id: actorId, type: "admin" } };
}

export async function sendWebhookTestEvent(
  deps: DeliveryDeps & Pick<RequeueDeps, "queue" | "slowQueue">,
  webhook: WebhookEndpointRow,
  actorId: string | null,
  eventType: string = TEST_EVENT_TYPE,
): Promise<{ eventId: string; outcome: Extract<AttemptOutcome, { kind: "attempted" }> }> {
  const now = deps.now();
  const envelope = completeEnvelope(testEventInput(webhook, actorId, eventType), now);
  const {
    refs: [deliveryId],
  } = await storeEvent(deps.db, envelope, now, webhook.id);
  if (deliveryId === undefined) throw new Error("test delivery was not created");
  // A failed test is retried like any delivery: attemptDeliveryNow puts its retry on the queue.
  const outcome = await attemptDeliveryNow(deps, deliveryId, { allowDisabled: true, goneDisables: false });
  // Flow control holds a test like any delivery: it stays queued and goes out in its turn.
  if (outcome.kind === "skipped" && outcome.reason === "in_line")
    throw conflict(
      `The webhook is ordered and an earlier delivery is still open: test delivery ${deliveryId.id} waits in its line ` +
        "and goes out in its turn",
    );
  if (outcome.kind === "skipped" && outcome.reason === "rate_limited")
    throw conflict(
      `The webhook's rate limit (${webhook.rateLimit} a second) is reached: test delivery ${deliveryId.id} is queued ` +
        "and goes out as soon as the limit allows",
    );
  if (outcome.kind !== "attempted") throw new Error(`test delivery was not attempted: ${outcome.reason}`);
  return { eventId: envelope.event_id, outcome };
}
