// Published event data keeps every number exactly as written. JSON.parse reads each number into a double, which
// changes 12345678901234567890 and forgets that 1.0 was a float; ScaiKey's Python sender (json.loads, then json.dumps)
// keeps both. So event data is read with lossless-json (request-body.ts, `exactNumbersIn`), and canonicalJson
// writes it back as Python would; a 422 echoes a body's numbers as sent the same way.
import { isInteger, LosslessNumber, parse } from "lossless-json";

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
