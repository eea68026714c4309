"""Write-back (core/writeback.py): the events a finished report becomes, and how writing them ends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fstriage.core.errors import (
    FullstoryAuthError,
    FullstoryBadRequest,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
    FullstoryServerError,
    FullstoryUnavailable,
    PayloadError,
)
from fstriage.core.fullstory_models import FullstoryUsage
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings
from fstriage.core.report import build_report
from fstriage.core.request import InvestigationRequest
from fstriage.core.writeback import (
    EVENT_NAME,
    MIN_SECONDS_PER_WRITE,
    ServerEvent,
    build_events,
    idempotency_key,
    report_uri,
    write_back,
)
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import MemoryFullstory
from fstriage_cli.sandbox import SandboxSession
from fstriage_cli.sandbox.generator import generate

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
DATA = generate(6, now=ANCHOR)  # user-001: 2 sessions in the last 24 h, the newest a checkout crash
LOCATION = "s3://reports-bucket/reports/2026/11/01/inv_x.json"


def custom_event_on(session: SandboxSession) -> InvestigationRequest:
    document = payloads.custom_event()
    document["data"].update(sessionUrl=DATA.replay_url(session), timestamp=ANCHOR.isoformat())
    return payloads.request_for(document, received_at=ANCHOR)


def report_for(request: InvestigationRequest, fake: MemoryFullstory | None = None) -> dict[str, Any]:
    fake = fake or MemoryFullstory(DATA)
    outcome = Investigation(fake, InvestigationSettings(org_id=DATA.org_id, concurrency=1)).run(request)
    assert isinstance(outcome, Finished)
    return build_report(outcome.evidence, fake.usage, ANCHOR + timedelta(minutes=2))


def crash_report() -> tuple[dict[str, Any], InvestigationRequest]:
    request = custom_event_on(DATA.sessions_of(uid="user-001")[0])
    return report_for(request), request


# ---------------------------------------------------------------------------------------------
# The events


def test_each_investigated_session_gets_one_event_describing_the_investigation() -> None:
    report, request = crash_report()
    assert len(report["sessions"]) >= 2 and report["error_groups"]

    events = build_events(report, location=LOCATION, timestamp=request.origin.received_at)

    assert [e.session_id for e in events] == [s["session_id"] for s in report["sessions"]]
    hit = {s["session_id"] for s in report["sessions"] if s["error_signal_count"] > 0}
    top = report["error_groups"][0]
    for event in events:
        assert event.name == EVENT_NAME == "fstriage Investigation"
        assert event.timestamp == request.origin.received_at  # the request's time: the same on a re-run
        assert event.properties == {
            "investigation_id": report["investigation_id"],
            "status": report["status"],
            "trigger_kind": "custom_event",
            "sessions_investigated": len(report["sessions"]),
            "sessions_hit": len(hit),
            "session_hit": event.session_id in hit,
            "top_error_kind": top["kind"],
            "top_error_signature": top["signature"],
            "report_uri": LOCATION,
        }
        # Plain keys, no `_int` suffixes: the counts are typed through the schema instead.
        assert event.schema == {"sessions_investigated": "int", "sessions_hit": "int"}
    assert any(e.properties["session_hit"] for e in events)


def test_idempotency_keys_are_stable_per_investigation_and_session() -> None:
    report, request = crash_report()
    first = build_events(report, location=LOCATION, timestamp=request.origin.received_at)
    again = build_events(report, location=LOCATION, timestamp=request.origin.received_at)

    assert [e.idempotency_key for e in first] == [e.idempotency_key for e in again]
    assert len({e.idempotency_key for e in first}) == len(first)
    other = idempotency_key("inv_" + "0" * 32, first[0].session_id)
    assert other != first[0].idempotency_key
    for event in first:
        assert event.idempotency_key.startswith(f"fstriage.{report['investigation_id']}.")
        assert event.session_id not in event.idempotency_key  # the session is hashed, not spelled out
        assert event.idempotency_key.isascii() and " " not in event.idempotency_key


def test_a_report_that_read_no_session_writes_nothing() -> None:
    metric = payloads.metric_alert()
    metric["data"]["timestamp"] = ANCHOR.isoformat()
    report = report_for(payloads.request_for(metric, received_at=ANCHOR))  # an unmapped metric: no sessions
    assert report["sessions"] == []

    assert build_events(report, location=LOCATION, timestamp="2026-11-01T00:00:00.000Z") == []


def test_a_report_without_errors_has_no_top_group_properties() -> None:
    quiet = next(s for s in DATA.sessions if not s.has_errors)
    fake = MemoryFullstory(DATA, without_event_types=frozenset({"identify"}))  # just this session
    report = report_for(custom_event_on(quiet), fake)
    assert report["error_groups"] == []

    [event] = build_events(report, location=LOCATION, timestamp="2026-11-01T00:00:00.000Z")

    assert "top_error_kind" not in event.properties and "top_error_signature" not in event.properties
    assert event.properties["sessions_hit"] == 0 and event.properties["session_hit"] is False


def test_a_long_signature_is_clipped() -> None:
    report, request = crash_report()
    report["error_groups"][0]["signature"] = "x" * 5000
    [first, *_] = build_events(report, location=LOCATION, timestamp=request.origin.received_at)
    assert first.properties["top_error_signature"] == "x" * 256


def test_report_uri_names_the_bucket_and_key() -> None:
    assert report_uri("b", "reports/2026/11/01/inv_1.json") == "s3://b/reports/2026/11/01/inv_1.json"


# ---------------------------------------------------------------------------------------------
# Writing them


@dataclass
class FakeWriter:
    """Records each create_event; `fail` maps a session ID to what its write raises."""

    fail: dict[str, Exception] = field(default_factory=dict)
    written: list[dict[str, Any]] = field(default_factory=list)
    on_call: Any = None

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
    ) -> None:
        if self.on_call is not None:
            self.on_call()
        if session_id in self.fail:
            raise self.fail[session_id]
        self.written.append(
            {
                "name": name,
                "key": idempotency_key,
                "session_id": session_id,
                "uid": uid,
                "timestamp": timestamp,
                "properties": dict(properties or {}),
                "schema": dict(schema or {}),
            }
        )


def events(count: int) -> list[ServerEvent]:
    return [
        ServerEvent(
            session_id=f"{n}:{n}",
            idempotency_key=f"key-{n}",
            timestamp="2026-11-01T00:00:00.000Z",
            properties={"n": n},
        )
        for n in range(1, count + 1)
    ]


def plenty() -> float:
    return 100.0


def test_every_event_is_written_with_its_key_on_its_session() -> None:
    writer = FakeWriter()
    planned = events(3)

    outcome = write_back(writer, planned, time_left=plenty)

    assert (outcome.planned, outcome.written, outcome.not_written) == (3, 3, 0)
    assert outcome.note() is None
    assert [(w["session_id"], w["key"], w["uid"]) for w in writer.written] == [
        ("1:1", "key-1", None),
        ("2:2", "key-2", None),
        ("3:3", "key-3", None),
    ]
    assert writer.written[0]["schema"] == planned[0].schema


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            FullstoryForbidden("create_event: HTTP 403: insufficient permissions", status=403),
            ["refused", "403", "may not create server events", "WriteBackToFullstory to false"],
        ),
        (
            FullstoryNotFound("create_event: HTTP 404: Requested resource does not exist", status=404),
            ["may not accept server events", "404", "enable server events", "WriteBackToFullstory to false"],
        ),
        (
            FullstoryAuthError("create_event: HTTP 401: access is unauthorized", status=401),
            ["API key was rejected", "401"],
        ),
        (
            FullstoryUnavailable("create_event: gave up after 4 attempts", status=503, attempts=4),
            ["did not take the investigation events", "503"],
        ),
    ],
)
def test_a_key_or_org_refusal_stops_the_writes_and_becomes_an_actionable_note(
    error: FullstoryError, words: list[str]
) -> None:
    planned = events(4)
    writer = FakeWriter(fail={"2:2": error})

    outcome = write_back(writer, planned, time_left=plenty)

    assert [w["session_id"] for w in writer.written] == ["1:1"]  # nothing after the refusal
    assert (outcome.written, outcome.not_written) == (1, 3)
    assert outcome.stopped_by is error and not outcome.out_of_time
    note = outcome.note()
    assert note is not None
    for word in words:
        assert word in note
    assert note.endswith("1 of 4 investigated sessions got their event.")


def test_a_refused_body_skips_that_event_only() -> None:
    bad = FullstoryBadRequest("create_event: HTTP 400: name is required", status=400)
    conflict = FullstoryError("create_event: HTTP 409: the Idempotency-Key was used", status=409)
    writer = FakeWriter(
        fail={"1:1": bad, "3:3": conflict, "4:4": PayloadError("no", reason="invalid_session_id")}
    )

    outcome = write_back(writer, events(5), time_left=plenty)

    assert [w["session_id"] for w in writer.written] == ["2:2", "5:5"]
    assert (outcome.written, outcome.rejected, outcome.kept_earlier, outcome.stopped_by) == (2, 3, 1, None)
    assert (outcome.refused, outcome.skipped) == (3, 0)
    note = outcome.note()
    assert note is not None
    assert note.startswith(
        "1 session kept the investigation event an earlier attempt of this investigation wrote"
    )
    assert "Fullstory refused 2 investigation events (Fullstory answered 400: " in note
    assert note.endswith("2 of 5 investigated sessions got their event.")


@pytest.mark.parametrize(
    "reused",
    [
        FullstoryError("create_event: HTTP 409: conflict", status=409),
        FullstoryError("create_event: HTTP 422: body differs", status=422),
        FullstoryBadRequest("create_event: HTTP 400: key reused", status=400, code="idempotency_key_reused"),
    ],
)
def test_every_plausible_reused_key_answer_keeps_the_earlier_event(reused: FullstoryError) -> None:
    outcome = write_back(FakeWriter(fail={"1:1": reused}), events(2), time_left=plenty)

    assert (outcome.written, outcome.kept_earlier) == (1, 1)
    note = outcome.note()
    assert note is not None and "Fullstory refused" not in note


def test_writes_stop_when_too_little_time_is_left_for_another() -> None:
    left = [MIN_SECONDS_PER_WRITE + 2.0]

    def time_left() -> float:
        return left[0]

    def one_write_takes_a_second() -> None:
        left[0] -= 1.0

    writer = FakeWriter(on_call=one_write_takes_a_second)

    outcome = write_back(writer, events(5), time_left=time_left)

    assert (outcome.written, outcome.not_written, outcome.out_of_time) == (3, 2, True)
    assert outcome.stopped_by is None
    note = outcome.note()
    assert note is not None and "ran out of time" in note and "MaxSessionsPerInvestigation" in note


def test_the_client_giving_up_at_its_deadline_counts_as_running_out_of_time() -> None:
    left = [50.0]
    deadline = FullstoryUnavailable("create_event: no time left before the deadline")

    def spend_it_all() -> None:
        left[0] = 1.0

    writer = FakeWriter(fail={"1:1": deadline}, on_call=spend_it_all)

    outcome = write_back(writer, events(2), time_left=lambda: left[0])

    assert (outcome.written, outcome.out_of_time, outcome.stopped_by) == (0, True, deadline)
    note = outcome.note()
    assert note is not None and "ran out of time" in note


def test_a_server_error_after_the_retries_stops_the_rest() -> None:
    error = FullstoryServerError("create_event: HTTP 500: Server error was encountered", status=500)
    outcome = write_back(FakeWriter(fail={"1:1": error}), events(3), time_left=plenty)
    assert (outcome.written, outcome.not_written, outcome.stopped_by) == (0, 3, error)


def test_usage_of_two_client_views_adds_up() -> None:
    reads = FullstoryUsage(calls=5, retries=1, activations=2, downloads=1, by_operation={"summary": 2})
    writes = FullstoryUsage(
        calls=3, retries=1, activations=0, downloads=0, by_operation={"create_event": 3}, writes=2
    )

    total = reads.plus(writes)

    assert total == FullstoryUsage(
        calls=8,
        retries=2,
        activations=2,
        downloads=1,
        by_operation={"summary": 2, "create_event": 3},
        writes=2,
    )
