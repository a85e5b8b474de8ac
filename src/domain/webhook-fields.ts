// A webhook's fields as the API (and the portal's form) show and take them, declared once and derived from the table
// (webhook_endpoints in db/schema.ts) with drizzle-zod: a field's API name is its column's name, and its type, whether
// it may be null and whether a create may leave it out come from the column. What is said here is only what the API
// adds: which columns it shows and in what order, the fields it computes, and its own validation of what a caller writes
// (pydantic's lax parsing and messages, limits, examples). Adding a field: docs/architecture.md#adding-a-webhook-field.
import { z } from "@hono/zod-openapi";
import { createSchemaFactory } from "drizzle-zod";
import { apiInsertShape, apiShape, integersAsShown } from "../db/api-columns";
import { WEBHOOK_STATUSES, webhookEndpoints } from "../db/schema";
import { laxBoolean, laxInteger, pyDict, pyString, whenValid } from "../lib/pydantic";
import { isValidSubscription } from "./event-catalog";
import { PartnerIdSchema, TenantIdSchema } from "./owner-id";

const { createSelectSchema, createInsertSchema, createUpdateSchema } = createSchemaFactory({ zodInstance: z });

const URL_EXAMPLE = "https://example.com/webhooks/scaikey";

// ---- What a caller writes ----

const EventSubscriptions = z
  .array(
    pyString({ max: 100 }).refine(isValidSubscription, {
      message: "Unknown event type (see GET /api/v1/admin/webhooks/events; 'group.*' and '*' are allowed)",
    }),
  )
  .min(1)
  .max(100)
  .openapi({ example: ["user.created", "group.*"] });

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

const RATE_LIMIT_DESCRIPTION =
  "The most deliveries a second this webhook receives, retries included (1-1000); null: no limit. In any one-second " +
  "window its receiver gets at most this many requests; deliveries over it wait, pending or retrying, without using " +
  "an attempt. Held across every consumer of the service.";
const ORDERED_DESCRIPTION =
  "Send this webhook's deliveries one at a time, in publish order: the next goes only once the one before has " +
  "succeeded or failed for good (its retries exhausted). A delivery retried or recovered in place takes its place in " +
  "the line again; new deliveries (replays, retries of history) join its end.";

const MAX_METADATA_BYTES = 4096;
const Metadata = pyDict(pyString({ max: 128 }), z.unknown(), {
  propertyNames: { maxLength: 128 },
  example: { team: "identity" },
}).refine((m) => new TextEncoder().encode(JSON.stringify(m)).length <= MAX_METADATA_BYTES, {
  message: `metadata must serialise to at most ${MAX_METADATA_BYTES} bytes of JSON`,
  when: whenValid,
});

/**
 * The columns a caller may write, in the order the API lists them, each with the API's rule for its value. Whether it
 * may be null, and whether a create may leave it out (a nullable column, or one with a default), is the column's.
 */
const WRITABLE_FIELD_RULES = {
  url: () => pyString({ min: 1, max: 2048 }).openapi({ example: URL_EXAMPLE }),
  events: () => EventSubscriptions,
  description: () => pyString({ max: 500 }),
  enabled: () => laxBoolean(),
  tenantId: () => TenantIdSchema,
  partnerId: () => PartnerIdSchema,
  headers: () => CustomHeaders,
  metadata: () => Metadata,
  rateLimit: () => laxInteger({ ge: 1, le: 1000 }).openapi({ description: RATE_LIMIT_DESCRIPTION, example: 50 }),
  ordered: () => laxBoolean().openapi({ description: ORDERED_DESCRIPTION }),
};
const WRITABLE = Object.keys(WRITABLE_FIELD_RULES) as (keyof typeof WRITABLE_FIELD_RULES)[];

/**
 * The request body of a create. Other fields are ignored, as pydantic's default models ignore them: a client may send
 * back what it read (id, status, created_at, secret…).
 */
export const webhookCreateShape = apiInsertShape(
  webhookEndpoints,
  createInsertSchema(webhookEndpoints, WRITABLE_FIELD_RULES).shape,
  WRITABLE,
);
/** The request body of an update: any subset of the writable fields. */
export const webhookUpdateShape = apiShape(
  webhookEndpoints,
  createUpdateSchema(webhookEndpoints, WRITABLE_FIELD_RULES).shape,
  WRITABLE,
);

/** What a create takes, as validated. */
export type WebhookInput = z.output<z.ZodObject<typeof webhookCreateShape>>;
/** The fields of a webhook other than its owner, as a create takes them. */
export type WebhookFields = Omit<WebhookInput, "tenant_id" | "partner_id">;
/** The API names of the writable fields. */
export const WRITABLE_FIELD_NAMES = Object.keys(webhookCreateShape) as (keyof WebhookInput)[];

// ---- What the API shows ----

const stored = createSelectSchema(webhookEndpoints, {
  ...integersAsShown(webhookEndpoints),
  id: (s) => s.openapi({ example: "wh_4n8XbQ2kLm9Pz7Rt1VcY" }),
  url: (s) => s.openapi({ example: URL_EXAMPLE }),
  // JSON columns: their shapes are TypeScript types ($type) that drizzle-zod cannot see.
  events: z.array(z.string()),
  headers: z.record(z.string(), z.string()),
  metadata: z.record(z.string(), z.unknown()),
  rateLimit: () => z.number().int().openapi({ description: RATE_LIMIT_DESCRIPTION, example: null }),
  ordered: (s) => s.openapi({ description: ORDERED_DESCRIPTION }),
}).shape;
const shown = <K extends keyof typeof stored>(...keys: K[]) => apiShape(webhookEndpoints, stored, keys);

/** A webhook as the API shows it (never its secret), in the order it lists the fields; toPublicWebhook fills it. */
export const WebhookSchema = z
  .object({
    ...shown("id", "tenantId", "partnerId", "url", "description", "events", "enabled"),
    status: z.enum(WEBHOOK_STATUSES),
    ...shown("failureCount", "disabledAt", "disabledReason", "headers", "metadata", "lastSuccessAt", "lastFailureAt"),
    missed_events_since_disabled: z.number().int().openapi({
      description:
        "Events published since the webhook was disabled that it would have received (0 while enabled): what a replay would send.",
    }),
    ...shown("rateLimit", "ordered"),
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
    ...shown("createdAt", "updatedAt"),
  })
  .openapi("WebhookEndpoint");

export type WebhookResponse = z.infer<typeof WebhookSchema>;
