"""Reader of segment export rows (PascalCase columns): `rank_export_sessions`, `digest_export_rows`.

Rows are grouped by API session ID (`UserId:SessionId`), so a segment can be ranked and its errors
grouped before any session's events are fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fstriage.core.digest.model import (
    MAX_SIGNALS,
    SIGNAL_KINDS,
    ExportRanking,
    ImpactedSession,
    SessionDigest,
    _Accumulator,
)
from fstriage.core.digest.values import _ERROR_LEVELS, _flag_value, _int_value, _iso_out, _text, _time_text


class _ExportSession:
    __slots__ = ("acc", "count", "email", "first", "last", "pages", "uid")

    def __init__(self) -> None:
        self.acc = _Accumulator()
        self.count = 0
        self.uid: str | None = None
        self.email: str | None = None
        self.first: str | None = None
        self.last: str | None = None
        self.pages: set[str] = set()


def _id_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text or None


def _export_row(acc: _Accumulator, row: Mapping[str, Any], when: str | None) -> None:
    event_type = row.get("EventType")
    if event_type == "console_message":
        subtype = row.get("EventSubType")
        if not isinstance(subtype, str) or not subtype.strip():
            acc.miss("console_message")
        elif subtype.strip().lower() in _ERROR_LEVELS:
            message = _text(row, ("EventTargetText",))
            if message is None or not acc.console(message, _text(row, ("EventWebSourceFileUrl",)), when):
                acc.miss("console_message")
    elif event_type == "exception":
        message = _text(row, ("EventTargetText",))
        if message is None or not acc.exception(
            None, message, _text(row, ("EventWebSourceFileUrl",)), None, when
        ):
            acc.miss("exception")
    elif event_type == "request":
        status = _int_value(row.get("ReqStatus"))
        if status is None:
            acc.miss("request")
        elif status >= 400:
            acc.request(_text(row, ("ReqMethod",)), _text(row, ("ReqUrl",)), status, None, when)
    elif event_type == "click":
        page = _text(row, ("PageUrl",))
        text = _text(row, ("EventTargetText",))
        selector = _text(row, ("EventTargetSelector",))
        # EventModFrustrated is a running count within a rage series; any positive value marks one.
        if _flag_value(row.get("EventModFrustrated"), positive=True):
            acc.click("rage_click", page, text, selector, when)
        if _flag_value(row.get("EventModDead"), positive=False):
            acc.click("dead_click", page, text, selector, when)
        if _flag_value(row.get("EventModError"), positive=False):
            acc.click("error_click", page, text, selector, when)


def _export_sessions(rows: Iterable[Any]) -> tuple[dict[str, _ExportSession], int, int]:
    sessions: dict[str, _ExportSession] = {}
    row_count = 0
    without = 0
    for row in rows:
        row_count += 1
        if not isinstance(row, Mapping):
            without += 1
            continue
        user_id = _id_text(row.get("UserId"))
        fs_session = _id_text(row.get("SessionId"))
        if user_id is None or fs_session is None:
            without += 1
            continue
        session_id = f"{user_id}:{fs_session}"
        state = sessions.get(session_id)
        if state is None:
            state = sessions[session_id] = _ExportSession()
        state.count += 1
        state.uid = state.uid or _text(row, ("UserAppKey",))
        state.email = state.email or _text(row, ("UserEmail",))
        page_id = _id_text(row.get("PageId"))
        if page_id is not None:
            state.pages.add(page_id)
        when = _time_text(row.get("EventStart"))
        if when is not None:
            state.first = when if state.first is None or when < state.first else state.first
            state.last = when if state.last is None or when > state.last else state.last
        _export_row(state.acc, row, when)
    return sessions, row_count, without


def _ranked(sessions: dict[str, _ExportSession]) -> list[tuple[str, _ExportSession, int]]:
    scored = [
        (session_id, state, sum(entry.count for entry in state.acc.entries.values()))
        for session_id, state in sessions.items()
    ]
    scored.sort(key=lambda item: (-item[2], item[0]))
    return scored


def rank_export_sessions(rows: Iterable[Any]) -> ExportRanking:
    """Group export rows by API session ID (`UserId:SessionId`) and rank by error signals."""
    sessions, row_count, without = _export_sessions(rows)
    impacted = []
    for session_id, state, errors in _ranked(sessions):
        counts: dict[str, int] = {}
        for entry in state.acc.entries.values():
            counts[entry.kind] = counts.get(entry.kind, 0) + entry.count
        impacted.append(
            ImpactedSession(
                session_id=session_id,
                uid=state.uid,
                email=state.email,
                error_signal_count=errors,
                counts={kind: counts[kind] for kind in SIGNAL_KINDS if kind in counts},
                unclassified_count=sum(state.acc.unclassified.values()),
                event_count=state.count,
                first_event=_iso_out(state.first),
                last_event=_iso_out(state.last),
            )
        )
    return ExportRanking(sessions=tuple(impacted), row_count=row_count, rows_without_session=without)


def digest_export_rows(rows: Iterable[Any], *, max_signals: int = MAX_SIGNALS) -> list[SessionDigest]:
    """One digest per session of a segment export, in `rank_export_sessions` order.

    This costs no Activation, so it can group errors across a segment before any events are fetched.
    """
    sessions, _, _ = _export_sessions(rows)
    return [
        state.acc.freeze(
            session_id,
            "export",
            event_count=state.count,
            page_count=len(state.pages),
            first_event=state.first,
            last_event=state.last,
            max_signals=max_signals,
        )
        for session_id, state, _ in _ranked(sessions)
    ]
