import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { authorizePublish } from "../../auth/policy";
import { EventEnvelopeSchema } from "../../domain/event-envelope";
import { publishEvent } from "../../domain/publish";
import { tenantDirectory } from "../../domain/tenant-directory";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, standardErrors } from "../shared-schemas";

const PublishResultSchema = z
  .object({
    event_id: z.string().openapi({ example: "evt_a3f9k2bWqL8Hn5pZ" }),
    deliveries: z
      .number()
      .int()
      .openapi({ description: "Deliveries created by this call (0 for a repeated event_id)." }),
    duplicate: z
      .boolean()
      .openapi({ description: "True when the same tenant (or partner) had published this event_id before." }),
  })
  .openapi("PublishResult");
export type PublishEventResponse = z.infer<typeof PublishResultSchema>;

const route = createRoute({
  method: "post",
  path: "/api/v1/events",
  operationId: "publishEvent",
  tags: ["Events"],
  summary: "Publish Event",
  description:
    "Publish a platform event; it is delivered to every enabled endpoint subscribed to its type in its tenant/partner. " +
    "Idempotent by `event_id` per tenant (or partner, for partner-level events): another owner's `event_id` is another event. " +
    "A tenant event reaches the tenant's endpoints and its partner's (per the tenant directory). " +
    "Callers: admin role tokens within their tenants, platform tokens with `admin:write` or `webhooks:publish`, tokens with `webhooks:publish` within their tenant. " +
    "`webhook.test`, `webhook.auto_disabled`, `webhook.failing` and `webhook.recovered` are sent only by the service itself. " +
    "Numbers in `data` are delivered exactly as Python's `json` reads and writes them: integers of any size unchanged, " +
    "other numbers as floats (`1.0` stays `1.0`, `1e21` becomes `1e+21`).",
  middleware: [requireScope("publish")],
  request: { body: jsonBody(EventEnvelopeSchema, { exactNumbersIn: "data" }) },
  responses: {
    202: jsonContent(PublishResultSchema, "Accepted for delivery"),
    ...standardErrors,
  },
});

export const registerPublishEvent = (router: Router) =>
  router.openapi(route, async (c) => {
    const { services } = c.var;
    const { event, learn } = await authorizePublish(c.var.principal, c.req.valid("json"), tenantDirectory(services));
    return c.json(await publishEvent(services, event, { learn }), 202);
  });
