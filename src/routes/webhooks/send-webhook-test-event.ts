import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { ERROR_CLASSES } from "../../db/schema";
import { sendWebhookTestEvent } from "../../domain/webhook-test-event";
import type { Router } from "../create-router";
import { conflictError, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { WebhookIdParam } from "./schemas";

const TestResultSchema = z
  .object({
    success: z.boolean(),
    delivery_id: z.number().int(),
    event_id: z.string(),
    status_code: z.number().int().nullable(),
    duration_ms: z.number().int(),
    error: z.string().nullable(),
    error_class: z.enum(ERROR_CLASSES).nullable(),
    response_body: z.string().nullable().openapi({ description: "First 4 KiB of the receiver's answer." }),
    delivery_status: z.string().openapi({ description: "success, or retrying/failed as for any delivery." }),
  })
  .openapi("WebhookTestResult");
export type SendWebhookTestEventResponse = z.infer<typeof TestResultSchema>;

const route = createRoute({
  method: "post",
  path: "/api/v1/admin/webhooks/{webhook_id}/test",
  operationId: "sendWebhookTestEvent",
  tags: ["Webhooks"],
  summary: "Test Webhook",
  description:
    "Send a `webhook.test` event to this endpoint alone, now, and answer with the attempt's outcome. It is recorded like any delivery.",
  middleware: [requireScope("write"), onWebhookShard],
  request: { params: WebhookIdParam },
  responses: {
    200: jsonContent(TestResultSchema, "The attempt's outcome"),
    ...standardErrors,
    ...notFoundError,
    ...conflictError(
      "Flow control holds the test: the webhook is ordered and an earlier delivery is open, or its rate limit is " +
        "reached. The test delivery is queued and goes out in its turn.",
    ),
  },
});

export const registerSendWebhookTestEvent = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const services = c.var.services;
    const webhook = await requireVisibleWebhook(c, webhook_id);
    const { eventId, outcome } = await sendWebhookTestEvent(services, webhook, c.var.principal.subject || null);
    const r = outcome.result;
    return c.json(
      {
        success: r.ok,
        delivery_id: outcome.deliveryId,
        event_id: eventId,
        status_code: r.statusCode,
        duration_ms: r.durationMs,
        error: r.errorMessage,
        error_class: r.errorClass,
        response_body: r.responseExcerpt,
        delivery_status: outcome.status,
      },
      200,
    );
  });
