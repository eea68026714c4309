"""Fullstory custom events -> Harness FME (formerly Split) events (pure: no I/O, clock injected).

The input is the "Fullstory Custom Event" the investigator puts on EventBridge (schema_version 1); the
output is one event of FME's events API (`POST /api/events/bulk`), built as the original
Fullstory-to-Split integration built it:

- `eventTypeId` is the custom event's name. FME's SDKs accept 1-80 characters of `[A-Za-z0-9._:-]`,
  starting with a letter or digit (the SDKs' limits, applied to the bulk API as well). Fullstory names
  rarely fit ("Checkout Failed" has a space), so a name that does not is rewritten, never dropped in
  silence: each run of other characters becomes `_`, and an overlong one is cut and given a hash of
  the full name, so two names never merge. The event then carries the name as sent in
  `fstriage.fullstory_event_name`, and the caller counts the rewrite. A name with nothing left (only
  symbols) cannot be sent and is dropped, counted as `invalid_event_name`.
- `key` is the user's uid, resolved by the caller through `GET /v2/users/{id}`. Which ID that takes is
  not documented: the detail's `user_id` (the individual, `indv` of a replay URL `indv:device!session`)
  or its `device_id` (the `device` of the API session ID `device:session`). `CustomEvent.user_ids`
  gives both, individual first. `trafficTypeName` is a setting (default `user`).
- `value` is `split.value`, nested (`{"split": {"value": 4.5}}`) or flat (`"split.value": 4.5`), when
  it is a finite number; it then leaves the properties. Anything else stays a property.
- `properties` are the rest, flattened with dotted keys (FME takes flat string/number/boolean/null
  values only). A list becomes its JSON text (`["a","b"]`), as the original integration sent lists.
  A flat dotted key beats a nested one that flattens to the same name. Past 300 properties or about
  32 KB per event (measured the way FME's SDKs measure it: the SDKs' limits, applied to the bulk API
  as well), the largest values are left out and `fstriage.properties_dropped` says how many.
- `timestamp` is the event's `occurred_at` in epoch milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from fstriage.core.republish import CUSTOM_EVENT_DETAIL_TYPE, DETAIL_SCHEMA_VERSION, EVENT_SOURCE

# FME's SDKs' limits (the bulk API documents none of its own): applied to the bulk API as well.
EVENT_TYPE_ID: Final = re.compile(r"[a-zA-Z0-9][-_.:a-zA-Z0-9]{0,79}")
MAX_EVENT_TYPE_ID: Final = 80
MAX_KEY_LENGTH: Final = 250
MAX_PROPERTIES: Final = 300
MAX_EVENT_BYTES: Final = 32 * 1024  # the SDKs refuse a larger event
# One bulk POST: FME's SDKs flush at 5 MB; stay well below it.
MAX_BULK_EVENTS: Final = 1000
MAX_BULK_BYTES: Final = 4 * 1024 * 1024

NAME_PROPERTY: Final = "fstriage.fullstory_event_name"
DROPPED_PROPERTY: Final = "fstriage.properties_dropped"
VALUE_PROPERTY: Final = "split.value"
_NAME_PROPERTY_CHARS: Final = 1024

# How FME's SDKs estimate an event's size: a base per event, two bytes per key/string character.
_BASE_EVENT_BYTES: Final = 1024
_NUMBER_BYTES: Final = 8
_BOOLEAN_BYTES: Final = 4
_INVALID_RUN: Final = re.compile(r"[^-_.:a-zA-Z0-9]+")
_EDGE: Final = "-_.:"

Scalar = str | int | float | bool | None
IdForm = Literal["individual", "device"]
DropReason = Literal[
    "no_session", "invalid_user_id", "unknown_user", "anonymous_user", "invalid_event_name", "key_too_long"
]


class Unreadable(ValueError):
    """The message is not a Fullstory Custom Event this code reads; `detail` is ours, never its text."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CustomEvent:
    """The parts of a "Fullstory Custom Event" detail the forwarder uses."""

    delivery_id: str
    name: str
    properties: Mapping[str, Any]
    individual_id: str | None  # the detail's `user_id`: the `indv` of `indv:device!session`
    device_id: str | None  # the `device` of the API session ID `device:session`
    occurred_at: datetime | None

    @property
    def user_ids(self) -> tuple[tuple[IdForm, str], ...]:
        """The IDs to try on `GET /v2/users/{id}`, in order: the individual's, then the device's."""
        ids: list[tuple[IdForm, str]] = []
        if self.individual_id:
            ids.append(("individual", self.individual_id))
        if self.device_id and self.device_id != self.individual_id:
            ids.append(("device", self.device_id))
        return tuple(ids)


def read_event(envelope: Any) -> CustomEvent:
    """An EventBridge event (the SQS body, parsed) -> its custom event, or `Unreadable`."""
    if not isinstance(envelope, dict):
        raise Unreadable("not a JSON object")
    if envelope.get("source") != EVENT_SOURCE or envelope.get("detail-type") != CUSTOM_EVENT_DETAIL_TYPE:
        raise Unreadable("not a Fullstory Custom Event")
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        raise Unreadable("no detail object")
    if detail.get("schema_version") != DETAIL_SCHEMA_VERSION:
        raise Unreadable("unsupported schema_version")
    delivery_id, name = detail.get("delivery_id"), detail.get("name")
    if not isinstance(delivery_id, str) or not delivery_id:
        raise Unreadable("no delivery_id")
    if not isinstance(name, str):
        raise Unreadable("no event name")
    properties = detail.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise Unreadable("properties is not an object")
    occurred = _parse_time(detail.get("occurred_at")) or _parse_time(envelope.get("time"))
    individual, device = _text(detail.get("user_id")), _text(detail.get("device_id"))
    if "device_id" not in detail:
        # A detail from before `device_id` existed: its `user_id` was the session's device part.
        individual, device = None, individual
    return CustomEvent(
        delivery_id=delivery_id,
        name=name,
        properties=properties,
        individual_id=individual,
        device_id=device or _session_device(detail.get("session_id")),
        occurred_at=occurred,
    )


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _session_device(session: Any) -> str | None:
    if isinstance(session, str) and ":" in session:
        return session.split(":", 1)[0].strip() or None
    return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# The mapping


def event_type_id(name: str) -> tuple[str | None, bool]:
    """(FME's event type ID for `name`, whether it had to be rewritten); None when nothing is left."""
    if EVENT_TYPE_ID.fullmatch(name):
        return name, False
    cleaned = _INVALID_RUN.sub("_", name).strip(_EDGE)
    if not cleaned:
        return None, True
    if len(cleaned) > MAX_EVENT_TYPE_ID:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = cleaned[: MAX_EVENT_TYPE_ID - len(digest) - 1].rstrip(_EDGE) + "_" + digest
    return cleaned, True


def flatten(properties: Mapping[str, Any]) -> dict[str, Scalar]:
    """Nested objects -> dotted keys; lists -> their JSON text. A literal dotted key wins a collision."""
    nested: dict[str, Scalar] = {}
    literal: dict[str, Scalar] = {}
    for key, value in properties.items():
        if isinstance(value, dict) and value:
            _walk(f"{key}.", value, nested)
        else:
            literal[str(key)] = _scalar(value)
    return nested | literal


def _walk(prefix: str, value: Mapping[str, Any], into: dict[str, Scalar]) -> None:
    for key, item in value.items():
        if isinstance(item, dict) and item:
            _walk(f"{prefix}{key}.", item, into)
        else:
            into.setdefault(f"{prefix}{key}", _scalar(item))


def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    # Lists (and an empty object) as compact JSON text: flat, and still readable in FME.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _number(value: Scalar) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class FmeEvent:
    """One event for FME's events API, and what had to change to make it one."""

    body: dict[str, Any]
    renamed: bool = False
    properties_dropped: int = 0

    @property
    def event_type_id(self) -> str:
        return str(self.body["eventTypeId"])


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: DropReason


def to_fme_event(event: CustomEvent, *, key: str, traffic_type: str) -> FmeEvent | Dropped:
    if not key or len(key) > MAX_KEY_LENGTH:
        return Dropped("key_too_long")
    type_id, renamed = event_type_id(event.name)
    if type_id is None:
        return Dropped("invalid_event_name")
    properties = flatten(event.properties)
    value = _number(properties.get(VALUE_PROPERTY))
    if value is not None:
        del properties[VALUE_PROPERTY]
    if renamed:
        properties[NAME_PROPERTY] = event.name[:_NAME_PROPERTY_CHARS]
    properties, dropped = _within_limits(properties)
    body: dict[str, Any] = {"eventTypeId": type_id, "trafficTypeName": traffic_type, "key": key}
    if event.occurred_at is not None:
        body["timestamp"] = int(event.occurred_at.timestamp() * 1000)
    if value is not None:
        body["value"] = value
    body["properties"] = properties
    return FmeEvent(body, renamed=renamed, properties_dropped=dropped)


def estimated_size(properties: Mapping[str, Scalar]) -> int:
    """An event's size as FME's SDKs estimate it (what their 32 KB limit is measured in; the bulk API
    states no limit of its own, so the SDKs' is applied to it as well)."""
    return _BASE_EVENT_BYTES + sum(_property_size(key, value) for key, value in properties.items())


def _property_size(key: str, value: Scalar) -> int:
    size = len(key) * 2
    if isinstance(value, bool):
        return size + _BOOLEAN_BYTES
    if isinstance(value, int | float):
        return size + _NUMBER_BYTES
    if isinstance(value, str):
        return size + len(value) * 2
    return size


def _within_limits(properties: dict[str, Scalar]) -> tuple[dict[str, Scalar], int]:
    """Leave out the largest values until the SDKs' limits hold; the marker counts what was left out."""
    kept = dict(properties)
    marker_size = _property_size(DROPPED_PROPERTY, 0)
    dropped = 0
    by_size = sorted(kept, key=lambda k: (-_property_size(k, kept[k]), k))
    for key in by_size:
        fits = len(kept) + (1 if dropped else 0) <= MAX_PROPERTIES and (
            estimated_size(kept) + (marker_size if dropped else 0) <= MAX_EVENT_BYTES
        )
        if fits:
            break
        if key == NAME_PROPERTY:
            continue  # the rewrite must stay visible
        del kept[key]
        dropped += 1
    if dropped:
        kept[DROPPED_PROPERTY] = dropped
    return kept, dropped


def bulks(
    events: list[dict[str, Any]], *, max_events: int = MAX_BULK_EVENTS, max_bytes: int = MAX_BULK_BYTES
) -> list[list[int]]:
    """Indexes of `events` grouped into bulk POSTs within our count and size caps, in order."""
    groups: list[list[int]] = []
    current: list[int] = []
    size = 2  # the brackets
    for index, event in enumerate(events):
        event_size = len(json.dumps(event, separators=(",", ":")).encode()) + 1
        if current and (len(current) >= max_events or size + event_size > max_bytes):
            groups.append(current)
            current, size = [], 2
        current.append(index)
        size += event_size
    if current:
        groups.append(current)
    return groups


# ---------------------------------------------------------------------------------------------
# A per-container cache


@dataclass
class TtlLru[V]:
    """At most `size` entries, each for `ttl` seconds (or its own, given to `put`), least recently used
    first out. Thread-safe; the clock is injected."""

    size: int
    ttl: float
    clock: Callable[[], float] = time.monotonic
    _items: OrderedDict[str, tuple[float, V]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, key: str) -> tuple[bool, V | None]:
        """(found, value): a miss is (False, None); a cached None is (True, None)."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return False, None
            expires, value = found
            if expires <= self.clock():
                del self._items[key]
                return False, None
            self._items.move_to_end(key)
            return True, value

    def put(self, key: str, value: V, ttl: float | None = None) -> None:
        with self._lock:
            self._items[key] = (self.clock() + (self.ttl if ttl is None else ttl), value)
            self._items.move_to_end(key)
            while len(self._items) > max(1, self.size):
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
