"""Checks on a queued investigation request's values, before anything is spent (pure).

`InvestigationRequest.from_message` checks the shape; these check the values, since the queue only
promises JSON: a `NaN`, a lone surrogate or an unnormalised session ID would otherwise be found only
after paid Fullstory calls, or when the report is written. The words never quote the request.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import datetime
from typing import Any, get_args

from fstriage.core.jsonlimits import LONE_SURROGATE, valid_unicode
from fstriage.core.request import (
    Alert,
    InvestigationRequest,
    Subject,
    Trigger,
    TriggerSource,
    Window,
    isoformat,
    parse_isoformat,
)

# The report schema's forms: a report naming anything else would not validate.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_-]{1,64}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_SOURCES: tuple[str, ...] = get_args(TriggerSource)
MAX_PROBLEMS_NAMED = 5
MAX_JSON_DEPTH = 8  # the webhook keeps 4 levels; deeper was not written by it


def request_problems(request: InvestigationRequest) -> list[str]:
    """What makes a queued request impossible to investigate or report, in words that never quote it.

    `InvestigationRequest.from_message` checks the shape; this checks the values, since the queue only
    promises JSON: a `NaN`, a lone surrogate or an unnormalised session ID would otherwise be found
    only after paid calls, or when the Markdown is written.
    """
    check = _Checks()
    trigger, subject, window = request.trigger, request.subject, request.window
    if trigger.source not in _SOURCES:
        check.problems.append("trigger.source is not a known source")
    check.text("trigger.event_name", trigger.event_name, required=True)
    check.text("trigger.event_id", trigger.event_id)
    check.moment("trigger.occurred_at", trigger.occurred_at)
    check.text("trigger.text", trigger.text)
    if not isinstance(trigger.properties, dict):
        check.problems.append("trigger.properties is not an object")
    else:
        check.json_value("trigger.properties", trigger.properties, depth=0)
    check.text("trigger.page_url", trigger.page_url)
    if trigger.alert is not None:
        for name in Alert.__slots__:
            if name != "value":
                check.text(f"trigger.alert.{name}", getattr(trigger.alert, name))
        if trigger.alert.value is not None and _finite(trigger.alert.value) is None:
            check.problems.append("trigger.alert.value is not a finite number")
    if not isinstance(subject.session_ids, tuple | list):
        check.problems.append("subject.session_ids is not a list")
    else:
        for index, session_id in enumerate(subject.session_ids):
            if not (isinstance(session_id, str) and _SESSION_ID.fullmatch(session_id)):
                check.problems.append(f"subject.session_ids[{index}] is not a Fullstory session ID")
    check.text("subject.uid", subject.uid)
    check.text("subject.email", subject.email)
    check.text("subject.individual_id", subject.individual_id)
    check.moment("window.start", window.start)
    check.moment("window.end", window.end)
    if _is_time(window.start) and _is_time(window.end) and _window_inverted(window.start, window.end):
        check.problems.append("window.start is after window.end")
    continuation = request.continuation
    if continuation is not None:
        check.text("continuation.segment_id", continuation.segment_id, required=True)
        check.text("continuation.operation_id", continuation.operation_id, required=True)
        check.text("continuation.started_at", continuation.started_at, required=True)
        polls = continuation.polls
        if isinstance(polls, bool) or not isinstance(polls, int) or polls < 0:
            check.problems.append("continuation.polls is not a count")
    # The same problem once, and the first few only: a note, not a dump.
    unique = list(dict.fromkeys(check.problems))
    if len(unique) > MAX_PROBLEMS_NAMED:
        unique = [*unique[:MAX_PROBLEMS_NAMED], f"and {len(unique) - MAX_PROBLEMS_NAMED} more"]
    return unique


class _Checks:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def text(self, path: str, value: Any, *, required: bool = False) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str):
            self.problems.append(f"{path} is not a string")
        elif LONE_SURROGATE.search(value):
            self.problems.append(f"{path} is not valid Unicode (it holds a lone surrogate)")

    def json_value(self, path: str, value: Any, *, depth: int) -> None:
        """A property value: JSON (finite numbers), valid text, bounded depth."""
        if depth > MAX_JSON_DEPTH:
            self.problems.append(f"{path} is nested too deeply")
        elif isinstance(value, dict):
            for key, inner in value.items():
                self.text(f"{path} (a name)", key, required=True)
                self.json_value(path, inner, depth=depth + 1)
        elif isinstance(value, list):
            for inner in value:
                self.json_value(path, inner, depth=depth + 1)
        elif isinstance(value, str):
            self.text(f"{path} (a value)", value)
        elif isinstance(value, float) and not math.isfinite(value):
            self.problems.append(f"{path} holds a number that is not finite")
        elif not (value is None or isinstance(value, bool | int | float)):
            self.problems.append(f"{path} holds a value that is not JSON")

    def moment(self, path: str, value: Any) -> None:
        if not _is_time(value):
            self.problems.append(f"{path} is not an ISO 8601 time")


def _window_inverted(start: str, end: str) -> bool:
    return parse_isoformat(start) > parse_isoformat(end)


def presentable(request: InvestigationRequest, *, now: datetime) -> InvestigationRequest:
    """A copy a report can always show: text made valid Unicode, non-strings and non-finite numbers
    dropped, unreadable times replaced by `now`. Only for failed reports; nothing is investigated."""
    fallback = isoformat(now)
    trigger, subject, window = request.trigger, request.subject, request.window
    start = window.start if _is_time(window.start) else fallback
    end = window.end if _is_time(window.end) else fallback
    if _window_inverted(start, end):
        start = end
    alert = trigger.alert
    properties = trigger.properties if isinstance(trigger.properties, dict) else {}
    ids = subject.session_ids if isinstance(subject.session_ids, tuple | list) else ()
    return replace(
        request,
        trigger=Trigger(
            kind=trigger.kind,
            source=trigger.source if trigger.source in _SOURCES else "cli",
            event_name=_clean(trigger.event_name) or "unknown",
            event_id=_clean(trigger.event_id),
            occurred_at=trigger.occurred_at if _is_time(trigger.occurred_at) else end,
            alert=Alert(
                **{name: _clean(getattr(alert, name)) for name in Alert.__slots__ if name != "value"},
                value=_finite(alert.value),
            )
            if isinstance(alert, Alert)
            else None,
            text=_clean(trigger.text),
            properties=_presentable_json(properties, depth=0),
            page_url=_clean(trigger.page_url),
        ),
        subject=Subject(
            session_ids=tuple(str(_clean(sid)) for sid in ids if isinstance(sid, str)),
            uid=_clean(subject.uid),
            email=_clean(subject.email),
            individual_id=_clean(subject.individual_id),
        ),
        window=Window(start=start, end=end),
        continuation=None,
    )


def _presentable_json(value: Any, *, depth: int) -> Any:
    """JSON values kept, text made valid Unicode; what is not JSON, or too deep, dropped."""
    if isinstance(value, dict):
        return {
            str(_clean(key)): _presentable_json(inner, depth=depth + 1)
            for key, inner in value.items()
            if isinstance(key, str) and depth < MAX_JSON_DEPTH
        }
    if isinstance(value, list):
        kept = value if depth < MAX_JSON_DEPTH else []
        return [_presentable_json(inner, depth=depth + 1) for inner in kept]
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    return _finite(value)


def _is_time(value: Any) -> bool:
    if not (isinstance(value, str) and _TIMESTAMP.fullmatch(value)):
        return False
    try:
        parse_isoformat(value)
    except ValueError:
        return False  # the right shape, but e.g. month 13
    return True


def _clean(value: Any) -> str | None:
    return valid_unicode(value) if isinstance(value, str) else None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None  # an integer too large for a float
    return number if math.isfinite(number) else None
