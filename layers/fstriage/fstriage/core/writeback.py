"""Write-back: one Fullstory server event per investigated session, so the replay shows it was triaged.

When an investigation finishes (and before its report is stored), each session the report covers gets
one `fstriage Investigation` event through `POST /v2/events`, on that session. A Fullstory segment can
then be built on "was investigated" or "hit error group X", and an engineer watching the replay sees
the investigation and where its report is.

What an event holds (`build_events`):
- `session.id`: the session (`U:S`). No `user`: Fullstory refuses `user` next to `session.id`, since
  the session already belongs to its user; and the uid (often an email) stays out of the properties.
- `timestamp`: when fstriage received the trigger. It must be the same on every attempt of the
  investigation (see the key below), so it is not "now".
- `properties`, with plain keys: Fullstory's Server API v2 types properties by inference and takes no
  `_str`/`_int` suffixes (those belong to the v1 APIs; the v2 browser API even refuses them). It infers
  every JSON number as a real, so the counts are declared `int` in the event's `schema`:
  `investigation_id`, `status`, `trigger_kind`, `sessions_investigated` (int), `sessions_hit` (int:
  the report's sessions with at least one error signal), `session_hit` (bool: this one had some),
  `top_error_kind` and `top_error_signature` (only when the report has an error group), and
  `report_uri` (the S3 URI of the JSON report).

Idempotency. Each event's `Idempotency-Key` is derived from the investigation ID (itself derived from
the request ID) and the session, so a redelivered request that runs again sends the same key for the
same session, and Fullstory answers it with the first answer instead of writing twice (for as long as
Fullstory keeps keys; the investigator's own idempotency guards a finished report for longer).
Fullstory also compares the body with the first one under a key and refuses a different one, so
nothing in it comes from the clock: its time is the request's, and the report's location is named by
the day the request was received. A re-run that finds other evidence (Fullstory answered differently)
sends another body: Fullstory refuses it (the status is not documented; 409 and 422 are read as this),
the first event stays, and the report's note says so.

Bounds (`write_back`). Writes go one after another through the client, whose rate limiter and
deadline apply to every attempt; before each one, `time_left` (the invocation's remaining time less
what storing the report needs) must allow one more write, or the rest are skipped. A refusal never
fails the report: `WriteBackOutcome.note()` says what happened and what to do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fstriage.core.errors import (
    FstriageError,
    FullstoryAuthError,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
    FullstoryRateLimited,
    FullstoryServerError,
    FullstoryUnavailable,
)

EVENT_NAME = "fstriage Investigation"
NOTE_TOPIC = "write_back"
# Long error signatures are clipped: a property is for matching and reading, the report has the rest.
MAX_SIGNATURE_CHARS = 256
# The least time one write may start with: the client's own safety margin (2 s) plus one answer.
MIN_SECONDS_PER_WRITE = 3.0
# Types declared in the event's `schema` (Fullstory would infer the counts as reals).
DECLARED_TYPES: Mapping[str, str] = {"sessions_investigated": "int", "sessions_hit": "int"}


class EventWriter(Protocol):
    """What write-back needs from the Fullstory client (`FullstoryClient.create_event`)."""

    def create_event(
        self,
        name: str,
        *,
        idempotency_key: str,
        session_id: str | None = None,
        uid: str | None = None,
        timestamp: str | None = None,
        properties: Mapping[str, Any] | None = None,
        schema: Mapping[str, str] | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """One event to write: `POST /v2/events` with this body and `Idempotency-Key`."""

    session_id: str
    idempotency_key: str
    timestamp: str
    properties: dict[str, Any]
    schema: dict[str, str] = field(default_factory=lambda: dict(DECLARED_TYPES))
    name: str = EVENT_NAME


def idempotency_key(investigation_id: str, session_id: str) -> str:
    """Stable per investigation and session; names the investigation, hashes the session."""
    digest = hashlib.sha256(f"{investigation_id}\n{session_id}".encode()).hexdigest()[:32]
    return f"fstriage.{investigation_id}.{digest}"


def report_uri(bucket: str, json_key: str) -> str:
    return f"s3://{bucket}/{json_key}"


def build_events(report: Mapping[str, Any], *, location: str, timestamp: str) -> list[ServerEvent]:
    """One event per session of a finished report (`core.report.build_report`'s JSON); none when it
    read no session. `location` is where the JSON report is stored, `timestamp` the request's time."""
    sessions = [s for s in report.get("sessions") or [] if isinstance(s, Mapping) and s.get("session_id")]
    if not sessions:
        return []
    groups = [g for g in report.get("error_groups") or [] if isinstance(g, Mapping)]
    hit = {str(s["session_id"]) for s in sessions if int(s.get("error_signal_count") or 0) > 0}
    for group in groups:
        hit.update(str(session) for session in group.get("sessions") or [])
    shared: dict[str, Any] = {
        "investigation_id": report["investigation_id"],
        "status": report["status"],
        "trigger_kind": report["trigger"]["kind"],
        "sessions_investigated": len(sessions),
        "sessions_hit": sum(1 for s in sessions if str(s["session_id"]) in hit),
        "report_uri": location,
    }
    if groups:
        shared["top_error_kind"] = str(groups[0]["kind"])
        shared["top_error_signature"] = str(groups[0]["signature"])[:MAX_SIGNATURE_CHARS]
    events: list[ServerEvent] = []
    seen: set[str] = set()
    for session in sessions:
        session_id = str(session["session_id"])
        if session_id in seen:
            continue
        seen.add(session_id)
        events.append(
            ServerEvent(
                session_id=session_id,
                idempotency_key=idempotency_key(str(report["investigation_id"]), session_id),
                timestamp=timestamp,
                properties={**shared, "session_hit": session_id in hit},
            )
        )
    return events


@dataclass(frozen=True, slots=True)
class WriteBackOutcome:
    """What write-back did: `written` of `planned`, and why the rest were not (when any were not)."""

    planned: int
    written: int
    # The refusal that stopped the writes (a key or org problem, or Fullstory unavailable).
    stopped_by: FullstoryError | None = None
    out_of_time: bool = False
    # Events Fullstory refused one by one (400, a key reused with another body), and the first reason.
    rejected: int = 0
    first_rejection: FullstoryError | None = None

    # Of `rejected`: events an earlier attempt already wrote with another body under the same key.
    kept_earlier: int = 0

    @property
    def not_written(self) -> int:
        return self.planned - self.written

    @property
    def skipped(self) -> int:
        """Events never sent: no time was left for them."""
        return self.not_written - self.refused if self.out_of_time else 0

    @property
    def refused(self) -> int:
        """Events Fullstory did not take: refused one by one, or left after a refusal that stopped them."""
        if self.stopped_by is not None and not self.out_of_time:
            return self.not_written
        return self.rejected

    def note(self) -> str | None:
        """A sentence for the report's notes: what was not written, why, and what to do; None if all were."""
        if self.not_written == 0:
            return None
        done = f"{self.written} of {self.planned} investigated sessions got their event."
        stopped = self.stopped_by
        if isinstance(stopped, FullstoryForbidden):
            return (
                f"Writing the investigation events into Fullstory was refused ({_words(stopped)}): the API "
                "key may not create server events. Use a key that may (an Admin or Architect key, which "
                "fstriage needs anyway to read sessions) and check its permissions in Fullstory, or set "
                f"WriteBackToFullstory to false. {done}"
            )
        if isinstance(stopped, FullstoryNotFound):
            return (
                f"Writing the investigation events into Fullstory was refused ({_words(stopped)} to POST "
                "/v2/events): this org may not accept server events. Ask Fullstory to enable server events "
                f"(the Server API's events) for the org, or set WriteBackToFullstory to false. {done}"
            )
        if isinstance(stopped, FullstoryAuthError):
            return (
                f"The API key was rejected while writing the investigation events ({_words(stopped)}). "
                f"Store a valid key in the Fullstory API key secret. {done}"
            )
        if self.out_of_time:
            return (
                "The invocation ran out of time writing the investigation events into Fullstory; the rest "
                "were skipped so that this report could be stored. Investigate fewer sessions at once "
                f"(MaxSessionsPerInvestigation) to leave time for them. {done}"
            )
        if stopped is not None:
            return (
                f"Fullstory did not take the investigation events ({_words(stopped)}); the rest were not "
                f"sent, and they are not retried for this report. {done}"
            )
        sentences = []
        if self.kept_earlier:
            sentences.append(
                f"{_count(self.kept_earlier, 'session')} kept the investigation event an earlier attempt "
                "of this investigation wrote (Fullstory refuses a different body under the same "
                "Idempotency-Key), so their event shows that attempt's findings."
            )
        others = self.rejected - self.kept_earlier
        if others:
            rejected = self.first_rejection
            reason = f" ({_words(rejected)})" if rejected is not None else ""
            sentences.append(
                f"Fullstory refused {_count(others, 'investigation event')}{reason}. If it calls the body "
                "malformed, report it as an fstriage bug."
            )
        return " ".join([*sentences, done])


def write_back(
    writer: EventWriter, events: Sequence[ServerEvent], *, time_left: Callable[[], float]
) -> WriteBackOutcome:
    """Write `events` in order while `time_left()` (seconds) allows one more; never raises a Fullstory
    error. A key or org refusal, or Fullstory being unavailable, stops the rest (each would get the
    same answer); a refusal of one event's body (400, 409 ...) skips that event only."""
    written = rejected = kept_earlier = 0
    first_rejection: FullstoryError | None = None
    for event in events:
        if time_left() < MIN_SECONDS_PER_WRITE:
            return WriteBackOutcome(len(events), written, None, True, rejected, first_rejection, kept_earlier)
        try:
            writer.create_event(
                event.name,
                idempotency_key=event.idempotency_key,
                session_id=event.session_id,
                timestamp=event.timestamp,
                properties=event.properties,
                schema=event.schema,
            )
        except _STOPPING as stopped:
            # The client gives up at its deadline with FullstoryUnavailable: that is running out of time.
            out_of_time = isinstance(stopped, FullstoryUnavailable) and time_left() < MIN_SECONDS_PER_WRITE
            return WriteBackOutcome(
                len(events), written, stopped, out_of_time, rejected, first_rejection, kept_earlier
            )
        except FullstoryError as refused:
            rejected += 1
            if _reused_key(refused):
                kept_earlier += 1
            else:
                first_rejection = first_rejection or refused
        except (FstriageError, ValueError) as unsendable:
            # The client refused to send it (a session ID it cannot read): a bug, never the report's end.
            reason = unsendable.reason if isinstance(unsendable, FstriageError) else type(unsendable).__name__
            rejected += 1
            first_rejection = first_rejection or FullstoryError(
                f"create_event: not sent ({reason})", code="not_sent"
            )
        else:
            written += 1
    return WriteBackOutcome(len(events), written, None, False, rejected, first_rejection, kept_earlier)


def _reused_key(error: FullstoryError) -> bool:
    """Fullstory's answer to another body under a used Idempotency-Key: undocumented, so every
    plausible form (409, 422, or a code naming idempotency)."""
    return error.status in (409, 422) or "idempot" in (error.code or "").lower()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# Refusals that every further event would get too.
_STOPPING = (
    FullstoryAuthError,
    FullstoryForbidden,
    FullstoryNotFound,
    FullstoryRateLimited,
    FullstoryServerError,
    FullstoryUnavailable,
)


def _words(error: FullstoryError) -> str:
    return f"Fullstory answered {error.status or 'nothing'}: {error.message}"
