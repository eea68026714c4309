"""The monthly Activation cap (`core.budget`) with an in-memory count: reservations, the cap never
passed, and an investigation that reaches the cap keeps what is free and says so. Also the report's
`quiet` mark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fstriage.core.budget import CAP_REASON, NOTE_TOPIC, ActivationBudget, month_expiry, month_of
from fstriage.core.investigation import Evidence, Finished, Investigation, InvestigationSettings
from fstriage.core.report import build_report, is_quiet
from fstriage_cli.samples.fakes import MemoryActivationCounter, MemoryFullstory
from tests.unit.test_investigation import ANCHOR, DATA, segment_alert

MONTH = month_of(ANCHOR)


def investigate(fake: MemoryFullstory, budget: ActivationBudget | None, **settings: Any) -> Evidence:
    values: dict[str, Any] = {"org_id": DATA.org_id, "concurrency": 1} | settings
    outcome = Investigation(
        fake, InvestigationSettings(**values), now=lambda: ANCHOR, activations=budget
    ).run(segment_alert())
    assert isinstance(outcome, Finished)
    return outcome.evidence


def test_reservations_count_up_to_the_cap_and_never_past_it() -> None:
    counter = MemoryActivationCounter()
    budget = ActivationBudget(counter, 3, now=lambda: ANCHOR)
    assert [budget.reserve() for _ in range(5)] == [True, True, True, False, False]
    assert counter.counts == {"2026-11": 3}
    assert (budget.reserved, budget.refused, budget.exhausted) == (3, 2, True)
    # Once refused, the investigation stops asking the store.
    assert counter.calls["reserve"] == 4
    assert budget.used_percent() == 100.0
    assert counter.calls["used"] == 0


def test_two_investigations_share_the_months_count() -> None:
    counter = MemoryActivationCounter()
    first = ActivationBudget(counter, 4, now=lambda: ANCHOR)
    second = ActivationBudget(counter, 4, now=lambda: ANCHOR)
    assert [first.reserve(), second.reserve(), first.reserve()] == [True, True, True]
    assert second.used_percent() == 75.0  # the month's count, not only its own reservations
    assert [second.reserve(), first.reserve()] == [True, False]
    assert counter.counts[MONTH] == 4


def test_a_new_month_starts_a_new_count_and_the_item_outlives_its_month() -> None:
    counter = MemoryActivationCounter(counts={"2026-11": 10})
    december = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    budget = ActivationBudget(counter, 10, now=lambda: december)
    assert budget.reserve()
    assert counter.counts == {"2026-11": 10, "2026-12": 1}
    assert month_expiry(december) == int(datetime(2027, 2, 10, tzinfo=UTC).timestamp())
    assert counter.expiries["2026-12"] == month_expiry(december)


def test_without_any_reservation_the_percentage_is_read_from_the_store() -> None:
    counter = MemoryActivationCounter(counts={MONTH: 8})
    assert ActivationBudget(counter, 10, now=lambda: ANCHOR).used_percent() == 80.0
    assert counter.calls["used"] == 1


def test_a_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ActivationBudget(MemoryActivationCounter(), 0)


def test_under_the_cap_an_investigation_spends_as_before_and_counts_each_activation() -> None:
    counter = MemoryActivationCounter()
    fake = MemoryFullstory(DATA)
    evidence = investigate(fake, ActivationBudget(counter, 100, now=lambda: ANCHOR))
    assert NOTE_TOPIC not in evidence.notes.topics()
    assert fake.activations == counter.counts[MONTH] == len(evidence.sessions) > 0


def test_at_the_cap_events_are_not_read_but_summaries_and_export_rows_still_are() -> None:
    counter = MemoryActivationCounter(counts={MONTH: 8})
    fake = MemoryFullstory(DATA)
    budget = ActivationBudget(counter, 10, now=lambda: ANCHOR)

    evidence = investigate(fake, budget)

    sessions = evidence.sessions
    assert len(sessions) > 2
    assert fake.calls["session_events"] == fake.activations == 2  # only what the cap left
    assert counter.counts[MONTH] == 10
    capped = [f for f in sessions if f.events_unavailable == CAP_REASON]
    assert len(capped) == len(sessions) - 2
    assert all(f.digest is None for f in capped)
    # Free: every session's summary, and the export rows standing in for the events not read.
    assert fake.calls["summary"] == len(sessions)
    assert sorted(d.session_id for d in evidence.fallback_digests) == sorted(f.session_id for f in capped)
    assert evidence.status == "partial"
    [note] = [s for s in evidence.notes.sentences() if "Activation cap" in s]
    assert f"session events were not read for {len(capped)} sessions" in note
    assert "MonthlyActivationCap" in note and "2026-11" in note
    report = build_report(evidence, fake.usage, ANCHOR)
    assert report["cost"]["activations"] == 2
    assert report["error_groups"]  # from the export rows


def test_a_cap_already_reached_spends_no_activation_at_all() -> None:
    counter = MemoryActivationCounter(counts={MONTH: 5})
    fake = MemoryFullstory(DATA)
    evidence = investigate(fake, ActivationBudget(counter, 5, now=lambda: ANCHOR), event_source="context")
    assert fake.calls["session_events"] == fake.calls["session_context"] == fake.activations == 0
    assert evidence.sessions and all(f.events_unavailable == CAP_REASON for f in evidence.sessions)
    assert counter.calls["reserve"] == 1


# -- quiet reports ---------------------------------------------------------------------------------


def report_with(groups: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    sessions = [{"signal_source": "events"}] if groups else []
    return {"status": "complete", "error_groups": groups, "sessions": sessions, **fields}


def test_quiet_means_nothing_new_no_errors_or_only_ongoing_ones() -> None:
    read = [{"signal_source": "events"}]
    assert is_quiet(report_with([], sessions=read))
    assert is_quiet(report_with([], trigger={"kind": "scheduled"}))  # a watched segment's empty period
    assert not is_quiet(report_with([]))  # an alert whose report read no session: not quiet
    assert is_quiet(report_with([{"state": "ongoing"}, {"state": "ongoing"}]))
    assert not is_quiet(report_with([{"state": "ongoing"}, {"state": "new"}]))
    # Without continuity a group has no state: it counts as new.
    assert not is_quiet(report_with([{"signature": "x"}]))
    assert not is_quiet(report_with([{"state": None}]))


def test_a_report_whose_silence_could_hide_a_problem_is_never_quiet() -> None:
    assert not is_quiet(report_with([], status="failed"))
    assert not is_quiet(report_with([], unread_events={"count": 3}))
    # A session whose events could not be read at all: "no errors" would be a guess.
    assert not is_quiet(report_with([], sessions=[{"signal_source": "events"}, {"signal_source": None}]))
    assert is_quiet(report_with([], sessions=[{"signal_source": "events"}, {"signal_source": "export"}]))


def test_the_report_carries_quiet() -> None:
    fake = MemoryFullstory(DATA)
    evidence = investigate(fake, None)
    report = build_report(evidence, fake.usage, ANCHOR + timedelta(minutes=1))
    assert report["error_groups"] and report["quiet"] is False
    empty = Evidence(request=segment_alert())
    assert build_report(empty, fake.usage, ANCHOR)["quiet"] is False  # an alert that read nothing


def test_an_unreadable_count_fails_closed_and_keeps_the_free_work() -> None:
    counter = MemoryActivationCounter(unavailable=True)
    budget = ActivationBudget(counter, 100, now=lambda: ANCHOR)
    fake = MemoryFullstory(DATA)

    evidence = investigate(fake, budget, max_sessions=2)

    assert fake.calls["session_events"] == 0  # no Activation spent that could not be counted
    assert evidence.sessions and all(f.events_unavailable == CAP_REASON for f in evidence.sessions)
    assert budget.count_unavailable
    assert any("could not be read or updated" in note for note in evidence.notes.sentences())
