// FastAPI's answers to a request no operation takes, for clients written against it: a method the path does not
// have is a 405 with `Allow` (HEAD included: FastAPI's routes take only their declared methods); a path that matches
// only with or without its trailing slash is a 307 there (Starlette's redirect_slashes), to an absolute URL on the
// configured public origin. Both come from the OpenAPI registry, so every documented route, including ones added
// later, gets them; a route under the prefix must therefore be an OpenAPI route (not hidden).
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../lib/services";

type Registered = Pick<OpenAPIHono, "openAPIRegistry">;

interface PathTemplate {
  pattern: RegExp;
  methods: Set<string>;
}

// The order `Allow` lists methods in.
const METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

/** Each documented path under `prefix` as a pattern (`{param}` is one non-empty segment) with its methods. */
function pathTemplates(app: Registered, prefix: string): PathTemplate[] {
  const byPath = new Map<string, Set<string>>();
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== "route" || !def.route.path.startsWith(prefix)) continue;
    const methods = byPath.get(def.route.path) ?? new Set<string>();
    methods.add(def.route.method.toUpperCase());
    byPath.set(def.route.path, methods);
  }
  return [...byPath].map(([path, methods]) => ({ pattern: templatePattern(path), methods }));
}

function templatePattern(path: string): RegExp {
  const source = path
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith("{") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}$`);
}

/** Every method some documented route takes at `path` (several templates can match, e.g. `/events` and `/{id}`). */
function methodsAt(templates: PathTemplate[], path: string): Set<string> {
  const methods = new Set<string>();
  for (const t of templates) if (t.pattern.test(path)) for (const m of t.methods) methods.add(m);
  return methods;
}

/**
 * Middleware for `prefix/*`, before authentication (as in FastAPI, routing answers before any dependency runs).
 * The route table is read on the first request, once every router is mounted. `Allow` lists every method of the
 * path, where Starlette lists only those of the first route matching it (docs/api.md).
 */
export function pathEdges(app: Registered, prefix: string): MiddlewareHandler<AppEnv> {
  let templates: PathTemplate[] | undefined;
  return async (c, next) => {
    templates ??= pathTemplates(app, prefix);
    const url = new URL(c.req.url);
    const allowed = methodsAt(templates, url.pathname);
    if (allowed.has(c.req.method)) return next();
    if (allowed.size > 0) {
      const allow = METHOD_ORDER.filter((m) => allowed.has(m)).join(", ");
      return c.json({ detail: "Method Not Allowed" }, 405, { Allow: allow });
    }
    const other = url.pathname.endsWith("/") ? url.pathname.slice(0, -1) : `${url.pathname}/`;
    // Absolute on the configured origin, never the Host header (which the client controls); relative without one.
    if (methodsAt(templates, other).size > 0)
      return c.redirect(`${c.var.services.config.publicOrigin ?? ""}${other}${url.search}`, 307);
    return next();
  };
}

type OpenAPIDocument = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;
type Operation = { operationId?: string; summary?: string };

/**
 * Documents the 307 at the bare form of every path under `prefix` that ends in "/" (the webhooks collection): each
 * of that path's methods answers 307 to it, before authentication.
 */
export function documentSlashRedirects(document: OpenAPIDocument, prefix: string): OpenAPIDocument {
  const paths = { ...document.paths };
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    const bare = path.slice(0, -1);
    if (!path.startsWith(prefix) || !path.endsWith("/") || paths[bare]) continue;
    const redirects: Record<string, unknown> = {};
    for (const [method, op] of Object.entries(item) as [string, Operation][]) {
      if (!METHOD_ORDER.includes(method.toUpperCase()) || !op.operationId) continue;
      redirects[method] = {
        operationId: `${op.operationId}WithoutTrailingSlash`,
        tags: (op as { tags?: string[] }).tags,
        summary: `${op.summary ?? op.operationId} (path without the trailing slash)`,
        description: `Redirects to \`${path}\`, keeping the method, body and query. Answered before authentication.`,
        security: [],
        responses: {
          307: {
            description: `Temporary redirect to \`${path}\``,
            headers: {
              Location: {
                description:
                  "The URL with its trailing slash (on the service's public origin), and the request's query",
                schema: { type: "string" },
              },
            },
          },
        },
      };
    }
    paths[bare] = redirects;
  }
  return { ...document, paths };
}
