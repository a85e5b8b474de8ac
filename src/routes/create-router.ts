// The one way to make a router: OpenAPIHono carrying our validation hook, so every resource answers a failed
// zod validation with the same 422 body.
import { OpenAPIHono } from "@hono/zod-openapi";
import { validationHook } from "../lib/errors";
import type { AppEnv } from "../lib/services";

export const createRouter = () => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

export type Router = ReturnType<typeof createRouter>;
