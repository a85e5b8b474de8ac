// The one error module: typed errors thrown anywhere, one onError handler that renders them,
// and the translation of zod issues into FastAPI's 422 body that existing clients parse.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { logger } from "./logger";

/** One entry of FastAPI's `HTTPValidationError.detail`. */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** An error with an HTTP status and a client-safe `detail`. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly detail: string | ValidationIssue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === "string" ? detail : "Validation failed");
    this.name = "ApiError";
  }
}

export const unauthorized = (detail: string) =>
  new ApiError(401, detail, { "WWW-Authenticate": 'Bearer realm="scaikey-webhooks", error="invalid_token"' });
export const forbidden = (detail: string) => new ApiError(403, detail);
export const notFound = (detail: string) => new ApiError(404, detail);
export const conflict = (detail: string) => new ApiError(409, detail);
export const payloadTooLarge = (detail: string) => new ApiError(413, detail);
/** A 503: something this service depends on did not answer; the caller may try again after `retryAfterSeconds`. */
export const serviceUnavailable = (detail: string, retryAfterSeconds = 5) =>
  new ApiError(503, detail, { "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) });
export const unprocessable = (issues: ValidationIssue[]) => new ApiError(422, issues);
/** A 422 for one field, e.g. `invalidField(["body", "tenant_id"], "...")`. */
export const invalidField = (loc: (string | number)[], msg: string, type = "value_error") =>
  unprocessable([{ loc, msg, type }]);

/** Where a validated value came from, in FastAPI's `loc[0]` vocabulary. */
const LOCATION_BY_TARGET: Record<string, string> = { json: "body", query: "query", param: "path", header: "header" };

/** zod issues → FastAPI `detail` entries (`loc` names the exact place, `type` follows pydantic's names). */
export function zodIssuesToValidationIssues(target: string, error: z.ZodError, input: unknown): ValidationIssue[] {
  const root = LOCATION_BY_TARGET[target] ?? target;
  const out: ValidationIssue[] = [];
  for (const issue of error.issues) {
    const loc = [root, ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))];
    switch (issue.code) {
      case "unrecognized_keys":
        for (const key of issue.keys)
          out.push({ loc: [...loc, key], msg: "Extra inputs are not permitted", type: "extra_forbidden" });
        break;
      case "invalid_type":
        if (valueAt(input, issue.path) === undefined) out.push({ loc, msg: "Field required", type: "missing" });
        else out.push({ loc, msg: issue.message, type: `${issue.expected}_type` });
        break;
      case "too_small":
        out.push({ loc, msg: issue.message, type: issue.origin === "number" ? "greater_than_equal" : "too_short" });
        break;
      case "too_big":
        out.push({ loc, msg: issue.message, type: issue.origin === "number" ? "less_than_equal" : "too_long" });
        break;
      case "invalid_value":
        out.push({ loc, msg: issue.message, type: "literal_error" });
        break;
      case "invalid_format":
        out.push({ loc, msg: issue.message, type: issue.format === "url" ? "url_parsing" : "string_pattern_mismatch" });
        break;
      case "invalid_key": // a record key failed its own schema: report the inner reason
        out.push({ loc, msg: issue.issues[0]?.message ?? issue.message, type: "value_error" });
        break;
      default:
        out.push({ loc, msg: issue.message, type: "value_error" });
    }
  }
  return out;
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** The OpenAPIHono `defaultHook`: every failed zod validation becomes our 422. `data` is the raw input on failure. */
export function validationHook(result: { success: boolean; error?: z.ZodError; data?: unknown; target: string }) {
  if (!result.success && result.error)
    throw unprocessable(zodIssuesToValidationIssues(result.target, result.error, result.data));
}

/** Renders any thrown error; nothing internal (stack, SQL) ever reaches the client. */
export function renderError(err: Error, c: Context): Response {
  if (err instanceof ApiError) return c.json({ detail: err.detail }, err.status, err.headers);
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    return c.json({ detail: err.message || "Request failed" }, status);
  }
  logger.error("unhandled error", { error: String(err?.stack ?? err) });
  return c.json({ detail: "Internal Server Error" }, 500);
}
