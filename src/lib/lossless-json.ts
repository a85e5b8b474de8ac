// Published event data keeps every number exactly as written. JSON.parse reads each number into a double, which
// changes 12345678901234567890 and forgets that 1.0 was a float; ScaiKey's Python sender (json.loads, then json.dumps)
// keeps both. So event data is read with lossless-json, and canonicalJson writes it back as Python would.
import type { MiddlewareHandler } from "hono";
import { isInteger, LosslessNumber, parse } from "lossless-json";
import { readingBody } from "./body-limit";
import { invalidField } from "./errors";

/**
 * A JSON number as Python's json module reads it: a literal without `.`/`e` is an int of any size, anything else
 * a float (a double). Plain numbers where a double says it all; a LosslessNumber (its text) for an int beyond 2^53
 * and for an integer-valued float (`1.0`, `-0.0`, `1e21`), which a JavaScript number would print as an int.
 * Out-of-range floats stay Infinity, which event validation refuses.
 */
function parseNumberAsPython(text: string): number | LosslessNumber {
  const value = Number(text);
  if (isInteger(text)) return Number.isSafeInteger(value) ? value : new LosslessNumber(text);
  return Number.isInteger(value) ? new LosslessNumber(text) : value;
}

/** JSON text to values with exact numbers (see parseNumberAsPython); a repeated key keeps its last value, as in Python. */
export function parseJsonExactly(text: string): unknown {
  return parse(text, null, { parseNumber: parseNumberAsPython, onDuplicateKey: ({ newValue }) => newValue });
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof LosslessNumber);

/**
 * Route middleware for the publish endpoint: the body's `data`, read with exact numbers, is what validation sees
 * and what gets stored. The rest of the envelope is read as everywhere else, so its error messages stay the same.
 * Runs after bodyLimit (src/lib/body-limit.ts), which has checked that the body is JSON and cached its text.
 */
export function exactEventData(): MiddlewareHandler {
  return readingBody(async (c, next) => {
    const text = await c.req.text();
    const body: unknown = JSON.parse(text);
    if (isRecord(body) && isRecord(body.data)) {
      let exact: unknown;
      try {
        exact = parseJsonExactly(text);
      } catch (err) {
        // lossless-json recurses: nesting thousands deep overflows the stack. Validation refuses such a body anyway
        // (data past MAX_DATA_DEPTH, or a field that is not JSON at all), with its own precise message.
        if (!(err instanceof RangeError)) throw invalidField(["body", 0], "JSON decode error", "json_invalid");
      }
      if (isRecord(exact) && isRecord(exact.data)) body.data = exact.data;
    }
    // hono's json validator reads c.req.json(), which parses the cached text again with JSON.parse.
    c.req.json = <T>() => Promise.resolve(body as T);
    return next();
  });
}
