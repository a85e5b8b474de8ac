// Calls the Worker under test through its real fetch handler. A response's body is typed by the operation its method
// and path name (the routes' exported response types), plus the `detail` of an error answer.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../src/index";
import type { PublishEventResponse } from "../../src/routes/events/publish-event";
import type { GetHealthResponse } from "../../src/routes/health/get-health";
import type { AssignTenantPartnerResponse } from "../../src/routes/webhooks/assign-tenant-partner";
import type { CreateWebhookResponse } from "../../src/routes/webhooks/create-webhook";
import type { GetWebhookResponse } from "../../src/routes/webhooks/get-webhook";
import type { GetWebhookDeliveryResponse } from "../../src/routes/webhooks/get-webhook-delivery";
import type { GetWebhookOperationsResponse } from "../../src/routes/webhooks/get-webhook-operations";
import type { GetWebhookStatsResponse } from "../../src/routes/webhooks/get-webhook-stats";
import type { ListSupportedEventsResponse } from "../../src/routes/webhooks/list-supported-events";
import type { ListWebhookDeliveriesResponse } from "../../src/routes/webhooks/list-webhook-deliveries";
import type { ListWebhooksResponse } from "../../src/routes/webhooks/list-webhooks";
import type { RecoverWebhookDeliveriesResponse } from "../../src/routes/webhooks/recover-webhook-deliveries";
import type { ReplayWebhookEventsResponse } from "../../src/routes/webhooks/replay-webhook-events";
import type { RetryWebhookDeliveryResponse } from "../../src/routes/webhooks/retry-webhook-delivery";
import type { RotateWebhookSecretResponse } from "../../src/routes/webhooks/rotate-webhook-secret";
import type { SendWebhookTestEventResponse } from "../../src/routes/webhooks/send-webhook-test-event";
import type { UpdateWebhookResponse } from "../../src/routes/webhooks/update-webhook";
import { hookUrl } from "./receiver";
import { tenantAdmin } from "./tokens";

export const WEBHOOKS = "/api/v1/admin/webhooks";
type W = typeof WEBHOOKS;
type Query = "" | `?${string}`;

/** The success body of the operation `method path` names; `any` where they name none (or are not literal). */
export type SuccessBodyOf<M extends string, P extends string> = M extends "GET"
  ? P extends `${W}/${Query}`
    ? ListWebhooksResponse
    : P extends `${W}/events`
      ? ListSupportedEventsResponse
      : P extends `${W}/operations`
        ? GetWebhookOperationsResponse
        : P extends `${W}/${string}/deliveries/${string}`
          ? GetWebhookDeliveryResponse
          : P extends `${W}/${string}/deliveries${Query}`
            ? ListWebhookDeliveriesResponse
            : P extends `${W}/${string}/stats${string}`
              ? GetWebhookStatsResponse
              : P extends `${W}/${string}`
                ? GetWebhookResponse
                : P extends "/health"
                  ? GetHealthResponse
                  : any
  : M extends "POST"
    ? P extends `${W}/`
      ? CreateWebhookResponse
      : P extends `${W}/${string}/deliveries/${string}/retry`
        ? RetryWebhookDeliveryResponse
        : P extends `${W}/${string}/test`
          ? SendWebhookTestEventResponse
          : P extends `${W}/${string}/rotate-secret`
            ? RotateWebhookSecretResponse
            : P extends `${W}/${string}/recover`
              ? RecoverWebhookDeliveriesResponse
              : P extends `${W}/${string}/replay`
                ? ReplayWebhookEventsResponse
                : P extends "/api/v1/events"
                  ? PublishEventResponse
                  : any
    : M extends "PATCH"
      ? P extends `${W}/${string}`
        ? UpdateWebhookResponse
        : any
      : M extends "PUT"
        ? P extends `${W}/tenants/${string}/partner`
          ? AssignTenantPartnerResponse
          : any
        : any;

/** An error answer's `detail`: a message, or FastAPI's list of validation issues. */
type ErrorDetail = { detail?: any };

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function api<M extends string, P extends string>(
  method: M,
  path: P,
  opts: {
    token?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    /** Other values for some bindings (e.g. RETRY_SCHEDULE), as a deployment with other [vars] would have. */
    bindings?: Partial<Env>;
  } = {},
): Promise<ApiResponse<SuccessBodyOf<M, P> & ErrorDetail>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetchWorker(
    new Request(`https://webhooks.test${path}`, { method, headers, body, redirect: "manual" }),
    opts.bindings,
  );
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed as SuccessBodyOf<M, P> & ErrorDetail };
}

/**
 * The Worker's fetch handler, as the runtime calls it; with `bindings`, called directly with those values over the
 * real bindings (the Worker builds its services from the bindings object, so a new object means a new configuration).
 */
export async function fetchWorker(request: Request, bindings?: Partial<Env>): Promise<Response> {
  if (!bindings) return exports.default.fetch(request);
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, { ...env, ...bindings }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** Creates a webhook as `token` and returns the created body (with its secret). */
export async function createWebhook(
  token: string,
  overrides: Record<string, unknown> = {},
): Promise<CreateWebhookResponse> {
  const res = await api("POST", `${WEBHOOKS}/`, {
    token,
    body: { url: "https://receiver.example.com/hook", events: ["user.created"], ...overrides },
  });
  if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A webhook of `tenant` (partner prt_engine) subscribed to everything, pointing at a fresh URL of the local receiver. */
export async function webhookAtReceiver(
  tenant: string,
  opts: Parameters<typeof hookUrl>[0] = {},
  extra: Record<string, unknown> = {},
) {
  const hook = hookUrl(opts);
  const token = await tenantAdmin(tenant, "prt_engine");
  const webhook = await createWebhook(token, { url: hook.url, events: ["*"], ...extra });
  return { ...webhook, hookKey: hook.key, token };
}
