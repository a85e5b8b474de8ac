import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/lib/canonical-json";
import { parseJsonExactly } from "../../src/lib/lossless-json";

// Every expected string below was printed by CPython 3.11:
//   json.dumps(value, separators=(",", ":"), sort_keys=True)
describe("canonicalJson matches Python's json.dumps(sort_keys=True, compact separators)", () => {
  it("serialises an event envelope with nested keys sorted and non-ASCII escaped", () => {
    const envelope = {
      event_id: "evt_a3f9k2bWqL8Hn5pZ",
      event_type: "user.created",
      timestamp: "2026-05-18T12:00:00Z",
      resource: { type: "user", id: "usr_123" },
      actor: { id: null, type: "system" },
      data: {
        email: "zoë@example.com",
        roles: ["b", "a"],
        mfa: false,
        count: 3,
        nested: { z: 1, a: { y: [], b: {} } },
      },
      tenant_id: "tnt_1",
      partner_id: "prt_1",
    };
    expect(canonicalJson(envelope)).toBe(
      '{"actor":{"id":null,"type":"system"},"data":{"count":3,"email":"zo\\u00eb@example.com","mfa":false,' +
        '"nested":{"a":{"b":{},"y":[]},"z":1},"roles":["b","a"]},"event_id":"evt_a3f9k2bWqL8Hn5pZ",' +
        '"event_type":"user.created","partner_id":"prt_1","resource":{"id":"usr_123","type":"user"},' +
        '"tenant_id":"tnt_1","timestamp":"2026-05-18T12:00:00Z"}',
    );
  });

  it("escapes quotes, backslashes and control characters as Python does, and leaves / alone", () => {
    expect(canonicalJson('a"b\\c/d\n\r\t\b\f\x00\x01\x1f\x7f end')).toBe(
      String.raw`"a\"b\\c/d\n\r\t\b\f\u0000\u0001\u001f\u007f end"`,
    );
  });

  it("escapes every non-ASCII BMP character as lowercase \\uXXXX", () => {
    expect(canonicalJson("é ü ñ € ✓ 中文 \u2028\u2029 \ufeff")).toBe(
      String.raw`"\u00e9 \u00fc \u00f1 \u20ac \u2713 \u4e2d\u6587 \u2028\u2029 \ufeff"`,
    );
  });

  it("writes astral characters as surrogate pairs and keeps lone surrogates as single escapes", () => {
    expect(canonicalJson("😀 𝄞 \u{10ffff}")).toBe(String.raw`"\ud83d\ude00 \ud834\udd1e \udbff\udfff"`);
    expect(canonicalJson("x\ud800y")).toBe(String.raw`"x\ud800y"`);
  });

  it("sorts keys by code point, not by UTF-16 unit (astral after U+E000..U+FFFF)", () => {
    const value = {
      b: 1,
      a: 2,
      B: 3,
      _: 4,
      aa: 5,
      "a b": 6,
      é: 7,
      "\uffff": 8,
      "😀": 9,
      "\ue000": 10,
      "10": 11,
      "9": 12,
      "": 13,
    };
    expect(canonicalJson(value)).toBe(
      String.raw`{"":13,"10":11,"9":12,"B":3,"_":4,"a":2,"a b":6,"aa":5,"b":1,"\u00e9":7,"\ue000":10,"\uffff":8,"\ud83d\ude00":9}`,
    );
  });

  it("prints integers as Python ints, including beyond 2^53 and as bigint", () => {
    expect(
      canonicalJson([0, -0, 1, -1, 42, 9007199254740991, -9007199254740991, 1e21, 123456789012345678901234567890n]),
    ).toBe("[0,0,1,-1,42,9007199254740991,-9007199254740991,1000000000000000000000,123456789012345678901234567890]");
  });

  it("prints non-integers as Python's float repr (exponent below 1e-4, two exponent digits)", () => {
    const floats = [
      0.1, -0.5, 1.5, 3.14159, 1e-5, 0.0001, 0.00012345, 1.5e-7, 2.5e-10, 123456.789, 1234567890123.5, 5e-324, -1e-7,
    ];
    expect(canonicalJson(floats)).toBe(
      "[0.1,-0.5,1.5,3.14159,1e-05,0.0001,0.00012345,1.5e-07,2.5e-10,123456.789,1234567890123.5,5e-324,-1e-07]",
    );
  });

  it("writes empty containers and literals compactly", () => {
    expect(canonicalJson([{}, [], "", [[]], { a: {} }])).toBe('[{},[],"",[[]],{"a":{}}]');
    expect(canonicalJson([true, false, null])).toBe("[true,false,null]");
    expect(canonicalJson("plain")).toBe('"plain"');
    expect(canonicalJson(7)).toBe("7");
    expect(canonicalJson(null)).toBe("null");
  });

  it("matches Python on randomly generated documents (seeded, generated offline)", () => {
    for (const [input, expected] of PYTHON_RANDOM_GOLDENS) {
      expect(canonicalJson(JSON.parse(input))).toBe(expected);
    }
  });
});

describe("canonicalJson on JSON read with exact numbers (parseJsonExactly)", () => {
  // Expected strings printed by CPython 3.11: json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
  it.each([
    [
      '{"f":1.0,"big":12345678901234567890,"e":1e21,"neg0":-0.0}',
      '{"big":12345678901234567890,"e":1e+21,"f":1.0,"neg0":-0.0}',
    ],
    [
      "[1E2,1e-7,1.5e300,1e16,1e15,0e0,-0,0.0,-1e-400,5e-324]",
      "[100.0,1e-07,1.5e+300,1e+16,1000000000000000.0,0.0,0,0.0,-0.0,5e-324]",
    ],
    [
      "[0.1000000000000000055511151231257827,9007199254740993,9007199254740993.0,-18446744073709551616]",
      "[0.1,9007199254740993,9007199254740992.0,-18446744073709551616]",
    ],
    ['{"k":1,"k":2.0}', '{"k":2.0}'],
  ])("%s", (text, expected) => {
    expect(canonicalJson(parseJsonExactly(text))).toBe(expected);
  });

  it("takes only the parser's own numbers as exact: published look-alikes stay objects", () => {
    expect(canonicalJson(parseJsonExactly('{"isLosslessNumber":true,"value":"1"}'))).toBe(
      '{"isLosslessNumber":true,"value":"1"}',
    );
  });
});

describe("canonicalJson on JavaScript-only values", () => {
  it("omits undefined, function and symbol members and turns them into null inside arrays", () => {
    const value = { a: undefined, b: 1, c: () => 1, d: Symbol("x"), e: [undefined, () => 1, Symbol("y")] };
    expect(canonicalJson(value)).toBe('{"b":1,"e":[null,null,null]}');
  });

  it("honours toJSON (Dates become ISO strings), as JSON.stringify does", () => {
    expect(canonicalJson({ at: new Date(Date.UTC(2026, 4, 18, 12)) })).toBe('{"at":"2026-05-18T12:00:00.000Z"}');
  });

  it("throws on non-finite numbers", () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => canonicalJson({ n })).toThrow(RangeError);
    }
  });

  it("throws on cycles and on a top-level value JSON cannot hold", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
    expect(() => canonicalJson(() => 1)).toThrow(TypeError);
  });

  it("serialises a shared (non-cyclic) sub-object every time it appears", () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: [shared, shared] })).toBe('{"a":{"x":1},"b":[{"x":1},{"x":1}]}');
  });
});

describe("canonicalJson properties", () => {
  const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

  it("round-trips through JSON.parse and emits only printable ASCII", () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalJson(value);
        expect(text).toMatch(/^[\x20-\x7e]*$/);
        expect(JSON.parse(text)).toEqual(value);
      }),
      { numRuns: 300 },
    );
  });

  it("is independent of key insertion order and sorts ASCII keys like a plain string sort", () => {
    const asciiKey = fc.string({ unit: fc.constantFrom(..."abcXYZ019_-") });
    const record = fc.dictionary(asciiKey, fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), asciiKey));
    fc.assert(
      fc.property(record, (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        // Built by hand: JS objects list integer-like keys ("9", "10") first whatever the insertion order.
        const sorted = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        const expected = `{${sorted.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
        expect(canonicalJson(value)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});

// Pairs of (input as Python wrote it, unsorted with spaces; canonical output), from a seeded random generator
// of nested objects with integers, non-integer floats, control characters, BMP and astral characters.
const PYTHON_RANDOM_GOLDENS: [input: string, expected: string][] = [
  ['{"Z": [], "\\ud834\\udd1e\\\\\\\\\\ufeff": true, "": []}', '{"":[],"Z":[],"\\ud834\\udd1e\\\\\\\\\\ufeff":true}'],
  [
    '{"90\\ud83d\\ude00\\udbff\\udfff": [false, [null, 6578.710025407446, ""], 587500614857539, "\\"\\ud834\\udd1e\\n\\u20ac\\u0000\\ue000"], "\\u4e2d_\\ufeffZ": false, "\\u007f\\u2028\\u4e2d": {"\\ufeffbY": []}, "\\u00009-": null}',
    '{"\\u00009-":null,"90\\ud83d\\ude00\\udbff\\udfff":[false,[null,6578.710025407446,""],587500614857539,"\\"\\ud834\\udd1e\\n\\u20ac\\u0000\\ue000"],"\\u007f\\u2028\\u4e2d":{"\\ufeffbY":[]},"\\u4e2d_\\ufeffZ":false}',
  ],
  [
    '{"\\ud834\\udd1e\\u0000": "\\"_\\u20ac0", "a\\\\9b": ["", -546455987059606, {"- \\uffff": -255938502788017}], "0\\uffff": true}',
    '{"0\\uffff":true,"a\\\\9b":["",-546455987059606,{"- \\uffff":-255938502788017}],"\\ud834\\udd1e\\u0000":"\\"_\\u20ac0"}',
  ],
  [
    '{"\\uffff\\u00e9\\u00e9": {}, "\\u20ac\\u0000\\u2028": -247178669096164, "-": {"\\ue000c": true, "\\u4e2d": "\\ue000c 0\\"", "\\ue000\\uffff\\u00e9\\u0000": true}}',
    '{"-":{"\\u4e2d":"\\ue000c 0\\"","\\ue000c":true,"\\ue000\\uffff\\u00e9\\u0000":true},"\\u20ac\\u0000\\u2028":-247178669096164,"\\uffff\\u00e9\\u00e9":{}}',
  ],
  [
    '{"\\u20ac0\\u00e9": -728447.643135187, "\\ud834\\udd1e": [], "Y": [{"": 8600612679237, "0\\n\\u20ac\\ud834\\udd1e": 427310902265057}, false, "9\\nZb"]}',
    '{"Y":[{"":8600612679237,"0\\n\\u20ac\\ud834\\udd1e":427310902265057},false,"9\\nZb"],"\\u20ac0\\u00e9":-728447.643135187,"\\ud834\\udd1e":[]}',
  ],
  [
    '{"Y\\"\\ue000": -149110907614610, "": [], "-\\u00df": {"X\\ud83d\\ude00": null}}',
    '{"":[],"-\\u00df":{"X\\ud83d\\ude00":null},"Y\\"\\ue000":-149110907614610}',
  ],
  [
    '{"\\ud83d\\ude00\\uffff/\\u00df": {}, "\\ud83d\\ude00\\u00e9": [["", false], -898411130648629, "\\"a\\\\", ["\\ud83d\\ude00/\\udbff\\udfff"]]}',
    '{"\\ud83d\\ude00\\u00e9":[["",false],-898411130648629,"\\"a\\\\",["\\ud83d\\ude00/\\udbff\\udfff"]],"\\ud83d\\ude00\\uffff/\\u00df":{}}',
  ],
  [
    '{" 0\\ud83d\\ude00/": {"": true}, "\\u007f": false, "\\ud83d\\ude00\\u00df_": {}}',
    '{" 0\\ud83d\\ude00/":{"":true},"\\u007f":false,"\\ud83d\\ude00\\u00df_":{}}',
  ],
  ['{"": [351464.0778131336], "0\\u007f": 667870.359014025}', '{"":[351464.0778131336],"0\\u007f":667870.359014025}'],
  [
    '{"0": [{" 9\\ue000": "\\ue0009--", "\\ue000\\u007f\\udbff\\udfff": "c"}, false], "\\"": "\\ufeff\\ud83d\\ude00", "\\u2028Z\\ud834\\udd1e\\udbff\\udfff": true}',
    '{"\\"":"\\ufeff\\ud83d\\ude00","0":[{" 9\\ue000":"\\ue0009--","\\ue000\\u007f\\udbff\\udfff":"c"},false],"\\u2028Z\\ud834\\udd1e\\udbff\\udfff":true}',
  ],
  ['{"9": {}, "b\\u00e9": "\\u007f\\u2028c"}', '{"9":{},"b\\u00e9":"\\u007f\\u2028c"}'],
  [
    '{"\\udbff\\udfff\\ue000\\udbff\\udfff\\u00df": {}, "-Y\\\\": 883628240139156}',
    '{"-Y\\\\":883628240139156,"\\udbff\\udfff\\ue000\\udbff\\udfff\\u00df":{}}',
  ],
  ['{"0\\u00df\\"\\u20ac": {}}', '{"0\\u00df\\"\\u20ac":{}}'],
  [
    '{"\\ufeff \\n": {}, "0\\uffff\\ufeff": {"\\u00e9": [], "": null}, "\\u0000\\ufeff": [[]], "a\\ud834\\udd1e": ["0\\tc", {}, []]}',
    '{"\\u0000\\ufeff":[[]],"0\\uffff\\ufeff":{"":null,"\\u00e9":[]},"a\\ud834\\udd1e":["0\\tc",{},[]],"\\ufeff \\n":{}}',
  ],
  ['{"-\\"\\ud834\\udd1e": null}', '{"-\\"\\ud834\\udd1e":null}'],
  ['{"c \\n": true, "": {}, "\\uffff\\\\9": []}', '{"":{},"c \\n":true,"\\uffff\\\\9":[]}'],
];
