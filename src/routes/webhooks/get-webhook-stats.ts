import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../../auth/middleware";
import { DELIVERY_STATUSES, type DeliveryStatus, ERROR_CLASSES, WEBHOOK_STATUSES } from "../../db/schema";
import {
  FAILURE_FAMILIES,
  FAILURE_FAMILY_OF,
  type FailureFamily,
  LATENCY_BUCKET_BOUNDS_MS,
} from "../../domain/stats/histogram";
import { readEndpointStats, STATS_WINDOW_NAMES, toPublicStats } from "../../domain/stats/read-model";
import type { Router } from "../create-router";
import { jsonContent, notFoundError, standardErrors } from "../shared-schemas";
import { onWebhookShard, requireVisibleWebhook } from "./guards";
import { WebhookIdParam } from "./schemas";

const StatsQuery = z.object({
  window: z
    .enum(STATS_WINDOW_NAMES)
    .default("24h")
    .openapi({ description: "1h and 24h give an hourly series, 7d and 30d a daily one (UTC).", example: "24h" }),
});

const ms = (description: string) => z.number().nullable().openapi({ description });
const countsBy = <K extends string>(keys: readonly K[]) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().int()])) as Record<K, z.ZodNumber>);
const classesIn = (family: FailureFamily) => ERROR_CLASSES.filter((c) => FAILURE_FAMILY_OF[c] === family).join(", ");

const WebhookStatsSchema = z
  .object({
    webhook_id: z.string(),
    window: z.enum(STATS_WINDOW_NAMES),
    from: z
      .string()
      .openapi({ description: "Start of the window: the hour (day for 7d/30d) that contains now minus the window." }),
    to: z.string().openapi({ description: "End of the window (exclusive): the end of the current hour." }),
    bucket: z.enum(["hour", "day"]),
    status: z.enum(WEBHOOK_STATUSES),
    deliveries: countsBy<DeliveryStatus>(DELIVERY_STATUSES)
      .extend({ total: z.number().int() })
      .openapi({ description: "Deliveries created in the window, by current status." }),
    attempts: z.number().int().openapi({ description: "Delivery attempts started in the window." }),
    success_rate: z
      .number()
      .nullable()
      .openapi({ description: "Successful attempts / attempts (0..1); null without attempts.", example: 0.9871 }),
    latency: z
      .object({
        avg: ms("Mean attempt duration"),
        p50: ms("Median"),
        p95: ms("95th percentile"),
        p99: ms("99th percentile"),
      })
      .openapi({
        description: `Attempt durations in ms (all attempts, failed ones included). Percentiles come from a histogram with bucket bounds ${LATENCY_BUCKET_BOUNDS_MS.join(", ")} ms: exact to the bucket.`,
      }),
    failures_by_class: countsBy<FailureFamily>(FAILURE_FAMILIES).openapi({
      description: `Failed attempts: connection = ${classesIn("connection")}; 4xx includes 429; other = ${classesIn("other")}.`,
    }),
    last_success_at: z.string().nullable(),
    last_failure_at: z.string().nullable(),
    failure_count: z
      .number()
      .int()
      .openapi({ description: "Consecutive failed deliveries now (auto-disable counts these)." }),
    disabled_at: z.string().nullable(),
    missed_events_since_disabled: z.number().int().openapi({
      description: "Events published since the webhook was disabled that it would have received (0 while enabled).",
    }),
    series: z.array(
      z
        .object({
          start: z.string(),
          attempts: z.number().int(),
          successes: z.number().int(),
          failures: z.number().int(),
          deliveries_succeeded: z.number().int(),
          deliveries_failed: z
            .number()
            .int()
            .openapi({ description: "Deliveries whose last attempt (out of retries) failed in this bucket." }),
          avg_latency_ms: z.number().nullable(),
        })
        .openapi("WebhookStatsPoint"),
    ),
  })
  .openapi("WebhookStats");
export type GetWebhookStatsResponse = z.infer<typeof WebhookStatsSchema>;

const route = createRoute({
  method: "get",
  path: "/api/v1/admin/webhooks/{webhook_id}/stats",
  operationId: "getWebhookStats",
  tags: ["Webhooks"],
  summary: "Get Webhook Stats",
  description:
    "Delivery health of one webhook over a window: deliveries by status, attempts, success rate, latency percentiles, " +
    "failures by class and a series for charts. Exact up to the last recorded attempt: each attempt is counted as it is recorded.",
  middleware: [requireScope("read"), onWebhookShard],
  request: { params: WebhookIdParam, query: StatsQuery },
  responses: { 200: jsonContent(WebhookStatsSchema, "The webhook's stats"), ...standardErrors, ...notFoundError },
});

export const registerGetWebhookStats = (router: Router) =>
  router.openapi(route, async (c) => {
    const { webhook_id } = c.req.valid("param");
    const { window } = c.req.valid("query");
    const { now } = c.var.services;
    const webhook = await requireVisibleWebhook(c, webhook_id);
    const rows = await readEndpointStats(c.var.services, webhook.id, window, now());
    return c.json(toPublicStats(webhook, rows), 200);
  });
