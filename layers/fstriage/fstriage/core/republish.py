"""Custom events and Streams re-published on EventBridge (pure).

Every accepted `recording.event.custom` delivery and every accepted Stream becomes one EventBridge event
(`Fullstory Custom Event` / `Fullstory Stream Event`, source `fstriage`), investigated or not (which
custom events are investigated is `settings.CustomEventSelection`), so any
downstream can route it with a rule. Its detail is documented in
`fstriage/schemas/republished-event.schema.json`.

Fullstory names a custom event's property types with suffixes (`amount_real`, `items_int`,
`tags_strs`). The detail carries the names without them and the values typed by them. A value that
does not match its suffix (`items_int: "three"`) is kept as sent and listed in `untyped_properties`:
visible, never silently dropped or coerced. Names without a suffix keep their value as sent.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fstriage.core.request import InvestigationRequest
from fstriage.core.session_ids import replay_url

EVENT_SOURCE: Final = "fstriage"  # every event fstriage puts on a bus
DETAIL_SCHEMA_VERSION: Final = 1
CUSTOM_EVENT_DETAIL_TYPE: Final = "Fullstory Custom Event"
STREAM_DETAIL_TYPE: Final = "Fullstory Stream Event"
_NOT_TYPED: Final = object()
# ASCII digits only: `str.isdigit` also takes `²` and `١٢`, which `int()` refuses.
_INTEGER_TEXT: Final = re.compile(r"[+-]?[0-9]{1,30}")
_REAL_TEXT: Final = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")


def _as_str(value: Any) -> Any:
    return value if isinstance(value, str) else _NOT_TYPED


def _as_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _NOT_TYPED
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    return _NOT_TYPED


def _as_real(value: Any) -> Any:
    if isinstance(value, bool):
        return _NOT_TYPED
    try:
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str) and _REAL_TEXT.fullmatch(value.strip()):
            number = float(value.strip())
        else:
            return _NOT_TYPED
    except OverflowError:  # an int too large for a float
        return _NOT_TYPED
    return number if math.isfinite(number) else _NOT_TYPED


def _as_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return _NOT_TYPED


def _as_date(value: Any) -> Any:
    """ISO 8601 text or epoch milliseconds, kept as sent (a consumer knows both forms)."""
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return _NOT_TYPED
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return _NOT_TYPED


_SCALAR_SUFFIXES: Final[Mapping[str, Callable[[Any], Any]]] = {
    "_str": _as_str,
    "_int": _as_int,
    "_real": _as_real,
    "_bool": _as_bool,
    "_date": _as_date,
}


@dataclass(frozen=True, slots=True)
class TypedProperties:
    values: dict[str, Any]
    untyped: list[str]  # dotted paths of values that did not match their suffix, kept as sent


def typed_properties(raw: Mapping[str, Any]) -> TypedProperties:
    untyped: list[str] = []
    return TypedProperties(_typed_object(raw, "", untyped), untyped)


def _typed_object(raw: Mapping[str, Any], prefix: str, untyped: list[str]) -> dict[str, Any]:
    keys = [str(key) for key in raw]
    # `amount_int` with `amount_real`, or `amount_str` with a plain `amount`: each keeps its name as sent.
    names = Counter(_name_of(key)[0] for key in keys)
    typed: dict[str, Any] = {}
    for key, value in zip(keys, raw.values(), strict=True):
        name, convert, plural = _name_of(key)
        shown = name if names[name] == 1 else key
        if convert is None:
            typed[shown] = (
                _typed_object(value, f"{prefix}{shown}.", untyped) if isinstance(value, dict) else value
            )
            continue
        converted = _typed_list(value, convert) if plural else convert(value)
        typed[shown] = value if converted is _NOT_TYPED else converted
        if converted is _NOT_TYPED:
            untyped.append(prefix + shown)
    return typed


def _name_of(key: str) -> tuple[str, Callable[[Any], Any] | None, bool]:
    """(the name without its type suffix, the suffix's converter or None, whether it names a list)."""
    for suffix, convert in _SCALAR_SUFFIXES.items():
        for ending, plural in ((suffix, False), (suffix + "s", True)):
            if key.endswith(ending) and len(key) > len(ending):
                return key[: -len(ending)], convert, plural
    return key, None, False


def _typed_list(value: Any, convert: Callable[[Any], Any]) -> Any:
    if not isinstance(value, list):
        return _NOT_TYPED
    items = [convert(item) for item in value]
    return _NOT_TYPED if any(item is _NOT_TYPED for item in items) else items


@dataclass(frozen=True, slots=True)
class Republished:
    detail_type: str
    detail: dict[str, Any]


def republished(
    request: InvestigationRequest, *, investigated: bool, app_base_url: str
) -> Republished | None:
    """The EventBridge event for a custom event or Stream request; None for any other trigger (and for
    `fstriage investigate`, which re-publishes nothing)."""
    trigger, subject = request.trigger, request.subject
    if trigger.kind == "custom_event" and trigger.source == "system_webhook":
        detail_type = CUSTOM_EVENT_DETAIL_TYPE
    elif trigger.kind == "stream" and trigger.source == "stream":
        detail_type = STREAM_DETAIL_TYPE
    else:
        return None
    properties = typed_properties(trigger.properties)
    session_id = subject.session_ids[0] if subject.session_ids else None
    org_id = request.origin.org_id or None
    return Republished(
        detail_type,
        {
            "schema_version": DETAIL_SCHEMA_VERSION,
            "delivery_id": request.request_id,
            "org_id": org_id,
            "name": trigger.text,
            "properties": properties.values,
            "untyped_properties": properties.untyped,
            "session_id": session_id,
            "user_id": subject.individual_id,
            "device_id": session_id.partition(":")[0] if session_id else None,
            "uid": subject.uid,
            "replay_url": replay_url(app_base_url, org_id, session_id) if org_id and session_id else None,
            "page_url": trigger.page_url,
            "occurred_at": trigger.occurred_at,
            "investigated": investigated,
        },
    )
