// The webhooks resource's zod schemas shared by several of its operations: path ids, the delivery objects. Enums come
// from src/db/schema.ts; the webhook object and its writable fields are derived from its table in
// domain/webhook-fields.ts; an operation's own request/response schemas live in its file.
import { z } from "@hono/zod-openapi";
import { DELIVERY_STATUSES, ERROR_CLASSES } from "../../db/schema";
import { DeliveredEnvelopeSchema } from "../../domain/event-envelope";
import { awareDatetime, laxInteger, pyString } from "../../lib/pydantic";

export const WebhookIdParam = z.object({
  webhook_id: pyString({ min: 1, max: 64 }).openapi({
    param: { name: "webhook_id", in: "path" },
    example: "wh_4n8XbQ2kLm9Pz7Rt1VcY",
  }),
});

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

export type DeliveryResponse = z.infer<typeof DeliverySchema>;
export type DeliveryDetailResponse = z.infer<typeof DeliveryDetailSchema>;
