"""Realistic Fullstory webhook payloads (shapes from the research notes, §4a)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fstriage.core.payloads import Investigate, interpret_stream_event, interpret_system_event
from fstriage.core.request import InvestigationRequest, Origin, build_request, isoformat

SESSION_URL = (
    "https://app.fullstory.com/ui/o-TEST-na1/session/6915774531905556:5557778531805533!1110765439578976"
)
API_SESSION_ID = "5557778531805533:1110765439578976"


def segment_alert(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "eventName": "segment.trend.alert",
        "version": 1,
        "data": {
            "id": "alert-notification-4417",
            "timestamp": "2026-11-01T00:00:00Z",
            "value": 42,
            "notificationUrl": "https://app.fullstory.com/ui/o-TEST-na1/notifications/4417",
            "alertConfig": {
                "description": "Sessions with checkout errors spiked",
                "threshold": "20",
                "direction": "ABOVE",
                "duration": "DAILY",
                "alertUrl": "https://app.fullstory.com/ui/o-TEST-na1/alerts/88",
                "alertCreator": "ops@example.test",
                "segmentUrl": "https://app.fullstory.com/ui/o-TEST-na1/segments/checkout-errors-seg/people/0",
                "segmentCreator": "ops@example.test",
                "segmentName": "Checkout errors",
            },
        },
    }
    document["data"].update(overrides)
    return document


def metric_alert() -> dict[str, Any]:
    return {
        "eventName": "metric.alert",
        "version": 1,
        "data": {
            "id": "metric-notification-9",
            "alertId": "77",
            "timestamp": "2026-11-01T00:00:00Z",
            "value": 3.5,
            "notificationUrl": "https://app.fullstory.com/ui/o-TEST-na1/notifications/9",
            "alertConfig": {
                "alertName": "Checkout conversion dropped",
                "alertDescription": "Conversion below 2%",
                "metricName": "Checkout conversion",
                "metricUrl": "https://app.fullstory.com/ui/o-TEST-na1/metrics/5",
            },
        },
    }


def note_created() -> dict[str, Any]:
    return {
        "eventName": "note.created",
        "version": 1,
        "data": {
            "id": "note-31",
            "created": "2026-11-01T00:00:00Z",
            "author": "support@example.test",
            "text": "Customer says the Pay now button does nothing",
            "sessionUrl": SESSION_URL,
            "notedTime": "2026-10-31T23:58:00Z",
        },
    }


def custom_event() -> dict[str, Any]:
    return {
        "eventName": "recording.event.custom",
        "version": 1,
        "data": {
            "name": "Checkout Failed",
            "properties": {"reason_str": "card_declined", "amount_real": 42.5, "nested": {"ignored": True}},
            "pageUrl": "https://shop.example.test/checkout",
            "sessionUrl": SESSION_URL,
            "timestamp": "2026-11-01T00:00:00Z",
        },
    }


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def stream_session(session_url: str, **fields: Any) -> dict[str, Any]:
    """A Streams delivery (Field Mapping) naming a session by its replay URL; `fields` adds or overrides."""
    document: dict[str, Any] = {
        "stream_name": "Checkout rage clicks",
        "event_time": "2026-11-01T00:00:00.000Z",
        "event_type": "click",
        "app_url_session": session_url,
        "url": "https://shop.example.test/checkout/payment",
        "page_name": "Checkout",
        "target_text": "Pay now",
    }
    document.update(fields)
    return document


def stream_user(
    *, user_id: str | None = None, user_email: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A Streams delivery naming only a user, by uid and/or email."""
    document: dict[str, Any] = {
        "stream_name": "Signup form errors",
        "event_time": "2026-11-01T00:00:00.000Z",
        "event_type": "change",
        "url": "https://shop.example.test/signup",
        "page_name": "Sign up",
    }
    if user_id is not None:
        document["user_id"] = user_id
    if user_email is not None:
        document["user_email"] = user_email
    document.update(fields)
    return document


def request_for(
    document: dict[str, Any],
    *,
    received_at: datetime,
    lookback: timedelta = timedelta(hours=24),
    org_id: str = "o-TEST-na1",
    stream: bool = False,
) -> InvestigationRequest:
    """The investigation request the webhook builds for `document` (no signature, no queue)."""
    if stream:
        decision = interpret_stream_event(document, received_at=received_at, lookback=lookback)
    else:
        interpreted = interpret_system_event(document, received_at=received_at, lookback=lookback)
        assert isinstance(interpreted, Investigate), interpreted
        decision = interpreted
    origin = Origin(org_id=org_id, delivery_key="sig:" + "0" * 64, received_at=isoformat(received_at))
    return build_request(
        trigger=decision.trigger, subject=decision.subject, window=decision.window, origin=origin
    )
