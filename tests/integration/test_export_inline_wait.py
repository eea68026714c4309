"""The investigator against the real sandbox whose exports are ready after E seconds of wall time
(`export_ready_after_seconds`): an export ready within the in-process budget is reported by the first
invocation; one Fullstory's estimate says will take longer is re-queued at once, as is every export
with the budget at 0 (the behaviour before in-process polling)."""

from __future__ import annotations

import json

from tests.integration import test_investigator_handler as base
from tests.integration.test_investigator_handler import (
    COMPLETED,
    EXPORT_RESULTS,
    EXPORT_START,
    OPERATION,
    Rig,
    checkout_errors,
    exported_sessions,
    request_of,
    segment_alert,
    sent_messages,
    webhook,
)

# That module's fixtures, used here by name: the sandbox (module-scoped), its reset, and the rig.
running_sandbox = base.running_sandbox
sandbox = base.sandbox
rig = base.rig

READY_AFTER_SECONDS = 1.5  # short, so the test stays quick; the benchmark measures 2, 10 and 60 s


def test_an_export_ready_within_the_budget_is_reported_by_the_first_invocation(rig: Rig) -> None:
    rig.sandbox.faults.update(export_ready_after_seconds=READY_AFTER_SECONDS)
    segment = checkout_errors(rig.sandbox)
    message = webhook(segment_alert(segment), rig.sandbox)
    rig.queue(message)
    handler = rig.handler(EXPORT_POLL_DELAY_SECONDS="30", EXPORT_INLINE_WAIT_SECONDS="20")
    sent = sent_messages()

    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": []}
    assert sent == []  # never re-queued
    report, _ = rig.the_report()
    assert report["status"] == "complete"
    assert report["request_id"] == request_of(message).request_id
    assert {s["session_id"] for s in report["sessions"]} == exported_sessions(
        rig.sandbox, segment.id, request_of(message)
    )
    calls = rig.sandbox.calls
    assert (calls[EXPORT_START], calls[EXPORT_RESULTS]) == (1, 1)
    assert calls[OPERATION] >= 2  # pending at first, checked again in the same invocation
    assert len(rig.stack.events(COMPLETED)) == 1
    assert rig.stack.queue_counts() == {"Messages": 0, "MessagesNotVisible": 0, "MessagesDelayed": 0}


def test_an_export_fullstory_expects_to_take_longer_is_requeued_without_waiting(rig: Rig) -> None:
    rig.sandbox.faults.update(export_ready_after_seconds=600)
    rig.queue(webhook(segment_alert(checkout_errors(rig.sandbox)), rig.sandbox))
    handler = rig.handler(EXPORT_POLL_DELAY_SECONDS="30", EXPORT_INLINE_WAIT_SECONDS="20")
    sent = sent_messages()

    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": []}
    assert rig.stack.objects() == {}
    [requeued] = sent
    assert requeued["DelaySeconds"] == 30
    assert json.loads(requeued["MessageBody"])["continuation"]["polls"] == 1
    assert rig.sandbox.calls[OPERATION] == 1  # its estimate said so at the first check


def test_a_budget_of_zero_requeues_a_pending_export_as_before(rig: Rig) -> None:
    rig.sandbox.faults.update(export_ready_after_seconds=READY_AFTER_SECONDS)
    rig.queue(webhook(segment_alert(checkout_errors(rig.sandbox)), rig.sandbox))
    handler = rig.handler(EXPORT_POLL_DELAY_SECONDS="30", EXPORT_INLINE_WAIT_SECONDS="0")
    sent = sent_messages()

    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": []}
    [requeued] = sent
    assert json.loads(requeued["MessageBody"])["continuation"]["polls"] == 1
    assert rig.sandbox.calls[OPERATION] == 1
    assert rig.stack.objects() == {}
