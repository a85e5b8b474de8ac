// Request id and one access-log line per request (at info: LOG_LEVEL=warn turns the access log off).
import { createMiddleware } from "hono/factory";
import { logger, logs } from "./logger";
import type { AppEnv } from "./services";

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const incoming = c.req.header("x-request-id");
  const requestId = incoming && VALID_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
  c.set("requestId", requestId);
  const started = performance.now();
  await next();
  c.header("X-Request-ID", requestId);
  if (!logs("info")) return;
  logger.info("request", {
    request_id: requestId,
    method: c.req.method,
    route: c.req.routePath,
    status: c.res.status,
    duration_ms: Math.round(performance.now() - started),
  });
});
