// Builds the Hono app: middleware, error handling, the resource routers, the OpenAPI document and /docs.
import { Scalar } from "@scalar/hono-api-reference";
import { authenticate } from "./auth/middleware";
import { renderError } from "./lib/errors";
import { requestContext } from "./lib/request-context";
import { createServices, type Services } from "./lib/services";
import { portalRouter } from "./portal/router";
import { createRouter } from "./routes/create-router";
import { eventsRouter } from "./routes/events";
import { healthRouter } from "./routes/health";
import { documentSlashRedirects, pathEdges } from "./routes/path-edges";
import { webhooksRouter } from "./routes/webhooks";

const API_VERSION = "1.0.0";

const OPENAPI_DOCUMENT = {
  openapi: "3.1.0",
  info: {
    title: "ScaiKey Webhooks API",
    version: API_VERSION,
    description: "Manage webhook endpoints and inspect their deliveries. Every endpoint needs a Bearer JWT.",
  },
  // Relative: the paths carry their full prefix, so the document holds on whatever origin serves it.
  servers: [{ url: "/", description: "The origin serving this document" }],
  security: [{ bearerAuth: [] }],
};

// No `App` type is exported: operations register themselves per file, so the app's type carries no routes and hono/client
// would give an empty client; typed clients come from the OpenAPI document (docs/testing.md#layout).
/** `services` replaces the container built from the bindings (benchmarks and tests pass the real one, e.g. with a fixed clock). */
export function createApp(makeServices: (env: Env) => Services = createServices) {
  const app = createRouter();

  app.use("*", requestContext);
  app.use("*", async (c, next) => {
    c.set("services", makeServices(c.env));
    await next();
  });
  // 405 for a method the path lacks, 307 across a trailing slash (the collection's path ends in "/"): before auth.
  app.use("/api/*", pathEdges(app, "/api/"));
  app.use("/api/*", authenticate);
  // A route's JSON body is read by its own middleware, after its access check (createRouter).

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
  app.get("/openapi.json", (c) => c.json(documentSlashRedirects(app.getOpenAPI31Document(OPENAPI_DOCUMENT), "/api/")));
  // The delivery portal: its own session cookie instead of a bearer token (src/portal).
  app.get("/portal/", (c) => c.redirect("/portal", 301));
  app.route("/portal", portalRouter);
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "ScaiKey Webhooks API" }));

  app.notFound((c) => c.json({ detail: "Not Found" }, 404));
  app.onError(renderError);
  return app;
}
