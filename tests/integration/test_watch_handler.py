"""Watched segments, the monthly Activation cap and quiet reports through the investigator handler
in-process: moto (SQS, S3, DynamoDB, EventBridge) against the Fullstory sandbox, as in
test_investigator_handler (whose rig this module reuses).

A tick is what the WatchSchedule sends; the test sends it to the queue itself instead of waiting for
the hour."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from fstriage.adapters import aws
from fstriage.core.budget import month_of
from fstriage.core.watch import tick_message
from fstriage_cli.samples.values import STATE_TABLE_NAME
from tests.integration import test_investigator_handler as base
from tests.integration.test_investigator_handler import (
    ANCHOR,
    COMPLETED,
    EVENTS,
    EXPORT_START,
    SUMMARY,
    Rig,
    SlackInbox,
    checkout_errors,
    emf_metrics,
    exported_sessions,
    invoke,
)
from tests.support.aws import REPO_ROOT

# That module's fixtures, used here by name: the sandbox (module-scoped), its reset, and the rig.
running_sandbox = base.running_sandbox
sandbox = base.sandbox
rig = base.rig
slack = base.slack
slack_rig = base.slack_rig
TICK_EXAMPLE = REPO_ROOT / "events" / "sqs-watch-tick.json"

STATE_TABLE = STATE_TABLE_NAME


def send_tick(rig: Rig, at: Any) -> None:
    rig.stack.send(json.dumps(tick_message(at)), {"schema_version": "1", "kind": "tick"})


def activation_count(month: str) -> int:
    item = (
        aws.client("dynamodb")
        .get_item(TableName=STATE_TABLE, Key={"id": {"S": f"activations#{month}"}}, ConsistentRead=True)
        .get("Item")
    )
    return int(item["used"]["N"]) if item else 0


def test_a_tick_queues_the_due_watched_segment_and_it_is_investigated(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    segment = checkout_errors(rig.sandbox)
    rig.sandbox.faults.update(export_pending_polls=0)
    # Daily (due at 00:00 UTC) and every 5 hours (not due at the sandbox's midnight anchor: 2026-11-01
    # 00:00 is 491,592 hours after the epoch, not a multiple of 5).
    handler = rig.handler(WATCHED_SEGMENTS=f"{segment.id},other-seg@5h")
    send_tick(rig, ANCHOR)

    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": []}
    assert rig.stack.objects() == {}
    [record] = rig.stack.receive()
    queued = json.loads(record["body"])
    assert queued["trigger"]["kind"] == "scheduled"
    assert queued["trigger"]["alert"]["segment_id"] == segment.id
    assert queued["window"] == {
        "start": "2026-10-31T00:00:00.000Z",
        "end": "2026-11-01T00:00:00.000Z",
    }
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["ScheduledInvestigationsQueued"] == 1

    # The same tick again (SQS redelivers it): the same request is queued again and investigated once.
    rig.stack.send(record["body"], {"schema_version": "1", "kind": "scheduled"})
    send_tick(rig, ANCHOR)
    drain(rig, handler)

    report, _ = rig.the_report()
    assert report["request_id"] == queued["request_id"]
    assert report["trigger"]["kind"] == "scheduled"
    assert report["trigger"]["segment"]["id"] == segment.id
    assert report["headline"].startswith(f'Watched segment "{segment.id}": ')
    assert {s["session_id"] for s in report["sessions"]} <= exported_sessions(
        rig.sandbox, segment.id, _request(queued)
    )
    assert report["sessions"]
    assert rig.sandbox.calls[EXPORT_START] == 1
    assert "quiet" in report
    [event] = rig.stack.events(COMPLETED)
    assert event["detail"]["quiet"] is report["quiet"]


def drain(rig: Rig, handler: Any) -> None:
    """Poll the queue like the event source mapping until nothing is left."""
    while records := rig.stack.receive():
        rig.stack.settle(records, invoke(handler, records))


def _request(message: dict[str, Any]) -> Any:
    from fstriage.core.request import InvestigationRequest  # noqa: PLC0415

    return InvestigationRequest.from_message(message)


def test_a_tick_with_nothing_due_queues_nothing(rig: Rig) -> None:
    handler = rig.handler(WATCHED_SEGMENTS="seg-a@6h")
    send_tick(rig, ANCHOR + timedelta(hours=3))

    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": []}
    assert rig.stack.receive() == []


def test_an_unreadable_tick_fails_its_record_and_queues_nothing(rig: Rig) -> None:
    handler = rig.handler(WATCHED_SEGMENTS="seg-a")
    rig.stack.send(json.dumps({"schema_version": 1, "tick": "watch", "scheduled_at": "soon"}))

    records = rig.stack.receive()

    with pytest.raises(BatchProcessingError):  # its only record failed: SQS keeps it, then the DLQ
        invoke(handler, records)
    assert rig.stack.objects() == {}
    assert rig.stack.queue_counts()["MessagesNotVisible"] + rig.stack.queue_counts()["Messages"] == 1


def test_the_monthly_cap_stops_activation_spending_with_a_note_and_the_metric(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    segment = checkout_errors(rig.sandbox)
    rig.sandbox.faults.update(export_pending_polls=0)
    # The count is keyed by the month the investigation runs in (the real clock, not the sandbox's):
    # other investigations this month already used 8 of the 10, so the cap leaves 2. The next hour's
    # month too, so a month ending during the test changes nothing.
    now = datetime.now(UTC)
    months = {month_of(now), month_of(now + timedelta(hours=1))}
    for month in months:
        aws.client("dynamodb").put_item(
            TableName=STATE_TABLE, Item={"id": {"S": f"activations#{month}"}, "used": {"N": "8"}}
        )
    handler = rig.handler(WATCHED_SEGMENTS=segment.id, MONTHLY_ACTIVATION_CAP="10")
    send_tick(rig, ANCHOR)
    rig.deliver(handler)  # the tick
    capsys.readouterr()

    rig.deliver(handler)  # the scheduled investigation

    report, _ = rig.the_report()
    sessions = report["sessions"]
    assert len(sessions) > 2
    assert rig.sandbox.calls[EVENTS] == report["cost"]["activations"] == 2
    assert sorted(activation_count(month) for month in months)[-1] == 10
    capped = [s for s in sessions if s["events_unavailable_reason"] == "monthly Activation cap reached"]
    assert len(capped) == len(sessions) - 2
    assert rig.sandbox.calls[SUMMARY] == len(sessions)  # summaries cost no Activation
    assert all(s["signals"] for s in capped if s["error_signal_count"])  # the export's rows stand in
    assert report["status"] == "partial"
    assert any("monthly Activation cap (10) was reached" in note for note in report["notes"])
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["ActivationBudgetUsedPercent"] == 100.0
    assert metrics["ActivationCapReached"] == 1


def test_without_a_cap_nothing_is_counted(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    segment = checkout_errors(rig.sandbox)
    rig.sandbox.faults.update(export_pending_polls=0)
    handler = rig.handler(WATCHED_SEGMENTS=segment.id)
    send_tick(rig, ANCHOR)
    rig.deliver(handler)
    rig.deliver(handler)

    report, _ = rig.the_report()
    assert report["cost"]["activations"] > 0
    now = datetime.now(UTC)
    assert activation_count(month_of(now)) == activation_count(month_of(now - timedelta(hours=1))) == 0
    assert "ActivationBudgetUsedPercent" not in emf_metrics(capsys.readouterr().out)


@pytest.mark.parametrize("post_quiet", ["false", "true"])
def test_a_quiet_report_is_stored_and_announced_but_posted_to_slack_only_when_configured(
    slack_rig: Rig, slack: SlackInbox, post_quiet: str
) -> None:
    rig = slack_rig
    rig.sandbox.faults.update(export_pending_polls=0)
    handler = rig.handler(WATCHED_SEGMENTS=checkout_errors(rig.sandbox).id, SLACK_QUIET_REPORTS=post_quiet)
    # Months before the sandbox's sessions: the watched segment had nobody in that day.
    send_tick(rig, ANCHOR - timedelta(days=200))
    drain(rig, handler)

    report, _ = rig.the_report()
    assert (report["status"], report["sessions"], report["error_groups"]) == ("complete", [], [])
    assert report["quiet"] is True
    [event] = rig.stack.events(COMPLETED)
    assert event["detail"]["quiet"] is True
    assert len(slack.posts) == (1 if post_quiet == "true" else 0)


def test_the_events_tick_example_queues_its_due_segments(rig: Rig) -> None:
    handler = rig.handler(WATCHED_SEGMENTS="seg-a,seg-b@6h,seg-c@5h")
    records = json.loads(TICK_EXAMPLE.read_text())["Records"]

    assert invoke(handler, records) == {"batchItemFailures": []}

    queued = [json.loads(r["body"]) for r in rig.stack.receive()]
    # 2026-11-01 00:00 UTC: a daily and a 6-hourly boundary; not a 5-hourly one.
    assert sorted(q["trigger"]["alert"]["segment_id"] for q in queued) == ["seg-a", "seg-b"]
