import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { recoverDeliveries, recoveryWindow } from "../../domain/recovery";
import type { Router } from "../create-router";
import { conflictError, jsonBody, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireEnabledWebhook, requireVisibleWebhook } from "./guards";
import { RecoveryResultSchema, recoveryWindowFields, WebhookIdParam } from "./schemas";

const RecoverBody = z.object(recoveryWindowFields).openapi("RecoverDeliveries");
export type RecoverWebhookDeliveriesResponse = z.infer<typeof RecoveryResultSchema>;

const route = createRoute({
  method: "post",
  path: "/api/v1/admin/webhooks/{webhook_id}/recover",
  operationId: "recoverWebhookDeliveries",
  tags: ["Deliveries"],
  summary: "Recover Webhook Deliveries",
  description:
    "Queue again, due now, every delivery of this webhook created in [since, until) that ended `failed`, or `cancelled` " +
    "because the webhook was disabled. Deliveries pending, retrying or successful are untouched, so a second call queues " +
    "nothing. Large recoveries continue in the background, a chunk at a time; the answer counts them all.",
  middleware: [requireScope("write"), onWebhookShard],
  request: { params: WebhookIdParam, body: jsonBody(RecoverBody) },
  responses: {
    202: jsonContent(RecoveryResultSchema, "Accepted: `deliveries` is how many are queued again"),
    ...standardErrors,
    ...notFoundError,
    ...conflictError("The webhook is disabled"),
  },
});

export const registerRecoverWebhookDeliveries = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const { since, until } = c.req.valid("json");
    const services = c.var.services;
    const webhook = await requireVisibleWebhook(c, webhook_id);
    const window = recoveryWindow(since, until, services.now(), services.config.retentionDays);
    requireEnabledWebhook(webhook);
    const result = await recoverDeliveries(services, webhook, window);
    return c.json(result, 202);
  });
