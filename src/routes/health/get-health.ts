import { createRoute, z } from "@hono/zod-openapi";
import { JWKS_HEALTH, jwksHealth } from "../../auth/jwks";
import type { Database } from "../../db/client";
import { logger } from "../../lib/logger";
import type { Router } from "../create-router";
import { jsonContent } from "../shared-schemas";

/** An uptime monitor wants an answer, not a hung request: D1 slower than this counts as down. */
const HEALTH_D1_TIMEOUT_MS = 2000;

/** The token keys of the isolate that answered (jwksHealth); informational: `status` does not follow it. */
const JwksHealthField = z.enum(JWKS_HEALTH).openapi({
  description:
    "Token keys of the isolate that answered: `ok`; `stale` (the JWKS fails, the last good keys still verify); " +
    "`unavailable` (the JWKS fails and no usable keys are left: tokens get 503); `not_configured` (no JWT_JWKS_URL).",
});

const HealthSchema = z
  .object({ status: z.enum(["ok", "error"]), d1: z.enum(["ok", "error"]), jwks: JwksHealthField })
  .openapi("Health");
export type GetHealthResponse = z.infer<typeof HealthSchema>;

const route = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  tags: ["Operations"],
  summary: "Health",
  description: "For uptime monitors: checks that D1 answers. No token needed.",
  security: [],
  responses: {
    200: jsonContent(HealthSchema, "The service and D1 answer"),
    503: jsonContent(HealthSchema, "D1 failed or did not answer in time"),
  },
});

async function d1Answers(db: Database): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_D1_TIMEOUT_MS} ms`)), HEALTH_D1_TIMEOUT_MS);
  });
  try {
    const row = await Promise.race([db.$client.prepare("SELECT 1 AS ok").first<{ ok: number }>(), timeout]);
    return row?.ok === 1;
  } catch (err) {
    logger.error("health check: D1 failed", { error: String(err) });
    return false;
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

export const registerGetHealth = (router: Router) =>
  router.openapi(route, async (c) => {
    c.header("Cache-Control", "no-store");
    const jwks = jwksHealth(c.var.services.config.jwt, c.var.services.now());
    return (await d1Answers(c.var.services.db))
      ? c.json({ status: "ok" as const, d1: "ok" as const, jwks }, 200)
      : c.json({ status: "error" as const, d1: "error" as const, jwks }, 503);
  });
