// Preparing a delivery's request: the signing secrets in force, the headers (both signature schemes), the body.
// Signed afresh on every attempt: receivers reject stale timestamps.
import type { WebhookEndpointRow } from "../../db/schema";
import type { SecretBox } from "../../lib/secret-box";
import { signScaiKey, signStandardWebhooks } from "../signing";

export const USER_AGENT = "ScaiKey-Webhook/1.0";

/** The secrets that sign right now, opened: the current one, then the previous one during its grace period. */
export async function signingSecrets(
  secretBox: SecretBox,
  endpoint: { id: string; secret: string; previousSecret: string | null; previousSecretExpiresAt: number | null },
  now: number,
): Promise<string[]> {
  const sealed = [endpoint.secret];
  if (endpoint.previousSecret && endpoint.previousSecretExpiresAt !== null && now < endpoint.previousSecretExpiresAt)
    sealed.push(endpoint.previousSecret);
  return Promise.all(sealed.map((s) => secretBox.open(s, endpoint.id)));
}

export async function buildDeliveryHeaders(opts: {
  deliveryId: number;
  eventId: string;
  eventType: string;
  body: string;
  secrets: string[];
  timestamp: number;
  customHeaders: Record<string, string>;
}): Promise<Record<string, string>> {
  const [scaikey, standard] = await Promise.all([
    signScaiKey(opts.secrets, opts.timestamp, opts.body),
    signStandardWebhooks(opts.secrets, opts.eventId, opts.timestamp, opts.body),
  ]);
  return {
    ...opts.customHeaders, // reserved names are refused at write time, so ours below always win
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
    "X-ScaiKey-Webhook-ID": String(opts.deliveryId),
    "X-ScaiKey-Event-ID": opts.eventId,
    "X-ScaiKey-Event-Type": opts.eventType,
    "X-ScaiKey-Timestamp": String(opts.timestamp),
    "X-ScaiKey-Signature": scaikey,
    "webhook-id": opts.eventId,
    "webhook-timestamp": String(opts.timestamp),
    "webhook-signature": standard,
  };
}

export interface DeliveryRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The request of one attempt at `now`: the endpoint's URL, the payload as stored, headers signed with the secrets in force. */
export async function prepareDeliveryRequest(
  secretBox: SecretBox,
  attempt: { deliveryId: number; eventId: string; eventType: string; payload: string; endpoint: WebhookEndpointRow },
  now: number,
): Promise<DeliveryRequest> {
  const { endpoint, payload } = attempt;
  const headers = await buildDeliveryHeaders({
    deliveryId: attempt.deliveryId,
    eventId: attempt.eventId,
    eventType: attempt.eventType,
    body: payload,
    secrets: await signingSecrets(secretBox, endpoint, now),
    timestamp: Math.floor(now / 1000),
    customHeaders: endpoint.headers,
  });
  return { url: endpoint.url, headers, body: payload };
}
