// The lax readings of src/lib/pydantic.ts against pydantic's own verdicts, recorded by scripts/gen-fastapi-reference.py
// (test/fixtures/fastapi-reference.json): booleans, integer strings, and timezone-aware datetimes.
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { zodIssuesToValidationIssues } from "../../src/lib/errors";
import {
  awareDatetime,
  laxBoolean,
  laxInteger,
  parseAwareDatetime,
  parseIntLikePydantic,
} from "../../src/lib/pydantic";
import reference from "../fixtures/fastapi-reference.json";

type Verdict = { ok?: unknown; error?: string; msg?: string };

/** pydantic's error type for `value` refused by `schema`, as the API reports it. */
function refusal(schema: z.ZodType, value: unknown) {
  const result = schema.safeParse(value);
  if (result.success) return { ok: result.data };
  const [issue] = zodIssuesToValidationIssues("json", result.error, value);
  return { error: issue!.type, msg: issue!.msg };
}

describe("booleans", () => {
  const cases = reference.lax.bool_json as [unknown, Verdict][];
  it.each(cases.map(([v, verdict]) => [JSON.stringify(v), v, verdict] as const))("%s", (_label, value, verdict) => {
    const ours = refusal(laxBoolean(), value);
    expect("error" in verdict ? { error: ours.error } : ours).toEqual(verdict);
  });
});

describe("integer strings (query and path parameters, strings in a body)", () => {
  const cases = reference.lax.int_string as [string, Verdict][];
  const anyInt = laxInteger({ ge: Number.MIN_SAFE_INTEGER, le: Number.MAX_SAFE_INTEGER });
  it.each(cases.map(([v, verdict]) => [JSON.stringify(v).slice(0, 40), v, verdict] as const))(
    "%s",
    (_label, text, verdict) => {
      const parsed = parseIntLikePydantic(text);
      if (verdict.ok !== undefined) expect(parsed).toBe(BigInt(verdict.ok as string));
      else {
        expect(parsed).toBeNull();
        expect(refusal(anyInt, text).error).toBe(verdict.error);
      }
    },
  );
});

describe("timezone-aware datetimes", () => {
  const cases = reference.datetimes as [unknown, Verdict][];
  /** Python's isoformat → milliseconds since the epoch (the Worker keeps milliseconds). */
  const instant = (iso: string) => {
    const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{6}))?([+-])(\d\d):(\d\d)$/.exec(iso)!;
    const [, y, mo, d, h, mi, s, us = "0", sign, oh, om] = m;
    const at = new Date(0);
    at.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
    const offset = (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om));
    at.setUTCHours(Number(h), Number(mi) - offset, Number(s), Math.floor(Number(us) / 1000));
    return at.getTime();
  };
  it.each(cases.map(([v, verdict]) => [JSON.stringify(v), v, verdict] as const))("%s", (_label, value, verdict) => {
    if (typeof verdict.ok === "string") {
      const ours = parseAwareDatetime(value);
      expect(ours).toHaveProperty("iso");
      expect(Date.parse((ours as { iso: string }).iso)).toBe(instant(verdict.ok));
    } else expect(refusal(awareDatetime(), value)).toEqual({ error: verdict.error, msg: verdict.msg });
  });
});
