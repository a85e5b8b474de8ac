#!/usr/bin/env python3
"""Writes test/fixtures/fastapi-reference.json: what a FastAPI stand-in of the webhooks API answers, so the tests can hold
the Worker to it without FastAPI installed.

The stand-in declares every operation of the Worker (src/routes) with pydantic models that mirror its zod request
schemas: the same fields in the same order, the same bounds, the same checks raising the same messages. FastAPI and
pydantic then decide the answers: the 422 items (type, loc, msg, input, ctx), malformed JSON (the character offset and
ctx.error), what the lax mode accepts, 405 with Allow, HEAD, and the 307 Location. No authentication: FastAPI validates a
request before its handler runs, and the handlers here only echo what they were given.

Besides the HTTP cases it records pydantic's verdicts on many strings for booleans and integers, Python's json.loads
verdicts on malformed documents, and pydantic's datetime verdicts (unit corpora for test/lib/pydantic-*.test.ts).

Needs FastAPI (the tests do not):
    python3 -m venv --system-site-packages /tmp/fastapi-venv
    /tmp/fastapi-venv/bin/pip install fastapi==0.142.2 httpx
    /tmp/fastapi-venv/bin/python scripts/gen-fastapi-reference.py
Seeded, so a rerun with the same versions writes the same file.
"""
from __future__ import annotations

import base64
import json
import pathlib
import random
import re
import sys
import warnings
from typing import Annotated, Any, Literal

warnings.filterwarnings("ignore")

import fastapi  # noqa: E402
import pydantic  # noqa: E402
import starlette  # noqa: E402
from fastapi import Body, FastAPI, Path, Query, Response  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from pydantic import (  # noqa: E402
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

SEED = 20261123
OUT = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "fastapi-reference.json"
ORIGIN = "https://webhooks.test"  # PUBLIC_ORIGIN in vitest.config.ts
WEBHOOK_ID = "wh_fixture"  # the tests put a real webhook's id in its place
W = "/api/v1/admin/webhooks"

# ---- The stand-in: the Worker's request schemas as pydantic models ----

OwnerId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# A few catalog types are enough: every case names one of these or one that is refused.
KNOWN_TYPES = {"user.created", "user.updated", "user.deleted", "group.created"}
GROUPS = {"user", "group", "tenant", "partner"}


def valid_subscription(v: str) -> str:
    if v == "*" or v in KNOWN_TYPES or (v.endswith(".*") and v[:-2] in GROUPS):
        return v
    raise ValueError("Unknown event type (see GET /api/v1/admin/webhooks/events; 'group.*' and '*' are allowed)")


def known_event_type(v: str) -> str:
    if v in KNOWN_TYPES or v in ("webhook.test", "webhook.auto_disabled"):
        return v
    raise ValueError("Unknown event type (see GET /api/v1/admin/webhooks/events)")


def not_service_type(v: str) -> str:
    if v in ("webhook.test", "webhook.auto_disabled"):
        raise ValueError(f"{v} is sent only by the webhook service itself")
    return v


RESERVED_HEADER = re.compile(
    r"^(host|content-length|content-type|content-encoding|transfer-encoding|connection|keep-alive|upgrade|te|trailer"
    r"|expect|user-agent|proxy-.*|x-scaikey-.*|webhook-.*|cf-.*|x-forwarded-.*)$",
    re.I,
)


def not_reserved(name: str) -> str:
    if RESERVED_HEADER.match(name):
        raise ValueError("This header is set by the webhook service and cannot be overridden")
    return name


def no_control_chars(v: str) -> str:
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", v):
        raise ValueError("Header values must not contain CR, LF, NUL or other control characters")
    return v


def header_budget(h: dict[str, str]) -> dict[str, str]:
    if len(h) > 20:
        raise ValueError("At most 20 custom headers")
    if sum(len(k) + len(v.encode()) + 4 for k, v in h.items()) > 8192:
        raise ValueError(
            "Custom headers must add up to at most 8192 bytes (names, values and ': ' and CRLF per header)"
        )
    return h


def metadata_budget(m: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(m, separators=(",", ":"), ensure_ascii=False).encode()) > 4096:
        raise ValueError("metadata must serialise to at most 4096 bytes of JSON")
    return m


HeaderName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"),
                       AfterValidator(not_reserved)]
HeaderValue = Annotated[str, Field(max_length=1024), AfterValidator(no_control_chars)]
CustomHeaders = Annotated[dict[HeaderName, HeaderValue], AfterValidator(header_budget)]
Metadata = Annotated[dict[Annotated[str, Field(max_length=128)], Any], AfterValidator(metadata_budget)]
Subscription = Annotated[str, Field(max_length=100), AfterValidator(valid_subscription)]
Subscriptions = Annotated[list[Subscription], Field(min_length=1, max_length=100)]


def target_url(v: str) -> str:
    # The Worker checks the target after validation (scheme, address, DNS); one refused URL pins the shape of that 422.
    if v.startswith("ftp:"):
        raise ValueError("URL must use https")
    return v


Url = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(target_url)]


class CreateWebhook(BaseModel):
    url: Url
    events: Subscriptions
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool = True
    tenant_id: OwnerId | None = None
    partner_id: OwnerId | None = None
    headers: CustomHeaders = {}
    metadata: Metadata = {}


class UpdateWebhook(BaseModel):
    url: Url = None
    events: Subscriptions = None
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool = None
    tenant_id: OwnerId | None = None
    partner_id: OwnerId | None = None
    headers: CustomHeaders = None
    metadata: Metadata = None


class CreatePortalSession(BaseModel):
    tenant_id: OwnerId = None
    partner_id: OwnerId = None
    read_only: bool = None
    expires_in: Annotated[int, Field(ge=60, le=86_400)] = None


class AssignTenantPartner(BaseModel):
    partner_id: OwnerId


class RecoverDeliveries(BaseModel):
    since: AwareDatetime
    until: AwareDatetime = None


class ReplayEvents(RecoverDeliveries):
    event_types: Annotated[list[Annotated[str, Field(max_length=100)]], Field(min_length=1, max_length=100)] = None


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Annotated[str, Field(min_length=1, max_length=64)]
    id: Annotated[str, Field(min_length=1, max_length=128)]


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(max_length=128)] | None
    type: Literal["admin", "user", "scim", "system", "api"]


class EventEnvelope(BaseModel):
    # Publishers' envelopes are delivered as sent: a field the service would drop is refused instead.
    model_config = ConfigDict(extra="forbid")
    event_id: Annotated[str, Field(pattern=r"^evt_[A-Za-z0-9_-]{1,64}$")] = None
    event_type: Annotated[str, Field(max_length=100), AfterValidator(known_event_type), AfterValidator(not_service_type)]
    timestamp: AwareDatetime = None
    tenant_id: OwnerId | None = None
    partner_id: OwnerId | None = None
    resource: Resource
    actor: Actor = None
    data: dict[str, Any]

    @model_validator(mode="after")
    def owner(self) -> "EventEnvelope":
        if not self.tenant_id and not self.partner_id:
            raise ValueError("tenant_id or partner_id is required")
        return self


def schema_list(name: str) -> tuple[str, ...]:
    """A status list of src/db/schema.ts, the one definition of them."""
    text = (OUT.parent.parent.parent / "src" / "db" / "schema.ts").read_text()
    body = re.search(rf"export const {name} = \[(.*?)\]", text, re.S)
    assert body, name
    return tuple(re.findall(r'"([^"]+)"', body.group(1)))


DeliveryStatus = Literal[schema_list("DELIVERY_STATUSES")]
ErrorClass = Literal[schema_list("ERROR_CLASSES")]


class DeliveryListQuery(BaseModel):
    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=100)] = 20
    status: DeliveryStatus = None
    event_type: Annotated[str, Field(max_length=100), AfterValidator(known_event_type)] = None
    event_id: Annotated[str, Field(min_length=1, max_length=128)] = None
    since: AwareDatetime = None
    until: AwareDatetime = None
    status_code: Annotated[int, Field(ge=100, le=599)] = None
    error_class: ErrorClass = None

    @field_validator("until")
    @classmethod
    def after_since(cls, until, info):
        since = info.data.get("since")
        if since is not None and until <= since:
            raise ValueError("until must be after since")
        return until


WebhookId = Annotated[str, Path(min_length=1, max_length=64)]
DeliveryId = Annotated[int, Path(ge=1, le=9_007_199_254_740_991)]

app = FastAPI()


def echo(**parts: Any) -> dict[str, Any]:
    return {k: (v.model_dump(mode="json", exclude_unset=True) if isinstance(v, BaseModel) else v) for k, v in parts.items()}


@app.get(f"{W}/events")
def list_supported_events():
    return {"events": [], "total": 0}


@app.post(f"{W}/portal-sessions", status_code=201)
def create_portal_session(body: CreatePortalSession | None = None):
    return echo(body=body)


@app.get(f"{W}/")
def list_webhooks(
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    tenant_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    partner_id: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = None,
):
    return echo(page=page, per_page=per_page, tenant_id=tenant_id, partner_id=partner_id)


@app.post(f"{W}/", status_code=201)
def create_webhook(body: CreateWebhook):
    return echo(body=body)


@app.get(f"{W}/{{webhook_id}}")
def get_webhook(webhook_id: WebhookId):
    return echo(webhook_id=webhook_id)


@app.patch(f"{W}/{{webhook_id}}")
def update_webhook(webhook_id: WebhookId, body: UpdateWebhook):
    return echo(webhook_id=webhook_id, body=body)


@app.delete(f"{W}/{{webhook_id}}", status_code=204)
def delete_webhook(webhook_id: WebhookId):
    return Response(status_code=204)


@app.get(f"{W}/{{webhook_id}}/deliveries")
def list_webhook_deliveries(webhook_id: WebhookId, query: Annotated[DeliveryListQuery, Query()]):
    return echo(webhook_id=webhook_id, query=query)


@app.get(f"{W}/{{webhook_id}}/deliveries/{{delivery_id}}")
def get_webhook_delivery(webhook_id: WebhookId, delivery_id: DeliveryId):
    return echo(webhook_id=webhook_id, delivery_id=delivery_id)


@app.post(f"{W}/{{webhook_id}}/deliveries/{{delivery_id}}/retry")
def retry_webhook_delivery(webhook_id: WebhookId, delivery_id: DeliveryId):
    return echo(webhook_id=webhook_id, delivery_id=delivery_id)


@app.post(f"{W}/{{webhook_id}}/test")
def send_webhook_test_event(webhook_id: WebhookId):
    return echo(webhook_id=webhook_id)


@app.post(f"{W}/{{webhook_id}}/rotate-secret")
def rotate_webhook_secret(webhook_id: WebhookId):
    # As in the reference: no body. The Worker reads an optional {"expire_previous_in": …} and ignores anything else.
    return echo(webhook_id=webhook_id)


@app.get(f"{W}/{{webhook_id}}/stats")
def get_webhook_stats(webhook_id: WebhookId, window: Literal["1h", "24h", "7d", "30d"] = "24h"):
    return echo(webhook_id=webhook_id, window=window)


@app.put(f"{W}/tenants/{{tenant_id}}/partner")
def assign_tenant_partner(tenant_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
                          body: AssignTenantPartner):
    return echo(tenant_id=tenant_id, body=body)


@app.post(f"{W}/{{webhook_id}}/recover", status_code=202)
def recover_webhook_deliveries(webhook_id: WebhookId, body: RecoverDeliveries):
    return echo(webhook_id=webhook_id, body=body)


@app.post(f"{W}/{{webhook_id}}/replay", status_code=202)
def replay_webhook_events(webhook_id: WebhookId, body: ReplayEvents):
    return echo(webhook_id=webhook_id, body=body)


@app.post("/api/v1/events", status_code=202)
def publish_event(body: EventEnvelope):
    return echo(body=body)


# ---- HTTP cases ----

VALID = {"url": "https://receiver.example.com/hook", "events": ["user.created"]}
ENVELOPE = {
    "event_type": "user.created",
    "tenant_id": "tnt_fixture",
    "resource": {"type": "user", "id": "usr_1"},
    "data": {"email": "ada@example.com"},
}
SINCE = "2026-11-24T01:05:00Z"
JSON = "application/json"


def case(name: str, method: str, path: str, body: Any = None, *, raw: str | bytes | None = None,
         content_type: str | None = None, row: str | None = None) -> dict[str, Any]:
    """`row`: the row of the Worker's zod → pydantic table this case exercises (src/lib/errors.ts)."""
    c: dict[str, Any] = {"name": name, "method": method, "path": path}
    if row:
        c["row"] = row
    if body is not None:
        c["body"] = json.dumps(body)
        c["content_type"] = content_type or JSON
    elif raw is not None:
        if isinstance(raw, bytes):
            c["body_base64"] = base64.b64encode(raw).decode()
        else:
            c["body"] = raw
        if content_type:
            c["content_type"] = content_type
    elif content_type:
        c["content_type"] = content_type
    return c


def wh(rest: str = "") -> str:
    return f"{W}/{WEBHOOK_ID}{rest}"


def create(name: str, patch: dict[str, Any], row: str | None = None) -> dict[str, Any]:
    return case(name, "POST", f"{W}/", {**VALID, **patch}, row=row)


def update(name: str, body: Any, row: str | None = None) -> dict[str, Any]:
    return case(name, "PATCH", wh(), body, row=row)


def publish(name: str, patch: dict[str, Any], row: str | None = None, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    body = {k: v for k, v in {**ENVELOPE, **patch}.items() if k not in drop}
    return case(name, "POST", "/api/v1/events", body, row=row)


HTTP_CASES: list[dict[str, Any]] = [
    # one or more per row of the table
    case("missing field", "POST", f"{W}/", {"events": ["user.created"]}, row="missing"),
    case("missing fields and an empty object", "POST", f"{W}/", {}, row="missing"),
    publish("missing nested field", {"resource": {"type": "user"}}, row="missing"),
    case("no body", "POST", f"{W}/", row="missing_body"),
    case("empty body", "POST", f"{W}/", raw="", content_type=JSON, row="missing_body"),
    case("JSON null body", "POST", f"{W}/", raw="null", content_type=JSON, row="missing_body"),
    case("PATCH without a body", "PATCH", wh(), row="missing_body"),
    case("body a list", "POST", f"{W}/", raw="[1,2]", content_type=JSON, row="model_attributes_type"),
    case("body a string", "POST", f"{W}/", raw='"x"', content_type=JSON, row="model_attributes_type"),
    case("text/plain body", "POST", f"{W}/", raw=json.dumps(VALID), content_type="text/plain",
         row="model_attributes_type"),
    case("form body", "POST", f"{W}/", raw="url=x", content_type="application/x-www-form-urlencoded",
         row="model_attributes_type"),
    case("body without a content type", "POST", f"{W}/", raw=json.dumps(VALID), row="model_attributes_type"),
    publish("nested model not an object", {"resource": ["user"]}, row="model_attributes_type"),
    publish("actor null", {"actor": None}, row="model_attributes_type"),
    create("metadata a list", {"metadata": [1, 2]}, row="dict_type"),
    create("headers a string", {"headers": "X-A: 1"}, row="dict_type"),
    publish("data a list", {"data": [1]}, row="dict_type"),
    create("url a number", {"url": 42}, row="string_type"),
    update("url null", {"url": None}, row="string_type"),
    create("header value a number", {"headers": {"X-A": 1}}, row="string_type"),
    create("description a list", {"description": ["x"]}, row="string_type"),
    case("portal tenant_id null", "POST", f"{W}/portal-sessions", {"tenant_id": None}, row="string_type"),
    create("empty url", {"url": ""}, row="string_too_short"),
    case("empty tenant_id in the query", "GET", f"{W}/?tenant_id=", row="string_too_short"),
    publish("empty resource type", {"resource": {"type": "", "id": "u"}}, row="string_too_short"),
    create("oversized description", {"description": "x" * 501}, row="string_too_long"),
    create("500 astral characters fit a 500 description", {"description": "\U0001F600" * 500}),
    create("501 astral characters", {"description": "\U0001F600" * 501}, row="string_too_long"),
    case("oversized webhook_id", "GET", f"{W}/{'w' * 65}", row="string_too_long"),
    create("oversized metadata key", {"metadata": {"k" * 129: 1}}, row="string_too_long"),
    create("tenant_id with odd characters", {"tenant_id": "tnt x/../"}, row="string_pattern_mismatch"),
    create("invalid header name", {"headers": {"Bad Header": "1"}}, row="string_pattern_mismatch"),
    case("partner_id query pattern", "GET", f"{W}/?partner_id=p%20q", row="string_pattern_mismatch"),
    publish("event_id pattern", {"event_id": "event-1"}, row="string_pattern_mismatch"),
    create("events not a list", {"events": "user.created"}, row="list_type"),
    case("replay event_types an object", "POST", wh("/replay"), {"since": SINCE, "event_types": {}}, row="list_type"),
    create("empty events", {"events": []}, row="too_short"),
    create("too many events", {"events": ["user.created"] * 101}, row="too_long"),
    create("enabled a list", {"enabled": []}, row="bool_type"),
    create("enabled null", {"enabled": None}, row="bool_type"),
    create("enabled 0.5", {"enabled": 0.5}, row="bool_type"),
    create("enabled 'maybe'", {"enabled": "maybe"}, row="bool_parsing"),
    create("enabled 2", {"enabled": 2}, row="bool_parsing"),
    create("enabled ' true'", {"enabled": " true"}, row="bool_parsing"),
    case("expires_in a list", "POST", f"{W}/portal-sessions", {"expires_in": [60]}, row="int_type"),
    case("expires_in null", "POST", f"{W}/portal-sessions", {"expires_in": None}, row="int_type"),
    case("page 'x'", "GET", f"{W}/?page=x", row="int_parsing"),
    case("page empty", "GET", f"{W}/?page=", row="int_parsing"),
    case("page 1.5", "GET", f"{W}/?page=1.5", row="int_parsing"),
    case("page 1e3", "GET", f"{W}/?page=1e3", row="int_parsing"),
    case("delivery_id 'abc'", "GET", wh("/deliveries/abc"), row="int_parsing"),
    case("expires_in '60s'", "POST", f"{W}/portal-sessions", {"expires_in": "60s"}, row="int_parsing"),
    case("expires_in 90.5", "POST", f"{W}/portal-sessions", {"expires_in": 90.5}, row="int_from_float"),
    case("expires_in 100000.5: a fraction before a bound", "POST", f"{W}/portal-sessions", {"expires_in": 100000.5},
         row="int_from_float"),
    case("page of 4301 digits", "GET", f"{W}/?page={'1' * 4301}", row="int_parsing_size"),
    case("expires_in 1e20", "POST", f"{W}/portal-sessions", raw='{"expires_in": 1e20}', content_type=JSON,
         row="int_parsing_size"),
    case("per_page=0", "GET", f"{W}/?per_page=0", row="greater_than_equal"),
    case("page=-3", "GET", f"{W}/?page=-3", row="greater_than_equal"),
    case("delivery_id 0", "GET", wh("/deliveries/0"), row="greater_than_equal"),
    case("per_page=101", "GET", f"{W}/?per_page=101", row="less_than_equal"),
    case("delivery_id past 2^53", "GET", wh("/deliveries/9007199254740993"), row="less_than_equal"),
    case("expires_in 1e5 (a float)", "POST", f"{W}/portal-sessions", raw='{"expires_in": 1e5}',
         content_type=JSON, row="less_than_equal"),
    case("expires_in beyond 2^64 (an int)", "POST", f"{W}/portal-sessions",
         raw='{"expires_in": 123456789012345678901234567890}', content_type=JSON, row="less_than_equal"),
    case("status not a status", "GET", wh("/deliveries?status=done"), row="literal_error"),
    case("error_class", "GET", wh("/deliveries?error_class=http_600"), row="literal_error"),
    case("stats window", "GET", wh("/stats?window=2h"), row="literal_error"),
    publish("actor type", {"actor": {"id": None, "type": "robot"}}, row="literal_error"),
    create("unknown event type", {"events": ["user.created", "user.exploded"]}, row="value_error"),
    create("unknown wildcard group", {"events": ["nope.*"]}, row="value_error"),
    create("reserved header", {"headers": {"X-ScaiKey-Signature": "forged"}}, row="value_error"),
    create("header value with CRLF", {"headers": {"X-A": "a\r\nX-Injected: 1"}}, row="value_error"),
    create("too many headers", {"headers": {f"X-H{i}": "1" for i in range(21)}}, row="value_error"),
    create("oversized metadata", {"metadata": {"blob": "x" * 5000}}, row="value_error"),
    case("until before since in the query", "GET",
         wh("/deliveries?since=2026-11-24T02:00:00Z&until=2026-11-24T01:00:00Z"), row="value_error"),
    case("unknown event_type in the query", "GET", wh("/deliveries?event_type=user.exploded"), row="value_error"),
    publish("service event type", {"event_type": "webhook.test"}, row="value_error"),
    publish("neither tenant nor partner (the model's own check)", {}, drop=("tenant_id",), row="value_error"),
    publish("unknown envelope field", {"colour": "red"}, row="extra_forbidden"),
    publish("unknown resource field", {"resource": {"type": "user", "id": "u", "x": 1}}, row="extra_forbidden"),
    # the Worker's own value error after validation: the target URL policy
    create("refused target url", {"url": "ftp://x.example.com/"}),
    # several problems: FastAPI reports them all, path and query before the body, fields in declaration order
    case("every problem of a body at once", "POST", f"{W}/",
         {"url": 1, "events": [], "enabled": "maybe", "description": None, "extra": True}),
    case("a bad path and a bad query at once", "GET", f"{W}/{'w' * 65}/deliveries/abc"),
    case("path, query and body at once", "PATCH", f"{W}/{'w' * 65}", raw="", content_type=JSON),
    case("path and query problems together", "GET", f"{W}/{'w' * 65}/deliveries?page=0&status=x"),
    case("a key and its value both refused", "POST", f"{W}/", {**VALID, "headers": {"Bad Key": 5}}),
    # datetimes (pydantic's AwareDatetime)
    case("since not a datetime", "POST", wh("/recover"), {"since": "yesterday"}, row="datetime_from_date_parsing"),
    case("since with month 13", "POST", wh("/recover"), {"since": "2026-13-01T00:00:00Z"},
         row="datetime_from_date_parsing"),
    case("since without a timezone", "POST", wh("/recover"), {"since": "2026-11-24T01:05:00"}, row="timezone_aware"),
    case("since a date", "POST", wh("/recover"), {"since": "2026-11-24"}, row="timezone_aware"),
    case("since a boolean", "POST", wh("/recover"), {"since": True}, row="datetime_type"),
    case("since a timestamp past 9999", "POST", wh("/recover"), {"since": 1e20}, row="datetime_parsing"),
    case("since in year 0", "POST", wh("/recover"), {"since": "0000-01-01T00:00:00Z"}, row="datetime_parsing"),
    case("since missing", "POST", wh("/recover"), {"until": SINCE}, row="missing"),
    case("since in the query malformed", "GET", wh("/deliveries?since=2026-11-24T25:00:00Z"),
         row="datetime_from_date_parsing"),
    # malformed JSON: Python's json.loads message and character offset
    case("unterminated object", "POST", f"{W}/", raw='{"url": "https://x.example.com/",', content_type=JSON,
         row="json_invalid"),
    case("trailing comma", "POST", f"{W}/", raw='{"url": "x",}', content_type=JSON, row="json_invalid"),
    case("single quotes", "POST", f"{W}/", raw="{'url': 'x'}", content_type=JSON, row="json_invalid"),
    case("offset in characters, not bytes", "POST", f"{W}/", raw='{"description": "caf\u00e9 \U0001F600" x}',
         content_type=JSON, row="json_invalid"),
    case("unterminated number", "POST", f"{W}/portal-sessions", raw='{"expires_in": 1', content_type=JSON, row="json_invalid"),
    case("extra data", "POST", f"{W}/", raw='{} {}', content_type=JSON, row="json_invalid"),
    case("JSON type with a charset", "POST", f"{W}/", raw="{", content_type="application/json; charset=utf-8",
         row="json_invalid"),
    case("a +json type", "POST", f"{W}/", raw="{", content_type="application/vnd.api+json", row="json_invalid"),
    case("UTF-8 BOM", "POST", f"{W}/", raw=b"\xef\xbb\xbf" + json.dumps({**VALID, "enabled": 5}).encode(),
         content_type=JSON),
    case("not UTF-8", "POST", f"{W}/", raw=b'{"url": "\xff"}', content_type=JSON),
    # optional bodies: portal-sessions takes none or an object
    case("portal session without a body", "POST", f"{W}/portal-sessions"),
    case("portal session with JSON null", "POST", f"{W}/portal-sessions", raw="null", content_type=JSON),
    case("portal session with malformed JSON", "POST", f"{W}/portal-sessions", raw="{", content_type=JSON),
    # rotate-secret: the reference takes no body, so nothing sent there can fail the call
    case("rotate with malformed JSON", "POST", wh("/rotate-secret"), raw="{", content_type=JSON),
    case("rotate with text/plain", "POST", wh("/rotate-secret"), raw="rotate please", content_type="text/plain"),
    case("rotate with a list", "POST", wh("/rotate-secret"), raw="[]", content_type=JSON),
    case("rotate with no body", "POST", wh("/rotate-secret")),
    # what the lax mode accepts
    *[create(f"enabled {json.dumps(v)}", {"enabled": v}) for v in
      ["true", "yes", "1", "on", "t", "y", "TRUE", "Yes", "false", "no", "0", "off", "f", "n", "OFF", 0, 1, 1.0, 0.0]],
    *[case(f"page={v}", "GET", f"{W}/?page={v}&per_page={v}") for v in ["2", "+2", " 2 ", "0002", "2.0", "2.000", "1_0"]],
    case("delivery_id 7.0", "GET", wh("/deliveries/7.0")),
    case("status_code ' 503 '", "GET", wh("/deliveries?status_code=%20503%20")),
    case("expires_in '600'", "POST", f"{W}/portal-sessions", {"expires_in": "600"}),
    case("expires_in 600.0", "POST", f"{W}/portal-sessions", raw='{"expires_in": 600.0}', content_type=JSON),
    case("expires_in 6e2", "POST", f"{W}/portal-sessions", raw='{"expires_in": 6e2}', content_type=JSON),
    case("expires_in true", "POST", f"{W}/portal-sessions", {"expires_in": True, "read_only": "yes"}),
    case("the last of a repeated query parameter", "GET", f"{W}/?page=x&page=3"),
    # unknown fields are ignored; what a GET returned, sent back, too
    create("unknown field", {"colour": "red"}),
    update("read-only fields sent back", {"id": "wh_other", "secret": "whsec_x", "status": "auto_disabled",
                                          "created_at": "2020-01-01T00:00:00Z", "failure_count": 3,
                                          "description": "edited"}),
    case("unknown portal session field", "POST", f"{W}/portal-sessions", {"colour": "red"}),
    case("unknown recover field", "POST", wh("/recover"), {"since": SINCE, "colour": "red"}),
    case("unknown tenant assignment field", "PUT", f"{W}/tenants/tnt_fixture/partner",
         {"partner_id": "prt_fixture", "colour": "red"}),
    # datetimes the lax mode takes
    case("since with a space and +0100", "POST", wh("/recover"), {"since": "2026-11-24 01:05:00+0100"}),
    case("since as a Unix timestamp", "POST", wh("/recover"), {"since": 1795050300}),
    case("since as a string of digits", "GET", wh("/deliveries?since=1795050300")),
    case("since with 7 fraction digits", "POST", wh("/recover"), {"since": "2026-11-24T01:05:00.1234567Z"}),
    # routing
    *[case(f"{m} {p}", m, p) for m, p in [
        ("PUT", wh()), ("POST", wh()), ("DELETE", f"{W}/"), ("PUT", f"{W}/"), ("OPTIONS", f"{W}/"),
        ("GET", wh("/rotate-secret")), ("GET", wh("/test")), ("PATCH", wh("/deliveries/7")),
        ("GET", wh("/deliveries/7/retry")), ("DELETE", wh("/stats")), ("GET", "/api/v1/events"),
        ("PUT", f"{W}/events"), ("HEAD", wh()), ("HEAD", f"{W}/"), ("HEAD", wh("/deliveries/7")),
        ("HEAD", f"{W}/events"), ("HEAD", wh("/test")),
    ]],
    *[case(f"{m} {p}", m, p) for m, p in [
        ("GET", wh("/")), ("PATCH", wh("/")), ("DELETE", wh("/")), ("GET", f"{W}/events/"),
        ("GET", wh("/deliveries/?page=2&status=failed")), ("GET", wh("/deliveries/7/")),
        ("POST", wh("/deliveries/7/retry/")), ("POST", wh("/rotate-secret/")), ("GET", wh("/stats/?window=7d")),
        ("POST", "/api/v1/events/"), ("GET", f"{W}?page=2"), ("POST", W), ("HEAD", wh("/")),
        ("GET", f"{W}/wh%20x/"),
    ]],
]


def run_http_cases() -> list[dict[str, Any]]:
    client = TestClient(app, base_url=ORIGIN, follow_redirects=False)
    out = []
    for c in HTTP_CASES:
        headers = {}
        if "content_type" in c:
            headers["content-type"] = c["content_type"]
        content = base64.b64decode(c["body_base64"]) if "body_base64" in c else c.get("body", "").encode()
        res = client.request(c["method"], c["path"], content=content or None, headers=headers)
        expected: dict[str, Any] = {"status": res.status_code}
        for name in ("allow", "location"):
            if name in res.headers:
                expected[name] = res.headers[name]
        if res.content:
            expected["body"] = res.content.decode()
        out.append({**c, "expected": expected})
    return out


# ---- Unit corpora ----

def verdict(adapter: TypeAdapter, value: Any, mode: str) -> Any:
    try:
        result = adapter.validate_python(value) if mode == "python" else adapter.validate_json(json.dumps(value))
        return {"ok": str(result) if isinstance(result, int) and not isinstance(result, bool) else result}
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        return {"error": err["type"]}


def rand_text(rng: random.Random, alphabet: str, max_len: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def lax_corpora(rng: random.Random) -> dict[str, Any]:
    bool_adapter, int_adapter = TypeAdapter(bool), TypeAdapter(int)
    bool_inputs: list[Any] = ["true", "True", "TRUE", "tRuE", "yes", "YES", "1", "on", "On", "t", "T", "y", "Y",
                              "false", "no", "0", "off", "f", "F", "n", "N", "", " ", " true", "true ", "2", "01",
                              "1.0", "yes!", "nope", "ja", "\u0131", 0, 1, 2, -1, 1.0, 0.0, 0.5, 2.0, None, [], {}]
    bool_inputs += [rand_text(rng, "tTrRuUeEfFaAlLsSyYnNoO01 ", 5) for _ in range(300)]
    int_fixed = ["1", " 1", "1 ", "+1", "-1", "1_000", "1__0", "_1", "1_", "1.0", "1.00", "1.", ".0", "1.5", "1e3",
                 "0x10", "0b1", "0o7", "", "  ", "-0", "+0", "00012", "-00", "+-1", "1 0", "\t1\n", "\u00a01",
                 "1\u00a0", "\u20031", "\u0663", "\uff11", "1_0.0", "1.0_0", "-1.00", "9" * 18, "9" * 19, "9" * 30,
                 "1" * 4300, "1" * 4301, " " * 5 + "1" * 4300, "9223372036854775808", "-9223372036854775809",
                 "nan", "inf", "true"]
    int_random = [rand_text(rng, " +-_.0123456789e\t\u00a0x", 8) for _ in range(600)]
    return {
        "bool_json": [[v, verdict(bool_adapter, v, "json")] for v in bool_inputs],
        "int_string": [[v, verdict(int_adapter, v, "python")] for v in int_fixed + int_random],
    }


def json_error_corpus(rng: random.Random) -> list[list[Any]]:
    fixed = ["", " ", "{", "}", "[", "]", "[1,", "[1,]", "[1 2]", "{\"a\"}", "{\"a\" 1}", "{\"a\":}", "{\"a\":1,}",
             "{\"a\":1 \"b\":2}", "{'a':1}", "{a:1}", "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\u12zz\"", "\"a\nb\"",
             "\"a\tb\"", "tru", "nul", "01", "-", "-a", "1.", "1e", "1.5e+", ".5", "+1", "NaN", "Infinity",
             "-Infinity", "[NaN]", "{} x", "[] []", "\ufeff{}", "{\"a\":[1,2,{\"b\":}]}", "[\"\\ud800\"]",
             "{\"\u00e9\": x}", "[\"\U0001F600\", x]", "{\"a\":1}}", "[1]]", "  [ 1 , 2 , ] ", "{ \"a\" : 1 , }",
             "\t\n\r x", "\u00a0{}", "[1,\u00a02]", "{\"a\":1,\"b\"}", "[\"a\" \"b\"]", "{\"a\" : \"b\" : \"c\"}"]
    bases = ['{"url": "https://x.example.com/", "events": ["user.created", "group.*"], "enabled": true, "n": -1.5e3}',
             '[1, 2.0, "caf\u00e9", {"a": null, "b": [false, true]}, "\U0001F600"]']
    random_docs = []
    for _ in range(600):
        doc = list(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(doc) + 1)
            op = rng.random()
            if op < 0.4 and at < len(doc):
                del doc[at]
            elif op < 0.8:
                doc.insert(at, rng.choice(list('{}[],:" \\tnfe.-+0x\n\u00e9')))
            elif at < len(doc):
                doc[at] = rng.choice(list('{}[],:" \\0x'))
        random_docs.append("".join(doc))
    out = []
    for doc in fixed + random_docs:
        try:
            json.loads(doc)
            out.append([doc, None])
        except json.JSONDecodeError as e:
            out.append([doc, [e.pos, e.msg]])
    return out


def datetime_corpus(rng: random.Random) -> list[list[Any]]:
    adapter = TypeAdapter(AwareDatetime)
    fixed = ["2026-11-24T01:05:00Z", "2026-11-24T01:05:00z", "2026-11-24t01:05:00Z", "2026-11-24 01:05:00Z",
             "2026-11-24_01:05:00Z", "2026-11-24T01:05Z", "2026-11-24T01Z", "2026-11-24T01:05:00+01:00",
             "2026-11-24T01:05:00+0100", "2026-11-24T01:05:00+01", "2026-11-24T01:05:00-23:59",
             "2026-11-24T01:05:00+24:00", "2026-11-24T01:05:00\u221201:00", "2026-11-24T01:05:00.1Z",
             "2026-11-24T01:05:00.123456Z", "2026-11-24T01:05:00.1234567Z", "2026-11-24T01:05:00,5Z",
             "2026-11-24T01:05:60Z", "2026-11-24T24:00:00Z", "2026-11-24T23:59:59.999999+14:00", "2026-02-29T00:00:00Z",
             "2024-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
             "2026-11-24", "2026-11-24T01:05:00", "2026-11-24T", "2026-11-24X01:05:00Z", "2026-11-24T1:05:00Z",
             "2026-1-24T01:05:00Z", "26-11-24T01:05:00Z", "2026/11/24T01:05:00Z", "", " ", "garbage", "now",
             "2026-11-24T01:05:00Z ", " 2026-11-24T01:05:00Z", "2026-11-24T01:05:00ZZ", "2026-11-24T01:05:00+1",
             "1795050300", "1795050300.5", "-1795050300", "20000000001", "1795050300000", "0", "1e9", "1_000",
             "+1795050300", "17950503001234567890", "2026-11-24T01:05:00.Z", "2026-11-24T01:05:00.+01:00",
             "2026-00-10T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-24T01:61:00Z", "2026-11-24T01:05:00+01:60"]
    alphabet = "0123456789-:T Z+.tz_"
    randoms = []
    template = "2026-11-24T01:05:00.123+01:00"
    for _ in range(500):
        s = list(template[: rng.randint(0, len(template))])
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(s) + 1)
            op = rng.random()
            if op < 0.35 and at < len(s):
                del s[at]
            elif op < 0.7:
                s.insert(at, rng.choice(alphabet))
            elif at < len(s):
                s[at] = rng.choice(alphabet)
        randoms.append("".join(s))
    numbers = [1795050300, 1795050300.5, -1, 0, 20_000_000_001, 1e20, True, None]
    out = []
    for v in fixed + randoms + numbers:
        try:
            result = adapter.validate_json(json.dumps(v))
            out.append([v, {"ok": result.isoformat()}])
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            out.append([v, {"error": err["type"], "msg": err["msg"]}])
    return out


def main() -> int:
    rng = random.Random(SEED)
    fixture = {
        "meta": {
            "generator": "scripts/gen-fastapi-reference.py",
            "python": sys.version.split()[0],
            "fastapi": fastapi.__version__,
            "starlette": starlette.__version__,
            "pydantic": pydantic.VERSION,
            "seed": SEED,
            "origin": ORIGIN,
            "webhook_id": WEBHOOK_ID,
        },
        "http": run_http_cases(),
        "lax": lax_corpora(rng),
        "json_errors": json_error_corpus(rng),
        "datetimes": datetime_corpus(rng),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1, ensure_ascii=True) + "\n", encoding="ascii")
    print(f"wrote {len(fixture['http'])} HTTP cases to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
