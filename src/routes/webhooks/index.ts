// The webhooks resource: every operation under /api/v1/admin/webhooks, in matching order.
import { createRouter } from "../create-router";
import { registerAssignTenantPartner } from "./assign-tenant-partner";
import { registerCreatePortalSession } from "./create-portal-session";
import { registerCreateWebhook } from "./create-webhook";
import { registerDeleteWebhook } from "./delete-webhook";
import { registerGetWebhook } from "./get-webhook";
import { registerGetWebhookDelivery } from "./get-webhook-delivery";
import { registerGetWebhookOperations } from "./get-webhook-operations";
import { registerGetWebhookStats } from "./get-webhook-stats";
import { registerListSupportedEvents } from "./list-supported-events";
import { registerListWebhookDeliveries } from "./list-webhook-deliveries";
import { registerListWebhooks } from "./list-webhooks";
import { registerRecoverWebhookDeliveries } from "./recover-webhook-deliveries";
import { registerReplayWebhookEvents } from "./replay-webhook-events";
import { registerRetryWebhookDelivery } from "./retry-webhook-delivery";
import { registerRotateWebhookSecret } from "./rotate-webhook-secret";
import { registerSendWebhookTestEvent } from "./send-webhook-test-event";
import { registerUpdateWebhook } from "./update-webhook";

export const webhooksRouter = createRouter();
// /events and /operations before /{webhook_id}: the first matching route answers.
registerListSupportedEvents(webhooksRouter);
registerGetWebhookOperations(webhooksRouter);
registerCreatePortalSession(webhooksRouter);
registerListWebhooks(webhooksRouter);
registerCreateWebhook(webhooksRouter);
registerGetWebhook(webhooksRouter);
registerUpdateWebhook(webhooksRouter);
registerDeleteWebhook(webhooksRouter);
registerListWebhookDeliveries(webhooksRouter);
registerGetWebhookDelivery(webhooksRouter);
registerRetryWebhookDelivery(webhooksRouter);
registerSendWebhookTestEvent(webhooksRouter);
registerRotateWebhookSecret(webhooksRouter);
registerGetWebhookStats(webhooksRouter);
registerAssignTenantPartner(webhooksRouter);
registerRecoverWebhookDeliveries(webhooksRouter);
registerReplayWebhookEvents(webhooksRouter);
