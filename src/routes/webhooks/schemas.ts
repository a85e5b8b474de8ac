// The webhooks resource's zod schemas shared by several of its operations: path ids, the webhook and delivery objects,
// the writable fields. Enums come from src/db/schema.ts; an operation's own request/response schemas live in its file.
import { z } from "@hono/zod-openapi";
import { DELIVERY_STATUSES, ERROR_CLASSES, WEBHOOK_STATUSES } from "../../db/schema";
import { isValidSubscription } from "../../domain/event-catalog";
import { DeliveredEnvelopeSchema } from "../../domain/event-envelope";
import { PartnerIdSchema, TenantIdSchema } from "../../domain/owner-id";
import { awareDatetime, laxBoolean, laxInteger, pyDict, pyString, whenValid } from "../../lib/pydantic";

export const WebhookIdParam = z.object({
  webhook_id: pyString({ min: 1, max: 64 }).openapi({
    param: { name: "webhook_id", in: "path" },
    example: "wh_4n8XbQ2kLm9Pz7Rt1VcY",
  }),
});

const EventSubscriptions = z
  .array(
    pyString({ max: 100 }).refine(isValidSubscription, {
      message: "Unknown event type (see GET /api/v1/admin/webhooks/events; 'group.*' and '*' are allowed)",
    }),
  )
  .min(1)
  .max(100)
  .openapi({ example: ["user.created", "group.*"] });

const RATE_LIMIT_DESCRIPTION =
  "The most deliveries a second this webhook receives, retries included (1-1000); null: no limit. In any one-second " +
  "window its receiver gets at most this many requests; deliveries over it wait, pending or retrying, without using " +
  "an attempt. Held across every consumer of the service.";
const ORDERED_DESCRIPTION =
  "Send this webhook's deliveries one at a time, in publish order: the next goes only once the one before has " +
  "succeeded or failed for good (its retries exhausted). A delivery retried or recovered in place takes its place in " +
  "the line again; new deliveries (replays, retries of history) join its end.";

export const WebhookSchema = z
  .object({
    id: z.string().openapi({ example: "wh_4n8XbQ2kLm9Pz7Rt1VcY" }),
    tenant_id: z.string().nullable(),
    partner_id: z.string().nullable(),
    url: z.string().openapi({ example: "https://example.com/webhooks/scaikey" }),
    description: z.string().nullable(),
    events: z.array(z.string()),
    enabled: z.boolean(),
    status: z.enum(WEBHOOK_STATUSES),
    failure_count: z.number().int(),
    disabled_at: z.string().nullable(),
    disabled_reason: z.string().nullable(),
    headers: z.record(z.string(), z.string()),
    metadata: z.record(z.string(), z.unknown()),
    last_success_at: z.string().nullable(),
    last_failure_at: z.string().nullable(),
    missed_events_since_disabled: z.number().int().openapi({
      description:
        "Events published since the webhook was disabled that it would have received (0 while enabled): what a replay would send.",
    }),
    rate_limit: z.number().int().nullable().openapi({ description: RATE_LIMIT_DESCRIPTION, example: null }),
    ordered: z.boolean().openapi({ description: ORDERED_DESCRIPTION }),
    ordered_head_delivery_id: z
      .number()
      .int()
      .nullable()
      .openapi({
        description:
          "Ordered webhooks: the delivery at the head of the line, the one being sent or retried while the rest wait " +
          "(see its `status`, `next_attempt_at` and `last_error` for why the line is stopped). Null when the webhook " +
          "is not ordered or nothing is waiting.",
        example: null,
      }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("WebhookEndpoint");

// Headers we set ourselves, or that would break the request if a caller could override them.
const RESERVED_HEADER =
  /^(host|content-length|content-type|content-encoding|transfer-encoding|connection|keep-alive|upgrade|te|trailer|expect|user-agent|proxy-.*|x-scaikey-.*|webhook-.*|cf-.*|x-forwarded-.*)$/i;
const MAX_CUSTOM_HEADERS = 20;
// Receivers commonly refuse a header section over 8 KiB (431); ours add about 600 bytes to what is configured here.
const MAX_CUSTOM_HEADER_BYTES = 8192;
const headerBytes = (h: Record<string, string>) =>
  Object.entries(h).reduce((n, [name, value]) => n + name.length + new TextEncoder().encode(value).byteLength + 4, 0);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CustomHeaders = pyDict(
  pyString({ min: 1, max: 128, pattern: HEADER_NAME, patternMessage: "Not a valid HTTP header name" }).refine(
    (name) => !RESERVED_HEADER.test(name),
    {
      message: "This header is set by the webhook service and cannot be overridden",
    },
  ),
  pyString({ max: 1024 })
    // RFC 9110 field values: no control character but HTAB; and nothing that cannot be encoded (a lone surrogate).
    .refine((v) => !/[\x00-\x08\x0a-\x1f\x7f]/.test(v), {
      message: "Header values must not contain CR, LF, NUL or other control characters",
    })
    .refine((v) => v.isWellFormed(), { message: "Header values must be well-formed Unicode (no lone surrogates)" }),
  {
    propertyNames: { minLength: 1, maxLength: 128, pattern: HEADER_NAME.source },
    additionalProperties: { type: "string", maxLength: 1024 },
    maxProperties: MAX_CUSTOM_HEADERS,
    example: { "X-Partner-Token": "abc123" },
  },
)
  .refine((h) => Object.keys(h).length <= MAX_CUSTOM_HEADERS, {
    message: `At most ${MAX_CUSTOM_HEADERS} custom headers`,
    when: whenValid,
  })
  .refine((h) => headerBytes(h as Record<string, string>) <= MAX_CUSTOM_HEADER_BYTES, {
    message: `Custom headers must add up to at most ${MAX_CUSTOM_HEADER_BYTES} bytes (names, values and ': ' and CRLF per header)`,
    when: whenValid,
  });

const MAX_METADATA_BYTES = 4096;
const Metadata = pyDict(pyString({ max: 128 }), z.unknown(), {
  propertyNames: { maxLength: 128 },
  example: { team: "identity" },
}).refine((m) => new TextEncoder().encode(JSON.stringify(m)).length <= MAX_METADATA_BYTES, {
  message: `metadata must serialise to at most ${MAX_METADATA_BYTES} bytes of JSON`,
  when: whenValid,
});

/**
 * The writable fields of a webhook: all required ones on create, any subset on update. Other fields are ignored, as
 * pydantic's default models ignore them: a client may send back what it read (id, status, created_at, secret…).
 */
export const webhookFieldShape = {
  url: pyString({ min: 1, max: 2048 }).openapi({ example: "https://example.com/webhooks/scaikey" }),
  events: EventSubscriptions,
  description: pyString({ max: 500 }).nullable().optional(),
  enabled: laxBoolean().optional(),
  tenant_id: TenantIdSchema.nullable().optional(),
  partner_id: PartnerIdSchema.nullable().optional(),
  headers: CustomHeaders.optional(),
  metadata: Metadata.optional(),
  rate_limit: laxInteger({ ge: 1, le: 1000 })
    .nullable()
    .optional()
    .openapi({ description: RATE_LIMIT_DESCRIPTION, example: 50 }),
  ordered: laxBoolean().optional().openapi({ description: ORDERED_DESCRIPTION }),
};

export const DeliveryIdParams = WebhookIdParam.extend({
  delivery_id: laxInteger({ ge: 1, le: Number.MAX_SAFE_INTEGER }).openapi({
    param: { name: "delivery_id", in: "path" },
    example: 4291,
  }),
});

export const DeliverySchema = z
  .object({
    id: z.number().int().openapi({
      description:
        "Numeric delivery id, sent as X-ScaiKey-Webhook-ID: unique within its webhook (ids of two webhooks may coincide).",
      example: 1_826_345_678_901_248,
    }),
    webhook_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: z.enum(DELIVERY_STATUSES),
    attempt_count: z.number().int(),
    next_attempt_at: z.string().nullable(),
    last_attempt_at: z.string().nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    retry_of: z
      .number()
      .int()
      .nullable()
      .openapi({
        description:
          "Set on a delivery that sends an earlier one of this webhook again (a retry or recover of a delivery older " +
          "than the hot window, which is history and does not change): that delivery's id.",
      }),
    created_at: z.string(),
    updated_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi("Delivery");

const DeliveryAttemptSchema = z
  .object({
    attempt: z.number().int(),
    started_at: z.string(),
    duration_ms: z.number().int(),
    success: z.boolean(),
    status_code: z.number().int().nullable(),
    error_class: z.enum(ERROR_CLASSES).nullable(),
    error: z.string().nullable(),
    response_body: z.string().nullable().openapi({ description: "First 4 KiB of the receiver's answer." }),
  })
  .openapi("DeliveryAttempt");

export const DeliveryDetailSchema = DeliverySchema.extend({
  // A union, not .nullable(): zod-to-openapi drops the null of a nullable registered schema.
  payload: z.union([DeliveredEnvelopeSchema, z.null()]).openapi({
    description: "The envelope exactly as signed and delivered, numbers included (null once purged by retention).",
  }),
  attempts: z.array(DeliveryAttemptSchema),
}).openapi("DeliveryDetail");

const isoDateTime = (description: string) => awareDatetime().openapi({ description, example: "2026-11-24T01:05:00Z" });

/** The window of a recover or replay: deliveries (recover) or events (replay) created in [since, until). */
export const recoveryWindowFields = {
  since: isoDateTime(
    "Start of the window (ISO 8601, inclusive); not before the retention horizon (now minus RETENTION_DAYS).",
  ),
  until: isoDateTime(
    "End of the window (ISO 8601, exclusive); default now, and a later time counts as now.",
  ).optional(),
};

export const RecoveryResultSchema = z
  .object({
    webhook_id: z.string().openapi({ example: "wh_4n8XbQ2kLm9Pz7Rt1VcY" }),
    since: z.string().openapi({ example: "2026-11-24T01:05:00.000Z" }),
    until: z.string().openapi({ example: "2026-11-25T01:05:02.311Z" }),
    deliveries: z
      .number()
      .int()
      .openapi({ description: "Deliveries queued again (recover) or created (replay).", example: 37 }),
  })
  .openapi("RecoveryResult");

export type WebhookResponse = z.infer<typeof WebhookSchema>;
export type DeliveryResponse = z.infer<typeof DeliverySchema>;
export type DeliveryDetailResponse = z.infer<typeof DeliveryDetailSchema>;
