// Malformed JSON reported as Python's json.loads reports it (message and character offset), against its verdicts on a
// corpus of documents (test/fixtures/fastapi-reference.json, written by scripts/gen-fastapi-reference.py).
import { describe, expect, it } from "vitest";
import { pythonJsonDecodeError } from "../../src/lib/python-json-errors";
import reference from "../fixtures/fastapi-reference.json";

const cases = reference.json_errors as [string, [number, string] | null][];
// JSON has no NaN or Infinity: Python reads them, the Worker refuses them (docs/api.md, differences from FastAPI).
const PYTHON_ONLY = /NaN|Infinity/;

describe("json.loads' errors", () => {
  it.each(cases.map(([doc, verdict]) => [JSON.stringify(doc), doc, verdict] as const))("%s", (_label, doc, verdict) => {
    const ours = pythonJsonDecodeError(doc);
    if (verdict === null) {
      if (PYTHON_ONLY.test(doc)) expect(ours?.msg).toBe("Expecting value");
      else expect(ours).toBeNull();
    } else if (doc.startsWith("\ufeff")) {
      // A str with a BOM; a body's bytes reach json.loads with one BOM already dropped (utf-8-sig), then this.
      expect(ours).toEqual({ pos: 0, msg: "Expecting value" });
    } else expect(ours).toEqual({ pos: verdict[0], msg: verdict[1] });
  });

  it("agrees with JSON.parse on what is JSON", () => {
    for (const [doc] of cases) {
      let parses = true;
      try {
        JSON.parse(doc);
      } catch {
        parses = false;
      }
      expect(pythonJsonDecodeError(doc) === null, doc).toBe(parses);
    }
  });
});
