"""The same raw events in another `event_properties` convention, to test the digest against each.

Fullstory does not document the raw keys, so the sandbox can answer `GET /v2/sessions/{id}/events`
in any of these (`faults.update(event_convention="warehouse")`, or `render(events, convention)`):
- `current`: the sandbox's own keys (see `data`), unchanged;
- `warehouse`: the column names of Fullstory's warehouse views, flat: clicks carry `fs_rage_count`
  and `fs_dead_count` (counts), `fs_error_kind` (`unknown | console | exception`, None when no
  error followed), `is_click_unhandled`, `is_click_long`, `target_text`, `target_raw_selector`;
  exceptions `message` (`Name: message`), `exception_source_file`, `is_exception_handled`,
  `exception_count`; console `message`, `console_message_level`; requests `request_status`,
  `request_method`, `request_duration_millis`, `request_url_full_url`;
- `camel_nested`: the same facts, camelCase and nested (`request: {status, url: {fullUrl}}`,
  `console: {message, messageLevel}`, `fsRageCount`, `target: {text, rawSelector}`);
- `unknown`: every property key of the four error-bearing types prefixed with `zz_`, so nobody
  reads them (the digest must report them as unreadable, not as "no errors").

Only `console_message`, `exception`, `request` and `click` change; `identify`, `navigate` and the
others keep their keys (documented, or not read for errors). Properties that are not an object (the
sandbox's unreadable forms) or lack the facts of their type are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

EVENT_CONVENTIONS = ("current", "warehouse", "camel_nested", "unknown")
# Per error-bearing type, a key every readable event of the sandbox's own convention has.
_FACT_KEYS = {
    "console_message": "message",
    "exception": "message",
    "request": "status_code",
    "click": "target",
}
_ERROR_BEARING = frozenset(_FACT_KEYS)
# How many events after an error click are looked at to tell which error followed it.
_ERROR_LOOKAHEAD = 6


def render(events: Iterable[dict[str, Any]], convention: str) -> list[dict[str, Any]]:
    """Copies of `events` with the error-bearing types' properties in `convention`."""
    if convention not in EVENT_CONVENTIONS:
        raise ValueError(f"event_convention must be one of {EVENT_CONVENTIONS}")
    listed = list(events)
    if convention == "current":
        return listed
    rendered = []
    burst = 0  # clicks in a row on one target, for `fs_rage_count`
    previous_target: Any = None
    for index, event in enumerate(listed):
        props = event.get("event_properties")
        kind = event.get("event_type")
        if kind == "click" and isinstance(props, dict):
            target = props.get("target")
            burst = burst + 1 if target == previous_target else 1
            previous_target = target
        if kind not in _ERROR_BEARING or not isinstance(props, dict) or _FACT_KEYS[kind] not in props:
            rendered.append(event)  # not error-bearing, or one of the sandbox's unreadable forms
            continue
        if convention == "unknown":
            changed = {f"zz_{key}": value for key, value in props.items()}
        elif convention == "warehouse":
            changed = _warehouse(kind, props, burst, listed[index + 1 : index + 1 + _ERROR_LOOKAHEAD])
        else:
            changed = _camel_nested(
                _warehouse(kind, props, burst, listed[index + 1 : index + 1 + _ERROR_LOOKAHEAD])
            )
        rendered.append({**event, "event_properties": changed})
    return rendered


def _error_kind(following: list[dict[str, Any]]) -> str:
    for event in following:
        if event.get("event_type") == "exception":
            return "exception"
        if event.get("event_type") == "console_message":
            return "console"
    return "unknown"


def _exception_message(props: dict[str, Any]) -> Any:
    name, message = props.get("name"), props.get("message")
    if isinstance(name, str) and isinstance(message, str) and not message.startswith(name):
        return f"{name}: {message}"
    return message


def _warehouse(
    kind: Any, props: dict[str, Any], burst: int, following: list[dict[str, Any]]
) -> dict[str, Any]:
    if kind == "console_message":
        return {"message": props.get("message"), "console_message_level": props.get("level")}
    if kind == "exception":
        return {
            "message": _exception_message(props),
            "exception_source_file": props.get("source_url"),
            "is_exception_handled": False,
            "exception_count": 1,
        }
    if kind == "request":
        return {
            "request_method": props.get("method"),
            "request_url_full_url": props.get("url"),
            "request_status": props.get("status_code"),
            "request_duration_millis": props.get("duration_ms"),
        }
    target = props.get("target")
    target = target if isinstance(target, dict) else {}
    dead = bool(props.get("is_dead_click"))
    return {
        "target_text": target.get("text"),
        "target_raw_selector": target.get("raw_selector"),
        # A count, not a flag: the clicks of the burst so far on the click that completes it.
        "fs_rage_count": burst if props.get("is_rage_click") else 0,
        "fs_dead_count": 1 if dead else 0,
        "fs_error_kind": _error_kind(following) if props.get("is_error_click") else None,
        "is_click_unhandled": dead,
        "is_click_long": False,
    }


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# Warehouse column -> nested path, camelCase.
_NESTED: dict[str, tuple[str, ...]] = {
    "message": ("message",),
    "console_message_level": ("console", "messageLevel"),
    "exception_source_file": ("exception", "sourceFile"),
    "is_exception_handled": ("exception", "isHandled"),
    "exception_count": ("exception", "count"),
    "request_method": ("request", "method"),
    "request_url_full_url": ("request", "url", "fullUrl"),
    "request_status": ("request", "status"),
    "request_duration_millis": ("request", "durationMillis"),
    "target_text": ("target", "text"),
    "target_raw_selector": ("target", "rawSelector"),
}


def _camel_nested(warehouse: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    console = "console_message_level" in warehouse
    for key, value in warehouse.items():
        path = _NESTED.get(key, (_camel(key),))
        if key == "message":
            # The message sits with the console or exception facts it belongs to.
            path = ("console", "message") if console else ("exception", "message")
        into = nested
        for part in path[:-1]:
            into = into.setdefault(part, {})
        into[path[-1]] = value
    return nested
