import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { recoveryWindow, replayEvents, replayEventTypes } from "../../domain/recovery";
import { pyString } from "../../lib/pydantic";
import type { Router } from "../create-router";
import { conflictError, jsonBody, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireEnabledWebhook, requireVisibleWebhook } from "./guards";
import { RecoveryResultSchema, recoveryWindowFields, WebhookIdParam } from "./schemas";

const ReplayBody = z
  .object({
    ...recoveryWindowFields,
    event_types: z
      .array(pyString({ max: 100 }))
      .min(1)
      .max(100)
      .optional()
      .openapi({
        description: "Event types to replay, each one the webhook subscribes to (default: its whole subscription).",
        example: ["user.created"],
      }),
  })
  .openapi("ReplayEvents");
export type ReplayWebhookEventsResponse = z.infer<typeof RecoveryResultSchema>;

const route = createRoute({
  method: "post",
  path: "/api/v1/admin/webhooks/{webhook_id}/replay",
  operationId: "replayWebhookEvents",
  tags: ["Deliveries"],
  summary: "Replay Webhook Events",
  description:
    "Create a delivery for every stored event published in [since, until) that this webhook, as it stands now, " +
    "subscribes to and may see, and that it has no delivery of yet: events published while it was disabled, before it " +
    "existed, or before it subscribed to their type. One delivery per event and webhook, ever: a second call creates " +
    "nothing. Large replays continue in the background, a chunk at a time; the answer counts them all.",
  middleware: [requireScope("write"), onWebhookShard],
  request: { params: WebhookIdParam, body: jsonBody(ReplayBody) },
  responses: {
    202: jsonContent(RecoveryResultSchema, "Accepted: `deliveries` is how many are created"),
    ...standardErrors,
    ...notFoundError,
    ...conflictError("The webhook is disabled"),
  },
});

export const registerReplayWebhookEvents = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const { since, until, event_types } = c.req.valid("json");
    const services = c.var.services;
    const webhook = await requireVisibleWebhook(c, webhook_id);
    const window = recoveryWindow(since, until, services.now(), services.config.retentionDays);
    const eventTypes = replayEventTypes(webhook, event_types);
    requireEnabledWebhook(webhook);
    const result = await replayEvents(services, webhook, window, eventTypes);
    return c.json(result, 202);
  });
