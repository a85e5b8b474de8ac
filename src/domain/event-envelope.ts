// The ScaiKey event envelope: what publishers send and what every delivery carries, byte for byte.
import { z } from "@hono/zod-openapi";
import { isLosslessNumber } from "lossless-json";
import { awareDatetime, pyString, whenValid } from "../lib/pydantic";
import { isKnownEventType, isServiceEventType } from "./event-catalog";
import { PartnerIdSchema, TenantIdSchema } from "./owner-id";

/** Deeper payloads are refused up front: serialising them (canonical-json.ts recurses) would exhaust the stack. */
export const MAX_DATA_DEPTH = 32;

/**
 * Why `data` cannot be delivered as sent, or null: nesting past `maxDepth` (the value itself counts as one level),
 * or a number JSON cannot carry (1e400 parses to Infinity, which canonicalJson refuses). An exact number
 * (LosslessNumber, see src/lib/lossless-json.ts) is a value, not a level. Iterative on purpose;
 * shared references (possible over the service binding) are revisited only when reached deeper, so cycles end as
 * "too deep".
 */
function eventDataProblem(value: unknown, maxDepth = MAX_DATA_DEPTH): string | null {
  const deepestSeen = new Map<object, number>();
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current === "number" && !Number.isFinite(current))
      return "data must not contain numbers outside the range JSON can carry (such as 1e400)";
    if (current === null || typeof current !== "object" || isLosslessNumber(current)) continue;
    if (depth > maxDepth) return `data must not nest objects or arrays more than ${maxDepth} levels deep`;
    if ((deepestSeen.get(current) ?? 0) >= depth) continue;
    deepestSeen.set(current, depth);
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return null;
}

const ResourceSchema = z.object({ type: pyString({ min: 1, max: 64 }), id: pyString({ min: 1, max: 128 }) });
const ActorSchema = z.object({
  id: pyString({ max: 128 }).nullable(),
  type: z.enum(["admin", "user", "scim", "system", "api"]),
});

// Strict, unlike the admin API's bodies: the envelope is delivered as sent, so a field the service would drop is
// refused (pydantic's extra="forbid") rather than lost on the way to the receivers.
export const EventEnvelopeSchema = z
  .strictObject({
    event_id: pyString({
      pattern: /^evt_[A-Za-z0-9_-]{1,64}$/,
      patternMessage: "Must be 'evt_' followed by up to 64 letters, digits, '_' or '-'",
    })
      .optional()
      .openapi({
        description:
          "Idempotency key ('evt_' and up to 64 letters, digits, '_' or '-'); generated when absent. Publishing the same event_id again creates nothing new.",
      }),
    event_type: pyString({ max: 100 })
      .refine(isKnownEventType, { message: "Unknown event type (see GET /api/v1/admin/webhooks/events)" })
      // The service's own announcements: a publisher sending one would forge them.
      .superRefine((type, ctx) => {
        if (isServiceEventType(type))
          ctx.addIssue({ code: "custom", message: `${type} is sent only by the webhook service itself` });
      })
      .openapi({ example: "user.created" }),
    timestamp: awareDatetime().optional().openapi({ description: "ISO 8601 with a timezone; generated when absent." }),
    tenant_id: TenantIdSchema.nullable().optional(),
    partner_id: PartnerIdSchema.nullable().optional(),
    resource: ResourceSchema.strict().openapi({ example: { type: "user", id: "usr_123" } }),
    actor: ActorSchema.strict().optional().openapi({ description: "Who caused the event; defaults to the system." }),
    data: z
      .record(z.string(), z.unknown())
      .superRefine((data, ctx) => {
        const problem = eventDataProblem(data);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .openapi({ example: { email: "ada@example.com" } }),
  })
  .refine((e) => e.tenant_id || e.partner_id, { message: "tenant_id or partner_id is required", when: whenValid })
  .openapi("EventEnvelope");

export type EventEnvelopeInput = z.infer<typeof EventEnvelopeSchema>;

/** The envelope as delivered: every field present, in ScaiKey's shape (the deliveries API shows it as stored). */
export const DeliveredEnvelopeSchema = z
  .object({
    event_id: z.string().openapi({ example: "evt_a3f9k2bWqL8Hn5pZ" }),
    event_type: z.string().openapi({ example: "user.created" }),
    timestamp: z.string().openapi({ description: "UTC, ISO 8601.", example: "2026-11-23T12:00:00.000Z" }),
    tenant_id: z.string().optional(),
    partner_id: z.string().optional(),
    resource: ResourceSchema,
    actor: ActorSchema,
    data: z.record(z.string(), z.unknown()).openapi({
      description:
        "As published, every number exactly as delivered (1.0 stays 1.0, 12345678901234567890 keeps its digits).",
    }),
  })
  .openapi("DeliveredEvent");

export type EventEnvelope = z.infer<typeof DeliveredEnvelopeSchema>;
