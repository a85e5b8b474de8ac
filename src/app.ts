// Builds the Hono app: middleware, error handling, route registration, the OpenAPI document and /docs.
import { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { authenticate } from "./auth/middleware";
import { renderError, validationHook } from "./lib/errors";
import { jsonBody } from "./lib/json-body";
import { requestContext } from "./lib/request-context";
import { createServices, type AppEnv, type Services } from "./lib/services";
import { registerGetDelivery } from "./routes/deliveries_get";
import { registerListDeliveries } from "./routes/deliveries_list";
import { registerRetryDelivery } from "./routes/deliveries_retry";
import { registerPublishEvent } from "./routes/events_publish";
import { registerHealth } from "./routes/health";
import { registerCreateWebhook } from "./routes/webhooks_create";
import { registerDeleteWebhook } from "./routes/webhooks_delete";
import { registerListSupportedEvents } from "./routes/webhooks_events";
import { registerGetWebhook } from "./routes/webhooks_get";
import { registerListWebhooks } from "./routes/webhooks_list";
import { registerRotateSecret } from "./routes/webhooks_rotate_secret";
import { registerGetWebhookStats } from "./routes/webhooks_stats";
import { registerTestWebhook } from "./routes/webhooks_test";
import { registerUpdateWebhook } from "./routes/webhooks_update";
import { registerCreatePortalSession } from "./routes/webhooks/create-portal-session";
import { portalRouter } from "./portal/router";

export const API_VERSION = "1.0.0";

/** `services` replaces the container built from the bindings (benchmarks and tests pass the real one, e.g. with a fixed clock). */
export function createApp(makeServices: (env: Env) => Services = createServices) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use("*", requestContext);
  app.use("*", async (c, next) => {
    c.set("services", makeServices(c.env));
    await next();
  });
  app.use("/api/*", authenticate);
  app.use("/api/*", jsonBody());

  // The collection's path ends in "/" (the contract); like FastAPI, the bare path redirects there, keeping method and body.
  app.all("/api/v1/admin/webhooks", (c) => {
    const url = new URL(c.req.url);
    url.pathname += "/";
    return c.redirect(url.toString(), 307);
  });
  // /events before /{webhook_id}: the first matching route answers.
  registerListSupportedEvents(app);
  registerCreatePortalSession(app);
  registerListWebhooks(app);
  registerCreateWebhook(app);
  registerGetWebhook(app);
  registerUpdateWebhook(app);
  registerDeleteWebhook(app);
  registerListDeliveries(app);
  registerGetDelivery(app);
  registerRetryDelivery(app);
  registerTestWebhook(app);
  registerRotateSecret(app);
  registerGetWebhookStats(app);
  registerPublishEvent(app);
  registerHealth(app);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "ScaiKey access token (RS256/ES256, verified against the JWKS).",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "ScaiKey Webhooks API",
      version: API_VERSION,
      description: "Manage webhook endpoints and inspect their deliveries. Every endpoint needs a Bearer JWT.",
    },
    security: [{ bearerAuth: [] }],
  });
  // The delivery portal: its own session cookie instead of a bearer token (src/portal).
  app.get("/portal/", (c) => c.redirect("/portal", 301));
  app.route("/portal", portalRouter);
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "ScaiKey Webhooks API" }));

  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError(renderError);
  return app;
}

export type App = ReturnType<typeof createApp>;
