// The one way to make a router: an OpenAPIHono whose operations read and validate their input as FastAPI does, so
// every resource answers bad input with the same pydantic-shaped 422.
import { OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import {
  missingBody,
  type RequestInput,
  unprocessable,
  type ValidationIssue,
  zodIssuesToValidationIssues,
} from "../lib/errors";
import { type BodyReading, readBody } from "../lib/request-body";
import type { AppEnv } from "../lib/services";
import { BODY_READING, inputErrors } from "./shared-schemas";

/**
 * Registers each operation in the OpenAPI document and serves it with, in this order:
 * - the route's own middleware (its access check): an unauthorised caller never sees a 400, 413 or 422;
 * - the body, read as FastAPI reads it (request-body.ts);
 * - validation of the path, the query and the body together, every problem in one 422, path before query before body
 *   (FastAPI's order); the query's repeated parameters count by their last value, as Starlette's do.
 * The document lists 400 and 413 only where a body is read, 422 only where a parameter or the body can fail, 500 always.
 */
export class ApiRouter extends OpenAPIHono<AppEnv> {
  override openapi = (<R extends RouteConfig>(route: R, handler: MiddlewareHandler<AppEnv>) => {
    // Validated here: path, query and a JSON body. Anything else declared would go unchecked, so it is refused.
    if (route.request?.headers || route.request?.cookies)
      throw new Error(`${route.method} ${route.path}: header and cookie schemas are not validated by createRouter`);
    const reading = bodyReading(route);
    if (!route.hide) this.openAPIRegistry.registerPath(documented(route, reading));
    const own = route.middleware === undefined ? [] : [route.middleware].flat();
    const middleware = [...own, ...(reading ? [readBody(reading)] : []), validateInput(route, reading)];
    this.on([route.method], [route.path.replaceAll(/\/{(.+?)}/g, "/:$1")], ...(middleware as []), handler);
    return this;
  }) as unknown as OpenAPIHono<AppEnv>["openapi"];
}

export const createRouter = () => new ApiRouter();
export type Router = ApiRouter;

const bodyReading = (route: RouteConfig): BodyReading | undefined =>
  (route.request?.body as { [BODY_READING]?: BodyReading } | undefined)?.[BODY_READING];

/** The route as the document shows it: no middleware, and the input errors it can give. */
function documented(
  { middleware: _middleware, hide: _hide, ...route }: RouteConfig,
  reading: BodyReading | undefined,
): RouteConfig {
  const { params, query } = route.request ?? {};
  const bodyCanFail = reading !== undefined && reading.unreadable !== "ignore";
  return {
    ...route,
    responses: {
      ...route.responses,
      ...(bodyCanFail ? { 400: inputErrors[400], 413: inputErrors[413] } : {}),
      ...(reading || params || query ? { 422: inputErrors[422] } : {}),
      500: inputErrors[500],
    },
  };
}

type Target = "param" | "query" | "json";
const shapeKeys = (schema: z.ZodType) => Object.keys((schema as unknown as { shape?: object }).shape ?? {});

function validateInput(route: RouteConfig, reading: BodyReading | undefined): MiddlewareHandler<AppEnv> {
  const bodySchema = (route.request?.body?.content?.["application/json"] as { schema?: z.ZodType } | undefined)?.schema;
  const schemas: [Target, z.ZodType | undefined][] = [
    ["param", route.request?.params as z.ZodType | undefined],
    ["query", route.request?.query as z.ZodType | undefined],
    ["json", bodySchema],
  ];
  return async (c, next) => {
    const body = c.var.requestBody;
    const input: RequestInput = {
      path: c.req.param(),
      query: Object.fromEntries(Object.entries(c.req.queries()).map(([name, values]) => [name, values.at(-1)])),
      get body() {
        return body?.exact;
      },
    };
    const raw: Record<Target, unknown> = { param: input.path, query: input.query, json: body?.value };
    const issues: ValidationIssue[] = [];
    for (const [target, schema] of schemas) {
      if (!schema) continue;
      let value = raw[target];
      if (target === "json" && value === undefined) {
        if (reading?.required) {
          issues.push(missingBody());
          continue;
        }
        value = {}; // an optional body left out: every field takes its default
      }
      const result = schema.safeParse(value);
      if (result.success) c.req.addValidatedData(target, result.data as object);
      else {
        const echoed = target === "json" ? input.body : raw[target];
        issues.push(...zodIssuesToValidationIssues(target, result.error, echoed, shapeKeys(schema)));
      }
    }
    if (issues.length > 0) throw unprocessable(issues);
    c.set("requestInput", input);
    return next();
  };
}
