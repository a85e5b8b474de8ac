// The Worker's entry: one handler per trigger, each delegating to its module.
import { WorkerEntrypoint } from "cloudflare:workers";
import { createApp } from "./app";
import { authorizePublish } from "./auth/policy";
import { EventEnvelopeSchema } from "./domain/event-envelope";
import { PartnerIdSchema, TenantIdSchema } from "./domain/owner-id";
import { type PublishResult, publishEvent } from "./domain/publish";
import { type Assignment, tenantDirectory } from "./domain/tenant-directory";
import { handleQueueBatch } from "./jobs/delivery-consumer";
import { runScheduled } from "./jobs/scheduled";
import { zodIssuesToValidationIssues } from "./lib/errors";
import { createServices } from "./lib/services";

export { WebhookRateLimiter } from "./domain/delivery/rate-limit";

const app = createApp();

export default {
  fetch: app.fetch,

  async queue(batch, env, ctx) {
    await handleQueueBatch(batch, createServices(env), ctx);
  },

  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runScheduled(controller.cron, createServices(env)));
  },
} satisfies ExportedHandler<Env, unknown>;

/**
 * Publishing for other Workers of the platform, over a service binding (no HTTP, no token):
 *   [[services]] binding = "WEBHOOKS", service = "scaikey-webhooks", entrypoint = "WebhooksService"
 *   await env.WEBHOOKS.publish({ event_type: "user.created", tenant_id, partner_id, resource, actor, data })
 * Same validation and the same publishEvent as POST /api/v1/events. The binding is a trusted publisher: a tenant
 * event naming its partner fills the tenant's directory entry if it has none, and assignTenantPartner sets it.
 */
export class WebhooksService extends WorkerEntrypoint<Env> {
  async publish(envelope: unknown): Promise<PublishResult> {
    const parsed = EventEnvelopeSchema.safeParse(envelope);
    if (!parsed.success) {
      const issues = zodIssuesToValidationIssues("json", parsed.error, envelope);
      throw new TypeError(
        `Invalid event envelope: ${issues.map((i) => `${i.loc.slice(1).join(".")}: ${i.msg}`).join("; ")}`,
      );
    }
    const services = createServices(this.env);
    const { event, learn } = await authorizePublish(null, parsed.data, tenantDirectory(services));
    return publishEvent(services, event, { learn });
  }

  /** Records that `tenantId` belongs to `partnerId`, moving the tenant's webhooks along. */
  async assignTenantPartner(tenantId: unknown, partnerId: unknown): Promise<Assignment> {
    for (const [name, schema, value] of [
      ["tenant_id", TenantIdSchema, tenantId],
      ["partner_id", PartnerIdSchema, partnerId],
    ] as const) {
      const parsed = schema.safeParse(value);
      if (!parsed.success) throw new TypeError(`Invalid ${name}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    }
    const services = createServices(this.env);
    return tenantDirectory(services).assign(tenantId as string, partnerId as string, "service");
  }
}
