"""Reader of Generate Context pages (`POST /v2/sessions/{id}/context`): `digest_context`.

Fullstory has already classified these events (`console-error`, `network-error`, `rage-click`...);
their `properties` are read with the raw events' candidate keys, and a network error known only by
its free-text description is parsed for a method, URL and status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from fstriage.core.digest.events import (
    CONSOLE_MESSAGE_KEYS,
    EXCEPTION_MESSAGE_KEYS,
    EXCEPTION_NAME_KEYS,
    LINE_KEYS,
    REQUEST_METHOD_KEYS,
    REQUEST_URL_KEYS,
    SOURCE_KEYS,
    _click_target,
    _failure,
    _status,
)
from fstriage.core.digest.model import _MALFORMED, MAX_SIGNALS, SessionDigest, SignalKind, _Accumulator
from fstriage.core.digest.text import _URL_TRAILING_PUNCTUATION
from fstriage.core.digest.values import _iso_out, _text, _time_text

# Context descriptions are free text: pull a request out of them when `properties` has none.
_TEXT_METHOD = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\b")
_TEXT_URL = re.compile(r"(?:\b(?:https?|wss?)://|(?<![\w/])/)[^\s'\"`<>()\[\]{}]+")
_TEXT_STATUS = re.compile(r"(?<![\d.])([1-5]\d\d)(?![\d.])")


# (accumulator, event, its properties, page URL, event time) -> False if nothing could be read.
_ContextHandler = Callable[[_Accumulator, Mapping[str, Any], Mapping[str, Any], str | None, str | None], bool]


def _context_text(event: Mapping[str, Any], props: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    return _text(props, keys) or _text(event, ("content", "description"))


def _context_console(
    acc: _Accumulator, event: Mapping[str, Any], props: Mapping[str, Any], page: str | None, when: str | None
) -> bool:
    message = _context_text(event, props, CONSOLE_MESSAGE_KEYS)
    return message is not None and acc.console(message, _text(props, SOURCE_KEYS), when)


def _context_exception(
    acc: _Accumulator, event: Mapping[str, Any], props: Mapping[str, Any], page: str | None, when: str | None
) -> bool:
    name = _text(props, EXCEPTION_NAME_KEYS)
    message = _context_text(event, props, EXCEPTION_MESSAGE_KEYS)
    if name is None and message is None:
        return False
    line = next((props[key] for key in LINE_KEYS if key in props), None)
    return acc.exception(name, message, _text(props, SOURCE_KEYS), line, when)


def _context_network(
    acc: _Accumulator, event: Mapping[str, Any], props: Mapping[str, Any], page: str | None, when: str | None
) -> bool:
    method = _text(props, REQUEST_METHOD_KEYS)
    url = _text(props, REQUEST_URL_KEYS)
    status = _status(props)
    description = _text(event, ("description", "content"))
    if url is None and description is not None:
        # Fullstory already classified it; recover what it wrote in prose.
        found_url = _TEXT_URL.search(description)
        if found_url:
            url = found_url.group().rstrip(_URL_TRAILING_PUNCTUATION)
            found_method = _TEXT_METHOD.search(description)
            method = method or (found_method.group(1) if found_method else None)
            if status is None:
                rest = description[found_url.end() :]
                found_status = _TEXT_STATUS.search(rest)
                status = int(found_status.group(1)) if found_status else None
    if url is not None:
        failed = status if status is not None and status >= 400 else None
        acc.request(method, url, failed, None if failed else (_failure(props) or "failed"), when)
        return True
    return description is not None and acc.request_text(description, when)


def _context_click(kind: SignalKind) -> _ContextHandler:
    def handle(
        acc: _Accumulator,
        event: Mapping[str, Any],
        props: Mapping[str, Any],
        page: str | None,
        when: str | None,
    ) -> bool:
        text, selector = _click_target(props)
        if text is None and selector is None:
            text = _text(event, ("content", "description"))
        if text is None and selector is None and page is None:
            return False
        acc.click(kind, page, text, selector, when)
        return True

    return handle


_CONTEXT_HANDLERS: Final[dict[str, _ContextHandler]] = {
    "console-error": _context_console,
    "network-error": _context_network,
    "rage-click": _context_click("rage_click"),
    "dead-click": _context_click("dead_click"),
    "error-click": _context_click("error_click"),
    # Not in the documented list, but cheap to accept if Fullstory adds it.
    "exception": _context_exception,
    "uncaught-exception": _context_exception,
}


def digest_context(
    session_id: str, document: Mapping[str, Any], *, max_signals: int = MAX_SIGNALS
) -> SessionDigest:
    """Digest a Generate Context answer (`{"context_data": {...}}` or the `context_data` itself)."""
    inner = document.get("context_data")
    data: Mapping[str, Any] = inner if isinstance(inner, Mapping) else document
    pages = data.get("pages")
    acc = _Accumulator()
    times: list[str] = []
    count = 0
    page_count = 0
    for page in pages if isinstance(pages, list) else ():
        if not isinstance(page, Mapping):
            acc.miss(_MALFORMED)
            continue
        page_count += 1
        page_url = page.get("url") if isinstance(page.get("url"), str) and page.get("url") else None
        events = page.get("events")
        for event in events if isinstance(events, list) else ():
            count += 1
            if not isinstance(event, Mapping):
                acc.miss(_MALFORMED)
                continue
            when = _time_text(event.get("timestamp"))
            if when is not None:
                times.append(when)
            event_type = event.get("type")
            if not isinstance(event_type, str):
                continue
            handler = _CONTEXT_HANDLERS.get(event_type.replace("_", "-"))
            if handler is None:
                continue
            props = event.get("properties")
            if not handler(acc, event, props if isinstance(props, Mapping) else {}, page_url, when):
                acc.miss(event_type, props)
    return acc.freeze(
        session_id,
        "context",
        event_count=count,
        page_count=page_count,
        first_event=min(times, key=_time_key) if times else None,
        last_event=max(times, key=_time_key) if times else None,
        max_signals=max_signals,
    )


def _time_key(value: str) -> str:
    return _iso_out(value) or value
