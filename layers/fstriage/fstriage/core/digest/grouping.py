"""Cross-session grouping: signals with the same signature, merged into `ErrorGroup`s."""

from __future__ import annotations

from collections.abc import Iterable

from fstriage.core.digest.model import ErrorGroup, SessionDigest, Signal


def group_errors(digests: Iterable[SessionDigest], *, limit: int | None = None) -> list[ErrorGroup]:
    """Merge signals with the same signature across sessions.

    Sorted by sessions affected, then occurrences (then kind and signature, for a stable order).
    The example is the earliest-seen one. Overflowed signals stay counted in their digest only.
    """
    merged: dict[str, tuple[Signal, int, set[str], str | None, str | None]] = {}
    for digest in digests:
        for signal in digest.signals:
            current = merged.get(signal.signature)
            if current is None:
                merged[signal.signature] = (
                    signal,
                    signal.count,
                    {digest.session_id},
                    signal.first_seen,
                    signal.last_seen,
                )
                continue
            earliest, count, sessions, first, last = current
            sessions.add(digest.session_id)
            if signal.first_seen is not None and (first is None or signal.first_seen < first):
                first, earliest = signal.first_seen, signal
            if signal.last_seen is not None and (last is None or signal.last_seen > last):
                last = signal.last_seen
            merged[signal.signature] = (earliest, count + signal.count, sessions, first, last)
    groups = [
        ErrorGroup(
            kind=earliest.kind,
            signature=signature,
            count=count,
            sessions=tuple(sorted(sessions)),
            first_seen=first,
            last_seen=last,
            example=earliest.example,
        )
        for signature, (earliest, count, sessions, first, last) in merged.items()
    ]
    groups.sort(key=lambda group: (-len(group.sessions), -group.count, group.kind, group.signature))
    return groups if limit is None else groups[:limit]
