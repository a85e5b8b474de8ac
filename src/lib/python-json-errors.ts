// Where and why Python's json.loads refuses a document: FastAPI answers malformed JSON with that message (ctx.error)
// and that offset in characters (loc ["body", offset]). This follows CPython's C scanner (Modules/_json.c) on the
// documents JSON.parse refuses; test/lib/python-json-errors.test.ts checks it against json.loads on a corpus.
// NaN, Infinity and -Infinity, which Python reads and JSON does not have, are refused here ("Expecting value").

/** Python's JSONDecodeError: `msg`, and `pos` counted in characters (code points), as Python counts them. */
export interface JsonDecodeError {
  pos: number;
  msg: string;
}

class DecodeError extends Error {
  constructor(
    readonly pos: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}
/** Python's StopIteration from scan_once: no JSON value starts at `pos`. */
class NoValue extends Error {
  constructor(readonly pos: number) {
    super("no value");
  }
}

const isWhitespace = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";
const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c);

/** The error json.loads raises for `text`, or null when Python reads it (so does JSON.parse, but for NaN/Infinity). */
export function pythonJsonDecodeError(text: string): JsonDecodeError | null {
  try {
    let at = skipWhitespace(text, 0);
    try {
      at = scanValue(text, at);
    } catch (err) {
      if (err instanceof NoValue) throw new DecodeError(err.pos, "Expecting value");
      throw err;
    }
    at = skipWhitespace(text, at);
    if (at !== text.length) throw new DecodeError(at, "Extra data");
    return null;
  } catch (err) {
    if (!(err instanceof DecodeError)) throw err;
    return { pos: codePointOffset(text, err.pos), msg: err.reason };
  }
}

// Positions below are UTF-16 indexes; Python's are code points.
function codePointOffset(text: string, index: number): number {
  let n = 0;
  for (let i = 0; i < index; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < index) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function skipWhitespace(text: string, at: number): number {
  while (isWhitespace(text[at])) at++;
  return at;
}

/** scan_once: the end of the value starting at `at`. */
function scanValue(text: string, at: number): number {
  if (at >= text.length) throw new NoValue(at);
  const c = text[at];
  if (c === '"') return scanString(text, at + 1);
  if (c === "{") return scanObject(text, at + 1);
  if (c === "[") return scanArray(text, at + 1);
  for (const word of ["null", "true", "false"]) if (text.startsWith(word, at)) return at + word.length;
  return scanNumber(text, at);
}

function scanNumber(text: string, start: number): number {
  let at = start;
  if (text[at] === "-") {
    at++;
    if (at >= text.length) throw new NoValue(start);
  }
  if (text[at]! >= "1" && text[at]! <= "9") {
    at++;
    while (isDigit(text[at])) at++;
  } else if (text[at] === "0") at++;
  else throw new NoValue(start);
  if (text[at] === "." && isDigit(text[at + 1])) {
    at += 2;
    while (isDigit(text[at])) at++;
  }
  if ((text[at] === "e" || text[at] === "E") && at + 1 < text.length) {
    const exponentStart = at;
    at++;
    if ((text[at] === "-" || text[at] === "+") && at + 1 < text.length) at++;
    while (isDigit(text[at])) at++;
    if (!isDigit(text[at - 1])) at = exponentStart; // no digits: the "e" is not part of the number
  }
  return at;
}

/** scanstring: `at` is just past the opening quote. */
function scanString(text: string, at: number): number {
  const begin = at - 1;
  for (;;) {
    let c: string | undefined;
    while (at < text.length) {
      c = text[at];
      if (c === '"' || c === "\\") break;
      if (c! <= "\x1f") throw new DecodeError(at, "Invalid control character at");
      at++;
    }
    if (at >= text.length) throw new DecodeError(begin, "Unterminated string starting at");
    at++;
    if (c === '"') return at;
    if (at === text.length) throw new DecodeError(begin, "Unterminated string starting at");
    const escaped = text[at];
    if (escaped !== "u") {
      if (!'"\\/bfnrt'.includes(escaped!)) throw new DecodeError(at - 1, "Invalid \\escape");
      at++;
      continue;
    }
    at++; // past "u"
    let end = at + 4;
    if (end >= text.length) throw new DecodeError(at - 1, "Invalid \\uXXXX escape");
    for (; at < end; at++) if (!isHex(text[at])) throw new DecodeError(end - 5, "Invalid \\uXXXX escape");
    const unit = Number.parseInt(text.slice(end - 4, end), 16);
    // A high surrogate followed by a second \u escape: its four digits must be hex too.
    if (unit >= 0xd800 && unit <= 0xdbff && end + 6 < text.length && text[at] === "\\" && text[at + 1] === "u") {
      at += 2;
      end += 6;
      for (; at < end; at++) if (!isHex(text[at])) throw new DecodeError(end - 5, "Invalid \\uXXXX escape");
      const low = Number.parseInt(text.slice(end - 4, end), 16);
      if (!(low >= 0xdc00 && low <= 0xdfff)) at = end - 6; // not a pair: the second escape is read on its own
    }
  }
}

function scanObject(text: string, at: number): number {
  at = skipWhitespace(text, at);
  if (text[at] === "}") return at + 1;
  for (;;) {
    if (text[at] !== '"') throw new DecodeError(at, "Expecting property name enclosed in double quotes");
    at = skipWhitespace(text, scanString(text, at + 1));
    if (text[at] !== ":") throw new DecodeError(at, "Expecting ':' delimiter");
    at = skipWhitespace(text, at + 1);
    at = skipWhitespace(text, scanValue(text, at));
    if (text[at] === "}") return at + 1;
    if (text[at] !== ",") throw new DecodeError(at, "Expecting ',' delimiter");
    at = skipWhitespace(text, at + 1);
  }
}

function scanArray(text: string, at: number): number {
  at = skipWhitespace(text, at);
  if (text[at] === "]") return at + 1;
  for (;;) {
    at = skipWhitespace(text, scanValue(text, at));
    if (text[at] === "]") return at + 1;
    if (text[at] !== ",") throw new DecodeError(at, "Expecting ',' delimiter");
    at = skipWhitespace(text, at + 1);
  }
}
