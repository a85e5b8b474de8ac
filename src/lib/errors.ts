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
/** A 503: something this service depends on did not answer; the caller may try again after `retryAfterSeconds`. */
export const serviceUnavailable = (detail: string, retryAfterSeconds = 5) =>
  new ApiError(503, detail, { "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) });
export const unprocessable = (issues: ValidationIssue[]) => new ApiError(422, issues);

/**
 * A 422 for one field found wrong after validation (a refused target URL, a window out of range), as a pydantic
 * validator raising ValueError(msg) reports it: `invalidField(["body", "url"], "...")`.
 */
export const invalidField = (loc: (string | number)[], msg: string) =>
  unprocessable([{ type: "value_error", loc, msg: valueErrorMessage(msg), ctx: valueErrorContext() }]);
const valueErrorMessage = (reason: string) => `Value error, ${reason}`;
// FastAPI encodes the ValueError in ctx.error as an empty object.
const valueErrorContext = () => ({ error: {} });

/** A required body that is absent, empty or JSON null: FastAPI's one issue. */
export const missingBody = (): ValidationIssue => ({
  type: "missing",
  loc: ["body"],
  msg: "Field required",
  input: null,
});
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

/** The value the issue is about, as the client sent it (`present`: whether there is one at all). */
interface Refused {
  input: unknown;
  present: boolean;
}

/** A row of the table: pydantic's error type, the zod issues it covers, pydantic's message and context. */
interface Row {
  type: string;
  covers(issue: ZodIssue, refused: Refused): boolean;
  msg(issue: ZodIssue, refused: Refused): string;
  ctx?(issue: ZodIssue, refused: Refused): Record<string, unknown>;
}
const row = (type: string, covers: Row["covers"], msg: string | Row["msg"], ctx?: Row["ctx"]): Row => ({
  type,
  covers,
  msg: typeof msg === "string" ? () => msg : msg,
  ctx,
});

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const pythonRepr = (v: unknown) =>
  typeof v === "string" ? `'${v.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'` : String(v);
const orList = (values: readonly unknown[]) =>
  values.length === 1
    ? pythonRepr(values[0])
    : `${values.slice(0, -1).map(pythonRepr).join(", ")} or ${pythonRepr(values.at(-1))}`;
const isString = (v: unknown): v is string => typeof v === "string";
const isExactNumber = (v: unknown): v is { value: string } =>
  typeof v === "object" && v !== null && (v as { isLosslessNumber?: boolean }).isLosslessNumber === true;
/** A JSON float pydantic cannot fit in an i64 (it reads `1e20` as a float; `100000000000000000000` is an int). */
const isHugeFloat = (v: unknown) =>
  isExactNumber(v) && !/^-?\d+$/.test(v.value) && Math.abs(Number(v.value)) >= 2 ** 63;
const isWholeNumber = (v: unknown) => Number.isInteger(isExactNumber(v) ? Number(v.value) : v);
const expects = (issue: ZodIssue, type: string) => issue.code === "invalid_type" && issue.expected === type;
const bound = (issue: ZodIssue, code: "too_small" | "too_big", origin: string) =>
  issue.code === code && issue.origin === origin;
const limitOf = (issue: ZodIssue) =>
  Number((issue as { minimum?: number; maximum?: number }).minimum ?? (issue as { maximum: number }).maximum);
const lengthOf = (refused: Refused) => (refused.input as unknown[]).length;
const refusalOf = (issue: ZodIssue) =>
  issue.code === "custom" ? (issue.params?.pydantic as DatetimeRefusal | undefined) : undefined;
const datetimeRow = (type: DatetimeRefusal["type"], msg: (error: string) => string) =>
  row(
    type,
    (issue) => refusalOf(issue)?.type === type,
    (issue) => msg((refusalOf(issue) as { error?: string }).error ?? ""),
    (issue) => {
      const refusal = refusalOf(issue) as { error?: string };
      return refusal.error === undefined ? {} : { error: refusal.error };
    },
  );

/**
 * The table: zod issue (and the input it refused) → pydantic's error. Rows are tried in order; a row's context is left
 * out when empty. test/lib/pydantic-errors.test.ts sends a case of each to the Worker and compares FastAPI's answer,
 * and checks that every issue the request schemas can produce lands on a row.
 */
export const PYDANTIC_ERRORS: Row[] = [
  row("missing", (issue, { present }) => issue.code === "invalid_type" && !present, "Field required"),
  datetimeRow("datetime_type", () => "Input should be a valid datetime"),
  datetimeRow("timezone_aware", () => "Input should have timezone info"),
  datetimeRow("datetime_parsing", (error) => `Input should be a valid datetime, ${error}`),
  datetimeRow("datetime_from_date_parsing", (error) => `Input should be a valid datetime or date, ${error}`),
  row(
    "model_attributes_type",
    (issue) => expects(issue, "object"),
    "Input should be a valid dictionary or object to extract fields from",
  ),
  row("dict_type", (issue) => expects(issue, "record"), "Input should be a valid dictionary"),
  row("list_type", (issue) => expects(issue, "array"), "Input should be a valid list"),
  row("string_type", (issue) => expects(issue, "string"), "Input should be a valid string"),
  // A string that is not one of the words, or a whole number other than 0 and 1; a fraction is not a boolean at all.
  row(
    "bool_parsing",
    (issue, { input }) =>
      expects(issue, "boolean") &&
      (isString(input) || ((typeof input === "number" || isExactNumber(input)) && isWholeNumber(input))),
    "Input should be a valid boolean, unable to interpret input",
  ),
  row("bool_type", (issue) => expects(issue, "boolean"), "Input should be a valid boolean"),
  row(
    "int_parsing_size",
    (issue, { input }) =>
      (expects(issue, "number") ||
        expects(issue, "int") ||
        bound(issue, "too_big", "number") ||
        bound(issue, "too_small", "number")) &&
      ((isString(input) && trimLikeRust(input).length > MAX_INT_STRING_LENGTH) || isHugeFloat(input)),
    "Unable to parse input string as an integer, exceeded maximum size",
  ),
  row(
    "int_parsing",
    (issue, { input }) => expects(issue, "number") && isString(input),
    "Input should be a valid integer, unable to parse string as an integer",
  ),
  row(
    "int_from_float",
    (issue) => expects(issue, "int"),
    "Input should be a valid integer, got a number with a fractional part",
  ),
  row("int_type", (issue) => expects(issue, "number"), "Input should be a valid integer"),
  row(
    "greater_than_equal",
    (issue) => bound(issue, "too_small", "number"),
    (issue) => `Input should be greater than or equal to ${limitOf(issue)}`,
    (issue) => ({ ge: limitOf(issue) }),
  ),
  row(
    "less_than_equal",
    (issue) => bound(issue, "too_big", "number"),
    (issue) => `Input should be less than or equal to ${limitOf(issue)}`,
    (issue) => ({ le: limitOf(issue) }),
  ),
  row(
    "string_too_short",
    (issue) => bound(issue, "too_small", "string"),
    (issue) => `String should have at least ${plural(limitOf(issue), "character")}`,
    (issue) => ({ min_length: limitOf(issue) }),
  ),
  row(
    "string_too_long",
    (issue) => bound(issue, "too_big", "string"),
    (issue) => `String should have at most ${plural(limitOf(issue), "character")}`,
    (issue) => ({ max_length: limitOf(issue) }),
  ),
  row(
    "string_pattern_mismatch",
    (issue) => issue.code === "invalid_format" && issue.format === "regex",
    (issue) => `String should match pattern '${(issue as { pattern: string }).pattern}'`,
    (issue) => ({ pattern: (issue as { pattern: string }).pattern }),
  ),
  row(
    "too_short",
    (issue) => bound(issue, "too_small", "array"),
    (issue, refused) =>
      `List should have at least ${plural(limitOf(issue), "item")} after validation, not ${lengthOf(refused)}`,
    (issue, refused) => ({ field_type: "List", min_length: limitOf(issue), actual_length: lengthOf(refused) }),
  ),
  row(
    "too_long",
    (issue) => bound(issue, "too_big", "array"),
    (issue, refused) =>
      `List should have at most ${plural(limitOf(issue), "item")} after validation, not ${lengthOf(refused)}`,
    (issue, refused) => ({ field_type: "List", max_length: limitOf(issue), actual_length: lengthOf(refused) }),
  ),
  row(
    "literal_error",
    (issue) => issue.code === "invalid_value",
    (issue) => `Input should be ${orList((issue as { values: unknown[] }).values)}`,
    (issue) => ({ expected: orList((issue as { values: unknown[] }).values) }),
  ),
  // One per key (zodIssuesToValidationIssues): loc ends with the key, input is its value.
  row("extra_forbidden", (issue) => issue.code === "unrecognized_keys", "Extra inputs are not permitted"),
  row(
    "value_error",
    (issue) => issue.code === "custom" && refusalOf(issue) === undefined,
    (issue) => valueErrorMessage(issue.message),
    valueErrorContext,
  ),
];

/** The row a zod issue lands on; undefined for an issue no request schema should produce (a bug: see the tests). */
export const pydanticRowOf = (issue: ZodIssue, refused: Refused) =>
  PYDANTIC_ERRORS.find((row) => row.covers(issue, refused));

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
    const row = pydanticRowOf(issue, at) ?? PYDANTIC_ERRORS.at(-1)!; // none: a bug the table's tests would show
    if (issue.code === "unrecognized_keys") {
      for (const name of issue.keys) {
        const extra = (at.input as Record<string, unknown>)[name];
        out.push({
          issue: { type: row.type, loc: [root, ...path, name], msg: row.msg(issue, at), input: extra },
          order,
        });
      }
      continue;
    }
    // pydantic echoes a missing field's parent: the object it looked in.
    const echoed = row.type === "missing" ? valueAt(input, path.slice(0, -1)).input : at.input;
    const issueOut = { type: row.type, loc: [root, ...path], msg: row.msg(issue, at), input: echoed };
    const ctx = row.ctx?.(issue, at);
    out.push({ issue: ctx && Object.keys(ctx).length > 0 ? { ...issueOut, ctx } : issueOut, order });
  }
  return out.sort((a, b) => a.order - b.order).map((o) => o.issue);
}

/** The value at `path` in `input`; a dict key's own issues end their path with "[key]", and their input is the key. */
function valueAt(input: unknown, path: PropertyKey[]): Refused {
  let value = input;
  for (const [i, key] of path.entries()) {
    if (key === "[key]") return { input: path[i - 1], present: true };
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key))
      return { input: undefined, present: false };
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
    const detail = err.detail.map((issue) => echoable(withInput(issue, request)));
    // As FastAPI's JSONResponse writes it (json.dumps, compact, non-ASCII as is), exact numbers included.
    const text = `{"detail":[${detail.join(",")}]}`;
    return c.body(text, err.status, { ...err.headers, "content-type": "application/json" });
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    return c.json({ detail: err.message || "Request failed" }, status);
  }
  logger.error("unhandled error", { error: String(err?.stack ?? err) });
  return c.json({ detail: "Internal Server Error" }, 500);
}

const ECHO: Parameters<typeof pythonJsonText>[1] = { sortKeys: false, ensureAscii: false, nonFiniteAsNull: true };
/**
 * One issue as JSON text. A number JSON cannot carry (1e400) is echoed as null, and an input too deep to write back
 * (data nested thousands of levels) as null too: FastAPI fails to answer at all there (a 500).
 */
function echoable(issue: ValidationIssue): string {
  try {
    return pythonJsonText(issue, ECHO);
  } catch {
    return pythonJsonText({ ...issue, input: null }, ECHO);
  }
}

function withInput(issue: ValidationIssue, request: RequestInput | undefined): ValidationIssue {
  if (issue.input !== undefined) return issue;
  const [where, ...path] = issue.loc;
  const found = request ? valueAt(request[where as keyof RequestInput], path).input : undefined;
  const { type, loc, msg, ctx } = issue;
  return { type, loc, msg, input: found ?? null, ...(ctx ? { ctx } : {}) };
}
