import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { requireScope } from "../../auth/middleware";
import { assertMayViewOperations } from "../../auth/policy";
import { DELIVERY_STATUSES, JOB_OUTCOMES, RECOVERY_KINDS, WEBHOOK_STATUSES } from "../../db/schema";
import { SCHEDULED_JOBS } from "../../domain/job-runs";
import { OPERATIONS_COUNT_LIMIT, OPERATIONS_LIST_LIMIT, readOperationsOfShards } from "../../domain/operations";
import { FAILURE_FAMILIES, type FailureFamily } from "../../domain/stats/histogram";
import type { AppEnv } from "../../lib/services";
import type { Router } from "../create-router";
import { jsonContent, standardErrors } from "../shared-schemas";

const time = (description: string) => z.string().nullable().openapi({ description });
const count = (description: string) => z.number().int().openapi({ description });
const capped = `stops at ${OPERATIONS_COUNT_LIMIT.toLocaleString("en")} (meaning at least that many)`;

const OperationsSchema = z
  .object({
    generated_at: z.string(),
    delivery: z.object({
      lag_seconds: count("How long the oldest due delivery has waited for its attempt (0: none is due)."),
      lagging: z.boolean().openapi({ description: "lag_seconds is over max_lag_seconds: /health answers 503." }),
      max_lag_seconds: count("HEALTH_MAX_DELIVERY_LAG_SECONDS."),
      oldest_due: z
        .object({
          delivery_id: z.number().int(),
          webhook_id: z.string(),
          status: z.enum(DELIVERY_STATUSES),
          attempt_count: z.number().int(),
          due_at: z.string().openapi({ description: "When its attempt became due (or its lease ended)." }),
        })
        .nullable()
        .openapi({ description: "The active delivery that has waited longest past its due time; null: none is due." }),
      pending: count(`Deliveries pending now; with retrying, ${capped}.`),
      retrying: count("Deliveries waiting for a retry now."),
    }),
    queue: z.object({
      watermark: time("The latest send time of a queue message the consumer has received."),
      oldest_waiting_probe_at: time("The send time of the oldest probe the consumer has not received; null: none."),
      lag_seconds: count("How long that probe has waited (0: none waiting)."),
      lagging: z.boolean().openapi({ description: "lag_seconds is over max_lag_seconds: /health answers 503." }),
    }),
    cron_jobs: z.array(
      z
        .object({
          name: z.enum(SCHEDULED_JOBS.map((job) => job.name) as [string, ...string[]]),
          cron: z.string(),
          period_seconds: z.number().int(),
          last_started_at: time("null: not run since this table existed."),
          last_finished_at: time("null: no run finished yet."),
          last_outcome: z.enum(JOB_OUTCOMES).nullable(),
          last_error_class: z
            .string()
            .nullable()
            .openapi({ description: "When the last run failed: `d1`, or the error's name (`type_error`…)." }),
          last_succeeded_at: z.string().nullable(),
          running: z.boolean().openapi({
            description: "The last start has no finish yet: running now, or stopped without recording its end.",
          }),
          overdue: z
            .boolean()
            .openapi({ description: "No run completed within 3 times its period: /health answers 503." }),
        })
        .openapi("CronJobRun"),
    ),
    recoveries: z.object({
      open: count(`Recovers and replays the cron is still working through; ${capped}.`),
      items: z
        .array(
          z
            .object({
              id: z.number().int(),
              webhook_id: z.string(),
              kind: z.enum(RECOVERY_KINDS),
              since: z.string(),
              until: z.string(),
              cursor: z.string().openapi({ description: "How far into its window it has come." }),
              requested_at: z.string(),
            })
            .openapi("OpenRecovery"),
        )
        .openapi({ description: `The oldest ${OPERATIONS_LIST_LIMIT}.` }),
    }),
    last_hour: z
      .object({
        from: z.string().openapi({ description: "Start of the hour that contains now minus one hour." }),
        to: z.string().openapi({ description: "End of the current hour (exclusive)." }),
        attempts: z.number().int(),
        successes: z.number().int(),
        deliveries_succeeded: z.number().int(),
        deliveries_failed: count("Deliveries whose last attempt (out of retries) failed."),
        failures_by_class: z.object(
          Object.fromEntries(FAILURE_FAMILIES.map((f) => [f, z.number().int()])) as Record<FailureFamily, z.ZodNumber>,
        ),
      })
      .openapi({ description: "Every webhook's attempts, from the hourly stats (written with each attempt)." }),
    webhooks: z.object({
      failing: count(`Enabled webhooks whose last deliveries failed (failure_count > 0); ${capped}.`),
      auto_disabled: count(`Webhooks the service disabled (consecutive failures, or 410 Gone); ${capped}.`),
      items: z
        .array(
          z
            .object({
              id: z.string(),
              tenant_id: z.string().nullable(),
              partner_id: z.string().nullable(),
              status: z.enum(WEBHOOK_STATUSES),
              failure_count: z.number().int(),
              last_failure_at: z.string().nullable(),
              disabled_at: z.string().nullable(),
              disabled_reason: z.string().nullable(),
            })
            .openapi("TroubledWebhook"),
        )
        .openapi({ description: `The ${OPERATIONS_LIST_LIMIT} with the most consecutive failures.` }),
    }),
    shards: z
      .array(
        z
          .object({
            shard: z.number().int().openapi({ description: "The shard: 0 is the DB binding, n is DB_<n>." }),
            lag_seconds: count("How long this shard's oldest due delivery has waited (0: none is due)."),
            pending: count(`Deliveries pending in this shard; with retrying, ${capped}.`),
            retrying: count("Deliveries waiting for a retry in this shard."),
            queue_watermark: time(
              "The latest send time of a queue message received in a batch that reached this shard.",
            ),
            queue_lag_seconds: count("How long this shard's oldest waiting probe has waited (0: none waiting)."),
            open_recoveries: count("Recovers and replays still open in this shard."),
            failing_webhooks: count("Enabled webhooks of this shard whose last deliveries failed."),
            last_hour_attempts: count("This shard's attempts since the start of the previous hour."),
          })
          .openapi("ShardOperations"),
      )
      .openapi({
        description:
          "Each shard's own figures (the sections above add them up: counts summed, lag and lists across all).",
      }),
  })
  .openapi("Operations");
export type GetWebhookOperationsResponse = z.infer<typeof OperationsSchema>;

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/operations",
  operationId: "getWebhookOperations",
  tags: ["Operations"],
  summary: "Get Webhook Operations",
  description:
    "How the delivery pipeline is doing, for the platform's operators: delivery lag and the oldest due delivery, the " +
    "queue watermark, pending and retrying counts, each cron job's last run, open recoveries, the last hour's " +
    "deliveries and failures by class, and the webhooks failing or auto-disabled. Only a super admin or a platform " +
    "token with `admin:read` may call this.",
  middleware: [
    requireScope("read"),
    createMiddleware<AppEnv>(async (c, next) => (assertMayViewOperations(c.var.principal), next())),
  ],
  responses: { 200: jsonContent(OperationsSchema, "The pipeline now"), ...standardErrors },
});

export const registerGetWebhookOperations = (router: Router) =>
  router.openapi(route, async (c) => {
    const { now, config } = c.var.services;
    return c.json(await readOperationsOfShards(c.var.services, now(), config.healthMaxDeliveryLagMs), 200);
  });
