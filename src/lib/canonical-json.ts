// The exact bytes ScaiKey sends: Python's json.dumps(value, separators=(",", ":"), sort_keys=True), ensure_ascii on.
// Receivers verify signatures over the bytes received, so every character here must match Python's output.
import { isInteger, isLosslessNumber } from "lossless-json";

/**
 * Serialise like Python's `json.dumps(value, separators=(",", ":"), sort_keys=True)`:
 * keys sorted by code point at every level, no spaces, every character outside printable ASCII escaped
 * as lowercase `\uXXXX` (astral characters as surrogate pairs), `/` left alone.
 * JavaScript-only values follow JSON.stringify: `toJSON` is honoured, `undefined`/functions/symbols
 * are dropped from objects and become `null` in arrays. Integer-valued numbers print as Python ints
 * (`1e21` → `1000000000000000000000`), other numbers as Python's float repr; bigints print as ints.
 * A LosslessNumber (published event data, see lossless-json.ts) prints as Python prints what json.loads makes of
 * its text: an int literal exactly, anything else as a float (`1.0` → `1.0`, `1e21` → `1e+21`, `-0.0` → `-0.0`).
 * Throws on non-finite numbers, cycles, and a top-level value JSON cannot represent.
 */
export function canonicalJson(value: unknown): string {
  return pythonJsonText(value, CANONICAL);
}

/** Python's `json.dumps` options that matter here; separators are always the compact `(",", ":")`. */
interface DumpOptions {
  sortKeys: boolean;
  /** true: every character outside printable ASCII as `\uXXXX`; false: only what JSON requires (and lone surrogates). */
  ensureAscii: boolean;
  /** A number beyond the double range (1e400) as `null`, where canonical JSON refuses it (a 422 echoes what was sent). */
  nonFiniteAsNull?: boolean;
}
const CANONICAL: DumpOptions = { sortKeys: true, ensureAscii: true };

/**
 * Python's `json.dumps(value, separators=(",", ":"), sort_keys=…, ensure_ascii=…)`, with the same treatment of
 * numbers and JavaScript-only values as canonicalJson. FastAPI writes its JSON answers with sort_keys off and
 * ensure_ascii off.
 */
export function pythonJsonText(value: unknown, options: DumpOptions): string {
  const out = serialise(value, "", new Set(), options);
  if (out === undefined) throw new TypeError(`canonicalJson: cannot serialise a top-level ${typeof value}`);
  return out;
}

// `undefined` means "no JSON value here" (omitted from objects, null in arrays), as in JSON.stringify.
function serialise(value: unknown, key: string, ancestors: Set<object>, options: DumpOptions): string | undefined {
  if (options.nonFiniteAsNull && (typeof value === "number" || isLosslessNumber(value)))
    if (!Number.isFinite(Number(isLosslessNumber(value) ? value.value : value))) return "null";
  if (isLosslessNumber(value)) return formatNumberLiteral(value.value);
  if (value !== null && typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    value = (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  switch (typeof value) {
    case "string":
      return quote(value, options.ensureAscii);
    case "number":
      return formatNumber(value);
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (value === null) return "null";

  const object = value as object;
  if (ancestors.has(object)) throw new TypeError("canonicalJson: cyclic structure");
  ancestors.add(object);
  let out: string;
  if (Array.isArray(object)) {
    const items = object.map((item: unknown, index) => serialise(item, String(index), ancestors, options) ?? "null");
    out = `[${items.join(",")}]`;
  } else {
    const record = object as Record<string, unknown>;
    const members: string[] = [];
    const names = options.sortKeys ? Object.keys(record).sort(compareCodePoints) : Object.keys(record);
    for (const name of names) {
      const member = serialise(record[name], name, ancestors, options);
      if (member !== undefined) members.push(`${quote(name, options.ensureAscii)}:${member}`);
    }
    out = `{${members.join(",")}}`;
  }
  ancestors.delete(object);
  return out;
}

// Printable ASCII other than `"` and `\` passes through unescaped; this covers nearly every envelope string.
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const SHORT_ESCAPES: Record<number, string> = {
  34: '\\"',
  92: "\\\\",
  10: "\\n",
  13: "\\r",
  9: "\\t",
  8: "\\b",
  12: "\\f",
};

function quote(text: string, ensureAscii: boolean): string {
  if (PLAIN_ASCII.test(text)) return `"${text}"`;
  // Without ensure_ascii Python escapes what JSON requires, as JSON.stringify does (which also escapes a lone
  // surrogate, where Python would fail to encode the answer).
  if (!ensureAscii) return JSON.stringify(text);
  let out = '"';
  // UTF-16 code units: an astral character becomes its surrogate pair, exactly as Python's ensure_ascii writes it.
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const short = SHORT_ESCAPES[unit];
    if (short !== undefined) out += short;
    else if (unit >= 0x20 && unit <= 0x7e) out += text[i];
    else out += `\\u${unit.toString(16).padStart(4, "0")}`;
  }
  return `${out}"`;
}

// Python compares str by code point; JavaScript's default sort compares UTF-16 units, which puts
// astral characters (surrogates, 0xD800…) before U+E000…U+FFFF.
function compareCodePoints(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`canonicalJson: ${n} is not representable in JSON`);
  if (Number.isInteger(n)) return BigInt(n).toString();
  return pythonFloatRepr(n);
}

// JSON's int grammar already is Python's int repr (no leading zeros, no "+"), except that -0 is the int 0.
function formatNumberLiteral(text: string): string {
  if (isInteger(text)) return text === "-0" ? "0" : text;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new RangeError(`canonicalJson: ${text} is not representable in JSON`);
  return pythonFloatRepr(n);
}

// Python's float repr: the shortest round-tripping digits (as in JavaScript), written in fixed notation
// when -4 <= exponent < 16 and otherwise as d.ddde±XX with at least two exponent digits; integral values
// keep a ".0" and -0.0 its sign.
function pythonFloatRepr(n: number): string {
  const [mantissa = "", exponentText = "0"] = Math.abs(n).toExponential().split("e");
  const exponent = Number(exponentText);
  const digits = mantissa.replace(".", "");
  const sign = n < 0 || Object.is(n, -0) ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : "";
    const expSign = exponent < 0 ? "-" : "+";
    return `${sign}${digits[0]}${fraction}e${expSign}${String(Math.abs(exponent)).padStart(2, "0")}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1);
  return `${sign}${whole}.${fraction || "0"}`;
}
