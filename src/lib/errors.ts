// The one error module: typed errors thrown anywhere, one onError handler that renders them, and the translation of
// zod issues into pydantic's errors, which FastAPI clients parse (type, loc, msg, input, ctx, as pydantic 2 writes them).
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { pythonJsonText } from "./canonical-json";
import { logger } from "./logger";
import { type DatetimeRefusal, MAX_INT_STRING_LENGTH, trimLikeRust } from "./pydantic";

/** One entry of FastAPI's `HTTPValidationError.detail`. */
export interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  /** What was refused. Left out by errors raised after validation: the renderer takes it from the request. */
  input?: unknown;
  ctx?: Record<string, unknown>;
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

export const badRequest = (detail: string) => new ApiError(400, detail);
export const unauthorized = (detail: string) =>
  new ApiError(401, detail, { "WWW-Authenticate": 'Bearer realm="scaikey-webhooks", error="invalid_token"' });
export const forbidden = (detail: string) => new ApiError(403, detail);
export const notFound = (detail: string) => new ApiError(404, detail);
export const conflict = (detail: string) => new ApiError(409, detail);
export const payloadTooLarge = (detail: string) => new ApiError(413, detail);
export const serviceUnavailable = (detail: string) => new ApiError(503, detail, { "Retry-After": "5" });
export const unprocessable = (issues: ValidationIssue[]) => new ApiError(422, issues);

/**
 * A 422 for one field found wrong after validation (a refused target URL, a window out of range), as a pydantic
 * validator raising ValueError(msg) reports it: `invalidField(["body", "url"], "...")`.
 */
export const invalidField = (loc: (string | number)[], msg: string) =>
  // FastAPI encodes the ValueError in ctx.error as an empty object.
  unprocessable([{ type: "value_error", loc, msg: `Value error, ${msg}`, ctx: { error: {} } }]);

/** A required body that is absent, empty or JSON null: FastAPI's one issue. */
export const missingBody = (): ValidationIssue => ({ type: "missing", loc: ["body"], msg: "Field required", input: null });
/** Malformed JSON: Python's json.loads message and its character offset. */
export const jsonInvalid = (pos: number, error: string): ValidationIssue => ({
  type: "json_invalid",
  loc: ["body", pos],
  msg: "JSON decode error",
  input: {},
  ctx: { error },
});

// ---- zod issues → pydantic errors ----

type ZodIssue = z.core.$ZodIssue;
type Loc = (string | number)[];
interface Rendered {
  type: string;
  msg: string;
  ctx?: Record<string, unknown>;
}

/** The value the issue is about, as the client sent it (`present`: whether there is one at all). */
interface Refused {
  input: unknown;
  present: boolean;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const pythonRepr = (v: unknown) => (typeof v === "string" ? `'${v.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'` : String(v));
const orList = (values: readonly unknown[]) =>
  values.length === 1
    ? pythonRepr(values[0])
    : `${values.slice(0, -1).map(pythonRepr).join(", ")} or ${pythonRepr(values.at(-1))}`;
const isString = (v: unknown): v is string => typeof v === "string";
/** A JSON float pydantic cannot fit in an i64 (it reads `1e20` as a float; `100000000000000000000` is an int). */
const isHugeFloat = (v: unknown) =>
  isExactNumber(v) && !/^-?\d+$/.test(v.value) && Math.abs(Number(v.value)) >= 2 ** 63;
const isExactNumber = (v: unknown): v is { value: string } =>
  typeof v === "object" && v !== null && (v as { isLosslessNumber?: boolean }).isLosslessNumber === true;
const numberOf = (v: unknown) => (isExactNumber(v) ? Number(v.value) : v);
const isFraction = (v: unknown) => typeof numberOf(v) === "number" && !Number.isInteger(numberOf(v));
const expects = (issue: ZodIssue, type: string) => issue.code === "invalid_type" && issue.expected === type;
const pydanticOf = (issue: ZodIssue) =>
  issue.code === "custom" ? (issue.params?.pydantic as DatetimeRefusal | undefined) : undefined;
const numberBound = (issue: ZodIssue) =>
  (issue.code === "too_small" || issue.code === "too_big") && issue.origin === "number";
const intIssue = (issue: ZodIssue) => expects(issue, "number") || expects(issue, "int") || numberBound(issue);

/**
 * The table: each row names pydantic's error type, says which zod issues (with the refused input) it covers, and
 * writes pydantic's message and context. Rows are tried in order; test/lib/pydantic-errors.test.ts has a case for
 * each and checks that every issue the request schemas can produce lands on one.
 */
export const PYDANTIC_ERRORS: { type: string; covers(issue: ZodIssue, refused: Refused): boolean; render(issue: ZodIssue, refused: Refused): Rendered }[] = [
  {
    type: "missing",
    covers: (issue, { present }) => issue.code === "invalid_type" && !present,
    render: () => ({ type: "missing", msg: "Field required" }),
  },
  ...(["datetime_type", "timezone_aware", "datetime_parsing", "datetime_from_date_parsing"] as const).map((type) => ({
    type,
    covers: (issue: ZodIssue) => pydanticOf(issue)?.type === type,
    render: (issue: ZodIssue): Rendered => {
      const refusal = pydanticOf(issue)!;
      if (!("error" in refusal))
        return {
          type,
          msg: type === "datetime_type" ? "Input should be a valid datetime" : "Input should have timezone info",
        };
      const what = type === "datetime_parsing" ? "datetime" : "datetime or date";
      return { type, msg: `Input should be a valid ${what}, ${refusal.error}`, ctx: { error: refusal.error } };
    },
  })),
  {
    type: "model_attributes_type",
    covers: (issue) => expects(issue, "object"),
    render: () => ({ type: "model_attributes_type", msg: "Input should be a valid dictionary or object to extract fields from" }),
  },
  {
    type: "dict_type",
    covers: (issue) => expects(issue, "record"),
    render: () => ({ type: "dict_type", msg: "Input should be a valid dictionary" }),
  },
  {
    type: "list_type",
    covers: (issue) => expects(issue, "array"),
    render: () => ({ type: "list_type", msg: "Input should be a valid list" }),
  },
  {
    type: "string_type",
    covers: (issue) => expects(issue, "string"),
    render: () => ({ type: "string_type", msg: "Input should be a valid string" }),
  },
  {
    // A string that is not one of the words, or a whole number other than 0 and 1.
    type: "bool_parsing",
    covers: (issue, { input }) =>
      expects(issue, "boolean") && (isString(input) || (typeof numberOf(input) === "number" && !isFraction(input))),
    render: () => ({ type: "bool_parsing", msg: "Input should be a valid boolean, unable to interpret input" }),
  },
  {
    type: "bool_type",
    covers: (issue) => expects(issue, "boolean"),
    render: () => ({ type: "bool_type", msg: "Input should be a valid boolean" }),
  },
  {
    type: "int_parsing_size",
    covers: (issue, { input }) =>
      intIssue(issue) && ((isString(input) && trimLikeRust(input).length > MAX_INT_STRING_LENGTH) || isHugeFloat(input)),
    render: () => ({ type: "int_parsing_size", msg: "Unable to parse input string as an integer, exceeded maximum size" }),
  },
  {
    type: "int_parsing",
    covers: (issue, { input }) => expects(issue, "number") && isString(input),
    render: () => ({ type: "int_parsing", msg: "Input should be a valid integer, unable to parse string as an integer" }),
  },
  {
    // pydantic checks the type before the bounds: 100000.5 is a fraction before it is too big.
    type: "int_from_float",
    covers: (issue, { input }) => expects(issue, "int") || (numberBound(issue) && isFraction(input)),
    render: () => ({ type: "int_from_float", msg: "Input should be a valid integer, got a number with a fractional part" }),
  },
  {
    type: "int_type",
    covers: (issue) => expects(issue, "number"),
    render: () => ({ type: "int_type", msg: "Input should be a valid integer" }),
  },
  {
    type: "greater_than_equal",
    covers: (issue) => issue.code === "too_small" && issue.origin === "number",
    render: (issue) => {
      const ge = (issue as { minimum: number }).minimum;
      return { type: "greater_than_equal", msg: `Input should be greater than or equal to ${ge}`, ctx: { ge } };
    },
  },
  {
    type: "less_than_equal",
    covers: (issue) => issue.code === "too_big" && issue.origin === "number",
    render: (issue) => {
      const le = (issue as { maximum: number }).maximum;
      return { type: "less_than_equal", msg: `Input should be less than or equal to ${le}`, ctx: { le } };
    },
  },
  {
    type: "string_too_short",
    covers: (issue) => issue.code === "too_small" && issue.origin === "string",
    render: (issue) => {
      const min = Number((issue as { minimum: number }).minimum);
      return { type: "string_too_short", msg: `String should have at least ${plural(min, "character")}`, ctx: { min_length: min } };
    },
  },
  {
    type: "string_too_long",
    covers: (issue) => issue.code === "too_big" && issue.origin === "string",
    render: (issue) => {
      const max = Number((issue as { maximum: number }).maximum);
      return { type: "string_too_long", msg: `String should have at most ${plural(max, "character")}`, ctx: { max_length: max } };
    },
  },
  {
    type: "string_pattern_mismatch",
    covers: (issue) => issue.code === "invalid_format" && issue.format === "regex",
    render: (issue) => {
      const pattern = (issue as { pattern: string }).pattern;
      return { type: "string_pattern_mismatch", msg: `String should match pattern '${pattern}'`, ctx: { pattern } };
    },
  },
  {
    type: "too_short",
    covers: (issue) => issue.code === "too_small" && issue.origin === "array",
    render: (issue, { input }) => {
      const min = Number((issue as { minimum: number }).minimum);
      const actual = (input as unknown[]).length;
      return {
        type: "too_short",
        msg: `List should have at least ${plural(min, "item")} after validation, not ${actual}`,
        ctx: { field_type: "List", min_length: min, actual_length: actual },
      };
    },
  },
  {
    type: "too_long",
    covers: (issue) => issue.code === "too_big" && issue.origin === "array",
    render: (issue, { input }) => {
      const max = Number((issue as { maximum: number }).maximum);
      const actual = (input as unknown[]).length;
      return {
        type: "too_long",
        msg: `List should have at most ${plural(max, "item")} after validation, not ${actual}`,
        ctx: { field_type: "List", max_length: max, actual_length: actual },
      };
    },
  },
  {
    type: "literal_error",
    covers: (issue) => issue.code === "invalid_value",
    render: (issue) => {
      const expected = orList((issue as { values: unknown[] }).values);
      return { type: "literal_error", msg: `Input should be ${expected}`, ctx: { expected } };
    },
  },
  {
    // Expanded per key by zodIssuesToValidationIssues: loc ends with the key, input is its value.
    type: "extra_forbidden",
    covers: (issue) => issue.code === "unrecognized_keys",
    render: () => ({ type: "extra_forbidden", msg: "Extra inputs are not permitted" }),
  },
  {
    type: "value_error",
    covers: (issue) => issue.code === "custom" && pydanticOf(issue) === undefined,
    render: (issue) => ({ type: "value_error", msg: `Value error, ${issue.message}`, ctx: { error: {} } }),
  },
];

/** The row a zod issue lands on; undefined for an issue no request schema should produce (a bug: see the tests). */
export const pydanticRowOf = (issue: ZodIssue, refused: Refused) => PYDANTIC_ERRORS.find((row) => row.covers(issue, refused));

/** Where a validated value came from, in FastAPI's `loc[0]` vocabulary. */
const LOCATION_BY_TARGET: Record<string, string> = { json: "body", query: "query", param: "path" };

/**
 * zod issues → pydantic errors, as pydantic reports them: one per place (the first check that failed there), fields in
 * declaration order (`fields`: the schema's keys), each with the input as the client sent it (`input`, with exact
 * numbers for a body).
 */
export function zodIssuesToValidationIssues(
  target: string,
  error: z.ZodError,
  input: unknown,
  fields: readonly string[] = [],
): ValidationIssue[] {
  const root = LOCATION_BY_TARGET[target] ?? target;
  const seen = new Set<string>();
  const out: { issue: ValidationIssue; order: number }[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
    const key = JSON.stringify(path);
    if (seen.has(key)) continue; // pydantic stops at the first failed check of a value
    seen.add(key);
    const order = path.length === 0 ? fields.length : fields.indexOf(String(path[0]));
    const at = valueAt(input, path);
    if (issue.code === "unrecognized_keys") {
      for (const name of issue.keys)
        out.push({
          issue: { type: "extra_forbidden", loc: [root, ...path, name], msg: "Extra inputs are not permitted", input: (at.input as Record<string, unknown>)[name] },
          order,
        });
      continue;
    }
    const row = pydanticRowOf(issue, at);
    const rendered = row ? row.render(issue, at) : { type: "value_error", msg: `Value error, ${issue.message}`, ctx: { error: {} } };
    // pydantic echoes a missing field's parent: the object it looked in.
    const echoed = rendered.type === "missing" ? valueAt(input, path.slice(0, -1)).input : at.input;
    const issueOut = { type: rendered.type, loc: [root, ...path], msg: rendered.msg, input: echoed };
    out.push({ issue: rendered.ctx ? { ...issueOut, ctx: rendered.ctx } : issueOut, order });
  }
  return out.sort((a, b) => a.order - b.order).map((o) => o.issue);
}

/** The value at `path` in `input`; a dict key's own issues end their path with "[key]", and their input is the key. */
function valueAt(input: unknown, path: PropertyKey[]): Refused {
  let value = input;
  for (const [i, key] of path.entries()) {
    if (key === "[key]") return { input: path[i - 1], present: true };
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return { input: undefined, present: false };
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return { input: value, present: value !== undefined };
}

/** The request's input, as sent, by FastAPI location: the renderer fills in `input` for errors raised after validation. */
export type RequestInput = Partial<Record<"path" | "query" | "body", unknown>>;

/** Renders any thrown error; nothing internal (stack, SQL) ever reaches the client. */
export function renderError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    if (typeof err.detail === "string") return c.json({ detail: err.detail }, err.status, err.headers);
    const request = c.get("requestInput") as RequestInput | undefined;
    const detail = err.detail.map((issue) => withInput(issue, request));
    // As FastAPI's JSONResponse writes it (json.dumps, compact, non-ASCII as is), exact numbers included.
    const text = pythonJsonText({ detail }, { sortKeys: false, ensureAscii: false });
    return c.body(text, err.status, { ...err.headers, "content-type": "application/json" });
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    return c.json({ detail: err.message || "Request failed" }, status);
  }
  logger.error("unhandled error", { error: String(err?.stack ?? err) });
  return c.json({ detail: "Internal Server Error" }, 500);
}

function withInput(issue: ValidationIssue, request: RequestInput | undefined): ValidationIssue {
  if (issue.input !== undefined) return issue;
  const [where, ...path] = issue.loc;
  const found = request ? valueAt(request[where as keyof RequestInput], path).input : undefined;
  const { type, loc, msg, ctx } = issue;
  return { type, loc, msg, input: found ?? null, ...(ctx ? { ctx } : {}) };
}
