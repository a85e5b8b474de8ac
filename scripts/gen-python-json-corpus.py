#!/usr/bin/env python3
"""Writes test/fixtures/python-json-corpus.json: published event bodies (raw JSON text) and the exact body ScaiKey's
Python sender produces for each, json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True).

test/jobs/exact-event-data.test.ts publishes every body and checks that the delivery carries Python's bytes.
Seeded, so a rerun writes the same file:  python3 scripts/gen-python-json-corpus.py
"""
from __future__ import annotations

import json
import math
import pathlib
import random
import sys

SEED = 20261118
RANDOM_CASES = 250
OUT = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "python-json-corpus.json"

# Fixed data, each worth a name: the examples from the report of changed numbers, then the edges of Python's reading.
EXAMPLES = [
    '{"f":1.0,"big":12345678901234567890,"e":1e21,"neg0":-0.0}',
    '{"id":9007199254740993,"id_neg":-9223372036854775809,"u64":18446744073709551615}',
    '{"huge":123456789012345678901234567890123456789012345678901234567890}',
    '{"float_rounds":0.1000000000000000055511151231257827,"third":0.333333333333333333333333}',
    '{"a":1E2,"b":1e+2,"c":1e-7,"d":1.5e300,"e":1e16,"f":1e15,"g":123456789012345678.0,"h":0e0,"i":-0,"j":0.0}',
    '{"sub":5e-324,"under":1e-400,"neg_under":-1e-400,"max":1.7976931348623157e308,"tiny":2.2250738585072014e-308}',
    '{"exp_zeros":1e007,"exp_plus":2.5E+0,"frac_zeros":1.000000,"big_float":9007199254740993.0}',
    '{"s":"caf\\u00e9 \u00e9 \\ud83d\\ude00 \U0001F600 \\ud800 \\udfff \\u0000 \\/ \u2028 \ufeff \x7f"}',
    '{"\\ue000":1,"\\ud83d\\ude00":2,"\\uffff":3,"\\ud800":4,"z":5,"\\u00e9":6,"10":7,"9":8}',
    '{"dup":1,"dup":2.0,"x":{"k":"first","k":"last"}}',
    '{"a":{},"a":[],"b":[],"b":{},"c":{"0":1.0},"c":[1.0],"d":{"length":0},"d":[],"e":[],"e":{"length":0}}',
    '{"f":[{}],"f":[[]],"g":[],"g":{"__proto__":[]},"h":{"x":{}},"h":{"x":[]},"i":[1.0],"i":[1.00]}',
    '{"nested":[[1.0,[2.50,[-0.0,[12345678901234567890]]]],{"a":{"b":{"c":1e21}}}]}',
    ' { "spaces" :\t[ 1 ,\n2.0 ,\r\n3e0 ] , "empty" : { } , "list" : [ ] } ',
]


def rand_ws(rng: random.Random) -> str:
    return "" if rng.random() < 0.7 else "".join(rng.choice(" \t\n\r") for _ in range(rng.randint(1, 3)))


def rand_digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(n - 1))


def rand_int(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        text = str(rng.randint(0, 1000))
    elif kind < 0.55:
        text = str(2**53 + rng.randint(-5, 5))  # around the last exact double
    elif kind < 0.7:
        text = str(rng.choice([2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**20, 10**21]))
    else:
        text = rand_digits(rng, rng.randint(1, 60))
    return ("-" if rng.random() < 0.3 else "") + text


def rand_float(rng: random.Random) -> str:
    while True:
        mantissa = rand_digits(rng, rng.randint(1, 25)) if rng.random() < 0.8 else "0"
        text = mantissa
        has_fraction = rng.random() < 0.7
        if has_fraction:
            text += "." + ("0" * rng.randint(1, 4) if rng.random() < 0.25 else "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25))))
        if not has_fraction or rng.random() < 0.5:
            exp_sign = rng.choice(["", "+", "-"])
            text += rng.choice("eE") + exp_sign + ("0" if rng.random() < 0.1 else "") + str(rng.randint(0, 330))
        if rng.random() < 0.35:
            text = "-" + text
        if math.isfinite(float(text)):  # 1e400 is refused with a 422, tested apart
            return text


SPECIAL_CHARS = ["\\n", "\\t", "\\r", "\\b", "\\f", '\\"', "\\\\", "\\/", "\\u0000", "\\u001f", "\\u007f", "\x7f", "\\u00e9", "\u00e9",
                 "\u4e2d", "\\u4e2d", "\U0001F600", "\\ud83d\\ude00", "\U0010FFFF", "\\udbff\\udfff", "\\ud800", "\\udc00",
                 "\\uD834\\uDD1E", "\ue000", "\\ue000", "\uffff", "\ufeff", "\u2028", "\u2029", "/", "<", "'"]


def rand_string(rng: random.Random, max_len: int = 12) -> str:
    parts = []
    for _ in range(rng.randint(0, max_len)):
        if rng.random() < 0.35:
            parts.append(rng.choice(SPECIAL_CHARS))
        elif rng.random() < 0.15:
            parts.append(chr(rng.choice([rng.randint(0x80, 0xD7FF), rng.randint(0xE000, 0xFFFD), rng.randint(0x10000, 0x10FFFF)])))
        else:
            parts.append(rng.choice("abcXYZ019 _-.:"))
    return '"' + "".join(parts) + '"'


def rand_value(rng: random.Random, depth: int) -> str:
    roll = rng.random()
    if depth < 5 and roll < 0.25:
        return rand_object(rng, depth + 1)
    if depth < 5 and roll < 0.4:
        items = [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
        return "[" + rand_ws(rng) + ("," + rand_ws(rng)).join(items) + rand_ws(rng) + "]"
    if roll < 0.6:
        return rand_float(rng)
    if roll < 0.8:
        return rand_int(rng)
    if roll < 0.92:
        return rand_string(rng)
    return rng.choice(["true", "false", "null"])


def rand_object(rng: random.Random, depth: int) -> str:
    keys = [rand_string(rng, 4) for _ in range(rng.randint(0, 6))]
    if keys and rng.random() < 0.1:
        keys.append(rng.choice(keys))  # a repeated key: the last value wins
    members = [k + rand_ws(rng) + ":" + rand_ws(rng) + rand_value(rng, depth) for k in keys]
    return "{" + rand_ws(rng) + ("," + rand_ws(rng)).join(members) + rand_ws(rng) + "}"


def envelope(index: int, data: str) -> str:
    return (
        '{"event_id":"evt_corpus_%d","event_type":"user.updated","timestamp":"2026-05-18T12:00:00.000Z",'
        '"tenant_id":"tnt_corpus","partner_id":"prt_corpus","resource":{"type":"user","id":"usr_%d"},'
        '"actor":{"id":"usr_admin","type":"admin"},"data":%s}' % (index, index, data)
    )


def main() -> int:
    rng = random.Random(SEED)
    data = EXAMPLES + [rand_object(rng, 1) for _ in range(RANDOM_CASES)]
    cases = []
    for index, text in enumerate(data):
        body = envelope(index, text)
        expected = json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True)
        cases.append({"body": body, "expected": expected})
    meta = {
        "generator": "scripts/gen-python-json-corpus.py",
        "python": sys.version.split()[0],
        "seed": SEED,
        "examples": len(EXAMPLES),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1) + "\n", encoding="ascii")
    print(f"wrote {len(cases)} cases to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
