// Request input read as pydantic 2's lax mode reads it, for clients written against FastAPI: booleans from "yes" or
// 1, integers from numeric strings, datetimes in every form pydantic takes, lengths counted in characters. The zod
// schemas built here accept exactly what pydantic accepts; which pydantic error a refusal becomes is decided by the
// one table in errors.ts. test/lib/pydantic.test.ts holds these functions to pydantic's own verdicts
// (test/fixtures/fastapi-reference.json).
import { z } from "@hono/zod-openapi";

// ---- booleans ----

const TRUE_WORDS = new Set(["1", "on", "t", "true", "y", "yes"]);
const FALSE_WORDS = new Set(["0", "f", "false", "n", "no", "off"]);
const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** pydantic's lax bool: the words above in any ASCII case, and the numbers 0 and 1; anything else unchanged. */
function laxBooleanValue(value: unknown): unknown {
  if (typeof value === "string") {
    const word = asciiLower(value);
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  if (value === 0 || value === 1) return value === 1;
  return value;
}

export const laxBoolean = () => z.preprocess(laxBooleanValue, z.boolean());

// ---- integers ----

/** Longest string pydantic reads as an integer (after trimming); a longer one is int_parsing_size. */
export const MAX_INT_STRING_LENGTH = 4300;
// Rust's char::is_whitespace (Unicode White_Space), which pydantic trims; JavaScript's trim() differs (U+FEFF, U+0085).
const RUST_WHITESPACE = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const TRIM = new RegExp(`^[${RUST_WHITESPACE}]+|[${RUST_WHITESPACE}]+$`, "g");
export const trimLikeRust = (s: string) => s.replace(TRIM, "");
// Python's int literal grammar in base 10 (digits with single underscores between them), optionally ".0…0".
const INT_STRING = /^([+-]?)(\d+(?:_\d+)*)(?:\.0+)?$/;

/** A numeric string as pydantic reads it into an int, or null where it refuses (int_parsing / int_parsing_size). */
export function parseIntLikePydantic(text: string): bigint | null {
  const trimmed = trimLikeRust(text);
  if (trimmed.length > MAX_INT_STRING_LENGTH) return null;
  const match = INT_STRING.exec(trimmed);
  if (!match) return null;
  const magnitude = BigInt(match[2]!.replaceAll("_", ""));
  return match[1] === "-" ? -magnitude : magnitude;
}

/** pydantic's lax int before zod's number checks: numeric strings and booleans become numbers; the rest is unchanged. */
function laxIntegerValue(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value !== "string") return value;
  const parsed = parseIntLikePydantic(value);
  if (parsed === null) return value;
  // Past any bound here: clamp so zod's range check refuses it rather than an Infinity.
  const limit = BigInt(Number.MAX_SAFE_INTEGER) * 1024n;
  return Number(parsed > limit ? limit : parsed < -limit ? -limit : parsed);
}

/**
 * An integer in [ge, le] (pydantic `Annotated[int, Field(ge=…, le=…)]`), read laxly: a fraction is refused before the
 * bounds are checked, as pydantic does (zod's own .int() also refuses beyond 2^53, which the bounds do here).
 */
export const laxInteger = ({ ge, le }: { ge: number; le: number }) =>
  z.preprocess(
    laxIntegerValue,
    z
      .number()
      .check((ctx) => {
        if (!Number.isInteger(ctx.value)) ctx.issues.push({ code: "invalid_type", expected: "int", input: ctx.value });
      })
      .min(ge)
      .max(le)
      .openapi({ type: "integer" }),
  );

// ---- strings ----

/** Whether `s` has fewer than `n` characters (code points); counted only where its UTF-16 length leaves it open. */
function shorterThan(s: string, n: number): boolean {
  if (s.length < n) return true; // never more characters than UTF-16 units
  if (Math.ceil(s.length / 2) >= n) return false; // never fewer than half
  let count = 0;
  for (const _ of s) if (++count >= n) return false;
  return true;
}

/**
 * A string with pydantic's constraints, checked in pydantic's order (min_length, max_length, pattern) and counted in
 * characters (code points) as Python does; zod's own min/max count UTF-16 units. `patternMessage` explains a pattern
 * to people (the portal's forms); the API answers with pydantic's message.
 */
export function pyString({
  min,
  max,
  pattern,
  patternMessage,
}: {
  min?: number;
  max?: number;
  pattern?: RegExp;
  patternMessage?: string;
} = {}) {
  return z
    .string()
    .check((ctx) => {
      if (min !== undefined && shorterThan(ctx.value, min))
        ctx.issues.push({ code: "too_small", origin: "string", minimum: min, inclusive: true, input: ctx.value });
      else if (max !== undefined && !shorterThan(ctx.value, max + 1))
        ctx.issues.push({ code: "too_big", origin: "string", maximum: max, inclusive: true, input: ctx.value });
      else if (pattern && !pattern.test(ctx.value))
        ctx.issues.push({
          code: "invalid_format",
          format: "regex",
          pattern: pattern.source,
          input: ctx.value,
          ...(patternMessage ? { message: patternMessage } : {}),
        });
    })
    .openapi({ minLength: min, maxLength: max, pattern: pattern?.source });
}

/** A check that runs only when the value passed everything before it, as pydantic's after-validators do. */
export const whenValid = (payload: { issues: readonly unknown[] }) => payload.issues.length === 0;

/**
 * A dict with checked keys and values (pydantic `dict[K, V]`): a refused key is reported at `[key, "[key]"]` and its
 * value is still checked, as pydantic does (zod's record skips the value of a refused key).
 */
export function pyDict<V extends z.ZodType>(key: z.ZodType<string>, value: V, docs: Record<string, unknown> = {}) {
  return z
    .record(z.string(), z.unknown())
    .check((ctx) => {
      for (const [name, item] of Object.entries(ctx.value)) {
        const keyResult = key.safeParse(name);
        if (!keyResult.success)
          for (const issue of keyResult.error.issues)
            ctx.issues.push({ ...issue, path: [name, "[key]", ...issue.path], input: name } as never);
        const valueResult = value.safeParse(item);
        if (!valueResult.success)
          for (const issue of valueResult.error.issues)
            ctx.issues.push({ ...issue, path: [name, ...issue.path], input: item } as never);
      }
    })
    .openapi(docs) as unknown as z.ZodType<Record<string, z.output<V>>>;
}

// ---- datetimes ----

/** Why pydantic refuses a datetime: its error type and, where it has one, the parser's reason (ctx.error). */
export type DatetimeRefusal =
  | { type: "datetime_type" | "timezone_aware" }
  | { type: "datetime_parsing" | "datetime_from_date_parsing"; error: string };

const DATE_ERRORS = {
  tooShort: "input is too short",
  extra: "unexpected extra characters at the end of the input",
  year: "invalid character in year",
  separator: "invalid date separator, expected `-`",
  month: "invalid character in month",
  day: "invalid character in day",
  monthRange: "month value is outside expected range of 1-12",
  dayRange: "day value is outside expected range",
} as const;
const TOO_LATE = "dates after 9999 are not supported as unix timestamps";
const TOO_EARLY = "dates before 0000 are not supported as unix timestamps";
const YEAR_ZERO = "year 0 is out of range";

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Milliseconds since the second: the output keeps milliseconds (pydantic keeps microseconds). */
  ms: number;
  /** Seconds east of UTC; null for a naive datetime. */
  offset: number | null;
}

const isDigit = (b: number | undefined) => b !== undefined && b >= 48 && b <= 57;
const digit = (b: number) => b - 48;

/** speedate's date: exactly YYYY-MM-DD at the start of `bytes`, or the reason it is not one. */
function parseDatePrefix(bytes: Uint8Array): { year: number; month: number; day: number } | string {
  if (bytes.length < 10) return DATE_ERRORS.tooShort;
  for (const i of [0, 1, 2, 3]) if (!isDigit(bytes[i])) return DATE_ERRORS.year;
  if (bytes[4] !== 0x2d) return DATE_ERRORS.separator;
  for (const i of [5, 6]) if (!isDigit(bytes[i])) return DATE_ERRORS.month;
  if (bytes[7] !== 0x2d) return DATE_ERRORS.separator;
  for (const i of [8, 9]) if (!isDigit(bytes[i])) return DATE_ERRORS.day;
  const n = (i: number, len: number) => Array.from(bytes.subarray(i, i + len)).reduce((a, b) => a * 10 + digit(b), 0);
  const year = n(0, 4);
  const month = n(5, 2);
  const day = n(8, 2);
  if (month < 1 || month > 12) return DATE_ERRORS.monthRange;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const maxDay = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
  if (day < 1 || day > maxDay) return DATE_ERRORS.dayRange;
  return { year, month, day };
}

/** speedate's RFC 3339 datetime (separators T, t, space or _, optional seconds, fraction and offset), or null. */
function parseDatetimeText(bytes: Uint8Array): Parts | null {
  const date = parseDatePrefix(bytes);
  if (typeof date === "string") return null;
  if (![0x54, 0x74, 0x20, 0x5f].includes(bytes[10]!)) return null;
  let at = 11;
  const two = (i: number) =>
    isDigit(bytes[i]) && isDigit(bytes[i + 1]) ? digit(bytes[i]!) * 10 + digit(bytes[i + 1]!) : -1;
  if (bytes.length - at < 5) return null;
  const hour = two(at);
  if (hour < 0 || hour > 23 || bytes[at + 2] !== 0x3a) return null;
  const minute = two(at + 3);
  if (minute < 0 || minute > 59) return null;
  at += 5;
  let second = 0;
  let ms = 0;
  if (bytes[at] === 0x3a) {
    second = two(at + 1);
    if (second < 0 || second > 59) return null;
    at += 3;
    if (bytes[at] === 0x2e || bytes[at] === 0x2c) {
      at++;
      const start = at;
      while (isDigit(bytes[at])) at++;
      if (at === start) return null;
      // Digits past the sixth are dropped (pydantic truncates to microseconds); the output keeps milliseconds.
      ms = Number(new TextDecoder().decode(bytes.subarray(start, Math.min(at, start + 3))).padEnd(3, "0"));
    }
  }
  let offset: number | null = null;
  const sign = bytes[at];
  if (sign === 0x5a || sign === 0x7a) {
    offset = 0;
    at++;
  } else if (sign !== undefined) {
    let direction: number;
    if (sign === 0x2b) direction = 1;
    else if (sign === 0x2d) direction = -1;
    else if (sign === 0xe2 && bytes[at + 1] === 0x88 && bytes[at + 2] === 0x92) {
      direction = -1; // U+2212 MINUS SIGN, which ISO 8601 allows
      at += 2;
    } else return null;
    at++;
    const hours = two(at);
    if (hours < 0) return null;
    at += bytes[at + 2] === 0x3a ? 3 : 2;
    const minutes = two(at);
    if (minutes < 0 || minutes > 59) return null;
    at += 2;
    const seconds = hours * 3600 + minutes * 60;
    if (seconds >= 86_400) return null;
    offset = direction * seconds;
  }
  if (at !== bytes.length) return null;
  return { ...date, hour, minute, second, ms, offset };
}

// Unix timestamps: past 2e10 in absolute value they are milliseconds.
const MS_WATERSHED = 20_000_000_000;
const UNIX_0000 = -62_167_219_200;
const UNIX_9999 = 253_402_300_799;

/** A Unix timestamp in seconds or milliseconds as a UTC datetime (year 0 included), or why speedate refuses it. */
function fromTimestamp(value: number): Parts | DatetimeRefusal {
  if (Number.isNaN(value)) return { type: "datetime_parsing", error: "NaN values not permitted" };
  const seconds = Math.abs(value) > MS_WATERSHED ? value / 1000 : value;
  if (seconds < UNIX_0000) return { type: "datetime_parsing", error: TOO_EARLY };
  if (Math.floor(seconds) > UNIX_9999) return { type: "datetime_parsing", error: TOO_LATE };
  const whole = Math.floor(seconds);
  const micros = Math.round((seconds - whole) * 1_000_000);
  const at = new Date(whole * 1000 + Math.floor(micros / 1000));
  return {
    year: at.getUTCFullYear(),
    month: at.getUTCMonth() + 1,
    day: at.getUTCDate(),
    hour: at.getUTCHours(),
    minute: at.getUTCMinutes(),
    second: at.getUTCSeconds(),
    ms: at.getUTCMilliseconds(),
    offset: 0,
  };
}

// speedate's number reading of a string: an integer (optional sign, ASCII digits, fits in i64), or, when the text has a
// ".", a float in Rust's standard grammar.
const INT_TIMESTAMP = /^[+-]?\d+$/;
const FLOAT_TIMESTAMP = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
function timestampText(text: string): number | null {
  if (INT_TIMESTAMP.test(text)) {
    const n = BigInt(text);
    return n > 9_223_372_036_854_775_807n || n < -9_223_372_036_854_775_807n ? null : Number(n);
  }
  return text.includes(".") && FLOAT_TIMESTAMP.test(text) ? Number(text) : null;
}

/**
 * pydantic's `AwareDatetime` in lax mode: an RFC 3339 string (or one of speedate's variants), a Unix timestamp as a
 * number or a string of digits. Returns the instant as an ISO string in UTC (milliseconds), or pydantic's refusal.
 */
export function parseAwareDatetime(value: unknown): { iso: string } | DatetimeRefusal {
  let parts: Parts | DatetimeRefusal;
  if (typeof value === "number") parts = fromTimestamp(value);
  else if (typeof value === "string") {
    const bytes = new TextEncoder().encode(value);
    const parsed = parseDatetimeText(bytes);
    const timestamp = parsed ? null : timestampText(value);
    const fromNumber = timestamp === null ? null : fromTimestamp(timestamp);
    if (parsed) parts = parsed;
    else if (fromNumber && !("type" in fromNumber)) parts = fromNumber;
    // speedate refused the number too (out of range): pydantic then reads it as a date, as any other string
    else {
      // Neither: pydantic then reads it as a date, and a date alone is a naive datetime (midnight).
      const date = parseDatePrefix(bytes);
      if (typeof date === "string") return { type: "datetime_from_date_parsing", error: date };
      if (bytes.length > 10) return { type: "datetime_from_date_parsing", error: DATE_ERRORS.extra };
      return { type: "timezone_aware" };
    }
  } else return { type: "datetime_type" };
  if ("type" in parts) return parts;
  if (parts.year === 0) return { type: "datetime_parsing", error: YEAR_ZERO };
  if (parts.offset === null) return { type: "timezone_aware" };
  const at = new Date(0);
  at.setUTCFullYear(parts.year, parts.month - 1, parts.day);
  at.setUTCHours(parts.hour, parts.minute, parts.second - parts.offset, parts.ms);
  return { iso: at.toISOString() };
}

/** A timezone-aware datetime (pydantic `AwareDatetime`), read laxly; validated as an ISO string in UTC. */
export const awareDatetime = () =>
  z
    .preprocess((value, ctx) => {
      if (value === undefined) return value; // a missing field: pydantic's "missing", not a datetime error
      const result = parseAwareDatetime(value);
      if ("iso" in result) return result.iso;
      ctx.addIssue({ code: "custom", message: result.type, params: { pydantic: result } });
      return value;
    }, z.string())
    .openapi({ type: "string", format: "date-time" });
