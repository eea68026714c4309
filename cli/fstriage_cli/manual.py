"""`fstriage investigate`: the investigator Lambda's own `Investigation`, driven from a terminal.

It builds the `manual` (or segment) request the CLI stands for, resolves a segment named on the command
line, counts what is read on a status line, and sleeps where the Lambda would re-queue.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from fstriage.adapters.fullstory import FullstoryClient
from fstriage.core.fullstory_models import FullstoryUsage, Operation, Segment, SessionRef, Summary
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings, Requeue
from fstriage.core.redact import mask_email
from fstriage.core.report import build_report
from fstriage.core.request import (
    Alert,
    InvestigationRequest,
    Origin,
    Subject,
    Trigger,
    Window,
    build_request,
    isoformat,
    parse_isoformat,
)
from fstriage_cli.progress import Progress
from fstriage_cli.wording import CliError, plural, session_id


def manual_request(
    *,
    org_id: str,
    session_ids: Sequence[str] = (),
    uid: str | None = None,
    email: str | None = None,
    window_hours: float = 24,
    now: datetime,
    note: str | None = None,
) -> InvestigationRequest:
    """A `manual` request from the `cli`, its window ending `now`, built by the library's `build_request`."""
    subject = Subject(session_ids=tuple(session_id(value) for value in session_ids), uid=uid, email=email)
    if subject.is_empty:
        raise CliError("nothing to investigate: pass --session, --email or --uid")
    received = isoformat(now)
    trigger = Trigger(
        kind="manual",
        source="cli",
        event_name="manual",
        event_id=None,
        occurred_at=received,
        text=note,
    )
    return _cli_request(
        org_id, trigger, subject, now, window_hours, identity=[list(subject.session_ids), uid, email]
    )


def _cli_request(
    org_id: str,
    trigger: Trigger,
    subject: Subject,
    now: datetime,
    window_hours: float,
    *,
    identity: list[Any],
) -> InvestigationRequest:
    """A `cli` request, its window ending `now`, built by the library's `build_request`; `identity`
    (with the org and the time) makes its delivery key."""
    received = isoformat(now)
    window = Window(start=isoformat(now - timedelta(hours=window_hours)), end=received)
    key = json.dumps([org_id, received, *identity])
    origin = Origin(
        org_id=org_id,
        delivery_key="cli:" + hashlib.sha256(key.encode()).hexdigest(),
        received_at=received,
        signed_at=None,
    )
    return build_request(trigger=trigger, subject=subject, window=window, origin=origin)


# A segment named on the command line: its ID, its URL (`.../segments/<id>`), or its name.
_SEGMENT_IN_URL = re.compile(r"/segments/([^/?#\s]+)")
MAX_CANDIDATES: Final = 10


def segment_id_in(value: str) -> str | None:
    """The segment ID in a segment URL (`https://app.fullstory.com/ui/<org>/segments/<id>/...`)."""
    found = _SEGMENT_IN_URL.search(value) if "://" in value or value.startswith("/") else None
    return found.group(1) if found else None


def resolve_segment(segments: Sequence[Segment], value: str) -> Segment:
    """The one segment `value` names: by ID, by URL, by exact name, else by a unique part of a name.

    Case is ignored for names. Several matches, or none, raise a CliError that lists candidates.
    """
    wanted = value.strip()
    if not wanted:
        raise CliError("--segment is empty: give a segment ID, URL or name (see `fstriage segments`)")
    from_url = segment_id_in(wanted)
    by_id = [s for s in segments if s.id == (from_url or wanted)]
    if by_id:
        return by_id[0]
    if from_url is not None:
        raise CliError(
            f"no segment with the ID {from_url} (from the URL) is visible to this key; "
            f"{_candidates_text(segments, segments)}"
        )
    folded = wanted.casefold()
    exact = [s for s in segments if s.name.casefold() == folded]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise CliError(
            f"{len(exact)} segments are named {wanted!r}: pass one of their IDs with --segment; "
            f"{_candidates_text(exact, segments)}"
        )
    partial = [s for s in segments if folded in s.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise CliError(
            f"{len(partial)} segments match {wanted!r}: pass a full name or an ID with --segment; "
            f"{_candidates_text(partial, segments)}"
        )
    names = {s.name.casefold(): s for s in segments}
    close = [names[name] for name in difflib.get_close_matches(folded, list(names), n=5, cutoff=0.5)]
    if not segments:
        raise CliError(f"no segment matches {wanted!r}: this key sees no segments at all")
    shown = close or list(segments)
    hint = "close names" if close else "segments"
    raise CliError(f"no segment matches {wanted!r}; {_candidates_text(shown, segments, hint)}")


def _candidates_text(shown: Sequence[Segment], every: Sequence[Segment], what: str = "candidates") -> str:
    listed = "; ".join(f"{s.id} ({mask_email(s.name)!r})" for s in shown[:MAX_CANDIDATES])
    more = f"; and {len(shown) - MAX_CANDIDATES} more" if len(shown) > MAX_CANDIDATES else ""
    tail = " (`fstriage segments` lists them all)" if len(every) > len(shown[:MAX_CANDIDATES]) else ""
    return f"{what}: {listed}{more}{tail}" if shown else "`fstriage segments` lists the segments"


def segment_request(
    *, org_id: str, segment: Segment, window_hours: float = 24, now: datetime, note: str | None = None
) -> InvestigationRequest:
    """A request that runs a segment alert's export flow for `segment`, its window ending `now`.

    The library starts the export, and asks to be re-queued while Fullstory prepares it; the CLI
    sleeps instead (`run_until_finished`).
    """
    received = isoformat(now)
    trigger = Trigger(
        kind="segment_alert",
        source="cli",
        event_name="manual",
        event_id=None,
        occurred_at=received,
        alert=Alert(
            name=segment.name, segment_id=segment.id, segment_name=segment.name, segment_url=segment.url
        ),
        text=note,
    )
    return _cli_request(org_id, trigger, Subject(), now, window_hours, identity=["segment", segment.id])


def pause(seconds: float) -> None:
    """How the CLI waits between export checks (a module function, so tests can replace it)."""
    time.sleep(seconds)


class ProgressPort:
    """The Fullstory port an `Investigation` uses, passed through to the client while a status line
    counts what was read. Thread-safe: the investigation reads sessions from a small pool."""

    def __init__(self, client: FullstoryClient, progress: Progress | None) -> None:
        self._client = client
        self._progress = progress
        self.app_base_url = client.app_base_url
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._label = "starting"

    @property
    def usage(self) -> FullstoryUsage:
        return self._client.usage

    def sessions(
        self, *, uid: str | None = None, email: str | None = None, limit: int = 20
    ) -> list[SessionRef]:
        return self._tracked(
            "listing the user's sessions", "lists", self._client.sessions, uid=uid, email=email, limit=limit
        )

    def segments(self) -> list[Segment]:
        return self._tracked("listing segments", "lists", self._client.segments)

    def summary(self, session_id: str, config_profile: str | None = None) -> Summary:
        return self._tracked(
            "reading sessions", "summaries", self._client.summary, session_id, config_profile
        )

    def session_events(self, session_id: str) -> list[dict[str, Any]]:
        return self._tracked("reading sessions", "event reads", self._client.session_events, session_id)

    def session_context(self, session_id: str) -> dict[str, Any]:
        return self._tracked("reading sessions", "context reads", self._client.session_context, session_id)

    def start_segment_export(self, segment_id: str, start: datetime, end: datetime) -> str:
        return self._tracked(
            "starting the segment export",
            "exports",
            self._client.start_segment_export,
            segment_id,
            start,
            end,
        )

    def operation(self, operation_id: str) -> Operation:
        return self._tracked(
            "checking the segment export", "export checks", self._client.operation, operation_id
        )

    def export_results(self, search_export_id: str) -> list[dict[str, Any]]:
        return self._tracked(
            "downloading the segment export", "downloads", self._client.export_results, search_export_id
        )

    def key_role(self) -> str | None:
        """The key's role (`GET /me`, cached by the client): what tells a tier 403 from Activation off."""
        return self._client.key_role()

    def waiting(self, seconds: int, *, checks: int | None = None, max_checks: int | None = None) -> None:
        """Say that Fullstory is still preparing the export, and when it is checked again."""
        done = f"check {checks}/{max_checks}, " if checks and max_checks else ""
        with self._lock:
            self._label = f"Fullstory is preparing the segment export ({done}next check in {seconds}s)"
        self._show()

    def _tracked[**P, R](
        self, label: str, counter: str, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        with self._lock:
            self._label = label
        self._show()
        try:
            return call(*args, **kwargs)
        finally:
            with self._lock:
                self._counts[counter] = self._counts.get(counter, 0) + 1
            self._show()

    def _show(self) -> None:
        if self._progress is None:
            return
        usage = self._client.usage
        with self._lock:
            counts = ", ".join(f"{name} {n}" for name, n in self._counts.items())
            label = self._label
        spent = f"{plural(usage.calls, 'Fullstory call')}, {plural(usage.activations, 'Activation')}"
        self._progress.update(f"{label} ({counts + '; ' if counts else ''}{spent})")


def run_until_finished(
    investigation: Investigation,
    request: InvestigationRequest,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[Requeue], None] | None = None,
) -> Finished:
    """Run the investigation; where the Lambda would re-queue (a pending export), sleep and run again."""
    outcome = investigation.run(request)
    while isinstance(outcome, Requeue):
        if on_wait is not None:
            on_wait(outcome)
        sleep(outcome.delay_seconds)
        outcome = investigation.run(outcome.request)
    return outcome


def investigate(
    client: FullstoryClient,
    request: InvestigationRequest,
    settings: InvestigationSettings,
    *,
    progress: Progress | None = None,
    sleep: Callable[[float], None] | None = None,
    on_wait: Callable[[Requeue], None] | None = None,
) -> tuple[Finished, dict[str, Any]]:
    """The library's own Investigation, run to its end (sleeping where the Lambda would re-queue), and
    its report. The report's cost counts this run's calls only, not an earlier `GET /me`. `sleep`
    defaults to `pause`, looked up at the call (tests replace it)."""
    view = client.with_deadline(None)  # its own usage counters
    port = ProgressPort(view, progress)

    def waiting(requeue: Requeue) -> None:
        polls = requeue.request.continuation.polls if requeue.request.continuation else None
        port.waiting(requeue.delay_seconds, checks=polls, max_checks=settings.export_max_polls)
        if on_wait is not None:
            on_wait(requeue)

    finished = run_until_finished(
        Investigation(port, settings), request, sleep=sleep or pause, on_wait=waiting
    )
    return finished, build_report(finished.evidence, view.usage, datetime.now(UTC))


# Why a segment's export flow stopped (the investigation's fatal codes); each caller words them its way.
SEGMENT_STOPS: Final = frozenset({"export_timeout", "export_failed", "export_forbidden", "segment_not_found"})
NOTHING_GATHERED: Final = "nothing could be investigated; the report's notes say why"


def problem_of(finished: Finished, report: Mapping[str, Any]) -> str | None:
    """Why an investigation left nothing to act on: `auth` (the key was rejected), one of
    `SEGMENT_STOPS`, or `nothing_gathered`; None when the report holds evidence."""
    fatal = finished.evidence.fatal or ""
    if fatal == "auth" or fatal in SEGMENT_STOPS:
        return fatal
    if report["status"] == "failed" or (report["status"] == "partial" and not report["sessions"]):
        return "nothing_gathered"
    return None


EXPORT_POLL_SECONDS: Final = 5


def cli_investigation_settings(
    org_id: str,
    *,
    max_sessions: int = 10,
    concurrency: int = 4,
    summary_profile: str | None = None,
    event_source: str = "events",
    export_wait_minutes: float = 5.0,
) -> InvestigationSettings:
    return InvestigationSettings(
        org_id=org_id,
        max_sessions=max_sessions,
        concurrency=concurrency,
        summary_profile=summary_profile,
        event_source="context" if event_source == "context" else "events",
        # A terminal can wait: poll a pending export every few seconds rather than SQS's 30.
        export_poll_delay_seconds=EXPORT_POLL_SECONDS,
        export_max_polls=max(1, math.ceil(export_wait_minutes * 60 / EXPORT_POLL_SECONDS)),
        deadline_margin_seconds=0.0,
    )


def window_hours_to_reach(outside: Mapping[str, Any] | None, window_end: str) -> int | None:
    """The `--window-hours` that reaches back to the newest session outside the window, rounded up."""
    if not outside or not outside.get("newest"):
        return None
    try:
        gap = parse_isoformat(window_end) - parse_isoformat(str(outside["newest"]))
    except ValueError:
        return None
    return max(1, math.ceil(gap.total_seconds() / 3600) + 1)
