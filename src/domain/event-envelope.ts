// The ScaiKey event envelope: what publishers send and what every delivery carries, byte for byte.
import { z } from "@hono/zod-openapi";
import { isLosslessNumber } from "lossless-json";
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

export const EventEnvelopeSchema = z
  .strictObject({
    event_id: z
      .string()
      .regex(/^evt_[A-Za-z0-9_-]{1,64}$/, "Must be 'evt_' followed by up to 64 letters, digits, '_' or '-'")
      .optional()
      .openapi({
        description: "Idempotency key; generated when absent. Publishing the same event_id again creates nothing new.",
      }),
    event_type: z
      .string()
      .max(100)
      .refine(isKnownEventType, { message: "Unknown event type (see GET /api/v1/admin/webhooks/events)" })
      // The service's own announcements: a publisher sending one would forge them.
      .superRefine((type, ctx) => {
        if (isServiceEventType(type))
          ctx.addIssue({ code: "custom", message: `${type} is sent only by the webhook service itself` });
      })
      .openapi({ example: "user.created" }),
    timestamp: z.iso
      .datetime({ offset: true })
      .max(64)
      .optional()
      .openapi({ description: "ISO 8601; generated when absent." }),
    tenant_id: TenantIdSchema.nullable().optional(),
    partner_id: PartnerIdSchema.nullable().optional(),
    resource: z
      .strictObject({ type: z.string().min(1).max(64), id: z.string().min(1).max(128) })
      .openapi({ example: { type: "user", id: "usr_123" } }),
    actor: z
      .strictObject({ id: z.string().max(128).nullable(), type: z.enum(["admin", "user", "scim", "system", "api"]) })
      .optional()
      .openapi({ description: "Who caused the event; defaults to the system." }),
    data: z
      .record(z.string(), z.unknown())
      .superRefine((data, ctx) => {
        const problem = eventDataProblem(data);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .openapi({ example: { email: "ada@example.com" } }),
  })
  .refine((e) => e.tenant_id || e.partner_id, { message: "tenant_id or partner_id is required", path: ["tenant_id"] })
  .openapi("EventEnvelope");

export type EventEnvelopeInput = z.infer<typeof EventEnvelopeSchema>;

/** The envelope as delivered: every field present, in ScaiKey's shape. */
export interface EventEnvelope {
  event_id: string;
  event_type: string;
  timestamp: string;
  resource: { type: string; id: string };
  actor: { id: string | null; type: string };
  data: Record<string, unknown>;
  tenant_id?: string;
  partner_id?: string;
}
