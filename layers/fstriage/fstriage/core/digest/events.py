"""Reader of raw session events (`GET /v2/sessions/{id}/events`): `digest_events`.

The raw `event_properties` keys are not documented, so each field is read from a tuple of candidate
keys: the local sandbox's convention first, then the column names of Fullstory's warehouse views
(`request_status`, `fs_rage_count`, ...), each also in camelCase. When that finds nothing, the
properties are read again flattened and snake_cased (`request: {url: {fullUrl}}` becomes
`request_url_full_url`). An event of an error-bearing type whose fields still cannot be read is
counted in `unclassified`, with the property key names seen (never their values) in `unread_keys`.
The Generate Context reader uses the same candidate keys for its `properties`.

Speed: the loop does an O(1) dict dispatch on `event_type` and touches nothing else for the types
that cannot carry an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from fstriage.core.digest.model import (
    _MALFORMED,
    _MAX_FLAT_KEYS,
    MAX_SIGNALS,
    SessionDigest,
    SignalKind,
    _Accumulator,
)
from fstriage.core.digest.values import _ERROR_LEVELS, _FALSE_TEXT, _flag_value, _int_value, _text, _time_text

# --- candidate keys: the sandbox convention first (it is the common case), then warehouse names ---


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _keys(*snake: str) -> tuple[str, ...]:
    """The candidate keys, then their camelCase forms (`request_status` -> `requestStatus`)."""
    camel = tuple(dict.fromkeys(_camel(key) for key in snake if _camel(key) != key))
    return snake + camel


CONSOLE_MESSAGE_KEYS: Final = _keys("message", "console_message", "text", "msg", "log_message")
CONSOLE_LEVEL_KEYS: Final = _keys(
    "level", "console_level", "console_message_level", "message_level", "log_level", "severity"
)
SOURCE_KEYS: Final = _keys(
    "source_url",
    "source",
    "exception_source_file",
    "source_file",
    "filename",
    "file_url",
    "file",
    "script_url",
    "url",
)
LINE_KEYS: Final = _keys("line_number", "line", "lineno", "line_no", "exception_line_number")
EXCEPTION_MESSAGE_KEYS: Final = _keys("message", "exception_message", "error_message", "text", "description")
# Not `type`: the export's subtype for exceptions is "uncaught", and a raw `type` may mean the same.
EXCEPTION_NAME_KEYS: Final = _keys("name", "exception_type", "exception_name", "error_type", "error_name")
REQUEST_METHOD_KEYS: Final = _keys("method", "request_method", "http_method")
REQUEST_URL_KEYS: Final = _keys(
    "url", "request_url", "full_url", "uri", "request_url_full_url", "request_full_url", "url_full_url"
)
REQUEST_STATUS_KEYS: Final = _keys(
    "status_code",
    "status",
    "request_status",
    "response_status",
    "http_status",
    "response_code",
    "request_status_code",
    "response_status_code",
)
# Only consulted when the status is 0 or missing: a request that never got an HTTP answer.
REQUEST_FAILURE_KEYS: Final = _keys(
    "failed", "is_failed", "request_failed", "network_error", "error", "is_error"
)
REQUEST_DURATION_KEYS: Final = _keys(
    "duration_ms", "duration", "elapsed_ms", "request_duration_millis", "duration_millis"
)
# Counts (`fs_rage_count`: clicks in the burst) and flags both mark a click; any positive value does.
RAGE_KEYS: Final = _keys(
    "is_rage_click",
    "rage_click",
    "fs_rage_count",
    "rage_count",
    "mod_frustrated",
    "is_frustrated",
    "frustrated",
)
DEAD_KEYS: Final = _keys("is_dead_click", "dead_click", "fs_dead_count", "dead_count", "mod_dead", "is_dead")
# `fs_error_kind` is `unknown | console | exception` on a click an error followed, empty otherwise.
ERROR_CLICK_KEYS: Final = _keys(
    "is_error_click", "error_click", "fs_error_kind", "error_kind", "mod_error", "is_error"
)
TARGET_TEXT_KEYS: Final = _keys("text", "target_text", "element_text", "inner_text")
TARGET_SELECTOR_KEYS: Final = _keys(
    "raw_selector", "selector", "target_raw_selector", "target_selector", "css_selector"
)
# Marker key -> (signal kind, whether only a positive number marks it: counts and running counts).
_CLICK_MARKS: Final[dict[str, tuple[SignalKind, bool]]] = {
    **{key: ("error_click", False) for key in ERROR_CLICK_KEYS},
    **{key: ("dead_click", False) for key in DEAD_KEYS},
    **{key: ("rage_click", True) for key in RAGE_KEYS},
}
# A click the digest cannot read counts as unreadable only if some key or value hints at a marker.
_MARK_WORDS: Final = ("rage", "dead", "error", "frustrat", "thrash")
_MARK_VALUES: Final = frozenset(
    {"rage", "dead", "error", "rage_click", "dead_click", "error_click", "frustrated", "thrashed"}
)

_QUIET_LEVELS: Final = frozenset({"warn", "warning", "log", "info", "debug", "trace", "verbose", "notice"})


# --- field readers (defensive: the raw property names are guesses) ---------------------------------


def _status(props: Mapping[str, Any]) -> int | None:
    for key in REQUEST_STATUS_KEYS:
        if key in props:
            status = _int_value(props[key])
            if status is not None:
                return status
    response = props.get("response")
    if isinstance(response, Mapping):
        return _status_flat(response)
    return None


def _status_flat(props: Mapping[str, Any]) -> int | None:
    for key in REQUEST_STATUS_KEYS:
        status = _int_value(props.get(key))
        if status is not None:
            return status
    return None


def _click_marks(props: Mapping[str, Any]) -> tuple[bool, bool, bool, bool]:
    """(rage, dead, error, whether any marker key was there at all), in one pass over the keys."""
    rage = dead = error = seen = False
    marks = _CLICK_MARKS
    for key, value in props.items():
        mark = marks.get(key)
        if mark is None:
            continue
        seen = True
        # Booleans first: the common case on every click, so skip the general parser.
        if value is None or value is False:
            continue
        if value is True or _flag_value(value, positive=mark[1]):
            kind = mark[0]
            if kind == "rage_click":
                rage = True
            elif kind == "dead_click":
                dead = True
            else:
                error = True
    return rage, dead, error, seen


def _hints_a_mark(props: Mapping[str, Any]) -> bool:
    """Whether an unreadable click looks frustrated or erroneous (`x_rage: true`, `kind: "dead"`)."""
    for key, value in props.items():
        if value is None or value is False or isinstance(value, Mapping | list):
            continue
        if isinstance(value, str) and value.strip().lower() in _MARK_VALUES:
            return True
        name = key.lower() if isinstance(key, str) else ""
        if any(word in name for word in _MARK_WORDS) and _flag_value(value, positive=True):
            return True
    return False


_SNAKE_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SNAKE_NAMES: dict[str, str] = {}
_MAX_SNAKE_NAMES: Final = 4096


def _snake(key: str) -> str:
    name = _SNAKE_NAMES.get(key)
    if name is None:
        name = _SNAKE_BOUNDARY.sub("_", key).lower().replace("-", "_").replace(".", "_")
        if len(_SNAKE_NAMES) < _MAX_SNAKE_NAMES:  # bounded: keys come from the input
            _SNAKE_NAMES[key] = name
    return name


def _flat(
    props: Mapping[str, Any], prefix: str = "", depth: int = 0, out: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Properties flattened two levels deep and snake_cased: `{"request": {"statusCode": 500}}` ->
    `{"request_status_code": 500}`. The first of two keys that flatten to one name wins."""
    flat: dict[str, Any] = {} if out is None else out
    for index, (key, value) in enumerate(props.items()):
        if index >= _MAX_FLAT_KEYS:
            break
        if not isinstance(key, str):
            continue
        name = prefix + _snake(key)
        if isinstance(value, Mapping) and depth < 2:
            _flat(value, name + "_", depth + 1, flat)
        elif name not in flat:
            flat[name] = value
    return flat


def _failure(props: Mapping[str, Any]) -> str | None:
    """The failure flag of a request without a status: its text if it has one, else "failed"."""
    for key in REQUEST_FAILURE_KEYS:
        value = props.get(key)
        if isinstance(value, str) and value.strip().lower() not in _FALSE_TEXT:
            return value
        if value is not None and not isinstance(value, str) and _flag_value(value, positive=False):
            return "failed"
    return None


def _level(props: Mapping[str, Any]) -> bool | None:
    """True for an error level, False for a quiet one, None if unreadable or unknown."""
    raw = _text(props, CONSOLE_LEVEL_KEYS)
    if raw is None:
        return None
    level = raw.strip().lower()
    if level in _ERROR_LEVELS:
        return True
    if level in _QUIET_LEVELS:
        return False
    return None


def _click_target(props: Mapping[str, Any]) -> tuple[str | None, str | None]:
    target = props.get("target")
    if isinstance(target, Mapping):
        return _text(target, TARGET_TEXT_KEYS), _text(target, TARGET_SELECTOR_KEYS)
    if isinstance(target, str) and target.strip():
        return target, _text(props, TARGET_SELECTOR_KEYS)
    return _text(props, TARGET_TEXT_KEYS), _text(props, TARGET_SELECTOR_KEYS)


def _raw_page(event: Mapping[str, Any]) -> str | None:
    source = event.get("source_properties")
    if isinstance(source, Mapping):
        url = source.get("url")
        if isinstance(url, Mapping):
            return _text(url, ("full_url", "path"))
        if isinstance(url, str) and url.strip():
            return url
    return None


# --- raw session events -------------------------------------------------------------------------

_RawHandler = Callable[[_Accumulator, Mapping[str, Any], str | None], None]


def _raw_console(acc: _Accumulator, event: Mapping[str, Any], when: str | None) -> None:
    props = event.get("event_properties")
    if not isinstance(props, Mapping):
        acc.miss("console_message", props)
        return
    if not _console(acc, props, when) and not _console(acc, _flat(props), when):
        acc.miss("console_message", props)


def _console(acc: _Accumulator, props: Mapping[str, Any], when: str | None) -> bool:
    """False if the message could not be read (a quiet level reads fine: it is not an error)."""
    level = _level(props)
    if level is False:
        return True
    message = _text(props, CONSOLE_MESSAGE_KEYS)
    return level is not None and message is not None and acc.console(message, _text(props, SOURCE_KEYS), when)


def _raw_exception(acc: _Accumulator, event: Mapping[str, Any], when: str | None) -> None:
    props = event.get("event_properties")
    if not isinstance(props, Mapping):
        acc.miss("exception", props)
        return
    if not _exception(acc, props, when) and not _exception(acc, _flat(props), when):
        acc.miss("exception", props)


def _exception(acc: _Accumulator, props: Mapping[str, Any], when: str | None) -> bool:
    name = _text(props, EXCEPTION_NAME_KEYS)
    message = _text(props, EXCEPTION_MESSAGE_KEYS)
    if name is None and message is None:
        return False
    line = next((props[key] for key in LINE_KEYS if key in props), None)
    return acc.exception(name, message, _text(props, SOURCE_KEYS), line, when)


def _raw_request(acc: _Accumulator, event: Mapping[str, Any], when: str | None) -> None:
    props = event.get("event_properties")
    if not isinstance(props, Mapping):
        acc.miss("request", props)
        return
    if not _request(acc, props, when) and not _request(acc, _flat(props), when):
        acc.miss("request", props)


def _request(acc: _Accumulator, props: Mapping[str, Any], when: str | None) -> bool:
    """False if neither a status nor a failure flag could be read."""
    status = _status(props)
    if status is not None and status != 0 and status < 400:
        return True  # answered below 400: not an error
    failure = None if status else _failure(props)
    if status or failure is not None:
        method, url = _text(props, REQUEST_METHOD_KEYS), _text(props, REQUEST_URL_KEYS)
        duration = next((props[key] for key in REQUEST_DURATION_KEYS if key in props), None)
        acc.request(method, url, status or None, failure, when, duration=duration)
        return True
    # status 0 with no failure flag: cancelled or still in flight, not evidence of a failure.
    return status is not None


def _raw_click(acc: _Accumulator, event: Mapping[str, Any], when: str | None) -> None:
    props = event.get("event_properties")
    if not isinstance(props, Mapping):
        acc.miss("click", props)
        return
    rage, dead, error, seen = _click_marks(props)
    if not seen:
        flat = _flat(props)
        rage, dead, error, seen = _click_marks(flat)
        if not seen:
            # No marker we know: a plain click, unless something hints that it was frustrated.
            if _hints_a_mark(flat):
                acc.miss("click", props)
            return
        props = flat
    if not (rage or dead or error):
        return
    text, selector = _click_target(props)
    page = _raw_page(event)
    if rage:
        acc.click("rage_click", page, text, selector, when)
    if dead:
        acc.click("dead_click", page, text, selector, when)
    if error:
        acc.click("error_click", page, text, selector, when)


_RAW_HANDLERS: Final[dict[Any, _RawHandler]] = {
    "console_message": _raw_console,
    "exception": _raw_exception,
    "request": _raw_request,
    "click": _raw_click,
}


def digest_events(
    session_id: str, events: Iterable[Any] | Mapping[str, Any], *, max_signals: int = MAX_SIGNALS
) -> SessionDigest:
    """Digest the events of one session (`GET /v2/sessions/{id}/events`: the list, or its `{"events"}`)."""
    items: Iterable[Any] = events
    if isinstance(events, Mapping):
        listed = events.get("events")
        items = listed if isinstance(listed, list) else ()
    acc = _Accumulator()
    handlers = _RAW_HANDLERS
    views: set[Any] = set()
    first: str | None = None
    last: str | None = None
    count = 0
    for event in items:
        count += 1
        if not isinstance(event, dict):
            acc.miss(_MALFORMED)
            continue
        when = event.get("event_time")
        if when.__class__ is not str:
            when = _time_text(when)
        if when is not None:
            if first is None or when < first:
                first = when
            if last is None or when > last:
                last = when
        view = event.get("view_id")
        if view.__class__ is str or view.__class__ is int:
            views.add(view)
        event_type = event.get("event_type")
        # Hashable types only reach the dict; anything else is not a known type anyway.
        handler = handlers.get(event_type) if event_type.__class__ is str else None
        if handler is not None:
            handler(acc, event, when)
    return acc.freeze(
        session_id,
        "events",
        event_count=count,
        page_count=len(views),
        first_event=first,
        last_event=last,
        max_signals=max_signals,
    )
