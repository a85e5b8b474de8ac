// Authentication for every /api route, and the per-route access check that runs before input validation
// (so a caller without the right token learns nothing about what a valid request would look like).
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../lib/services";
import { bearerToken, verifyAccessToken } from "./jwt";
import { type AccessLevel, requireAccess } from "./policy";

export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  const { config, fetch, now } = c.var.services;
  c.set("principal", await verifyAccessToken(token, config.jwt, { fetch, now }));
  await next();
});

export const requireScope = (level: AccessLevel) =>
  createMiddleware<AppEnv>(async (c, next) => {
    requireAccess(c.var.principal, level);
    await next();
  });
