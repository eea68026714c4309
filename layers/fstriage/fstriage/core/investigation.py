"""One investigation: a queued request becomes the evidence for a report.

It asks the Fullstory API (through a port) which sessions were hit, reads their AI summaries and
events, digests them and groups the errors. Whatever a key's tier or the plan forbids is reported
in `notes` instead of failing the whole report. Slow work is bounded: a young segment export is
polled in-process for a few seconds (`export_inline_wait_seconds`, while the invocation has time to
spare and Fullstory's own progress estimate says it can finish in that time); otherwise the request
is re-queued with a delay, never blocking the Lambda for long.

A request is checked before anything is spent (`core/request_checks.py`): one that could never be
investigated or reported (an unreadable session ID, a non-finite number, a lone surrogate, a time that
is not ISO 8601) becomes a `failed` report that says why, without a single Fullstory call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from fstriage.core.budget import CAP_REASON, ActivationBudget
from fstriage.core.budget import NOTE_TOPIC as CAP_TOPIC
from fstriage.core.digest import (
    SessionDigest,
    digest_context,
    digest_events,
    digest_export_rows,
    rank_export_sessions,
)
from fstriage.core.errors import (
    DependencyUnavailable,
    FullstoryAuthError,
    FullstoryBadRequest,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
)
from fstriage.core.fullstory_models import (
    READ_ROLES,
    FullstoryUsage,
    FullstoryUser,
    Operation,
    Segment,
    SessionRef,
    Summary,
)
from fstriage.core.request import (
    SEGMENT_KINDS,
    Continuation,
    InvestigationRequest,
    isoformat,
    parse_isoformat,
)
from fstriage.core.request_checks import presentable, request_problems
from fstriage.core.session_ids import replay_url

EventSource = Literal["events", "context"]
Status = Literal["complete", "partial", "failed"]


class FullstoryPort(Protocol):
    """The Fullstory calls an investigation makes (implemented by `adapters.fullstory`)."""

    app_base_url: str

    @property
    def usage(self) -> FullstoryUsage: ...

    def sessions(
        self, *, uid: str | None = None, email: str | None = None, limit: int = 20
    ) -> list[SessionRef]: ...

    def segments(self) -> list[Segment]: ...

    def summary(self, session_id: str, config_profile: str | None = None) -> Summary: ...

    def session_events(self, session_id: str) -> list[dict[str, Any]]: ...

    def session_context(self, session_id: str) -> dict[str, Any]: ...

    def start_segment_export(self, segment_id: str, start: datetime, end: datetime) -> str: ...

    def operation(self, operation_id: str) -> Operation: ...

    def export_results(self, search_export_id: str) -> list[dict[str, Any]]: ...


@runtime_checkable
class UserRecordPort(Protocol):
    """A port that can read Fullstory's user records (`GET /v2/users`); a wrapper may not."""

    def users(self, *, uid: str | None = None, email: str | None = None) -> list[FullstoryUser]: ...


@runtime_checkable
class KeyRolePort(Protocol):
    """A port that can tell its key's role (`GET /me`, asked once per client); a wrapper may not."""

    def key_role(self) -> str | None:
        """The role, upper-case (ADMIN, ARCHITECT, USER, ...); None when `/me` was refused or failed."""
        ...


@dataclass(frozen=True, slots=True)
class InvestigationSettings:
    org_id: str
    max_sessions: int = 10
    concurrency: int = 4
    summary_profile: str | None = None
    event_source: EventSource = "events"
    export_poll_delay_seconds: int = 30
    export_max_polls: int = 20
    # Metric name -> segment ID, so a metric alert can be investigated like a segment alert.
    metric_segments: Mapping[str, str] = field(default_factory=dict)
    # Seconds that must be left before a new phase starts; below it the request is redelivered.
    deadline_margin_seconds: float = 5.0
    # Seconds one invocation may poll a pending export in-process before re-queueing (0: never).
    export_inline_wait_seconds: float = 0.0
    # Seconds of the invocation the inline polling leaves for what follows a ready export: its rows,
    # the sessions' reads and the report (and the other record of the batch).
    export_inline_reserve_seconds: float = 60.0


# In-process export polling: the first wait, the longest wait, and the shortest (when Fullstory's
# estimate says the export is about to finish).
INLINE_FIRST_WAIT_SECONDS = 1.0
INLINE_MAX_WAIT_SECONDS = 2.0
# At most this many in-process checks per invocation (a stalled estimate cannot make it more).
INLINE_MAX_CHECKS = 10
INLINE_MIN_WAIT_SECONDS = 0.25


class Notes:
    """Actionable sentences, merged by topic so ten sessions with the same gap give one sentence."""

    def __init__(self) -> None:
        self._topics: dict[str, tuple[str, bool, list[str]]] = {}

    def add(self, topic: str, sentence: str, *, degrades: bool, session_id: str | None = None) -> None:
        _, was_degrading, sessions = self._topics.setdefault(topic, (sentence, degrades, []))
        self._topics[topic] = (sentence, was_degrading or degrades, sessions)
        if session_id:
            sessions.append(session_id)

    @property
    def degraded(self) -> bool:
        return any(degrades for _, degrades, _ in self._topics.values())

    def topics(self) -> set[str]:
        return set(self._topics)

    def sentences(self) -> list[str]:
        rendered = []
        for sentence, _, sessions in self._topics.values():
            # Not str.format: a sentence quotes Fullstory's words (an HTML page's CSS, JSON error
            # details), and a brace there must not break the report.
            plural = "" if len(sessions) == 1 else "s"
            rendered.append(sentence.replace("{n}", str(len(sessions))).replace("{s}", plural))
        return rendered


@dataclass(slots=True)
class SessionFindings:
    session_id: str
    replay_url: str
    created_at: str | None = None
    uid: str | None = None
    email: str | None = None
    display_name: str | None = None
    summary_text: str | None = None
    # The summary profile's structured answer, when its profile has a response schema.
    summary_response: dict[str, Any] | None = None
    summary_unavailable: str | None = None
    digest: SessionDigest | None = None
    events_unavailable: str | None = None


# Key names listed per event type in the note; the JSON keeps up to the digest's own bound.
MAX_NOTE_KEYS = 12


@dataclass(frozen=True, slots=True)
class UnreadEvents:
    """Events of error-bearing types that no convention could read, across the report's sessions.

    The digest keeps their property key names, never values, so a user can share the note as it is.
    """

    count: int
    sessions: int
    # Event type -> (how many events, the key names seen: sorted, deduplicated, bounded).
    by_type: dict[str, tuple[int, tuple[str, ...]]]

    def sentence(self) -> str:
        parts = []
        for kind, (count, keys) in self.by_type.items():
            shown = ", ".join(keys[:MAX_NOTE_KEYS])
            more = f", +{len(keys) - MAX_NOTE_KEYS} more" if len(keys) > MAX_NOTE_KEYS else ""
            parts.append(f"{kind} x{count} (keys: {shown}{more})" if keys else f"{kind} x{count}")
        events = "event" if self.count == 1 else "events"
        sessions = "session" if self.sessions == 1 else "sessions"
        return (
            f"{self.count} {events} of error-bearing types could not be read in {self.sessions} {sessions}: "
            f"{'; '.join(parts)}. Errors among them are missing from this report. Only property key names "
            "are listed, never values: share this note in an fstriage issue so the digest learns them."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sessions": self.sessions,
            "by_type": {
                kind: {"count": count, "keys": list(keys)} for kind, (count, keys) in self.by_type.items()
            },
            "note": self.sentence(),
        }


def unread_events(evidence: Evidence) -> UnreadEvents | None:
    """What the digests of the evidence could not read (own events, else the export's rows)."""
    fallback = {digest.session_id: digest for digest in evidence.fallback_digests}
    digests = [finding.digest or fallback.get(finding.session_id) for finding in evidence.sessions]
    counts: dict[str, int] = {}
    keys: dict[str, set[str]] = {}
    sessions = 0
    for digest in digests:
        if digest is None or not digest.unclassified:
            continue
        sessions += 1
        for kind, count in digest.unclassified.items():
            counts[kind] = counts.get(kind, 0) + count
            keys.setdefault(kind, set()).update(digest.unread_keys.get(kind, ()))
    if not counts:
        return None
    return UnreadEvents(
        count=sum(counts.values()),
        sessions=sessions,
        by_type={kind: (counts[kind], tuple(sorted(keys[kind]))) for kind in sorted(counts)},
    )


Identity = Literal["uid", "email"]
# How many of a user's sessions one listing asks for (newest first); more are counted as "at least".
USER_SESSIONS_LIMIT = 50


@dataclass(frozen=True, slots=True)
class OutsideWindow:
    """A user's listed sessions, when all of them lie outside the investigated window."""

    count: int
    at_least: bool  # the listing was full: there may be more
    newest: str | None  # when the newest of them was created (ISO 8601), if Fullstory said

    def sentence(self) -> str:
        one = self.count == 1 and not self.at_least
        many = f"at least {self.count}" if self.at_least else str(self.count)
        newest = f"; the newest was created at {self.newest}" if self.newest else ""
        return (
            f"The user has {many} session{'' if one else 's'} in Fullstory, but "
            f"{'it lies' if one else 'all lie'} outside the window{newest}. Investigate a wider window to "
            "read them."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "at_least": self.at_least,
            "newest": self.newest,
            "note": self.sentence(),
        }


@dataclass(slots=True)
class Evidence:
    """Everything an investigation gathered; `core.report` turns it into the report."""

    request: InvestigationRequest
    sessions: list[SessionFindings] = field(default_factory=list)
    # Digests that came from the segment export when a session's own events were unavailable.
    fallback_digests: list[SessionDigest] = field(default_factory=list)
    notes: Notes = field(default_factory=Notes)
    segment: Segment | None = None
    fatal: str | None = None
    matched_sessions: int = 0
    # Set when the investigation finishes: events that could be errors but could not be read.
    unread: UnreadEvents | None = None
    # Which of the user's identities listed their sessions (the uid, or the email as a fallback).
    matched_by: Identity | None = None
    # Set when the user's sessions all lie outside the window.
    outside_window: OutsideWindow | None = None

    @property
    def status(self) -> Status:
        if self.fatal:
            return "failed"
        return "partial" if self.notes.degraded else "complete"

    def known_uid(self) -> str | None:
        """The user's uid: the request's, else the first a read session's identify event gave."""
        return self.request.subject.uid or next((f.uid for f in self.sessions if f.uid), None)

    def known_email(self) -> str | None:
        return self.request.subject.email or next((f.email for f in self.sessions if f.email), None)


@dataclass(frozen=True, slots=True)
class Finished:
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Requeue:
    """Come back later: the segment export is still being prepared."""

    request: InvestigationRequest
    delay_seconds: int


class Investigation:
    def __init__(
        self,
        fullstory: FullstoryPort,
        settings: InvestigationSettings,
        *,
        deadline: Callable[[], float] = lambda: float("inf"),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        activations: ActivationBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._fullstory = fullstory
        self._settings = settings
        self._deadline = deadline
        self._now = now
        # For polling a young export in-process; tests pass a fake pair.
        self._clock = clock
        self._sleep = sleep
        # The monthly Activation cap: each events/context call reserves one first (None: no cap).
        self._activations = activations
        self._role: tuple[str | None] | None = None

    def run(self, request: InvestigationRequest) -> Finished | Requeue:
        problems = request_problems(request)
        if problems:
            return invalid_request(request, problems, now=self._now())
        evidence = Evidence(request=request)
        outcome = self._run(request, evidence)
        if isinstance(outcome, Finished):
            _note_unread(outcome.evidence)
        return outcome

    def _run(self, request: InvestigationRequest, evidence: Evidence) -> Finished | Requeue:
        try:
            outcome = self._dispatch(request, evidence)
        except FullstoryAuthError:
            evidence.fatal = "auth"
            evidence.notes.add(
                "auth",
                "Fullstory rejected the API key (401). Store a valid Admin or Architect key in the "
                "Fullstory API key secret; every investigation fails until then.",
                degrades=True,
            )
            return Finished(evidence)
        except FullstoryError as refused:
            if refused.retryable:
                raise  # an outage or a long Retry-After: SQS redelivers the request later
            # A 400, 403 or 404 (or an unreadable answer) is the same on every redelivery.
            evidence.fatal = "fullstory_refused"
            evidence.notes.add(
                "fullstory_refused",
                f"Fullstory refused a call the investigation needs ({_api_words(refused)}); a retry would "
                "get the same answer, so the report stops here.",
                degrades=True,
            )
            return Finished(evidence)
        return outcome

    def _dispatch(self, request: InvestigationRequest, evidence: Evidence) -> Finished | Requeue:
        trigger = request.trigger
        if trigger.kind in SEGMENT_KINDS:
            # A watched segment's run names its segment like an alert that carried its URL.
            return self._segment_alert(request, evidence)
        if trigger.kind == "metric_alert":
            return self._metric_alert(request, evidence)
        self._subject_sessions(request, evidence)
        return Finished(evidence)

    # -- alerts ---------------------------------------------------------------------------------

    def _metric_alert(self, request: InvestigationRequest, evidence: Evidence) -> Finished | Requeue:
        alert = request.trigger.alert
        metric = (alert.metric_name or alert.name or "") if alert else ""
        segment_id = self._settings.metric_segments.get(metric)
        if segment_id is None:
            evidence.notes.add(
                "metric_unmapped",
                f"Metric alerts name no sessions. Map the metric {metric!r} to a segment in "
                "METRIC_SEGMENTS to investigate the sessions behind it.",
                degrades=False,
            )
            return Finished(evidence)
        return self._segment_export(request, evidence, segment_id)

    def _segment_alert(self, request: InvestigationRequest, evidence: Evidence) -> Finished | Requeue:
        if request.continuation is not None:
            return self._segment_export(request, evidence, request.continuation.segment_id)
        alert = request.trigger.alert
        segment_id = (alert.segment_id if alert else None) or self._segment_by_name(request, evidence)
        if segment_id is None:
            return self._segment_not_found(evidence)
        return self._segment_export(request, evidence, segment_id)

    def _segment_by_name(self, request: InvestigationRequest, evidence: Evidence) -> str | None:
        alert = request.trigger.alert
        if alert is None or not alert.segment_name:
            return None
        wanted = alert.segment_name.casefold()
        found = next((s for s in self._fullstory.segments() if s.name.casefold() == wanted), None)
        evidence.segment = found
        return found.id if found else None

    def _segment_not_found(self, evidence: Evidence) -> Finished:
        evidence.fatal = "segment_not_found"
        evidence.notes.add(
            "segment_not_found",
            "The alert's segment could not be found in Fullstory (by URL or by name); check that "
            "it still exists and that the API key can read segments.",
            degrades=True,
        )
        return Finished(evidence)

    def _segment_export(
        self, request: InvestigationRequest, evidence: Evidence, segment_id: str
    ) -> Finished | Requeue:
        continuation = request.continuation
        try:
            if continuation is None:
                try:
                    operation_id = self._fullstory.start_segment_export(
                        segment_id, parse_isoformat(request.window.start), parse_isoformat(request.window.end)
                    )
                except FullstoryNotFound:
                    # The URL's segment ID is unknown (copied from another org, or recreated): try the
                    # alert's segment name once before giving up.
                    by_name = None if evidence.segment else self._segment_by_name(request, evidence)
                    if by_name is None or by_name == segment_id:
                        return self._segment_not_found(evidence)
                    return self._segment_export(request, evidence, by_name)
                link_started = self._clock()
                continuation = Continuation(
                    segment_id=segment_id,
                    operation_id=operation_id,
                    polls=0,
                    started_at=isoformat(self._now()),
                )
                age_at_start = 0.0
            else:
                link_started = self._clock()
                age_at_start = max(
                    0.0, (self._now() - parse_isoformat(continuation.started_at)).total_seconds()
                )
            operation = self._fullstory.operation(continuation.operation_id)
            if not operation.done:
                operation = self._wait_for_export(
                    continuation.operation_id, operation, lambda: age_at_start + self._clock() - link_started
                )
        except FullstoryForbidden as forbidden:
            evidence.fatal = "export_forbidden"
            evidence.notes.add(
                "export_forbidden",
                f"The segment export was refused ({_api_words(forbidden)}). Segment exports need an Admin "
                "or Architect API key.",
                degrades=True,
            )
            return Finished(evidence)
        polls = continuation.polls + 1
        if not operation.done:
            if polls >= self._settings.export_max_polls:
                evidence.fatal = "export_timeout"
                evidence.notes.add(
                    "export_timeout",
                    f"The segment export was still being prepared after {polls} checks; the report covers "
                    f"the alert only. Investigate by hand later with `fstriage investigate --segment "
                    f"{continuation.segment_id}`.",
                    degrades=True,
                )
                return Finished(evidence)
            later = request.continued(
                Continuation(
                    segment_id=segment_id,
                    operation_id=continuation.operation_id,
                    polls=polls,
                    started_at=continuation.started_at,
                )
            )
            return Requeue(later, self._settings.export_poll_delay_seconds)
        if operation.state == "FAILED" or not operation.search_export_id:
            evidence.fatal = "export_failed"
            evidence.notes.add(
                "export_failed",
                f"Fullstory could not export the segment ({operation.error_details or 'no details given'}); "
                "the report covers the alert only.",
                degrades=True,
            )
            return Finished(evidence)
        self._require_time()
        rows = self._fullstory.export_results(operation.search_export_id)
        ranking = rank_export_sessions(rows)
        evidence.matched_sessions = len(ranking.sessions)
        chosen = ranking.sessions[: self._settings.max_sessions]
        self._note_cap(evidence, len(ranking.sessions))
        refs = [
            SessionFindings(
                session_id=impacted.session_id,
                replay_url=replay_url(
                    self._fullstory.app_base_url, self._settings.org_id, impacted.session_id
                ),
                uid=impacted.uid,
                email=impacted.email,
            )
            for impacted in chosen
        ]
        self._gather(evidence, refs)
        # Where a session's own events were unavailable, its export rows still tell its errors.
        missing = {f.session_id for f in evidence.sessions if f.digest is None}
        if missing:
            wanted_rows = [row for row in rows if f"{row.get('UserId')}:{row.get('SessionId')}" in missing]
            evidence.fallback_digests = digest_export_rows(wanted_rows)
        return Finished(evidence)

    def _wait_for_export(
        self, operation_id: str, operation: Operation, age: Callable[[], float]
    ) -> Operation:
        """Check a pending export again in this invocation (waits of 1 s, then 2 s) while the per-record
        budget and the invocation's spare time allow, and while Fullstory's progress estimate does not
        say it needs longer than that: then re-queueing at once costs no Lambda time for nothing. `age`
        is the export's age in seconds. A check that fails for a retryable reason ends the wait: the
        re-queued continuation checks again later, and the export already started is kept."""
        budget = self._settings.export_inline_wait_seconds
        if budget <= 0:
            return operation
        started = self._clock()
        step = INLINE_FIRST_WAIT_SECONDS
        checks = 0
        while not operation.done and checks < INLINE_MAX_CHECKS:
            left = min(
                budget - (self._clock() - started),
                self._deadline() - self._settings.export_inline_reserve_seconds,
            )
            expected = _expected_seconds_left(operation.estimate_pct_complete, age())
            if expected is not None:
                if expected > left:
                    break  # Fullstory expects it to take longer: re-queue now, as before
                if checks == 0:
                    # Only the first wait follows the estimate: one that stalls near 100% must not
                    # turn the 2 s cadence into a check every quarter second.
                    step = min(step, max(expected, INLINE_MIN_WAIT_SECONDS))
            if step > left:
                break
            checks += 1
            self._sleep(step)
            try:
                operation = self._fullstory.operation(operation_id)
            except FullstoryError as error:
                if not error.retryable:
                    raise
                break
            step = INLINE_MAX_WAIT_SECONDS
        return operation

    # -- sessions and users -----------------------------------------------------------------------

    def _subject_sessions(self, request: InvestigationRequest, evidence: Evidence) -> None:
        subject = request.subject
        primary = [
            self._findings_for(session_id)
            for session_id in subject.session_ids[: self._settings.max_sessions]
        ]
        if primary:
            self._gather(evidence, primary)
        # The uid first (the precise key), then the email; each from the request, else from the named
        # sessions' identify events. With only one known, Fullstory's user record may give the other.
        identities: dict[Identity, str] = {}
        uid, email = evidence.known_uid(), evidence.known_email()
        if uid:
            identities["uid"] = uid
        if email:
            identities["email"] = email
        if not identities:
            if not primary:
                evidence.fatal = "no_subject"
            return
        seen = {f.session_id for f in evidence.sessions}
        others = self._user_sessions(request, evidence, identities, exclude=seen)
        if not primary and "user_sessions_unavailable" in evidence.notes.topics():
            evidence.fatal = "user_sessions_unavailable"  # the user's sessions were all there was to read
            return
        evidence.matched_sessions = len(seen) + len(others)
        room = max(self._settings.max_sessions - len(evidence.sessions), 0)
        self._note_cap(evidence, evidence.matched_sessions)
        if others[:room]:
            self._gather(evidence, others[:room], uid=identities.get("uid"), email=identities.get("email"))

    def _user_sessions(
        self,
        request: InvestigationRequest,
        evidence: Evidence,
        identities: dict[Identity, str],
        *,
        exclude: set[str],
    ) -> list[SessionFindings]:
        """The user's sessions by each identity in turn until one lists some; `identities` gains any
        identity learned from Fullstory's user record on the way."""
        self._require_time()
        refs: list[SessionRef] = []
        tried: list[Identity] = []
        learned: Identity | None = None
        while not refs:
            kind = next((k for k in identities if k not in tried), None)
            if kind is None:
                learned = self._identity_from_user_record(evidence, identities)
                if learned is None:
                    break
                kind = learned
            tried.append(kind)
            try:
                refs = self._fullstory.sessions(
                    uid=identities[kind] if kind == "uid" else None,
                    email=identities[kind] if kind == "email" else None,
                    limit=USER_SESSIONS_LIMIT,
                )
            except (FullstoryForbidden, FullstoryNotFound, FullstoryBadRequest) as refused:
                evidence.notes.add(
                    "user_sessions_unavailable",
                    f"The user's other sessions could not be listed ({_api_words(refused)}); "
                    + _list_fix(
                        refused, self._key_role() if isinstance(refused, FullstoryForbidden) else None
                    ),
                    degrades=True,
                )
                return []
        if refs:
            evidence.matched_by = tried[-1]
        if refs and len(tried) > 1:
            found = " (from Fullstory's user record)" if learned else ""
            evidence.notes.add(
                "matched_by",
                f"Fullstory listed no sessions for the user's {' or '.join(tried[:-1])}; their "
                f"{tried[-1]}{found} matched {_count(len(refs), 'session')}, which this report reads.",
                degrades=False,
            )
        elif not refs and not exclude:
            evidence.notes.add(
                "user_unknown",
                f"Fullstory listed no sessions for the user's {' or '.join(tried)}: check that it is the one "
                "your app passes to FS.identify (the uid) or sets as the user's email.",
                degrades=False,
            )
        start, end = parse_isoformat(request.window.start), parse_isoformat(request.window.end)
        others = [ref for ref in refs if ref.api_session_id not in exclude]
        in_window = [ref for ref in others if ref.created_at is None or start <= ref.created_at <= end]
        if not in_window and not exclude and others:
            self._note_outside_window(evidence, others, full=len(refs) >= USER_SESSIONS_LIMIT)
        in_window.sort(key=lambda ref: ref.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return [
            SessionFindings(
                session_id=ref.api_session_id,
                replay_url=ref.fs_url
                or replay_url(self._fullstory.app_base_url, self._settings.org_id, ref.api_session_id),
                created_at=isoformat(ref.created_at) if ref.created_at else None,
            )
            for ref in in_window
        ]

    @staticmethod
    def _note_outside_window(evidence: Evidence, outside: list[SessionRef], *, full: bool) -> None:
        """The user has sessions, none in the window: say how many and when, so the window can grow."""
        newest = max((ref.created_at for ref in outside if ref.created_at), default=None)
        evidence.outside_window = OutsideWindow(
            count=len(outside), at_least=full, newest=isoformat(newest) if newest else None
        )
        evidence.notes.add("outside_window", evidence.outside_window.sentence(), degrades=False)

    def _identity_from_user_record(
        self, evidence: Evidence, identities: dict[Identity, str]
    ) -> Identity | None:
        """With only one identity known and it listing nothing, Fullstory's user record may hold the
        other (`GET /v2/users?uid=|email=`). Returns the kind it added to `identities`, if any."""
        if len(identities) != 1 or not isinstance(self._fullstory, UserRecordPort):
            return None
        [(known, value)] = identities.items()
        other: Identity = "email" if known == "uid" else "uid"
        try:
            records = self._fullstory.users(
                uid=value if known == "uid" else None, email=value if known == "email" else None
            )
        except FullstoryError as error:
            evidence.notes.add(
                "user_record_unavailable",
                f"Fullstory's user record for the {known} could not be read ({_api_words(error)}), so the "
                f"user's {other} was not tried.",
                degrades=False,
            )
            return None
        found = {getattr(record, other) for record in records} - {None}
        if len(found) != 1:
            return None  # none, or several users share it: no single identity to try
        identities[other] = found.pop()
        return other

    def _findings_for(self, session_id: str) -> SessionFindings:
        return SessionFindings(
            session_id=session_id,
            replay_url=replay_url(self._fullstory.app_base_url, self._settings.org_id, session_id),
        )

    def _note_cap(self, evidence: Evidence, matched: int) -> None:
        if matched > self._settings.max_sessions:
            evidence.notes.add(
                "capped",
                f"{matched} sessions matched; the {self._settings.max_sessions} with the most error signals "
                "(or the most recent) were investigated. Raise the cap (the MaxSessionsPerInvestigation "
                "parameter; `--max-sessions` for `fstriage investigate`; `max_sessions` for the MCP "
                "tools) to see more; each session costs Activations.",
                degrades=False,
            )

    # -- per-session work, concurrent -------------------------------------------------------------

    def _gather(
        self,
        evidence: Evidence,
        findings: Sequence[SessionFindings],
        *,
        uid: str | None = None,
        email: str | None = None,
    ) -> None:
        self._require_time()
        # A session's summary and its events are independent calls, so each is its own task: the
        # pool keeps `concurrency` calls in flight to the end. (With one task per session, 20
        # sessions at concurrency 8 took ceil(20/8) x 2 = 6 call latencies instead of ceil(40/8) = 5.)
        workers = max(1, min(self._settings.concurrency, 2 * len(findings)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fstriage-session") as pool:
            pending = [
                (pool.submit(self._read_summary, finding), pool.submit(self._read_events, finding))
                for finding in findings
            ]
            problems = [self._problems(summary.result(), events.result()) for summary, events in pending]
        # An auth failure in any session fails the investigation (it will fail for all of them).
        if any(topic == "auth" for problems_of_one in problems for topic, _, _ in problems_of_one):
            raise FullstoryAuthError("the API key was rejected", status=401)
        for finding, finding_problems in zip(findings, problems, strict=True):
            finding.uid = finding.uid or uid
            finding.email = finding.email or email
            for topic, sentence, degrades in finding_problems:
                evidence.notes.add(topic, sentence, degrades=degrades, session_id=finding.session_id)
            if self._activations is not None and finding.events_unavailable == CAP_REASON:
                evidence.notes.add(
                    CAP_TOPIC, self._activations.note(), degrades=True, session_id=finding.session_id
                )
            evidence.sessions.append(finding)
        self._require_time()

    # The two reads of a session run concurrently and touch different fields of its findings.

    def _read_summary(self, finding: SessionFindings) -> FullstoryError | None:
        try:
            summary = self._fullstory.summary(finding.session_id, self._settings.summary_profile)
            finding.summary_text = summary.text
            finding.summary_response = summary.response
            if summary.text is None and summary.response is None:
                finding.summary_unavailable = "empty"
        except FullstoryError as error:
            finding.summary_unavailable = _short_reason(error)
            return error
        return None

    def _read_events(self, finding: SessionFindings) -> FullstoryError | None:
        if self._activations is not None and not self._activations.reserve():
            finding.events_unavailable = CAP_REASON  # the export's rows, if any, stand in for them
            return None
        try:
            if self._settings.event_source == "context":
                context = self._fullstory.session_context(finding.session_id)
                finding.digest = digest_context(finding.session_id, context)
                _identify_from_context(finding, context)
            else:
                events = self._fullstory.session_events(finding.session_id)
                finding.digest = digest_events(finding.session_id, events)
                _identify_from_events(finding, events)
        except FullstoryError as error:
            finding.events_unavailable = _short_reason(error)
            return error
        return None

    def _problems(
        self, summary_error: FullstoryError | None, events_error: FullstoryError | None
    ) -> list[tuple[str, str, bool]]:
        problems: list[tuple[str, str, bool]] = []
        refused = isinstance(summary_error, FullstoryForbidden) or isinstance(
            events_error, FullstoryForbidden
        )
        role = self._key_role() if refused else None
        if events_error is not None:
            problems.append(_events_problem(events_error, role))
            # Fullstory does not know the session: its summary's 404 says nothing about the profile.
            if isinstance(events_error, FullstoryNotFound) and isinstance(summary_error, FullstoryNotFound):
                problems.insert(0, _summary_problem(summary_error, self._settings.summary_profile, True))
                return problems
        if summary_error is not None:
            problems.insert(0, _summary_problem(summary_error, self._settings.summary_profile, role=role))
        return problems

    def _key_role(self) -> str | None:
        """The key's role, which tells why a 403 happened; None when it cannot be known."""
        if not isinstance(self._fullstory, KeyRolePort):
            return None
        if self._role is None:  # asked once per investigation, whatever the port caches
            self._role = (self._fullstory.key_role(),)
        return self._role[0]

    def _require_time(self) -> None:
        if self._deadline() < self._settings.deadline_margin_seconds:
            raise DependencyUnavailable("time", "too little time left in this invocation; redeliver")


# -- requests that cannot be investigated ------------------------------------------------------------


def invalid_request(request: InvestigationRequest, problems: list[str], *, now: datetime) -> Finished:
    """The failed report for a request `request_problems` refused: nothing was asked of Fullstory."""
    evidence = Evidence(request=presentable(request, now=now))
    evidence.fatal = "invalid_request"
    evidence.notes.add(
        "invalid_request",
        f"The queued request could not be investigated: {'; '.join(problems)}. No Fullstory call was made; "
        "fix what sent it, or investigate by hand with `fstriage investigate`.",
        degrades=True,
    )
    return Finished(evidence)


def retries_exhausted(request: InvestigationRequest, *, attempts: int, cause: str, now: datetime) -> Finished:
    """The failed report for a request whose last permitted attempt failed too (`cause` must not quote
    the request: an error's reason or type name)."""
    evidence = Evidence(request=presentable(request, now=now))
    evidence.fatal = "retries_exhausted"
    evidence.notes.add(
        "retries_exhausted",
        f"The investigation failed on each of its {attempts} attempts, the last with {cause}, so it is "
        "reported as failed instead of being tried again. Investigate by hand with `fstriage investigate` "
        "once the cause is gone; the cost above counts the last attempt only.",
        degrades=True,
    )
    return Finished(evidence)


def _note_unread(evidence: Evidence) -> None:
    """Never a silent loss: unreadable error-bearing events make the report partial and say so."""
    evidence.unread = unread_events(evidence)
    if evidence.unread is not None:
        evidence.notes.add("unread_events", evidence.unread.sentence(), degrades=True)


def _list_fix(error: FullstoryError, role: str | None) -> str:
    """The fix for a refused session listing: only a 403 from a role that may read is not the tier."""
    if isinstance(error, FullstoryForbidden) and role in READ_ROLES:
        return f"the key's role ({role}) may list sessions, so check the key's permissions in Fullstory."
    return "listing sessions needs an Admin or Architect API key."


def _expected_seconds_left(pct: float | None, age: float) -> float | None:
    """Seconds an export still needs if it progresses as it has so far; None without an estimate."""
    if pct is None or pct <= 0 or age <= 0:
        return None
    return age * max(0.0, 100.0 - pct) / pct


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _short_reason(error: FullstoryError) -> str:
    return f"{error.status or 'no answer'} {error.code or error.reason}"


def _api_words(error: FullstoryError) -> str:
    return f"Fullstory answered {error.status or 'nothing'}: {error.message}"


def _summary_problem(
    error: FullstoryError, profile: str | None, session_unknown: bool = False, *, role: str | None = None
) -> tuple[str, str, bool]:
    if isinstance(error, FullstoryAuthError):
        return ("auth", "", True)
    if isinstance(error, FullstoryForbidden):
        return (
            "summary_forbidden",
            f"AI summaries were unavailable for {{n}} session{{s}} ({_api_words(error)}). "
            + _forbidden_fix(error, "Summaries", role),
            True,
        )
    if isinstance(error, FullstoryBadRequest | FullstoryNotFound) and profile is None and not session_unknown:
        return (
            "summary_profile",
            f"AI summaries were unavailable for {{n}} session{{s}} ({_api_words(error)}). Set "
            "SUMMARY_PROFILE_ID to a summary profile of your org.",
            True,
        )
    if isinstance(error, FullstoryNotFound):
        return (
            "summary_missing",
            "Fullstory had no AI summary for {n} session{s} (404): the session may be too old, or the "
            "summary profile may not exist.",
            True,
        )
    return (
        "summary_failed",
        f"AI summaries failed for {{n}} session{{s}} after retries ({_api_words(error)}).",
        True,
    )


def _forbidden_fix(error: FullstoryForbidden, what: str, role: str | None) -> str:
    """Why an Activation endpoint (events, context, summaries) answered 403, and the fix.

    Decided by the key's role: Admin and Architect keys may read these, so their 403 means Anywhere:
    Activation is off; Standard (USER) and other roles may not. Fullstory's wording counts only when
    the role could not be read, and an unknown role gets both causes.
    """
    activation = (
        f"{what} are part of Anywhere: Activation, which is off for this org: ask Fullstory to enable it."
    )
    tier = f"{what} need an Admin or Architect API key"
    both = (
        f"Either the key's tier is too low ({tier}; a Standard key cannot read them) or Anywhere: "
        "Activation is off for this org (ask Fullstory to enable it)."
    )
    if role in READ_ROLES:
        return f"The key's role is {role}, which may read them, so: {activation}"
    if role in _NO_READ_ROLES:
        return f"{tier}; this key's role is {role}{_ROLE_WORDS.get(role, '')}, which cannot read them."
    if role is None:
        if error.activation_disabled:
            # A hint only: the key's role could not be read, and Fullstory's message names Activation.
            return (
                f"The key's role could not be read (GET /me), but Fullstory's message names it. {activation}"
            )
        return f"The key's role could not be read (GET /me). {both}"
    return f"The key's role is {role}, which fstriage does not know. {both}"


# Roles that may not read sessions, events or summaries ("USER" is the Standard tier).
_NO_READ_ROLES = frozenset({"USER", "VIEW_ONLY", "UMBRELLA_MANAGER"})
_ROLE_WORDS = {"USER": " (Standard)"}


def _events_problem(error: FullstoryError, role: str | None = None) -> tuple[str, str, bool]:
    if isinstance(error, FullstoryAuthError):
        return ("auth", "", True)
    if isinstance(error, FullstoryForbidden):
        return (
            "events_forbidden",
            f"Session events were unavailable for {{n}} session{{s}} ({_api_words(error)}). "
            + _forbidden_fix(error, "Session events", role)
            + " Console errors, exceptions, failed requests and frustrated clicks are missing there.",
            True,
        )
    if error.code == "response_too_large":
        return (
            "events_too_large",
            f"Session events were too large to read for {{n}} session{{s}} ({_api_words(error)}); the "
            "rest of the report stands without them. Open the replay to see that session's errors.",
            True,
        )
    if isinstance(error, FullstoryNotFound):
        return (
            "events_missing",
            "Fullstory found no events for {n} session{s} (404): the session may be older than the data "
            "retention, or was not recorded.",
            True,
        )
    return (
        "events_failed",
        f"Session events failed for {{n}} session{{s}} after retries ({_api_words(error)}).",
        True,
    )


def _identify_from_events(finding: SessionFindings, events: Iterable[Mapping[str, Any]]) -> None:
    """The user, from the session's last `identify` event (the only place a session names its user)."""
    for event in events:
        if event.get("event_type") != "identify":
            continue
        properties = event.get("event_properties")
        if not isinstance(properties, Mapping):
            continue
        finding.uid = _text(properties.get("user_id")) or finding.uid
        finding.email = _text(properties.get("user_email")) or finding.email
        finding.display_name = _text(properties.get("user_display_name")) or finding.display_name


def _identify_from_context(finding: SessionFindings, context: Mapping[str, Any]) -> None:
    inner = context.get("context")
    user = inner.get("user_context") if isinstance(inner, Mapping) else None
    if not isinstance(user, Mapping):
        return
    finding.uid = _text(user.get("uid") or user.get("user_id")) or finding.uid
    finding.email = _text(user.get("email") or user.get("user_email")) or finding.email
    finding.display_name = (
        _text(user.get("display_name") or user.get("user_display_name")) or finding.display_name
    )


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
