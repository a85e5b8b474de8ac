// The Worker's entry: one handler per trigger, each delegating to its module.
import { WorkerEntrypoint } from "cloudflare:workers";
import { createApp } from "./app";
import { EventEnvelopeSchema } from "./domain/event-envelope";
import { publishEvent, type PublishResult } from "./domain/publish";
import { handleQueueBatch } from "./jobs/delivery-consumer";
import { runScheduled } from "./jobs/scheduled";
import { zodIssuesToValidationIssues } from "./lib/errors";
import { createServices } from "./lib/services";

const app = createApp();

export default {
  fetch: app.fetch,

  async queue(batch, env, _ctx) {
    await handleQueueBatch(batch, createServices(env));
  },

  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runScheduled(controller.cron, createServices(env)));
  },
} satisfies ExportedHandler<Env, unknown>;

/**
 * Publishing for other Workers of the platform, over a service binding (no HTTP, no token):
 *   [[services]] binding = "WEBHOOKS", service = "scaikey-webhooks", entrypoint = "WebhooksService"
 *   await env.WEBHOOKS.publish({ event_type: "user.created", tenant_id, partner_id, resource, actor, data })
 * Same validation and the same publishEvent as POST /api/v1/events.
 */
export class WebhooksService extends WorkerEntrypoint<Env> {
  async publish(envelope: unknown): Promise<PublishResult> {
    const parsed = EventEnvelopeSchema.safeParse(envelope);
    if (!parsed.success) {
      const issues = zodIssuesToValidationIssues("json", parsed.error, envelope);
      throw new TypeError(`Invalid event envelope: ${issues.map((i) => `${i.loc.slice(1).join(".")}: ${i.msg}`).join("; ")}`);
    }
    return publishEvent(createServices(this.env), parsed.data);
  }
}
