// Sending one claimed attempt: the target URL checked again (policy may have changed since it was stored), the request
// prepared, the call made. HTTP trouble is a result, never an exception.
import type { ErrorClass } from "../../db/schema";
import { sendWebhookRequest, type AttemptResult } from "../http-attempt";
import { targetPolicyOf, targetUrlProblem } from "../target-url";
import type { ClaimedAttempt } from "./claim";
import type { DeliveryDeps } from "./deps";
import { prepareDeliveryRequest } from "./request";

/** An attempt's result as recorded: the HTTP outcome, or `blocked_target` when the URL was refused before sending. */
export type RecordedResult = Omit<AttemptResult, "errorClass"> & { errorClass: ErrorClass | null };

/** A claimed attempt after its request: what happened, and when it started and ended. */
export interface SentAttempt {
  claim: ClaimedAttempt;
  result: RecordedResult;
  startedAt: number;
  finishedAt: number;
}

/** Signs afresh and sends one claimed attempt, or refuses a target that is no longer allowed. Never throws for HTTP trouble. */
export async function sendClaimedAttempt(deps: Pick<DeliveryDeps, "config" | "secretBox" | "now" | "fetch">, claim: ClaimedAttempt): Promise<SentAttempt> {
  const { config } = deps;
  const { endpoint, delivery, payload } = claim;
  const startedAt = deps.now();
  const problem = targetUrlProblem(endpoint.url, targetPolicyOf(config));
  let result: RecordedResult;
  if (problem) {
    result = { ok: false, statusCode: null, durationMs: 0, errorClass: "blocked_target", errorMessage: problem, responseExcerpt: null, retryAfterSeconds: null };
  } else {
    const request = await prepareDeliveryRequest(
      deps.secretBox,
      { deliveryId: claim.deliveryId, eventId: delivery.eventId, eventType: delivery.eventType, payload, endpoint },
      startedAt,
    );
    result = await sendWebhookRequest({ ...request, timeoutMs: config.deliveryTimeoutMs, fetch: deps.fetch, now: deps.now });
  }
  return { claim, result, startedAt, finishedAt: deps.now() };
}
