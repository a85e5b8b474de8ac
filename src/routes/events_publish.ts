import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { requireScope } from "../auth/middleware";
import { visibilityOf, type Principal } from "../auth/principal";
import { EventEnvelopeSchema, type EventEnvelopeInput } from "../domain/event-envelope";
import { publishEvent } from "../domain/publish";
import { forbidden } from "../lib/errors";
import { exactEventData } from "../lib/lossless-json";
import type { AppEnv } from "../lib/services";
import { jsonBody, jsonContent, standardErrors } from "./schemas";

const PublishResultSchema = z
  .object({
    event_id: z.string().openapi({ example: "evt_a3f9k2bWqL8Hn5pZ" }),
    deliveries: z.number().int().openapi({ description: "Deliveries created by this call (0 for a repeated event_id)." }),
    duplicate: z.boolean().openapi({ description: "True when this event_id had been published before." }),
  })
  .openapi("PublishResult");

const route = createRoute({
  method: "post",
  path: "/api/v1/events",
  operationId: "publishEvent",
  tags: ["Events"],
  summary: "Publish Event",
  description:
    "Publish a platform event; it is delivered to every enabled endpoint subscribed to its type in its tenant/partner. " +
    "Idempotent by `event_id`. Needs `webhooks:publish` (or `admin:write` on a platform or admin token). " +
    "Numbers in `data` are delivered exactly as Python's `json` reads and writes them: integers of any size unchanged, " +
    "other numbers as floats (`1.0` stays `1.0`, `1e21` becomes `1e+21`).",
  middleware: [requireScope("publish"), exactEventData()],
  request: { body: jsonBody(EventEnvelopeSchema) },
  responses: { 202: jsonContent(PublishResultSchema, "Accepted for delivery"), ...standardErrors },
});

/** A tenant- or partner-scoped token publishes only inside its own scope. */
function assertMayPublishFor(principal: Principal, event: EventEnvelopeInput): void {
  const visibility = visibilityOf(principal);
  if (visibility.kind === "tenant" && event.tenant_id !== visibility.tenantId)
    throw forbidden("Not allowed to publish events for another tenant");
  if (visibility.kind === "tenant" && event.partner_id && event.partner_id !== visibility.partnerId)
    throw forbidden("Not allowed to publish events for another partner");
  if (visibility.kind === "partner" && event.partner_id !== visibility.partnerId)
    throw forbidden("Not allowed to publish events for another partner");
}

export const registerPublishEvent = (app: OpenAPIHono<AppEnv>) =>
  app.openapi(route, async (c) => {
    const event = c.req.valid("json");
    assertMayPublishFor(c.var.principal, event);
    return c.json(await publishEvent(c.var.services, event), 202);
  });
