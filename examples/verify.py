#!/usr/bin/env python3
"""Verifying ScaiKey webhook deliveries on the receiving side (Python 3.8+, standard library only).

Described in README.md, "Verifying signatures (receivers)". Copy what you need.

* ``X-ScaiKey-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`` is HMAC-SHA256 over ``b"<t>." + raw_body``, keyed by
  the UTF-8 bytes of the WHOLE secret string (``whsec_...`` included), exactly as ScaiKey's receivers compute it with
  ``hmac.new(secret.encode(), ...)``. One difference from the receivers in use: they build a dict from the header, so
  they only ever see the LAST v1. This accepts ANY matching v1, which keeps working on both sides of a secret rotation
  (deliveries carry ``v1=<new>,v1=<old>`` during the grace period).
* Timestamps more than 300 s away from now are rejected (replay protection; every retry is signed afresh).
* Comparison is constant-time (``hmac.compare_digest``) and over the raw body bytes, never a re-serialisation:
  Flask ``request.get_data()``, Django ``request.body``, FastAPI/Starlette ``await request.body()``.
* The Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) are checked by
  ``verify_standard_webhooks`` below, or with the ``standardwebhooks`` package from PyPI::

      from standardwebhooks.webhooks import Webhook          # pip install standardwebhooks
      payload = Webhook(secret).verify(raw_body, {k.lower(): v for k, v in request.headers.items()})

A receiver, e.g. with Flask::

    @app.post("/hook")
    def hook():
        raw = request.get_data()
        if not verify_scaikey_signature(raw, request.headers.get("X-ScaiKey-Signature"), os.environ["SCAIKEY_WEBHOOK_SECRET"]):
            return {"error": "invalid signature"}, 401
        event = json.loads(raw)
        # Delivery is at-least-once: skip event["event_id"] (= X-ScaiKey-Event-ID) if already handled.
        # Answer 2xx quickly, also for event types you ignore; anything else is retried.
        return {"handled": True}, 200

Command line, against a request captured by ``node scripts/receiver.mjs --dump <dir>``::

    python3 examples/verify.py <dump-file> <secret> [<secret> ...] [--now <unix seconds>]
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import sys
import time
from typing import Iterable, Mapping, Optional, Union

TOLERANCE_SECONDS = 300


def _secret_list(secrets: Union[str, Iterable[str]]) -> list:
    return [secrets] if isinstance(secrets, str) else list(secrets)


def check_scaikey_signature(
    raw_body: bytes,
    signature_header: Optional[str],
    secrets: Union[str, Iterable[str]],
    now: Optional[int] = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> tuple:
    """(ok, detail): ok is True when some v1 in the header matches one of ``secrets``."""
    if not signature_header:
        return False, "missing X-ScaiKey-Signature"
    timestamp = None
    candidates = []
    for part in signature_header.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name, value = name.strip(), value.strip()
        if name == "t":
            timestamp = value
        elif name == "v1":
            candidates.append(value)  # keep EVERY v1, not just the last one
    if timestamp is None or not timestamp.isdigit():
        return False, "no valid t= in the header"
    now = int(time.time()) if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return False, f"timestamp {timestamp} is outside the {tolerance} s tolerance (now {now})"
    if not candidates:
        return False, "no v1= in the header"
    message = timestamp.encode() + b"." + raw_body
    for s_index, secret in enumerate(_secret_list(secrets)):
        expected = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest().encode()
        for v_index, candidate in enumerate(candidates):
            if hmac.compare_digest(expected, candidate.encode("utf-8")):
                return True, f"v1 #{v_index + 1} matched secret #{s_index + 1}"
    return False, f"none of the {len(candidates)} v1 signature(s) matches"


def verify_scaikey_signature(raw_body: bytes, signature_header: Optional[str], secrets: Union[str, Iterable[str]], now: Optional[int] = None) -> bool:
    """True when ``X-ScaiKey-Signature`` is valid for ``raw_body`` (the exact bytes received)."""
    return check_scaikey_signature(raw_body, signature_header, secrets, now)[0]


def verify_standard_webhooks(
    raw_body: bytes,
    headers: Mapping[str, str],
    secrets: Union[str, Iterable[str]],
    now: Optional[int] = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """The Standard Webhooks scheme: key = base64-decoded bytes after ``whsec_``, HMAC-SHA256 over
    ``<webhook-id>.<webhook-timestamp>.<body>``, base64, space-separated ``v1,<sig>`` entries (any may match)."""
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sig = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not (msg_id and ts and sig) or not ts.isdigit():
        return False
    now = int(time.time()) if now is None else now
    if abs(now - int(ts)) > tolerance:
        return False
    message = f"{msg_id}.{ts}.".encode() + raw_body
    given = [entry[3:] for entry in sig.split(" ") if entry.startswith("v1,")]
    for secret in _secret_list(secrets):
        key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
        expected = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest())
        if any(hmac.compare_digest(expected, g.encode("utf-8")) for g in given):
            return True
    return False


def parse_dump(data: bytes) -> tuple:
    """A dump file: request line, ``Name: value`` lines, an empty line (CRLF), then the body bytes exactly as received."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("not a dump file: no blank line after the headers")
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, body


def main(argv: list) -> int:
    args = list(argv)
    now = None
    if "--now" in args:
        i = args.index("--now")
        try:
            now = int(args[i + 1])
        except (IndexError, ValueError):
            args = []
        else:
            del args[i : i + 2]
    if len(args) < 2:
        print("usage: python3 examples/verify.py <dump-file> <secret> [<secret> ...] [--now <unix seconds>]", file=sys.stderr)
        return 2
    path, secrets = args[0], args[1:]
    with open(path, "rb") as f:
        headers, body = parse_dump(f.read())
    print(f"delivery {headers.get('x-scaikey-webhook-id')}  event {headers.get('x-scaikey-event-id')} ({headers.get('x-scaikey-event-type')})")
    print(f"X-ScaiKey-Signature: {headers.get('x-scaikey-signature')}")
    ok, detail = check_scaikey_signature(body, headers.get("x-scaikey-signature"), secrets, now)
    print(f"ScaiKey signature:   {'ok (' + detail + ')' if ok else 'FAILED: ' + detail}")
    std_ok = verify_standard_webhooks(body, headers, secrets, now)
    print(f"Standard Webhooks:   {'ok' if std_ok else 'FAILED'}")
    return 0 if ok and std_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
