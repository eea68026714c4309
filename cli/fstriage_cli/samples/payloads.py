"""Fullstory webhook payloads (documented shapes, made-up values) and the signed requests that carry them.

Each builder's defaults make the payload the tests use; the named samples below (`CHECKOUT_ERRORS_ALERT`,
`NOTE_CREATED`, ...) are the ones `events/`, the local stack and the benchmarks send. Requests are
signed with the library's own `fstriage.core.signature.sign` and the published test values.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fstriage.core.http import HttpRequest
from fstriage.core.intake import STREAMS_PREFIX
from fstriage.core.payloads import Investigate, interpret_stream_event, interpret_system_event
from fstriage.core.request import InvestigationRequest, Origin, build_request, isoformat
from fstriage.core.signature import HEADER_NAME, sign
from fstriage_cli.samples.values import (
    APP_URL,
    DOMAIN,
    SIGNED_AT,
    SYSTEM_WEBHOOK_IP,
    TEST_ORG_ID,
    TEST_SIGNING_SECRET,
)

# The session the builders name by default, as a replay URL and as the API's session ID.
SESSION_URL = f"{APP_URL}/session/6915774531905556:5557778531805533!1110765439578976"
API_SESSION_ID = "5557778531805533:1110765439578976"
# The session the named samples (and so `events/`) name.
SAMPLE_SESSION_URL = f"{APP_URL}/session/4823749283749823:5741938475610293!8203948571029384"
CREATOR = "alex.doe@example.com"


def segment_alert(
    *,
    alert_id: str = "alert-notification-4417",
    segment_id: str = "checkout-errors-seg",
    segment_name: str = "Checkout errors",
    value: Any = 42,
    threshold: Any = "20",
    description: str = "Sessions with checkout errors spiked",
    timestamp: Any = "2026-11-01T00:00:00Z",
    **data: Any,
) -> dict[str, Any]:
    """A `segment.trend.alert`; `data` adds or overrides fields of its `data` (e.g. `id=`)."""
    document: dict[str, Any] = {
        "eventName": "segment.trend.alert",
        "version": 1,
        "data": {
            "id": alert_id,
            "timestamp": timestamp,
            "value": value,
            "notificationUrl": f"{APP_URL}/notifications/{alert_id}",
            "alertConfig": {
                "description": description,
                "threshold": threshold,
                "direction": "ABOVE",
                "duration": "DAILY",
                "alertUrl": f"{APP_URL}/segments/{segment_id}/alerts",
                "alertCreator": CREATOR,
                "segmentUrl": f"{APP_URL}/segments/{segment_id}/people/0",
                "segmentCreator": CREATOR,
                "segmentName": segment_name,
            },
        },
    }
    document["data"].update(data)
    return document


def metric_alert(
    *,
    notification_id: str = "metric-notification-9",
    alert_id: str = "77",
    metric_id: str = "checkout-conversion",
    metric_name: str = "Checkout conversion",
    metric_description: str = "Completed checkouts / started checkouts",
    alert_name: str = "Checkout conversion dropped",
    alert_description: str = "Conversion below 2%",
    value: Any = 3.5,
    timestamp: str = "2026-11-01T00:00:00Z",
) -> dict[str, Any]:
    """A `metric.alert` on one metric."""
    return {
        "eventName": "metric.alert",
        "version": 1,
        "data": {
            "id": notification_id,
            "alertId": alert_id,
            "timestamp": timestamp,
            "value": value,
            "notificationUrl": f"{APP_URL}/notifications/{notification_id}",
            "alertConfig": {
                "alertName": alert_name,
                "alertDescription": alert_description,
                "alertCreator": CREATOR,
                "alertUrl": f"{APP_URL}/metrics/{metric_id}/alerts",
                "metricName": metric_name,
                "metricDescription": metric_description,
                "metricCreator": CREATOR,
                "metricUrl": f"{APP_URL}/metrics/{metric_id}",
            },
        },
    }


def note_created(
    *,
    note_id: str = "note-31",
    created: str = "2026-11-01T00:00:00Z",
    author: str = "support@example.test",
    text: str = "Customer says the Pay now button does nothing",
    session_url: str = SESSION_URL,
    page_info: dict[str, Any] | None = None,
    noted_time: str = "2026-10-31T23:58:00Z",
) -> dict[str, Any]:
    """A `note.created` on the session of `session_url` (`page_info`: the page the note was taken on)."""
    individual = session_url.rpartition("/session/")[2].partition(":")[0]
    data: dict[str, Any] = {
        "id": note_id,
        "created": created,
        "author": author,
        "text": text,
        "sessionUrl": session_url,
        "userUrl": f"{APP_URL}/user/{individual}",
        "shareLink": f"{session_url}?share={note_id}",
    }
    if page_info is not None:
        data["pageInfo"] = page_info
    data["notedTime"] = noted_time
    return {"eventName": "note.created", "version": 1, "data": data}


def custom_event(
    *,
    name: str = "Checkout Failed",
    properties: dict[str, Any] | None = None,
    errors: list[Any] | None = None,
    page_url: str = "https://shop.example.test/checkout",
    session_url: str = SESSION_URL,
    timestamp: str = "2026-11-01T00:00:00Z",
) -> dict[str, Any]:
    """A `recording.event.custom` (typed properties: `_str`, `_real`, ... suffixes)."""
    if properties is None:
        properties = {"reason_str": "card_declined", "amount_real": 42.5, "nested": {"ignored": True}}
    data: dict[str, Any] = {"name": name, "properties": properties}
    if errors is not None:
        data["errors"] = errors
    data.update({"pageUrl": page_url, "sessionUrl": session_url, "timestamp": timestamp})
    return {"eventName": "recording.event.custom", "version": 1, "data": data}


def stream_session(
    session_url: str = SESSION_URL,
    *,
    user_email: str | None = None,
    event_time: str = "2026-11-01T00:00:00.000Z",
    url: str = "https://shop.example.test/checkout/payment",
    target_text: str = "Pay now",
    **fields: Any,
) -> dict[str, Any]:
    """A Streams delivery (Field Mapping) naming a session by its replay URL; `fields` adds or overrides."""
    document: dict[str, Any] = {
        "stream_name": "Checkout rage clicks",
        "event_time": event_time,
        "event_type": "click",
        "app_url_session": session_url,
    }
    if user_email is not None:
        document["user_email"] = user_email
    document.update({"url": url, "page_name": "Checkout", "target_text": target_text})
    document.update(fields)
    return document


def stream_user(
    *,
    user_id: str | None = None,
    user_email: str | None = None,
    event_time: str = "2026-11-01T00:00:00.000Z",
    url: str = "https://shop.example.test/signup",
    **fields: Any,
) -> dict[str, Any]:
    """A Streams delivery naming only a user, by uid and/or email; `fields` adds or overrides."""
    document: dict[str, Any] = {
        "stream_name": "Signup form errors",
        "event_time": event_time,
        "event_type": "change",
    }
    if user_id is not None:
        document["user_id"] = user_id
    if user_email is not None:
        document["user_email"] = user_email
    document.update({"url": url, "page_name": "Sign up"})
    document.update(fields)
    return document


def endpoint_test() -> dict[str, Any]:
    """What Fullstory's 'Test Endpoint' button sends (eventName `test`)."""
    return {
        "eventName": "test",
        "version": 1,
        "data": {
            "target": f"https://{DOMAIN}/",
            "initiatedBy": CREATOR,
            "message": "This is a test event from Fullstory.",
            "pirateQuote": "Dead men tell no tales.",
        },
    }


def segment_created() -> dict[str, Any]:
    """A `segment.created` (undocumented by Fullstory; fstriage reads only `eventName`)."""
    return {
        "eventName": "segment.created",
        "version": 1,
        "data": {
            "id": "refund-requests-seg",
            "name": "Refund requests",
            "creator": CREATOR,
            "segmentUrl": f"{APP_URL}/segments/refund-requests-seg/people/0",
        },
    }


def unknown_event() -> dict[str, Any]:
    """A signed event whose `eventName` fstriage does not know."""
    return {
        "eventName": "example.unknown.event",
        "version": 1,
        "data": {"id": "unknown-1", "note": "an eventName fstriage does not know"},
    }


# --- the named samples: what events/, the local stack and the benchmarks send ---------------------

CHECKOUT_ERRORS_ALERT = segment_alert(
    alert_id="segalert-20261031-checkout-errors",
    value=57,
    threshold=25,
    description="More than 25 people a day saw an error on checkout",
    timestamp="2026-10-31T23:58:00.000Z",
)
PAYMENT_DECLINES_ALERT = segment_alert(
    alert_id="segalert-20261031-payment-declines",
    segment_id="payment-declines-seg",
    segment_name="Payment declines",
    value=31,
    threshold=25,
    description="More than 25 people a day had a card declined",
    timestamp="2026-10-31T23:58:00.000Z",
)
METRIC_ALERT = metric_alert(
    notification_id="metricalert-20261031-payment-api-errors",
    alert_id="payment-api-error-rate-alert",
    metric_id="payment-api-error-rate",
    metric_name="Payment API error rate",
    metric_description="Failed /api/payments requests / all /api/payments requests",
    alert_name="Payment API error rate above 2%",
    alert_description="Share of /api/payments requests that failed, over the last hour",
    value=4.2,
    timestamp="2026-10-31T23:45:00.000Z",
)
NOTE_CREATED = note_created(
    note_id="note-7f3a9c1e",
    created="2026-10-31T23:50:12.000Z",
    author="sam.support@example.com",
    text="Customer says 'Place order' did nothing, three times (ticket #4821).",
    session_url=SAMPLE_SESSION_URL,
    page_info={
        "pageUrl": "https://shop.example.com/checkout",
        "ipAddress": "198.51.100.77",
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Safari/605.1.15",
        "referrer": "https://shop.example.com/cart",
        "country": "US",
        "pageHeight": 2400,
        "pageWidth": 1280,
    },
    noted_time="2026-10-31T23:49:58.000Z",
)
CUSTOM_EVENT = custom_event(
    properties={"reason_str": "card_declined", "amount_real": 129.99, "items_int": 3, "retried_bool": False},
    errors=[],
    page_url="https://shop.example.com/checkout",
    session_url=f"{APP_URL}/session/4823749283749823:5741938475610293!8203948571029999",
    timestamp="2026-10-31T23:57:41.000Z",
)
TEST_EVENT = endpoint_test()
SEGMENT_CREATED = segment_created()
UNKNOWN_EVENT = unknown_event()
STREAM_SESSION = stream_session(
    SAMPLE_SESSION_URL,
    user_email="shopper@example.com",
    event_time="2026-10-31T23:59:12.345Z",
    url="https://shop.example.com/checkout",
    target_text="Place order",
)
STREAM_USER = stream_user(
    user_id="user-4821", event_time="2026-10-31T23:59:30.000Z", url="https://shop.example.com/signup"
)


# --- bodies and requests --------------------------------------------------------------------------


def encode(document: Any) -> bytes:
    """Readable JSON (`json.dumps` defaults), as most tests send it."""
    return json.dumps(document).encode()


def body_of(document: Any) -> bytes:
    """Compact JSON, as a sender puts it on the wire. The signature covers exactly these bytes."""
    return json.dumps(document, separators=(",", ":")).encode()


def http_request(
    *,
    method: str = "POST",
    path: str = "/",
    body: bytes = b"",
    signature: str | None = None,
    source_ip: str = SYSTEM_WEBHOOK_IP,
    headers: dict[str, str] | None = None,
) -> HttpRequest:
    """A request to the function URL, with the headers Lambda adds (`headers` adds more)."""
    sent = {"host": DOMAIN}
    if body:
        sent["content-type"] = "application/json"
        sent["content-length"] = str(len(body))
    if signature is not None:
        sent[HEADER_NAME.lower()] = signature
    sent.update({"x-forwarded-for": source_ip, "x-forwarded-proto": "https", "x-forwarded-port": "443"})
    sent.update(headers or {})
    return HttpRequest(method=method, path=path, headers=sent, body=body, source_ip=source_ip)


def signed_request(
    document: dict[str, Any],
    *,
    secret: str = TEST_SIGNING_SECRET,
    org_id: str = TEST_ORG_ID,
    timestamp: int = SIGNED_AT,
    path: str = "/",
    source_ip: str = SYSTEM_WEBHOOK_IP,
    headers: dict[str, str] | None = None,
) -> HttpRequest:
    """`document` POSTed as compact JSON with a `Fullstory-Signature` made at `timestamp`."""
    body = body_of(document)
    signature = sign(secret, body, org_id, timestamp)
    return http_request(path=path, body=body, signature=signature, source_ip=source_ip, headers=headers)


def stream_request(document: dict[str, Any], *, token: str, source_ip: str) -> HttpRequest:
    """A Streams delivery of `document` to `/streams/<token>` (unsigned: the token and source vouch)."""
    return http_request(path=STREAMS_PREFIX + token, body=body_of(document), source_ip=source_ip)


def request_for(
    document: dict[str, Any],
    *,
    received_at: datetime,
    lookback: timedelta = timedelta(hours=24),
    org_id: str = TEST_ORG_ID,
    stream: bool = False,
) -> InvestigationRequest:
    """The investigation request the webhook builds for `document` (no signature, no queue)."""
    if stream:
        decision = interpret_stream_event(document, received_at=received_at, lookback=lookback)
    else:
        interpreted = interpret_system_event(document, received_at=received_at, lookback=lookback)
        if not isinstance(interpreted, Investigate):
            raise ValueError(f"the webhook would not investigate this payload: {interpreted}")
        decision = interpreted
    origin = Origin(org_id=org_id, delivery_key="sig:" + "0" * 64, received_at=isoformat(received_at))
    return build_request(
        trigger=decision.trigger, subject=decision.subject, window=decision.window, origin=origin
    )
