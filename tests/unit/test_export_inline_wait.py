"""A young segment export polled in-process before the request is re-queued: on a fake clock (every
Fullstory call takes 50 ms of it, every sleep moves it; nothing really sleeps), what is asked, what is
waited, and when the investigation gives up and re-queues with the same polls accounting as before."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from fstriage import investigator_app
from fstriage.core.errors import FullstoryAuthError, FullstoryUnavailable
from fstriage.core.fullstory_models import Operation
from fstriage.core.investigation import (
    INLINE_FIRST_WAIT_SECONDS,
    INLINE_MAX_CHECKS,
    INLINE_MAX_WAIT_SECONDS,
    Finished,
    Investigation,
    InvestigationSettings,
    Requeue,
)
from fstriage.settings import InvestigatorSettings
from fstriage_cli.samples.fakes import MemoryFullstory
from tests.unit.test_investigation import ANCHOR, DATA, segment_alert

CALL_SECONDS = 0.05
LAMBDA_SECONDS = 120.0


@dataclass
class FakeTime:
    """A monotonic clock, the wall clock and the invocation's remaining time, moved together."""

    elapsed: float = 0.0
    invocation_seconds: float = LAMBDA_SECONDS
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return ANCHOR + timedelta(seconds=self.elapsed)

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds  # a call's own time: not a sleep

    def remaining(self) -> float:
        return self.invocation_seconds - self.elapsed

    def new_invocation(self, *, after: float = 30.0, seconds: float = LAMBDA_SECONDS) -> None:
        """A later invocation (the re-queued continuation, `after` seconds on) with its own time."""
        self.elapsed += after
        self.invocation_seconds = self.elapsed + seconds
        self.sleeps.clear()


@dataclass
class TimedExport(MemoryFullstory):
    """An export that is ready `ready_after` seconds after it started, with Fullstory's progress
    estimate growing linearly (one decimal), or absent with `estimate=False`. `ready_after=None`:
    never ready. `end_state` is its final state; `fail_checks` maps a check number (1 = the first
    `operation` call) to the error it raises."""

    time: FakeTime = field(default_factory=FakeTime)
    ready_after: float | None = 0.0
    estimate: bool = True
    end_state: str = "COMPLETED"
    fail_checks: dict[int, Exception] = field(default_factory=dict)
    started: float = 0.0

    def __post_init__(self) -> None:
        self.before_call = lambda _: self.time.advance(CALL_SECONDS)

    def start_segment_export(self, segment_id: str, start: datetime, end: datetime) -> str:
        operation_id = super().start_segment_export(segment_id, start, end)
        self.started = self.time.elapsed
        return operation_id

    def operation(self, operation_id: str) -> Operation:
        self._call("operation")
        error = self.fail_checks.get(self.calls["operation"])
        if error is not None:
            raise error
        age = self.time.elapsed - self.started
        if self.ready_after is not None and age >= self.ready_after:
            done = self.end_state == "COMPLETED"
            return Operation(
                operation_id,
                "COMPLETED" if done else "FAILED",
                f"export-{operation_id}" if done else None,
                None if done else "the export broke",
                100.0,
            )
        pct = None
        if self.estimate and self.ready_after is not None:
            pct = min(99.9, round(100 * age / self.ready_after, 1)) if self.ready_after > 0 else 99.9
        return Operation(operation_id, "PENDING", None, None, pct)


def investigation(fake: TimedExport, **overrides: Any) -> Investigation:
    values: dict[str, Any] = {
        "org_id": DATA.org_id,
        "concurrency": 1,
        "max_sessions": 2,
        "export_inline_wait_seconds": 20.0,
        "export_poll_delay_seconds": 30,
    }
    values.update(overrides)
    return Investigation(
        fake,
        InvestigationSettings(**values),
        deadline=fake.time.remaining,
        now=fake.time.now,
        clock=fake.time.clock,
        sleep=fake.time.sleep,
    )


def test_an_export_ready_at_the_first_check_is_read_without_waiting() -> None:
    fake = TimedExport(DATA, ready_after=0.0)

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Finished)
    assert outcome.evidence.status == "complete"
    assert len(outcome.evidence.sessions) == 2
    assert fake.time.sleeps == []
    assert (fake.calls["export_start"], fake.calls["operation"], fake.calls["export_results"]) == (1, 1, 1)


@pytest.mark.parametrize("ready_after", [0.6, 2.0, 5.0, 10.0])
def test_an_export_ready_within_the_budget_is_reported_by_the_first_invocation(ready_after: float) -> None:
    fake = TimedExport(DATA, ready_after=ready_after)

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Finished)
    assert outcome.evidence.status == "complete"
    assert fake.calls["export_results"] == 1
    # Checked again within a wait of the moment it was ready: 1 s, then at most 2 s between checks.
    waited = sum(fake.time.sleeps)
    assert (
        ready_after - fake.calls["operation"] * CALL_SECONDS
        <= waited
        <= ready_after + INLINE_MAX_WAIT_SECONDS
    )
    assert fake.time.sleeps[0] <= INLINE_FIRST_WAIT_SECONDS
    assert max(fake.time.sleeps) <= INLINE_MAX_WAIT_SECONDS


def test_waits_follow_fullstorys_estimate_when_it_says_the_export_is_nearly_done() -> None:
    fake = TimedExport(DATA, ready_after=0.6)

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Finished)
    assert fake.time.sleeps[0] < INLINE_FIRST_WAIT_SECONDS  # not a full second for 0.55 s of work left
    assert fake.calls["operation"] <= 3


def test_without_an_estimate_the_waits_are_1_s_then_2_s() -> None:
    fake = TimedExport(DATA, ready_after=6.0, estimate=False)

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Finished)
    assert fake.time.sleeps == [1.0, 2.0, 2.0, 2.0]


def test_an_export_fullstory_expects_to_take_longer_is_requeued_at_once() -> None:
    """E = 60 s against a 20 s budget: the first check's estimate says so, and nothing is waited."""
    fake = TimedExport(DATA, ready_after=60.0)
    request = segment_alert()

    first = investigation(fake).run(request)

    assert isinstance(first, Requeue)
    assert fake.time.sleeps == []
    assert first.delay_seconds == 30
    continuation = first.request.continuation
    assert continuation is not None
    assert (continuation.operation_id, continuation.polls) == ("op-1", 1)

    # The continuation 30 s later: still 30 s to go, more than the budget; again no wait.
    fake.time.new_invocation(after=30.0)
    second = investigation(fake).run(first.request)
    assert isinstance(second, Requeue)
    assert fake.time.sleeps == []
    assert second.request.continuation is not None
    assert second.request.continuation.polls == 2

    # 30 s later it is ready: the third link reports.
    fake.time.new_invocation(after=30.0)
    third = investigation(fake).run(second.request)
    assert isinstance(third, Finished)
    assert third.evidence.status == "complete"
    assert (fake.calls["export_start"], fake.calls["operation"]) == (1, 3)


def test_a_continuation_whose_export_is_nearly_ready_waits_for_it() -> None:
    fake = TimedExport(DATA, ready_after=40.0)
    first = investigation(fake).run(segment_alert())
    assert isinstance(first, Requeue)

    fake.time.new_invocation(after=30.0)  # 10 s left by the estimate: within the budget
    second = investigation(fake).run(first.request)

    assert isinstance(second, Finished)
    assert 9.0 <= sum(fake.time.sleeps) <= 10.0 + INLINE_MAX_WAIT_SECONDS


def test_an_export_never_ready_within_the_budget_is_requeued_with_the_same_polls_accounting() -> None:
    """No estimate and never ready: each link waits its budget, counts as one poll, and the last
    permitted poll ends the investigation with the usual note."""
    fake = TimedExport(DATA, ready_after=None, estimate=False)
    request = segment_alert()
    run = investigation(fake, export_max_polls=3)

    first = run.run(request)
    assert isinstance(first, Requeue)
    assert 20.0 - INLINE_MAX_WAIT_SECONDS <= sum(fake.time.sleeps) <= 20.0
    assert first.request.continuation is not None
    assert first.request.continuation.polls == 1
    assert first.delay_seconds == 30

    fake.time.new_invocation()
    second = run.run(first.request)
    assert isinstance(second, Requeue)
    assert second.request.continuation is not None
    assert second.request.continuation.polls == 2
    assert second.request.continuation.started_at == first.request.continuation.started_at

    fake.time.new_invocation()
    third = run.run(second.request)
    assert isinstance(third, Finished)
    assert third.evidence.fatal == "export_timeout"
    assert third.evidence.notes.sentences()[0].startswith(
        "The segment export was still being prepared after 3 checks"
    )
    assert fake.calls["export_start"] == 1


def test_an_export_that_fails_while_waited_for_gives_the_failed_note() -> None:
    fake = TimedExport(DATA, ready_after=3.0, end_state="FAILED")

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Finished)
    assert outcome.evidence.fatal == "export_failed"
    assert outcome.evidence.notes.sentences() == [
        "Fullstory could not export the segment (the export broke); the report covers the alert only."
    ]
    assert fake.calls["export_results"] == 0


def test_a_check_that_fails_for_a_retryable_reason_requeues_the_started_export() -> None:
    outage = FullstoryUnavailable("operation: HTTP 503", status=503, code="server_error")
    fake = TimedExport(DATA, ready_after=5.0, fail_checks={3: outage})

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Requeue)
    assert outcome.request.continuation is not None
    assert (outcome.request.continuation.operation_id, outcome.request.continuation.polls) == ("op-1", 1)

    fake.time.new_invocation(after=30.0)
    later = investigation(fake).run(outcome.request)
    assert isinstance(later, Finished)
    assert later.evidence.status == "complete"
    assert fake.calls["export_start"] == 1  # never restarted


def test_a_first_check_that_fails_is_raised_for_redelivery_as_before() -> None:
    outage = FullstoryUnavailable("operation: HTTP 503", status=503, code="server_error")
    fake = TimedExport(DATA, ready_after=5.0, fail_checks={1: outage})

    with pytest.raises(FullstoryUnavailable):
        investigation(fake).run(segment_alert())


def test_a_rejected_key_while_waiting_fails_the_report() -> None:
    fake = TimedExport(DATA, ready_after=5.0, fail_checks={2: FullstoryAuthError("no", status=401)})

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Finished)
    assert outcome.evidence.fatal == "auth"


def test_waiting_stops_when_the_invocation_needs_its_time_for_the_rest() -> None:
    """65 s left and a 60 s reserve: at most 5 s of waiting, then re-queued."""
    fake = TimedExport(DATA, ready_after=None, estimate=False)
    fake.time.invocation_seconds = 65.0

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Requeue)
    assert sum(fake.time.sleeps) <= 5.0
    assert fake.time.remaining() >= 60.0


def test_no_waiting_at_all_below_the_reserve() -> None:
    fake = TimedExport(DATA, ready_after=2.0)
    fake.time.invocation_seconds = 50.0

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Requeue)
    assert fake.time.sleeps == []


def test_an_inline_budget_of_zero_requeues_at_once_as_before() -> None:
    fake = TimedExport(DATA, ready_after=2.0)

    outcome = investigation(fake, export_inline_wait_seconds=0).run(segment_alert())

    assert isinstance(outcome, Requeue)
    assert fake.time.sleeps == []
    assert fake.calls["operation"] == 1


# The least environment the investigator's settings accept (tests/unit/test_watch.py uses it too).
ENV = {
    "FULLSTORY_ORG_ID": "o-1-na1",
    "FULLSTORY_API_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
    "REPORTS_BUCKET": "b",
    "INVESTIGATION_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
    "IDEMPOTENCY_TABLE_NAME": "t",
}


def test_the_investigator_waits_20_s_by_default_and_the_setting_changes_it() -> None:
    assert InvestigatorSettings.from_env(ENV).investigation().export_inline_wait_seconds == 20.0
    changed = InvestigatorSettings.from_env({**ENV, "EXPORT_INLINE_WAIT_SECONDS": "0"})
    assert changed.investigation().export_inline_wait_seconds == 0.0


def test_poll_records_live_for_the_export_chain_and_reports_for_the_idempotency_expiry() -> None:
    settings = InvestigatorSettings.from_env(ENV)
    chain = settings.export_max_polls * (
        settings.export_poll_delay_seconds + settings.export_inline_wait_seconds
    )
    redeliveries = settings.max_receive_count * settings.queue_visibility_timeout_seconds
    assert investigator_app.poll_record_expiry(settings) == chain + redeliveries
    assert investigator_app.poll_record_expiry(settings) < settings.idempotency_expiry_seconds
    runtime = investigator_app.InvestigatorRuntime.from_env(ENV)
    assert runtime.poll_idempotency.expires_after_seconds == chain + redeliveries
    assert runtime.idempotency.expires_after_seconds == settings.idempotency_expiry_seconds
    # Never longer than the report's own guard, however long the chain is allowed to poll.
    long = InvestigatorSettings.from_env(
        {**ENV, "EXPORT_MAX_POLLS": "100000", "EXPORT_POLL_DELAY_SECONDS": "900"}
    )
    assert investigator_app.poll_record_expiry(long) == long.idempotency_expiry_seconds
    assert InvestigatorSettings.from_env({**ENV, "MAX_RECEIVE_COUNT": "3"}).max_receive_count == 3


@dataclass
class StalledExport(TimedExport):
    """Fullstory's estimate stuck at 99% while the export stays pending."""

    def operation(self, operation_id: str) -> Operation:
        self._call("operation")
        return Operation(operation_id, "PENDING", None, None, 99.0)


def test_a_stalled_estimate_cannot_turn_the_wait_into_a_check_storm() -> None:
    fake = StalledExport(DATA, ready_after=None)

    outcome = investigation(fake).run(segment_alert())

    assert isinstance(outcome, Requeue)
    # The first check comes on the estimate's word; after it, every 2 s, and never more than the cap.
    assert fake.calls["operation"] <= INLINE_MAX_CHECKS + 1
    assert all(wait >= INLINE_MAX_WAIT_SECONDS for wait in fake.time.sleeps[1:])
