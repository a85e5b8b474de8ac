// Builds the Hono app: middleware, error handling, the resource routers, the OpenAPI document and /docs.
import { Scalar } from "@scalar/hono-api-reference";
import { authenticate } from "./auth/middleware";
import { bodyLimit } from "./lib/body-limit";
import { renderError } from "./lib/errors";
import { requestContext } from "./lib/request-context";
import { createServices, type Services } from "./lib/services";
import { createRouter } from "./routes/create-router";
import { eventsRouter } from "./routes/events";
import { healthRouter } from "./routes/health";
import { webhooksRouter } from "./routes/webhooks";

const API_VERSION = "1.0.0";

/** `services` replaces the container built from the bindings (benchmarks and tests pass the real one, e.g. with a fixed clock). */
export function createApp(makeServices: (env: Env) => Services = createServices) {
  const app = createRouter();

  app.use("*", requestContext);
  app.use("*", async (c, next) => {
    c.set("services", makeServices(c.env));
    await next();
  });
  app.use("/api/*", authenticate);
  app.use("/api/*", bodyLimit());

  // The collection's path ends in "/" (the contract); like FastAPI, the bare path redirects there, keeping method and body.
  app.all("/api/v1/admin/webhooks", (c) => {
    const url = new URL(c.req.url);
    url.pathname += "/";
    return c.redirect(url.toString(), 307);
  });
  // Each router's routes carry their full paths, so a route is found by its URL alone.
  app.route("/", webhooksRouter);
  app.route("/", eventsRouter);
  app.route("/", healthRouter);

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
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "ScaiKey Webhooks API" }));

  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError(renderError);
  return app;
}

export type App = ReturnType<typeof createApp>;
