// Random published bodies with Python's verdict on each, for test/jobs/exact-event-data.test.ts. Runs in Node
// (globalSetup): fast-check writes JSON text with numbers spelled every way JSON allows (big ints, 1.0, -0.0, 1E+2,
// long fractions, out-of-range exponents) and strings with escapes, raw non-ASCII, astral characters and lone
// surrogate escapes; then python3 reads each body and writes what ScaiKey's sender would send:
// json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True), or null where Python's value is not JSON
// (a float that overflowed to inf), which the service must refuse. A new seed every run; set JSON_PROPERTY_SEED
// to replay one (the test prints it).
import fc from "fast-check";

declare module "vitest" {
  export interface ProvidedContext {
    /** JSON: { seed, cases: [{ body, expected: string | null }] } */
    pythonJsonCases: string;
  }
}

declare const process: {
  env: Record<string, string | undefined>;
  getBuiltinModule(name: "node:child_process"): {
    spawnSync(
      cmd: string,
      args: string[],
      opts: { input: string; encoding: "utf8"; maxBuffer: number },
    ): { status: number | null; stdout: string; stderr: string; error?: Error };
  };
};

export const PROPERTY_CASES = 150;

const PYTHON = `
import json, sys
out = []
for body in json.load(sys.stdin):
    try:
        out.append(json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True, allow_nan=False))
    except ValueError:
        out.append(None)
json.dump(out, sys.stdout)
`;

const ws = fc.constantFrom("", "", "", " ", "\n", "\t", " \r\n ");
const digits = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });
const intPart = fc.oneof(
  fc.constant("0"),
  fc.tuple(fc.constantFrom(..."123456789"), digits(0, 40)).map(([d, rest]) => d + rest),
);

const numberText = fc.oneof(
  fc
    .tuple(
      fc.boolean(),
      intPart,
      fc.option(digits(1, 25)),
      fc.option(fc.tuple(fc.constantFrom("e", "E"), fc.constantFrom("", "+", "-"), digits(1, 3))),
    )
    .map(
      ([neg, int, frac, exp]) =>
        `${neg ? "-" : ""}${int}${frac === null ? "" : `.${frac}`}${exp === null ? "" : exp.join("")}`,
    ),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? "-0.0" : String(d))),
  fc.constantFrom(
    "1.0",
    "-0.0",
    "-0",
    "1e21",
    "1E2",
    "1e400",
    "-1e309",
    "1e-400",
    "12345678901234567890",
    "0.1000000000000000055511151231257827",
    "9007199254740993",
    "5e-324",
  ),
);

const hex4 = (unit: number) => unit.toString(16).padStart(4, "0");
// Pieces of a JSON string's text; raw lone surrogates are left out (they cannot be sent as UTF-8).
const stringPiece = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 6 }).map((s) => JSON.stringify(s).slice(1, -1)),
  fc.constantFrom(
    "\\n",
    "\\t",
    "\\b",
    "\\f",
    "\\r",
    '\\"',
    "\\\\",
    "\\/",
    "\u007f",
    "\u2028",
    "\ufeff",
    "\u{1F600}",
    "\u{10FFFF}",
    "\ue000",
    "\uffff",
  ),
  fc.integer({ min: 0, max: 0xffff }).chain((u) => fc.constantFrom(`\\u${hex4(u)}`, `\\u${hex4(u).toUpperCase()}`)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((cp) => {
    const s = String.fromCodePoint(cp);
    return `\\u${hex4(s.charCodeAt(0))}\\u${hex4(s.charCodeAt(1))}`;
  }),
);
const stringText = fc.array(stringPiece, { maxLength: 5 }).map((parts) => `"${parts.join("")}"`);

const { value: valueText } = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
  // Depth-capped (at the cap, the first: a number) so that no body meets the service's nesting limit.
  value: fc.oneof(
    { maxDepth: 6, depthIdentifier: "json" },
    { arbitrary: numberText, weight: 5 },
    { arbitrary: stringText, weight: 3 },
    { arbitrary: fc.constantFrom("true", "false", "null"), weight: 1 },
    { arbitrary: tie("object"), weight: 2 },
    { arbitrary: tie("array"), weight: 1 },
  ),
  object: fc
    .array(fc.tuple(ws, stringText, ws, ws, tie("value"), ws), { maxLength: 5, depthIdentifier: "json" })
    .map((members) => `{${members.map(([a, k, b, c, v, d]) => `${a}${k}${b}:${c}${v}${d}`).join(",")}}`),
  array: fc
    .array(fc.tuple(ws, tie("value"), ws), { maxLength: 5, depthIdentifier: "json" })
    .map((items) => `[${items.map((p) => p.join("")).join(",")}]`),
}));
const dataText = fc
  .array(fc.tuple(stringText, valueText), { maxLength: 6 })
  .map((members) => `{${members.map(([k, v]) => `${k}:${v}`).join(",")}}`);

/** The published body around `data`; tests rebuild nothing from it but read the event_id back. */
export const propertyBody = (index: number, data: string) =>
  `{"event_id":"evt_prop_${index}","event_type":"user.updated","timestamp":"2026-05-18T12:00:00.000Z",` +
  `"tenant_id":"tnt_prop","partner_id":"prt_prop","resource":{"type":"user","id":"usr_${index}"},` +
  `"actor":{"id":null,"type":"system"},"data":${data}}`;

export default function setup(project: { provide(key: "pythonJsonCases", value: string): void }) {
  const seed = Number(process.env.JSON_PROPERTY_SEED ?? Date.now() % 2 ** 31);
  const bodies = fc.sample(dataText, { numRuns: PROPERTY_CASES, seed }).map((data, i) => propertyBody(i, data));
  const run = process.getBuiltinModule("node:child_process").spawnSync("python3", ["-c", PYTHON], {
    input: JSON.stringify(bodies),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`python3 failed (${run.error ?? run.status}): ${run.stderr}`);
  const expected = JSON.parse(run.stdout) as (string | null)[];
  project.provide(
    "pythonJsonCases",
    JSON.stringify({ seed, cases: bodies.map((body, i) => ({ body, expected: expected[i] })) }),
  );
}
