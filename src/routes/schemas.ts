// zod schemas shared by several routes: error bodies, pagination, path ids, the endpoint object.
// A route's own request/response schemas live in its file.
import { z } from "@hono/zod-openapi";
import { isValidSubscription } from "../domain/event-catalog";

export const ErrorSchema = z.object({ detail: z.string() }).openapi("Error");

export const ValidationErrorSchema = z
  .object({
    detail: z.array(
      z
        .object({
          loc: z.array(z.union([z.string(), z.number()])),
          msg: z.string(),
          type: z.string(),
        })
        .openapi("ValidationError"),
    ),
  })
  .openapi("HTTPValidationError");

const errorBody = (description: string) => ({ description, content: { "application/json": { schema: ErrorSchema } } });

/** The error responses every authenticated route can give. */
export const standardErrors = {
  401: errorBody("Missing, malformed, expired or wrongly signed token"),
  403: errorBody("Token lacks the required scope or tenant access"),
  413: errorBody("Request body too large"),
  422: { description: "Validation error", content: { "application/json": { schema: ValidationErrorSchema } } },
} as const;
export const notFoundError = { 404: errorBody("Not found, or outside the caller's tenants") } as const;
export const conflictError = (description: string) => ({ 409: errorBody(description) }) as const;

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { "application/json": { schema } },
});

export const MAX_PER_PAGE = 100;
export const PageQuery = z.object({
  page: z.coerce.number().int().min(1).max(1_000_000).default(1).openapi({ example: 1 }),
  per_page: z.coerce.number().int().min(1).max(MAX_PER_PAGE).default(20).openapi({ example: 20 }),
});

/** The list envelope every paginated endpoint answers with. */
export const pageOf = <T extends z.ZodType>(item: T, name: string) =>
  z
    .object({
      items: z.array(item),
      total: z.number().int(),
      page: z.number().int(),
      per_page: z.number().int(),
      pages: z.number().int(),
    })
    .openapi(name);

const ownerId = (prefix: string) =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, "Must contain only letters, digits, '_' and '-'")
    .openapi({ example: `${prefix}_a3f9k2bWqL8Hn5pZ` });
export const TenantId = ownerId("tnt");
export const PartnerId = ownerId("prt");

export const WebhookIdParam = z.object({
  webhook_id: z.string().min(1).max(64).openapi({ param: { name: "webhook_id", in: "path" }, example: "wh_4n8XbQ2kLm9Pz7Rt1VcY" }),
});

export const EventSubscriptions = z
  .array(
    z
      .string()
      .max(100)
      .refine(isValidSubscription, { message: "Unknown event type (see GET /api/v1/admin/webhooks/events; 'group.*' and '*' are allowed)" }),
  )
  .min(1)
  .max(100)
  .openapi({ example: ["user.created", "group.*"] });

export const WebhookEndpointSchema = z
  .object({
    id: z.string().openapi({ example: "wh_4n8XbQ2kLm9Pz7Rt1VcY" }),
    tenant_id: z.string().nullable(),
    partner_id: z.string().nullable(),
    url: z.string().openapi({ example: "https://example.com/webhooks/scaikey" }),
    description: z.string().nullable(),
    events: z.array(z.string()),
    enabled: z.boolean(),
    status: z.enum(["active", "disabled", "auto_disabled"]),
    failure_count: z.number().int(),
    disabled_at: z.string().nullable(),
    disabled_reason: z.string().nullable(),
    headers: z.record(z.string(), z.string()),
    metadata: z.record(z.string(), z.unknown()),
    last_success_at: z.string().nullable(),
    last_failure_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("WebhookEndpoint");

// Headers we set ourselves, or that would break the request if a caller could override them.
const RESERVED_HEADER = /^(host|content-length|content-type|content-encoding|transfer-encoding|connection|keep-alive|upgrade|te|trailer|expect|user-agent|proxy-.*|x-scaikey-.*|webhook-.*|cf-.*|x-forwarded-.*)$/i;
export const MAX_CUSTOM_HEADERS = 20;
// Receivers commonly refuse a header section over 8 KiB (431); ours add about 600 bytes to what is configured here.
export const MAX_CUSTOM_HEADER_BYTES = 8192;
const headerBytes = (h: Record<string, string>) =>
  Object.entries(h).reduce((n, [name, value]) => n + name.length + new TextEncoder().encode(value).byteLength + 4, 0);
export const CustomHeaders = z
  .record(
    z
      .string()
      .min(1)
      .max(128)
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "Not a valid HTTP header name")
      .refine((name) => !RESERVED_HEADER.test(name), { message: "This header is set by the webhook service and cannot be overridden" }),
    z
      .string()
      .max(1024)
      // RFC 9110 field values: no control character but HTAB; and nothing that cannot be encoded (a lone surrogate).
      .refine((v) => !/[\x00-\x08\x0a-\x1f\x7f]/.test(v), { message: "Header values must not contain CR, LF, NUL or other control characters" })
      .refine((v) => v.isWellFormed(), { message: "Header values must be well-formed Unicode (no lone surrogates)" }),
  )
  .refine((h) => Object.keys(h).length <= MAX_CUSTOM_HEADERS, { message: `At most ${MAX_CUSTOM_HEADERS} custom headers` })
  .refine((h) => headerBytes(h) <= MAX_CUSTOM_HEADER_BYTES, {
    message: `Custom headers must add up to at most ${MAX_CUSTOM_HEADER_BYTES} bytes (names, values and ': ' and CRLF per header)`,
  })
  .openapi({ example: { "X-Partner-Token": "abc123" } });

export const MAX_METADATA_BYTES = 4096;
export const Metadata = z
  .record(z.string().max(128), z.unknown())
  .refine((m) => new TextEncoder().encode(JSON.stringify(m)).length <= MAX_METADATA_BYTES, {
    message: `metadata must serialise to at most ${MAX_METADATA_BYTES} bytes of JSON`,
  })
  .openapi({ example: { team: "identity" } });

/** The writable fields of an endpoint: all required ones on create, any subset on update. */
export const endpointFieldShape = {
  url: z.string().min(1).max(2048).openapi({ example: "https://example.com/webhooks/scaikey" }),
  events: EventSubscriptions,
  description: z.string().max(500).nullable().optional(),
  enabled: z.boolean().optional(),
  tenant_id: TenantId.nullable().optional(),
  partner_id: PartnerId.nullable().optional(),
  headers: CustomHeaders.optional(),
  metadata: Metadata.optional(),
};

export const DeliveryIdParams = WebhookIdParam.extend({
  delivery_id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ param: { name: "delivery_id", in: "path" }, example: 4291 }),
});

export const DeliverySchema = z
  .object({
    id: z.number().int().openapi({ description: "Numeric delivery id, sent as X-ScaiKey-Webhook-ID.", example: 4291 }),
    webhook_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: z.enum(["pending", "retrying", "success", "failed", "cancelled"]),
    attempt_count: z.number().int(),
    next_attempt_at: z.string().nullable(),
    last_attempt_at: z.string().nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("Delivery");

export const DeliveryAttemptSchema = z
  .object({
    attempt: z.number().int(),
    started_at: z.string(),
    duration_ms: z.number().int(),
    success: z.boolean(),
    status_code: z.number().int().nullable(),
    error_class: z.string().nullable().openapi({ description: "timeout, connection_refused, dns, tls, invalid_response, redirect, http_4xx, http_5xx, network, blocked_target" }),
    error: z.string().nullable(),
    response_body: z.string().nullable().openapi({ description: "First 4 KiB of the receiver's answer." }),
  })
  .openapi("DeliveryAttempt");

export const DeliveryDetailSchema = DeliverySchema.extend({
  payload: z.record(z.string(), z.unknown()).nullable().openapi({ description: "The envelope as sent (null once purged by retention)." }),
  attempts: z.array(DeliveryAttemptSchema),
}).openapi("DeliveryDetail");
