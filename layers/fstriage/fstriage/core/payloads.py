"""Fullstory webhook payloads -> what to do with them.

System webhooks arrive as `{"eventName": ..., "version": 1, "data": {...}}`. Streams arrive as a
field-mapped object that the customer designs in Fullstory; we accept the documented variable names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fstriage.core.errors import PayloadError
from fstriage.core.request import Alert, Subject, Trigger, TriggerKind, Window, isoformat
from fstriage.core.session_ids import individual_id, normalise_session_id

MAX_TEXT_CHARS = 1000
MAX_PROPERTIES = 50
MAX_PROPERTY_CHARS = 200
MAX_PROPERTY_DEPTH = 4  # the properties object itself is the first level
MAX_LIST_ITEMS = 20
# Any single string field (URLs, names, IDs): longer is not a Fullstory payload, and the queued
# request must stay far below SQS's 256 KiB.
MAX_FIELD_CHARS = 2048
# Times outside this range are not real events (and would overflow window arithmetic).
_EARLIEST, _LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
_ALERT_PERIODS = {"DAILY": timedelta(days=1), "WEEKLY": timedelta(days=7), "MONTHLY": timedelta(days=30)}
_SEGMENT_IN_URL = re.compile(r"/segments/([^/?#]+)")
_SESSION_EVENTS: dict[str, TriggerKind] = {"note.created": "note", "recording.event.custom": "custom_event"}
_ALERT_EVENTS: dict[str, TriggerKind] = {
    "segment.trend.alert": "segment_alert",
    "metric.alert": "metric_alert",
}
_STREAM_CONTEXT_FIELDS = ("event_type", "url", "page_name", "target_text")
# Verified, but nothing to investigate.
_ACKNOWLEDGED_EVENTS = {"segment.created"}


@dataclass(frozen=True, slots=True)
class Investigate:
    """A payload worth investigating: what happened, about whom, over which window."""

    trigger: Trigger
    subject: Subject
    window: Window
    # Whether the payload itself said when the event happened. Without that (or an event id), the
    # trigger's identity is its content alone and deduplication falls back to a time window.
    timed: bool = True


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """Answer without queueing: the `test` button (200), or an event we do not investigate (202)."""

    status: int
    outcome: str
    reason: str


def interpret_system_event(
    document: dict[str, Any], *, received_at: datetime, lookback: timedelta
) -> Investigate | Acknowledge:
    event_name = document.get("eventName")
    if not isinstance(event_name, str) or not event_name:
        raise PayloadError("eventName must be a non-empty string")
    # A missing `version` is read as 1: Fullstory sends it, but nothing promises it always will.
    _check_version(document.get("version", 1))
    data = document.get("data")
    if event_name == "test":
        return Acknowledge(status=200, outcome="test", reason="test_event")
    if not isinstance(data, dict):
        raise PayloadError("data must be an object")
    if event_name in _ALERT_EVENTS:
        return _alert(_ALERT_EVENTS[event_name], event_name, data, received_at, lookback)
    if event_name in _SESSION_EVENTS:
        return _session_event(_SESSION_EVENTS[event_name], event_name, data, received_at, lookback)
    reason = "not_investigated" if event_name in _ACKNOWLEDGED_EVENTS else "unsupported_event"
    return Acknowledge(status=202, outcome="ignored", reason=reason)


def interpret_stream_event(
    document: dict[str, Any], *, received_at: datetime, lookback: timedelta, org_id: str = ""
) -> Investigate:
    """A Streams delivery: it must name a session or a user, flat or under `session`/`user`.

    Streams' `session.session_id` variable is documented as `orgId:sessionId`; with the session's
    `device_id` mapped too, that becomes the API's `device:session`.
    """
    session = _nested(document, "session")
    user = _nested(document, "user")
    org_scoped = _optional_str(document, "session_id") or _optional_str(session, "session_id")
    if org_id and org_scoped and org_scoped.partition(":")[0] == org_id:
        device = _optional_scalar(document, "device_id") or _optional_scalar(session, "device_id")
        if device is None:
            raise PayloadError(
                "session_id is Streams' orgId:sessionId form: also map device_id (or map app_url_session)",
                reason="invalid_session_id",
            )
        document = {**document, "session_id": f"{device}:{org_scoped.partition(':')[2]}"}
        session = {key: value for key, value in session.items() if key != "session_id"}
    raw_session = next(
        (
            value
            for value in (
                _optional_str(document, "app_url_session") or _optional_str(session, "app_url_session"),
                _optional_str(document, "client_session_id") or _optional_str(session, "client_session_id"),
                _optional_str(document, "session_id") or _optional_str(session, "session_id"),
            )
            if value
        ),
        None,
    )
    subject = Subject(
        session_ids=(normalise_session_id(raw_session),) if raw_session else (),
        uid=_optional_str(document, "user_id") or _optional_str(user, "user_id"),
        email=_optional_str(document, "user_email") or _optional_str(user, "user_email"),
    )
    if subject.is_empty:
        raise PayloadError("stream payload names no session or user", reason="no_subject")
    event_time = document.get("event_time")
    if isinstance(event_time, bool) or not isinstance(event_time, str | int | float | None):
        raise PayloadError("event_time must be an ISO 8601 time or epoch seconds or milliseconds")
    occurred = _moment(event_time, fallback=received_at)
    timed = occurred is not received_at
    if not isinstance(document.get("stream"), dict | None):
        raise PayloadError("stream must be an object")
    stream = _nested(document, "stream")
    name = _optional_text(document, "stream_name") or _optional_text(stream, "name")
    trigger = Trigger(
        kind="stream",
        source="stream",
        event_name="stream",
        event_id=None,
        occurred_at=isoformat(occurred),
        text=_clip(name),
        # Optional context for the report: text when mapped, refused when it is anything else.
        properties={
            key: value[:MAX_PROPERTY_CHARS]
            for key in _STREAM_CONTEXT_FIELDS
            if (value := _optional_text(document, key)) is not None
        },
        page_url=_context_url(document.get("url")),
    )
    return Investigate(
        trigger=trigger, subject=subject, window=_window_ending(occurred, lookback), timed=timed
    )


def _alert(
    kind: TriggerKind, event_name: str, data: dict[str, Any], received_at: datetime, lookback: timedelta
) -> Investigate:
    config = data.get("alertConfig")
    if not isinstance(config, dict):
        raise PayloadError("data.alertConfig must be an object")
    occurred = _moment(data.get("timestamp"), fallback=received_at)
    timed = occurred is not received_at
    duration = _optional_str(config, "duration")
    segment_url = _optional_str(config, "segmentUrl")
    segment_match = _SEGMENT_IN_URL.search(segment_url or "")
    alert = Alert(
        name=_optional_str(config, "alertName") or _optional_str(config, "segmentName"),
        description=_optional_text(config, "description") or _optional_text(config, "alertDescription"),
        url=_optional_str(config, "alertUrl"),
        notification_url=_optional_str(data, "notificationUrl"),
        value=_optional_number(data, "value"),
        threshold=_optional_scalar(config, "threshold"),
        direction=_optional_str(config, "direction"),
        duration=duration,
        segment_id=segment_match.group(1) if segment_match else None,
        segment_name=_optional_str(config, "segmentName"),
        segment_url=segment_url,
        metric_name=_optional_str(config, "metricName"),
        metric_url=_optional_str(config, "metricUrl"),
    )
    if kind == "segment_alert" and not (alert.segment_url or alert.segment_name):
        raise PayloadError("data.alertConfig names no segment (segmentUrl or segmentName)")
    if kind == "metric_alert" and not (alert.metric_name or alert.name):
        raise PayloadError("data.alertConfig names no metric (metricName or alertName)")
    trigger = Trigger(
        kind=kind,
        source="system_webhook",
        event_name=event_name,
        event_id=_optional_scalar(data, "id"),
        occurred_at=isoformat(occurred),
        alert=alert,
    )
    period = _ALERT_PERIODS.get((duration or "").upper(), lookback)
    return Investigate(
        trigger=trigger, subject=Subject(), window=_window_ending(occurred, period), timed=timed
    )


def _session_event(
    kind: TriggerKind, event_name: str, data: dict[str, Any], received_at: datetime, lookback: timedelta
) -> Investigate:
    session_url = data.get("sessionUrl")
    if not isinstance(session_url, str) or not session_url:
        raise PayloadError("data.sessionUrl must be a non-empty string")
    if kind == "note":
        occurred = _moment(data.get("notedTime") or data.get("created"), fallback=received_at)
        text = _optional_text(data, "text")
        properties: dict[str, Any] = {}
    else:
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise PayloadError("data.name must be a non-empty string")
        raw_properties = data.get("properties", {})
        if not isinstance(raw_properties, dict):
            raise PayloadError("data.properties must be an object")
        occurred = _moment(data.get("timestamp"), fallback=received_at)
        text, properties = name, _bounded_properties(raw_properties)
    timed = occurred is not received_at
    trigger = Trigger(
        kind=kind,
        source="system_webhook",
        event_name=event_name,
        event_id=_optional_scalar(data, "id"),
        occurred_at=isoformat(occurred),
        text=_clip(text),
        properties=properties,
        page_url=_context_url(data.get("pageUrl")),
    )
    subject = Subject(
        session_ids=(normalise_session_id(session_url),), individual_id=individual_id(session_url)
    )
    return Investigate(
        trigger=trigger, subject=subject, window=_window_ending(occurred, lookback), timed=timed
    )


def _check_version(version: Any) -> None:
    # Types compared too: `True == 1` in Python, and 1.0 is not what Fullstory sends.
    if not ((type(version) is int and version == 1) or version == "1"):
        raise PayloadError(
            "unsupported payload version (this receiver understands version 1)", reason="unsupported_version"
        )


def _window_ending(end: datetime, period: timedelta) -> Window:
    return Window(start=isoformat(end - period), end=isoformat(end))


def _nested(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def _optional_str(container: dict[str, Any], key: str) -> str | None:
    value = container.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{key} must be a string")
    if len(value) > MAX_FIELD_CHARS:
        raise PayloadError(f"{key} is longer than {MAX_FIELD_CHARS} characters")
    return value


def _optional_text(container: dict[str, Any], key: str) -> str | None:
    """Free text (a note, a description): clipped rather than refused."""
    value = container.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{key} must be a string")
    return _clip(value)


def _optional_scalar(container: dict[str, Any], key: str) -> str | None:
    value = container.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError(f"{key} must be a string or a number")
    if isinstance(value, float) and not math.isfinite(value):
        # str() would make every NaN (and every overflowing number) the same id.
        raise PayloadError(f"{key} must be a finite number")
    text = str(value)
    if len(text) > MAX_FIELD_CHARS:
        raise PayloadError(f"{key} is longer than {MAX_FIELD_CHARS} characters")
    return text


def _optional_number(container: dict[str, Any], key: str) -> float | None:
    value = container.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{key} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of hundreds of digits
        raise PayloadError(f"{key} must be a finite number") from None
    if not math.isfinite(number):  # "NaN", "1e999": the queued JSON and the report must stay valid JSON
        raise PayloadError(f"{key} must be a finite number")
    return number


def _moment(value: Any, *, fallback: datetime) -> datetime:
    """Fullstory times come as ISO 8601 or epoch seconds/milliseconds; unreadable ones fall back."""
    if isinstance(value, bool) or value is None:
        return fallback
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
            number = float(value)
            moment = datetime.fromtimestamp(number / 1000 if number >= 1e11 else number, tz=UTC)
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
        else:
            return fallback
    except (ValueError, OverflowError, OSError):
        return fallback
    return moment if _EARLIEST <= moment <= _LATEST else fallback


def _context_url(value: Any) -> str | None:
    """Context only, so never a reason to refuse a delivery: a string is kept (clipped), else nothing."""
    return value[:MAX_FIELD_CHARS] if isinstance(value, str) and value else None


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def _bounded_properties(raw: dict[str, Any]) -> dict[str, Any]:
    """The properties as sent, as JSON values, bounded so a queued request stays small whatever the
    sender put in: at most MAX_PROPERTIES values in all, MAX_PROPERTY_DEPTH levels of objects,
    MAX_LIST_ITEMS per list, strings and names clipped. A value that is not JSON-safe (NaN, an
    infinite or a huge number) becomes its text, so nothing sent is silently dropped."""
    budget = [MAX_PROPERTIES]

    def bounded(value: Any, depth: int) -> Any:
        budget[0] -= 1
        if isinstance(value, dict):
            if depth >= MAX_PROPERTY_DEPTH:
                return "{…}"
            kept: dict[str, Any] = {}
            for key, inner in value.items():
                if budget[0] <= 0:
                    break
                kept[str(key)[:MAX_PROPERTY_CHARS]] = bounded(inner, depth + 1)
            return kept
        if isinstance(value, list):
            return [bounded(item, depth + 1) for item in value[:MAX_LIST_ITEMS] if budget[0] > 0]
        if isinstance(value, str):
            return value[:MAX_PROPERTY_CHARS]
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return value if abs(value) < 2**63 else str(value)[:MAX_PROPERTY_CHARS]
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        return str(value)[:MAX_PROPERTY_CHARS]

    result = bounded(raw, 0)
    return result if isinstance(result, dict) else {}
