import { createRoute, z } from "@hono/zod-openapi";
import { JWKS_HEALTH, jwksHealth } from "../../auth/jwks";
import type { Database } from "../../db/client";
import { allShards } from "../../db/shards";
import {
  deliveryLagMs,
  overdueJobs,
  type PipelineState,
  queueLagMs,
  readPipelineState,
} from "../../domain/pipeline-health";
import { logger } from "../../lib/logger";
import type { Services } from "../../lib/services";
import type { Router } from "../create-router";
import { jsonContent } from "../shared-schemas";

/** An uptime monitor wants an answer, not a hung request: D1 slower than this counts as down. */
const HEALTH_D1_TIMEOUT_MS = 2000;

/** The token keys of the isolate that answered (jwksHealth); informational: `status` does not follow it. */
const JwksHealthField = z.enum(JWKS_HEALTH).openapi({
  description:
    "Token keys of the isolate that answered: `ok`; `stale` (the JWKS fails, the last good keys still verify); " +
    "`unavailable` (the JWKS fails and no usable keys are left: tokens get 503); `not_configured` (no JWT_JWKS_URL). " +
    "Informational: `status` does not follow it (restarting cannot fix ScaiKey's JWKS).",
});

const HealthSchema = z
  .object({
    status: z.enum(["ok", "error"]),
    d1: z.enum(["ok", "error"]).openapi({ description: "D1 answered the health read within 2 s." }),
    delivery: z.enum(["ok", "lagging", "unknown"]).openapi({
      description: "`lagging`: the oldest due delivery has waited longer than `HEALTH_MAX_DELIVERY_LAG_SECONDS`.",
    }),
    queue: z.enum(["ok", "lagging", "unknown"]).openapi({
      description: "`lagging`: a message has waited in the queue longer than `HEALTH_MAX_DELIVERY_LAG_SECONDS`.",
    }),
    lag_seconds: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "How long the oldest due delivery or queued message has waited; null when D1 failed." }),
    cron: z.enum(["ok", "overdue", "unknown"]).openapi({
      description: "`overdue`: a cron job has not completed a run within 3 times its schedule.",
    }),
    jwks: JwksHealthField,
    shards: z
      .array(
        z
          .object({
            shard: z.number().int().openapi({ description: "The shard: 0 is the DB binding, n is DB_<n>." }),
            d1: z.enum(["ok", "error"]),
            delivery: z.enum(["ok", "lagging", "unknown"]),
            queue: z.enum(["ok", "lagging", "unknown"]),
            lag_seconds: z.number().int().nullable(),
          })
          .openapi("ShardHealth"),
      )
      .openapi({ description: "Each shard's checks; the fields above are the worst of them." }),
  })
  .openapi("Health");
export type GetHealthResponse = z.infer<typeof HealthSchema>;

const route = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  tags: ["Operations"],
  summary: "Health",
  description:
    "For uptime monitors: D1 answers, deliveries and queue messages wait no longer than " +
    "`HEALTH_MAX_DELIVERY_LAG_SECONDS` (default 300), and every cron job completed a run within 3 times its " +
    "schedule. No token needed; the body names the failed check and nothing about any tenant.",
  security: [],
  responses: {
    200: jsonContent(HealthSchema, "Every check passed"),
    503: jsonContent(HealthSchema, "A check failed: D1 is down or slow, delivery is stalled, or a cron job stopped"),
  },
});

/** The pipeline's state in one D1 round trip, or null when D1 fails or does not answer in time. */
async function readPipelineWithin(db: Database, now: number): Promise<PipelineState | null> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_D1_TIMEOUT_MS} ms`)), HEALTH_D1_TIMEOUT_MS);
  });
  try {
    return await Promise.race([readPipelineState(db, now), timeout]);
  } catch (err) {
    logger.error("health check: D1 failed", { error: String(err) });
    return null;
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

// One function per check, each "ok" or what is wrong.
const d1Check = (state: PipelineState | null) => (state ? "ok" : "error");

const lagCheck = (lagMs: number | null, maxLagMs: number) =>
  lagMs === null ? "unknown" : lagMs > maxLagMs ? "lagging" : "ok";

const cronCheck = (state: PipelineState | null, now: number) =>
  state === null ? "unknown" : overdueJobs(state, now).length > 0 ? "overdue" : "ok";

type ShardHealth = GetHealthResponse["shards"][number];

/** One shard's checks, from its pipeline state (null: its D1 failed). */
function shardHealth(shard: number, state: PipelineState | null, now: number, maxLagMs: number) {
  const deliveryLag = state && deliveryLagMs(state, now);
  const queueLag = state && queueLagMs(state, now);
  return {
    shard,
    d1: d1Check(state),
    delivery: lagCheck(deliveryLag, maxLagMs),
    queue: lagCheck(queueLag, maxLagMs),
    lag_seconds: state && Math.floor(Math.max(deliveryLag ?? 0, queueLag ?? 0) / 1000),
  } satisfies ShardHealth;
}

/** The worst of the shards' answers to one check (`error`/`lagging`, then `unknown`, then `ok`). */
const worstOf = <C extends string>(checks: readonly C[]): C =>
  checks.find((c) => c !== "ok" && c !== "unknown") ?? checks.find((c) => c === "unknown") ?? checks[0]!;

/**
 * Every check in every shard (each shard's pipeline read at once), the status they add up to, and the lag behind the
 * delivery and queue checks. The cron jobs' record is shard 0's: a run works in every shard.
 */
async function checkHealth(services: Services): Promise<GetHealthResponse> {
  const { now: clock, config } = services;
  const now = clock();
  const states = await Promise.all(allShards(services).map(({ db }) => readPipelineWithin(db, now)));
  const shards = states.map((state, shard) => shardHealth(shard, state, now, config.healthMaxDeliveryLagMs));
  const checks = {
    d1: worstOf(shards.map((s) => s.d1)),
    delivery: worstOf(shards.map((s) => s.delivery)),
    queue: worstOf(shards.map((s) => s.queue)),
    cron: cronCheck(states[0] ?? null, now),
  } as const;
  const status = Object.values(checks).every((check) => check === "ok") ? "ok" : "error";
  const lags = shards.map((s) => s.lag_seconds).filter((lag): lag is number => lag !== null);
  const lag = lags.length === shards.length ? Math.max(...lags) : null;
  return { status, ...checks, lag_seconds: lag, jwks: jwksHealth(config.jwt, now), shards };
}

// This isolate's last answer, so that a change is logged once each way (every isolate keeps its own: several
// isolates may each log the same change). An isolate starts out assuming the service was healthy.
let lastStatus: GetHealthResponse["status"] = "ok";

/** A warn line when the health turns, either way, for a log-based alert. */
function logTurn(health: GetHealthResponse): void {
  if (health.status === lastStatus) return;
  const { shards, ...checks } = health;
  const failing = shards.filter((s) => s.d1 !== "ok" || s.delivery !== "ok" || s.queue !== "ok").map((s) => s.shard);
  logger.warn("health changed", { ...checks, failing_shards: failing.join(","), previous: lastStatus });
  lastStatus = health.status;
}

export const registerGetHealth = (router: Router) =>
  router.openapi(route, async (c) => {
    c.header("Cache-Control", "no-store");
    const health = await checkHealth(c.var.services);
    logTurn(health);
    return c.json(health, health.status === "ok" ? 200 : 503);
  });
