"""The digest's data model: the public shapes every reader returns (`Signal`, `SessionDigest`,
`ErrorGroup`, `ImpactedSession`, `ExportRanking`) and the accumulator the readers share.

The accumulator keeps mutable per-signal state while one session is read, normalises each distinct
raw value once (a cache keyed by the raw fields), counts unreadable events with their property key
names (never values), and freezes into a bounded `SessionDigest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from fstriage.core.digest.text import (
    _example,
    _key_label,
    _source_text,
    _strip_query,
    normalise_message,
    normalise_path,
    normalise_target,
)
from fstriage.core.digest.values import _iso_out

SignalKind = Literal["console_error", "exception", "network_error", "rage_click", "dead_click", "error_click"]
SIGNAL_KINDS: Final[tuple[str, ...]] = get_args(SignalKind)
DigestSource = Literal["events", "context", "export"]

MAX_SIGNALS: Final = 200

# The event-type bucket for input that is not even an object.
_MALFORMED: Final = "malformed"

# Bounds the unread key names kept per event type, and the keys read from one property object.
MAX_UNREAD_KEYS: Final = 20
_MAX_FLAT_KEYS: Final = 64


# --- public shapes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    """One kind of trouble in one session, with how often it happened.

    Fields beyond the first six are set per kind: `message`/`source` for console errors and
    exceptions, `method`/`path`/`status` for network errors, `page`/`target` for clicks.
    """

    kind: SignalKind
    signature: str
    count: int
    first_seen: str | None
    last_seen: str | None
    example: str
    message: str | None = None
    source: str | None = None
    method: str | None = None
    path: str | None = None
    # None for a request that failed without an HTTP status (network error, abort, CORS).
    status: int | None = None
    page: str | None = None
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "signature": self.signature,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "example": self.example,
            "message": self.message,
            "source": self.source,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "page": self.page,
            "target": self.target,
        }


@dataclass(frozen=True, slots=True)
class SessionDigest:
    """What one session's events say, bounded: at most `max_signals` signals, the rest in overflow."""

    session_id: str
    source: DigestSource
    signals: tuple[Signal, ...]
    # Error-bearing events whose fields could not be read, per event type.
    unclassified: dict[str, int]
    event_count: int
    # Occurrences across all signals, overflow included.
    error_signal_count: int
    page_count: int
    first_event: str | None
    last_event: str | None
    # Distinct signals beyond the cap, and how many occurrences they had.
    overflow_signals: int = 0
    overflow_count: int = 0
    # Per type in `unclassified`: the property key names seen (sorted, bounded; never values).
    # Nested keys read `parent.child`; properties that are not an object read `(list)`, `(none)`...
    unread_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "source": self.source,
            "signals": [signal.to_dict() for signal in self.signals],
            "unclassified": dict(self.unclassified),
            "unread_keys": {kind: list(keys) for kind, keys in self.unread_keys.items()},
            "event_count": self.event_count,
            "error_signal_count": self.error_signal_count,
            "page_count": self.page_count,
            "first_event": self.first_event,
            "last_event": self.last_event,
            "overflow_signals": self.overflow_signals,
            "overflow_count": self.overflow_count,
        }


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """One normalised signature across sessions."""

    kind: SignalKind
    signature: str
    count: int
    sessions: tuple[str, ...]
    first_seen: str | None
    last_seen: str | None
    example: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "signature": self.signature,
            "count": self.count,
            "sessions": list(self.sessions),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "example": self.example,
        }


@dataclass(frozen=True, slots=True)
class ImpactedSession:
    """One session of a segment export, with its error signal counts."""

    session_id: str
    uid: str | None
    email: str | None
    error_signal_count: int
    # Occurrences per signal kind; only kinds that occurred.
    counts: dict[str, int]
    unclassified_count: int
    event_count: int
    first_event: str | None
    last_event: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "uid": self.uid,
            "email": self.email,
            "error_signal_count": self.error_signal_count,
            "counts": dict(self.counts),
            "unclassified_count": self.unclassified_count,
            "event_count": self.event_count,
            "first_event": self.first_event,
            "last_event": self.last_event,
        }


@dataclass(frozen=True, slots=True)
class ExportRanking:
    """Sessions of a segment export, most error signals first (ties: session ID ascending)."""

    sessions: tuple[ImpactedSession, ...]
    row_count: int
    # Rows with no UserId or SessionId: counted so a report can say so.
    rows_without_session: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessions": [session.to_dict() for session in self.sessions],
            "row_count": self.row_count,
            "rows_without_session": self.rows_without_session,
        }


# --- accumulation -------------------------------------------------------------------------------


def _key_names(props: Any) -> list[str]:
    """The key names of unreadable properties (one level of nesting as `parent.child`), never values."""
    if not isinstance(props, Mapping):
        return ["(none)" if props is None else f"({type(props).__name__})"]
    names: list[str] = []
    for index, (key, value) in enumerate(props.items()):
        if index >= _MAX_FLAT_KEYS:
            break
        name = str(key)
        if isinstance(value, Mapping) and value:
            names += [f"{name}.{inner}" for inner in list(value)[:_MAX_FLAT_KEYS]]
        else:
            names.append(name)
    return names


# `miss` without properties (a malformed event, an export row): no key names to record.
_NO_PROPS: Final = object()


class _Entry:
    """Mutable per-signal state while a session is digested; frozen into a Signal at the end."""

    __slots__ = ("count", "fields", "first", "kind", "last", "signature")

    def __init__(self, kind: SignalKind, signature: str, when: str | None, fields: dict[str, Any]) -> None:
        self.kind: SignalKind = kind
        self.signature = signature
        self.count = 1
        self.first = when
        self.last = when
        self.fields = fields

    def hit(self, when: str | None) -> None:
        self.count += 1
        if when is not None:
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when


class _Accumulator:
    """Signals of one session, keyed by signature, with per-call normalisation caches."""

    __slots__ = ("entries", "keys", "unclassified", "unread_keys")

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        # Raw field tuple -> signature, so a repeated raw value is normalised once.
        self.keys: dict[tuple[Any, ...], str] = {}
        self.unclassified: dict[str, int] = {}
        self.unread_keys: dict[str, set[str]] = {}

    def miss(self, event_type: str, props: Any = _NO_PROPS) -> None:
        """Count an unreadable event; `props` (its properties) adds the key names seen, bounded."""
        self.unclassified[event_type] = self.unclassified.get(event_type, 0) + 1
        if props is _NO_PROPS:
            return
        seen = self.unread_keys.setdefault(event_type, set())
        if len(seen) >= MAX_UNREAD_KEYS:
            return
        for name in _key_names(props):
            seen.add(_key_label(name))
            if len(seen) >= MAX_UNREAD_KEYS:
                break

    def _hit(self, key: tuple[Any, ...], when: str | None) -> bool:
        signature = self.keys.get(key)
        if signature is None:
            return False
        self.entries[signature].hit(when)
        return True

    def _add(
        self, key: tuple[Any, ...], kind: SignalKind, text: str, when: str | None, **fields: Any
    ) -> None:
        signature = f"{kind}: {text}"
        self.keys[key] = signature
        entry = self.entries.get(signature)
        if entry is None:
            self.entries[signature] = _Entry(kind, signature, when, fields)
        else:
            entry.hit(when)

    def console(self, message: str, source: str | None, when: str | None) -> bool:
        key = ("console_error", message)
        if self._hit(key, when):
            return True
        text = normalise_message(message)
        if not text:
            return False
        self._add(
            key,
            "console_error",
            text,
            when,
            message=text,
            source=_source_text(source, None),
            example=_example(message),
        )
        return True

    def exception(
        self, name: str | None, message: str | None, source: str | None, line: Any, when: str | None
    ) -> bool:
        key = ("exception", name, message)
        if self._hit(key, when):
            return True
        name = name.strip() if name else None
        full = message.strip() if message else ""
        if name and not full.startswith(name):
            full = f"{name}: {full}" if full else name
        text = normalise_message(full)
        if not text:
            return False
        where = _source_text(source, line)
        example = f"{full} @ {where}" if where else full
        self._add(key, "exception", text, when, message=text, source=where, example=_example(example))
        return True

    def request(
        self,
        method: str | None,
        url: str | None,
        status: int | None,
        failure: str | None,
        when: str | None,
        *,
        duration: Any = None,
    ) -> None:
        # The query never reaches the signature, and often carries a unique token: key without it.
        url = url.partition("?")[0] if url else url
        key = ("network_error", method, url, status)
        if self._hit(key, when):
            return
        verb = method.strip().upper() if method else None
        path = normalise_path(url) if url else "{unknown}"
        outcome = str(status) if status else "failed"
        text = " ".join(part for part in (verb, path, outcome) if part)
        seen = _strip_query(url.strip()) if url else "(no URL)"
        detail = failure if failure and failure != "failed" else outcome
        took = (
            f"({duration:g} ms)"
            if isinstance(duration, int | float) and not isinstance(duration, bool)
            else None
        )
        example = _example(" ".join(part for part in (verb, seen, "->", detail, took) if part))
        self._add(
            key, "network_error", text, when, method=verb, path=path, status=status or None, example=example
        )

    def request_text(self, description: str, when: str | None) -> bool:
        """A network error known only by a free-text description (Generate Context)."""
        key = ("network_error_text", description)
        if self._hit(key, when):
            return True
        text = normalise_message(description)
        if not text:
            return False
        self._add(key, "network_error", text, when, example=_example(description))
        return True

    def click(
        self, kind: SignalKind, page: str | None, text: str | None, selector: str | None, when: str | None
    ) -> None:
        page = page.partition("?")[0] if page else page
        key = (kind, page, text, selector)
        if self._hit(key, when):
            return
        page_path = normalise_path(page) if page else "{unknown page}"
        label = text if text and text.strip() else selector
        target = normalise_target(label) if label else "{unknown target}"
        seen = " ".join(part for part in (text, f"[{selector}]" if selector else None) if part)
        example = _example(f"{seen or '(no target)'} on {_strip_query(page) if page else '(no page)'}")
        self._add(
            key, kind, f'"{target}" on {page_path}', when, page=page_path, target=target, example=example
        )

    def freeze(
        self,
        session_id: str,
        source: DigestSource,
        *,
        event_count: int,
        page_count: int,
        first_event: str | None,
        last_event: str | None,
        max_signals: int,
    ) -> SessionDigest:
        ranked = sorted(
            self.entries.values(), key=lambda entry: (-entry.count, entry.first or "", entry.signature)
        )
        kept, rest = ranked[:max_signals], ranked[max_signals:]
        signals = tuple(_signal(entry) for entry in kept)
        return SessionDigest(
            session_id=session_id,
            source=source,
            signals=signals,
            unclassified=dict(sorted(self.unclassified.items())),
            unread_keys={kind: tuple(sorted(keys)) for kind, keys in sorted(self.unread_keys.items())},
            event_count=event_count,
            error_signal_count=sum(entry.count for entry in ranked),
            page_count=page_count,
            first_event=_iso_out(first_event),
            last_event=_iso_out(last_event),
            overflow_signals=len(rest),
            overflow_count=sum(entry.count for entry in rest),
        )


def _signal(entry: _Entry) -> Signal:
    fields = entry.fields
    return Signal(
        kind=entry.kind,
        signature=entry.signature,
        count=entry.count,
        first_seen=_iso_out(entry.first),
        last_seen=_iso_out(entry.last),
        example=fields["example"],
        message=fields.get("message"),
        source=fields.get("source"),
        method=fields.get("method"),
        path=fields.get("path"),
        status=fields.get("status"),
        page=fields.get("page"),
        target=fields.get("target"),
    )
