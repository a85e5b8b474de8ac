// zod schemas and OpenAPI helpers every resource shares: error bodies, JSON request/response content, pagination.
// A resource's own schemas live in its folder (webhooks/schemas.ts; a webhook's fields are derived from its table in
// domain/webhook-fields.ts); an operation's own ones in its file.
import { z } from "@hono/zod-openapi";
import { laxInteger } from "../lib/pydantic";
import type { BodyReading } from "../lib/request-body";

const ErrorSchema = z.object({ detail: z.string() }).openapi("Error");

const ValidationErrorSchema = z
  .object({
    detail: z.array(
      z
        .object({
          loc: z.array(z.union([z.string(), z.number().int()])),
          msg: z.string(),
          type: z.string(),
          input: z.unknown().optional().openapi({ description: "The value refused, as sent." }),
          ctx: z
            .record(z.string(), z.unknown())
            .optional()
            .openapi({ description: 'The constraint, e.g. {"le": 100}.' }),
        })
        .openapi("ValidationError"),
    ),
  })
  .openapi("HTTPValidationError");

export type ErrorResponse = z.infer<typeof ErrorSchema>;
export type ValidationErrorResponse = z.infer<typeof ValidationErrorSchema>;

const errorBody = (description: string) => ({ description, content: { "application/json": { schema: ErrorSchema } } });

/** The error responses of a route that needs a token. */
export const standardErrors = {
  401: {
    ...errorBody("Missing, malformed, expired or wrongly signed token"),
    headers: {
      "WWW-Authenticate": {
        description: 'The Bearer challenge: `Bearer realm="scaikey-webhooks", error="invalid_token"`',
        schema: { type: "string" as const },
      },
    },
  },
  403: errorBody("Token lacks the required scope or tenant access"),
  503: {
    ...errorBody(
      "The token cannot be checked now: ScaiKey's JWKS cannot be read and no usable keys are cached " +
        "(`Token keys are unavailable; try again shortly`)",
    ),
    headers: {
      "Retry-After": { description: "Seconds to wait before trying again", schema: { type: "integer" as const } },
    },
  },
} as const;

/** The responses createRouter adds to an operation where its inputs make them possible (see withInputResponses). */
export const inputErrors = {
  400: errorBody("Request body is not UTF-8 (`There was an error parsing the body`)"),
  413: errorBody("Request body larger than 256 KiB"),
  422: { description: "Validation error", content: { "application/json": { schema: ValidationErrorSchema } } },
  500: errorBody("Unexpected failure; the body carries no detail of it (`Internal Server Error`)"),
} as const;
export const notFoundError = { 404: errorBody("Not found, or outside the caller's tenants") } as const;
export const conflictError = (description: string) => ({ 409: errorBody(description) }) as const;

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** How createRouter reads a route's body (request-body.ts); JSON leaves a symbol-keyed member out of the document. */
export const BODY_READING = Symbol("body reading");

/** A route's JSON request body, read and parsed by the middleware createRouter adds (request-body.ts). */
export const jsonBody = <T extends z.ZodType>(schema: T, reading: Partial<BodyReading> = {}) => {
  const how: BodyReading = { required: true, ...reading };
  return {
    required: how.required,
    content: { "application/json": { schema } },
    ...(how.unreadable === "ignore"
      ? { description: "Optional. A body that is not a JSON object (malformed, another content type) is ignored." }
      : {}),
    [BODY_READING]: how,
  };
};

const MAX_PER_PAGE = 100;
export const PageQuery = z.object({
  page: laxInteger({ ge: 1, le: 1_000_000 }).default(1).openapi({ example: 1 }),
  per_page: laxInteger({ ge: 1, le: MAX_PER_PAGE }).default(20).openapi({ example: 20 }),
});

/** The list envelope every paginated endpoint answers with. */
export const pageOf = <T extends z.ZodType>(item: T, name: string) =>
  z
    .object({
      items: z.array(item),
      total: z.number().int(),
      page: z.number().int(),
      per_page: z.number().int(),
      pages: z.number().int(),
    })
    .openapi(name);
