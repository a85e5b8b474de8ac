// The one way to make a router: OpenAPIHono carrying our validation hook, so every resource answers a failed
// zod validation with the same 422 body, and registering each operation with what its inputs imply.
import { OpenAPIHono, type RouteConfig } from "@hono/zod-openapi";
import { bodyLimit, readsBody } from "../lib/body-limit";
import { validationHook } from "../lib/errors";
import type { AppEnv } from "../lib/services";
import { inputErrors } from "./shared-schemas";

export const createRouter = () => {
  const router = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const register = router.openapi;
  router.openapi = ((route, handler, hook) => register(withInputHandling(route), handler, hook)) as typeof register;
  return router;
};

export type Router = ReturnType<typeof createRouter>;

/**
 * Done here so that no route, including ones added later, can forget it:
 * - a JSON body is read (size limit, JSON, presence) by middleware after the route's own guards (before any of
 *   its middleware marked `readingBody`), so the access check answers first: an unauthorised caller never sees
 *   a 422 or 413;
 * - the document lists 413 only where a body is taken, 422 only where a parameter or the body can fail, 500 always.
 */
function withInputHandling<R extends RouteConfig>(route: R): R {
  const { body, params, query, headers, cookies } = route.request ?? {};
  const own = route.middleware === undefined ? [] : [route.middleware].flat();
  const readerAt = own.findIndex(readsBody);
  const guards = readerAt === -1 ? own : own.slice(0, readerAt);
  const readers = readerAt === -1 ? [] : own.slice(readerAt);
  return {
    ...route,
    middleware: body ? [...guards, bodyLimit({ required: body.required === true }), ...readers] : route.middleware,
    responses: {
      ...route.responses,
      ...(body ? { 413: inputErrors[413] } : {}),
      ...(body || params || query || headers || cookies ? { 422: inputErrors[422] } : {}),
      500: inputErrors[500],
    },
  };
}
