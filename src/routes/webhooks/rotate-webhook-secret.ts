import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { rotateWebhookSecret } from "../../domain/webhooks";
import { laxInteger } from "../../lib/pydantic";
import { toIso } from "../../lib/time";
import type { Router } from "../create-router";
import { jsonBody, jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { WebhookIdParam } from "./schemas";

const DEFAULT_PREVIOUS_SECRET_GRACE_SECONDS = 24 * 3600;

const RotateSecretBody = z
  .object({
    expire_previous_in: laxInteger({ ge: 0, le: 7 * 24 * 3600 })
      .optional()
      .openapi({
        description: "Seconds the previous secret keeps signing alongside the new one (default 86400; 0 = stop now).",
      }),
  })
  .openapi("RotateSecret");

const RotatedSecretSchema = z
  .object({
    id: z.string(),
    secret: z.string().openapi({ description: "The new signing secret, shown only here." }),
    previous_secret_expires_at: z
      .string()
      .nullable()
      .openapi({ description: "Until when deliveries also carry the previous secret's signature." }),
  })
  .openapi("RotatedSecret");
export type RotateWebhookSecretResponse = z.infer<typeof RotatedSecretSchema>;

const route = createRoute({
  method: "post",
  path: "/api/v1/admin/webhooks/{webhook_id}/rotate-secret",
  operationId: "rotateWebhookSecret",
  tags: ["Webhooks"],
  summary: "Rotate Webhook Secret",
  description:
    "Rotate a webhook's signing secret. During the grace period deliveries carry both signatures " +
    "(`X-ScaiKey-Signature: t=…,v1=<new>,v1=<old>`; two entries in `webhook-signature`).",
  middleware: [requireScope("write"), onWebhookShard],
  // The reference takes no body here: a body that is not a JSON object is ignored rather than refused.
  request: { params: WebhookIdParam, body: jsonBody(RotateSecretBody, { required: false, unreadable: "ignore" }) },
  responses: { 200: jsonContent(RotatedSecretSchema, "The new secret"), ...standardErrors, ...notFoundError },
});

export const registerRotateWebhookSecret = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const { expire_previous_in } = c.req.valid("json");
    const { db, now, secretBox } = c.var.services;
    const webhook = await requireVisibleWebhook(c, webhook_id);
    const grace = expire_previous_in ?? DEFAULT_PREVIOUS_SECRET_GRACE_SECONDS;
    const rotated = await rotateWebhookSecret(db, secretBox, webhook, grace, now());
    return c.json(
      { id: webhook.id, secret: rotated.secret, previous_secret_expires_at: toIso(rotated.previousSecretExpiresAt) },
      200,
    );
  });
