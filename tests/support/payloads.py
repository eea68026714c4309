"""Realistic Fullstory webhook payloads (shapes from the research notes, §4a)."""

from __future__ import annotations

import json
from typing import Any

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
