"""Watched segments (`core.watch`): the parameter, which segments a tick makes due, their windows and
request IDs, and a `scheduled` investigation of a watched segment (in-memory Fullstory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fstriage.core.errors import ConfigurationError, PayloadError
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings
from fstriage.core.report import build_report
from fstriage.core.request import InvestigationRequest
from fstriage.core.request_checks import request_problems
from fstriage.core.watch import (
    Tick,
    WatchedSegment,
    due,
    is_tick,
    parse_watched_segments,
    period_end,
    read_tick,
    scheduled_request,
    scheduled_requests,
    tick_message,
)
from fstriage.settings import InvestigatorSettings
from fstriage_cli.samples.fakes import MemoryFullstory
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS, generate
from tests.unit.test_export_inline_wait import ENV

ORG = "o-TEST-na1"
WATCHED = parse_watched_segments("seg-daily, seg-six@6h,seg-week@7d")
RECEIVED = datetime(2026, 12, 3, 0, 0, 5, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def test_the_parameter_lists_segments_with_optional_periods_defaulting_to_a_day() -> None:
    assert parse_watched_segments("seg-daily, seg-six@6h,seg-week@7d") == (
        WatchedSegment("seg-daily", timedelta(days=1)),
        WatchedSegment("seg-six", timedelta(hours=6)),
        WatchedSegment("seg-week", timedelta(days=7)),
    )
    assert [w.period_text for w in WATCHED] == ["24h", "6h", "7d"]
    assert parse_watched_segments("") == ()
    assert parse_watched_segments(" , ") == ()


@pytest.mark.parametrize("text", ["seg a", "seg@6m", "seg@0h", "seg@31d", "seg;rm", "seg,seg@6h", "@6h"])
def test_a_malformed_list_is_a_configuration_error(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_watched_segments(text)


def test_a_tick_at_midnight_makes_every_period_ending_then_due() -> None:
    # 2026-12-03 is a Thursday: weekly periods (aligned to the Unix epoch, a Thursday) end then too.
    assert [(w.segment_id, end) for w, end in due(WATCHED, at(3, 0))] == [
        ("seg-daily", at(3, 0)),
        ("seg-six", at(3, 0)),
        ("seg-week", at(3, 0)),
    ]


def test_each_segment_is_due_once_per_period_across_a_day_of_hourly_ticks() -> None:
    runs: dict[str, list[datetime]] = {}
    for hour in range(48):
        tick = at(4, 0) + timedelta(hours=hour)
        for watched, end in due(WATCHED, tick):
            runs.setdefault(watched.segment_id, []).append(end)
    assert runs["seg-daily"] == [at(4, 0), at(5, 0)]
    assert runs["seg-six"] == [at(4, 0) + timedelta(hours=6 * n) for n in range(8)]
    assert "seg-week" not in runs  # Friday and Saturday: no weekly boundary


def test_a_tick_scheduled_off_the_hour_still_finds_the_boundary_of_its_hour() -> None:
    assert [w.segment_id for w, _ in due(WATCHED, at(3, 6, 40))] == ["seg-six"]
    assert period_end(at(3, 6, 40), timedelta(hours=6)) == at(3, 6)
    assert due(WATCHED, at(3, 7)) == []


def test_a_scheduled_request_covers_the_period_that_just_ended_and_is_valid() -> None:
    [daily, six, week] = scheduled_requests(WATCHED, Tick(at(3, 0)), org_id=ORG, received_at=RECEIVED)
    assert (daily.window.start, daily.window.end) == ("2026-12-02T00:00:00.000Z", "2026-12-03T00:00:00.000Z")
    assert six.window.start == "2026-12-02T18:00:00.000Z"
    assert week.window.start == "2026-11-26T00:00:00.000Z"
    trigger = daily.trigger
    assert (trigger.kind, trigger.source, trigger.occurred_at) == (
        "scheduled",
        "schedule",
        "2026-12-03T00:00:00.000Z",
    )
    assert trigger.alert is not None and trigger.alert.segment_id == "seg-daily"
    assert daily.subject.is_empty
    for request in (daily, six, week):
        assert request_problems(request) == []
        assert InvestigationRequest.from_json(request.to_json()) == request


def test_request_ids_derive_from_segment_and_period_so_a_redelivered_tick_queues_the_same_ones() -> None:
    first = scheduled_requests(WATCHED, Tick(at(3, 0)), org_id=ORG, received_at=RECEIVED)
    again = scheduled_requests(
        WATCHED, Tick(at(3, 0)), org_id=ORG, received_at=RECEIVED + timedelta(minutes=9)
    )
    assert [r.request_id for r in first] == [r.request_id for r in again]
    assert len({r.request_id for r in first}) == 3
    next_day = scheduled_requests(WATCHED, Tick(at(4, 0)), org_id=ORG, received_at=RECEIVED)
    assert not {r.request_id for r in next_day} & {r.request_id for r in first}
    other_org = scheduled_requests(WATCHED, Tick(at(3, 0)), org_id="o-OTHER-na1", received_at=RECEIVED)
    assert not {r.request_id for r in other_org} & {r.request_id for r in first}


def test_a_tick_message_reads_back_and_anything_else_is_refused_in_our_words() -> None:
    message = tick_message(at(3, 5))
    assert message == {"schema_version": 1, "tick": "watch", "scheduled_at": "2026-12-03T05:00:00.000Z"}
    assert is_tick(message)
    assert read_tick(message) == Tick(at(3, 5))
    # What Scheduler writes for <aws.scheduler.scheduled-time>.
    assert read_tick({"schema_version": 1, "tick": "watch", "scheduled_at": "2026-12-03T05:00:00Z"}) == Tick(
        at(3, 5)
    )
    assert not is_tick({"schema_version": 1, "request_id": "req_x"})
    for bad in (
        {"schema_version": 2, "tick": "watch", "scheduled_at": "2026-12-03T05:00:00Z"},
        {"schema_version": 1, "tick": "other", "scheduled_at": "2026-12-03T05:00:00Z"},
        {"schema_version": 1, "tick": "watch", "scheduled_at": "<aws.scheduler.scheduled-time>"},
        {"schema_version": 1, "tick": "watch"},
    ):
        with pytest.raises(PayloadError) as refused:
            read_tick(bad)
        assert "aws.scheduler" not in refused.value.message


def test_a_scheduled_run_investigates_the_watched_segments_sessions_in_its_period() -> None:
    anchor = datetime(2026, 11, 1, tzinfo=UTC)
    data = generate(6, now=anchor)
    segment = data.segment_named(CHECKOUT_ERRORS)
    request = scheduled_request(
        WatchedSegment(segment.id, timedelta(days=7)), anchor, org_id=data.org_id, received_at=anchor
    )
    fake = MemoryFullstory(data)

    outcome = Investigation(fake, InvestigationSettings(org_id=data.org_id, concurrency=1)).run(request)

    assert isinstance(outcome, Finished)
    evidence = outcome.evidence
    assert evidence.fatal is None
    assert fake.calls["export_start"] == 1
    assert evidence.sessions and fake.calls["session_events"] == len(evidence.sessions)
    report = build_report(evidence, fake.usage, anchor)
    assert report["trigger"]["kind"] == "scheduled"
    assert report["trigger"]["segment"]["id"] == segment.id
    assert report["headline"].startswith(f'Watched segment "{segment.id}": ')


def test_a_bad_watch_list_fails_only_the_ticks_never_the_investigator() -> None:
    env = {**ENV, "WATCHED_SEGMENTS": "seg-a@0h"}

    settings = InvestigatorSettings.from_env(env)

    assert settings.watched_segments == ()
    assert settings.watched_segments_error and "WATCHED_SEGMENTS" in settings.watched_segments_error
