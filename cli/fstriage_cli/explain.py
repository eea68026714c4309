"""`fstriage explain`: what the digest made of one session's raw events, event type by event type.

It runs the library's own `digest_events` twice: once over the whole session (the signals and error
groups a report would show) and once per event, to say which signal kinds each event was read as,
which events were read and were not errors, and which could not be read. Unreadable events are
described by their property key names only, never by their values, so the output can be shared.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fstriage.core.digest import ErrorGroup, SessionDigest, digest_events, group_errors

# The event types the digest reads for errors; the others (navigate, identify, ...) are not examined.
ERROR_BEARING_TYPES: Final = ("console_message", "exception", "request", "click")
MALFORMED: Final = "malformed"  # the digest's name for an event that is not an object
NO_TYPE: Final = "(no type)"
# Distinct key sets listed per event type; the rest are counted together.
MAX_KEY_SETS: Final = 10
WRAP_WIDTH: Final = 100


@dataclass(frozen=True, slots=True)
class KeySet:
    keys: tuple[str, ...]
    events: int

    def to_dict(self) -> dict[str, Any]:
        return {"keys": list(self.keys), "events": self.events}


@dataclass(frozen=True, slots=True)
class TypeBreakdown:
    """One event type: how its events were read."""

    event_type: str
    events: int
    examined: bool  # the digest reads this type for errors
    # Signal kind -> events read as it (a click can be both a rage and a dead click).
    signals: dict[str, int]
    not_errors: int  # read, and not an error (a quiet console level, a 200, a plain click)
    unread: int
    unread_key_sets: tuple[KeySet, ...]
    other_key_sets: int = 0  # unread events whose key sets are beyond MAX_KEY_SETS

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "examined": self.examined,
            "signals": dict(self.signals),
            "not_errors": self.not_errors,
            "unread": self.unread,
            "unread_key_sets": [key_set.to_dict() for key_set in self.unread_key_sets],
            "unread_in_other_key_sets": self.other_key_sets,
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    session_id: str
    digest: SessionDigest
    types: tuple[TypeBreakdown, ...]
    groups: tuple[ErrorGroup, ...]

    @property
    def unread(self) -> int:
        return sum(breakdown.unread for breakdown in self.types)

    def to_dict(self) -> dict[str, Any]:
        digest = self.digest
        return {
            "session_id": self.session_id,
            "event_count": digest.event_count,
            "page_count": digest.page_count,
            "first_event": digest.first_event,
            "last_event": digest.last_event,
            "event_types": {breakdown.event_type: breakdown.to_dict() for breakdown in self.types},
            "unread": {
                "count": self.unread,
                "by_type": {
                    kind: {"count": count, "keys": list(digest.unread_keys.get(kind, ()))}
                    for kind, count in digest.unclassified.items()
                },
            },
            "signals": [signal.to_dict() for signal in digest.signals],
            "overflow_signals": digest.overflow_signals,
            "error_groups": [group.to_dict() for group in self.groups],
        }


class _Tally:
    __slots__ = ("events", "key_sets", "not_errors", "signals", "unread")

    def __init__(self) -> None:
        self.events = 0
        self.signals: dict[str, int] = {}
        self.not_errors = 0
        self.unread = 0
        self.key_sets: dict[tuple[str, ...], int] = {}


def explain_events(session_id: str, events: Sequence[Any]) -> Explanation:
    """The whole-session digest and its error groups, plus a per-event-type account of the reading."""
    digest = digest_events(session_id, events)
    tallies: dict[str, _Tally] = {}
    for event in events:
        event_type = _type_of(event)
        tally = tallies.setdefault(event_type, _Tally())
        tally.events += 1
        # One event alone: the digest's readers look at nothing but the event itself.
        alone = digest_events(session_id, [event])
        if alone.unclassified:
            tally.unread += 1
            keys = next(iter(alone.unread_keys.values()), ())
            tally.key_sets[keys] = tally.key_sets.get(keys, 0) + 1
            continue
        kinds = {signal.kind for signal in alone.signals}
        for kind in sorted(kinds):
            tally.signals[kind] = tally.signals.get(kind, 0) + 1
        if not kinds and event_type in ERROR_BEARING_TYPES:
            tally.not_errors += 1
    types = tuple(_breakdown(event_type, tally) for event_type, tally in _ordered(tallies))
    return Explanation(
        session_id=session_id, digest=digest, types=types, groups=tuple(group_errors([digest]))
    )


def _type_of(event: Any) -> str:
    if not isinstance(event, Mapping):
        return MALFORMED
    kind = event.get("event_type")
    return kind if isinstance(kind, str) and kind else NO_TYPE


def _ordered(tallies: Mapping[str, _Tally]) -> Iterable[tuple[str, _Tally]]:
    """Error-bearing types first (in the digest's order), then the rest by count."""
    bearing = [(kind, tallies[kind]) for kind in ERROR_BEARING_TYPES if kind in tallies]
    rest = sorted(
        ((kind, tally) for kind, tally in tallies.items() if kind not in ERROR_BEARING_TYPES),
        key=lambda item: (-item[1].events, item[0]),
    )
    return [*bearing, *rest]


def _breakdown(event_type: str, tally: _Tally) -> TypeBreakdown:
    ranked = sorted(tally.key_sets.items(), key=lambda item: (-item[1], item[0]))
    shown = ranked[:MAX_KEY_SETS]
    return TypeBreakdown(
        event_type=event_type,
        events=tally.events,
        examined=event_type in ERROR_BEARING_TYPES or event_type == MALFORMED,
        signals=dict(sorted(tally.signals.items())),
        not_errors=tally.not_errors,
        unread=tally.unread,
        unread_key_sets=tuple(KeySet(keys, count) for keys, count in shown),
        other_key_sets=sum(count for _, count in ranked[MAX_KEY_SETS:]),
    )


def render_text(explanation: Explanation) -> list[str]:
    """The human view: one block per event type, then the signals and the error groups."""
    digest = explanation.digest
    lines = [
        f"Session {explanation.session_id}: {digest.event_count} events on {digest.page_count} pages "
        f"({digest.first_event or '?'} .. {digest.last_event or '?'})",
        "",
        "What the digest read, per event type:",
    ]
    for breakdown in explanation.types:
        lines.append(f"  {breakdown.event_type} x{breakdown.events}")
        if not breakdown.examined:
            lines.append("      not read for errors")
            continue
        for kind, count in breakdown.signals.items():
            lines.append(f"      read as {kind}: {count}")
        if breakdown.not_errors:
            lines.append(f"      read, not an error: {breakdown.not_errors}")
        if breakdown.unread:
            lines.append(f"      COULD NOT BE READ: {breakdown.unread}, with these property keys:")
            for key_set in breakdown.unread_key_sets:
                keys = ", ".join(key_set.keys) or "(no keys)"
                lines.append(f"        x{key_set.events}  {keys}")
            if breakdown.other_key_sets:
                lines.append(f"        x{breakdown.other_key_sets}  (other key sets)")
    if not explanation.types:
        lines.append("  (the session has no events)")
    lines += ["", f"Error groups a report would show ({len(explanation.groups)}):"]
    for group in explanation.groups:
        lines.append(f"  {group.kind:<14} x{group.count:<4} {group.signature}")
    if digest.overflow_signals:
        lines.append(f"  ... and {digest.overflow_signals} more signals beyond the digest's cap")
    if not explanation.groups:
        lines.append("  none")
    if explanation.unread:
        lines.append("")
        lines += textwrap.wrap(
            f"{explanation.unread} events of error-bearing types could not be read, so errors among them "
            "are missing from reports. Only property key names are shown above, never values: share "
            "them in an fstriage issue so the digest learns them.",
            WRAP_WIDTH,
        )
    return lines
