// Preparing a delivery's request: the signing secrets in force, the headers (both signature schemes), the body.
// Signed afresh on every attempt: receivers reject stale timestamps.
import type { SecretBox } from "../../lib/secret-box";
import { signScaiKeyWithKeys, signStandardWebhooksWithKeys } from "../signing";
import type { ClaimedEndpoint } from "./claim";
import { type SigningKeys, signingKeysOf } from "./signing-keys";

export const USER_AGENT = "ScaiKey-Webhook/1.0";

/** The keys of the secrets that sign right now: the current one, then the previous one during its grace period. */
export async function signingKeys(
  secretBox: SecretBox,
  endpoint: { id: string; secret: string; previousSecret: string | null; previousSecretExpiresAt: number | null },
  now: number,
): Promise<SigningKeys[]> {
  const sealed = [endpoint.secret];
  if (endpoint.previousSecret && endpoint.previousSecretExpiresAt !== null && now < endpoint.previousSecretExpiresAt)
    sealed.push(endpoint.previousSecret);
  return Promise.all(sealed.map((s) => signingKeysOf(secretBox, s, endpoint.id)));
}

interface HeaderFields {
  deliveryId: number;
  eventId: string;
  eventType: string;
  timestamp: number;
  customHeaders: Record<string, string>;
}

/** Every header of a delivery's request, given its two signature values. */
function deliveryHeaders(
  opts: HeaderFields,
  signatures: { scaikey: string; standard: string },
): Record<string, string> {
  return {
    ...opts.customHeaders, // reserved names are refused at write time, so ours below always win
    "Content-Type": "application/json",
    "User-Agent": USER_AGENT,
    "X-ScaiKey-Webhook-ID": String(opts.deliveryId),
    "X-ScaiKey-Event-ID": opts.eventId,
    "X-ScaiKey-Event-Type": opts.eventType,
    "X-ScaiKey-Timestamp": String(opts.timestamp),
    "X-ScaiKey-Signature": signatures.scaikey,
    "webhook-id": opts.eventId,
    "webhook-timestamp": String(opts.timestamp),
    "webhook-signature": signatures.standard,
  };
}

export async function buildDeliveryHeaders(
  opts: HeaderFields & { body: string; keys: SigningKeys[] },
): Promise<Record<string, string>> {
  const [scaikey, standard] = await Promise.all([
    signScaiKeyWithKeys(
      opts.keys.map((k) => k.scaiKey),
      opts.timestamp,
      opts.body,
    ),
    signStandardWebhooksWithKeys(
      opts.keys.map((k) => k.standardWebhooks),
      opts.eventId,
      opts.timestamp,
      opts.body,
    ),
  ]);
  return deliveryHeaders(opts, { scaikey, standard });
}

/**
 * The headers an attempt started at `startedAt` carried, for display: each signature masked past its scheme prefix
 * (nothing stored can recompute it, and nothing shown should let anyone forge one). Custom headers are the webhook's
 * current ones.
 */
export function describeDeliveryHeaders(opts: Omit<HeaderFields, "timestamp"> & { startedAt: number }) {
  const timestamp = Math.floor(opts.startedAt / 1000);
  return deliveryHeaders(
    { ...opts, timestamp },
    { scaikey: `t=${timestamp},v1=•••• (masked)`, standard: "v1,•••• (masked)" },
  );
}

export interface DeliveryRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The request of one attempt at `now`: the endpoint's URL, the payload as stored, headers signed with the secrets in force. */
export async function prepareDeliveryRequest(
  secretBox: SecretBox,
  attempt: { deliveryId: number; eventId: string; eventType: string; payload: string; endpoint: ClaimedEndpoint },
  now: number,
): Promise<DeliveryRequest> {
  const { endpoint, payload } = attempt;
  const headers = await buildDeliveryHeaders({
    deliveryId: attempt.deliveryId,
    eventId: attempt.eventId,
    eventType: attempt.eventType,
    body: payload,
    keys: await signingKeys(secretBox, endpoint, now),
    timestamp: Math.floor(now / 1000),
    customHeaders: endpoint.headers,
  });
  return { url: endpoint.url, headers, body: payload };
}
