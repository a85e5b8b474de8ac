// Sending one claimed attempt: the target URL checked again (policy may have changed since it was stored, and where its
// name points may have changed since), the request prepared, the call made. HTTP trouble is a result, never an exception.
import type { ErrorClass } from "../../db/schema";
import { type AttemptResult, sendWebhookRequest } from "../http-attempt";
import { checkTargetUrl, dnsDepsOf, targetPolicyOf } from "../target-url";
import type { ClaimedAttempt } from "./claim";
import type { DeliveryDeps } from "./deps";
import { prepareDeliveryRequest } from "./request";

/**
 * An attempt's result as recorded: the HTTP outcome, `blocked_target` when the URL was refused before sending, or `dns`
 * when the resolver could not say where the host points (retried like any failure).
 */
export type RecordedResult = Omit<AttemptResult, "errorClass"> & { errorClass: ErrorClass | null };

/** A claimed attempt after its request: what happened, and when it started and ended. */
export interface SentAttempt {
  claim: ClaimedAttempt;
  result: RecordedResult;
  startedAt: number;
  finishedAt: number;
}

/** Signs afresh and sends one claimed attempt, or refuses a target that is no longer allowed. Never throws for HTTP trouble. */
export async function sendClaimedAttempt(
  deps: Pick<DeliveryDeps, "config" | "secretBox" | "now" | "fetch">,
  claim: ClaimedAttempt,
): Promise<SentAttempt> {
  const { config } = deps;
  const { endpoint, delivery, payload } = claim;
  const startedAt = deps.now();
  const verdict = await checkTargetUrl(endpoint.url, targetPolicyOf(config), dnsDepsOf(deps));
  let result: RecordedResult;
  if (!verdict.ok) {
    const errorClass = verdict.kind === "unavailable" ? "dns" : "blocked_target";
    result = {
      ok: false,
      statusCode: null,
      durationMs: deps.now() - startedAt,
      errorClass,
      errorMessage: verdict.reason,
      responseExcerpt: null,
      retryAfterSeconds: null,
    };
  } else {
    const request = await prepareDeliveryRequest(
      deps.secretBox,
      {
        deliveryId: claim.deliveryId,
        eventId: delivery.eventId,
        eventType: delivery.eventType,
        payload,
        endpoint,
      },
      startedAt,
    );
    result = await sendWebhookRequest({
      ...request,
      timeoutMs: config.deliveryTimeoutMs,
      fetch: deps.fetch,
      now: deps.now,
    });
  }
  return { claim, result, startedAt, finishedAt: deps.now() };
}
