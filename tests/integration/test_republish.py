"""Custom events and Streams re-published on EventBridge, end to end in-process.

The webhook intake (signature checked, ledger deduplicating) queues requests; the investigator handler
consumes them from moto's SQS and puts events on moto's EventBridge, where a rule copies every
`source: fstriage` event to an SQS queue that the tests read back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from fstriage.adapters.outputs import EventBridgePublisher
from fstriage.core.errors import DependencyUnavailable
from fstriage.core.http import HttpRequest
from fstriage.core.intake import Intake, IntakePolicy
from fstriage.core.ports import SigningKeys
from fstriage.core.republish import CUSTOM_EVENT_DETAIL_TYPE, STREAM_DETAIL_TYPE
from fstriage.core.signature import sign
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import FakeKeys, MemoryLedger, MemoryQueue
from fstriage_cli.samples.values import TEST_SIGNING_SECRET, TEST_STREAM_TOKEN
from tests.integration import test_investigator_handler as base
from tests.integration.test_investigator_handler import (
    ANCHOR,
    COMPLETED,
    Rig,
    custom_event_on,
    emf_metrics,
    invoke,
    newest,
    webhook,
)
from tests.support.aws import MAX_RECEIVE_COUNT

# That module's fixtures, used here by name: the sandbox (module-scoped), its reset, and the rig.
running_sandbox = base.running_sandbox
sandbox = base.sandbox
rig = base.rig


def republished_events(rig: Rig, detail_type: str = CUSTOM_EVENT_DETAIL_TYPE) -> list[dict[str, Any]]:
    return [event["detail"] for event in rig.stack.events(detail_type)]


def test_a_verified_custom_event_is_republished_with_typed_properties(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest(rig.sandbox, "user-001")
    document = custom_event_on(rig.sandbox, session)
    document["data"]["properties"] = {
        "reason_str": "card_declined",
        "items_int": "3",
        "split": {"value_real": 4.5},
    }
    message = webhook(document, rig.sandbox)
    rig.queue(message)

    rig.deliver(rig.handler())

    [detail] = republished_events(rig)
    request_id = json.loads(message[0])["request_id"]
    assert detail["delivery_id"] == request_id
    assert detail["name"] == "Checkout Failed"
    assert detail["properties"] == {"reason": "card_declined", "items": 3, "split": {"value": 4.5}}
    assert detail["session_id"] == session.api_id
    assert (detail["user_id"], detail["device_id"]) == (None, session.device_id)  # the URL had no indv part
    assert detail["replay_url"] == rig.sandbox.data.replay_url(session)
    assert detail["org_id"] == rig.sandbox.data.org_id
    assert detail["investigated"] is True
    [event] = rig.stack.events(CUSTOM_EVENT_DETAIL_TYPE)
    assert event["source"] == "fstriage"
    report, markdown = rig.the_report()
    assert report["trigger"]["properties"] == detail["properties"]
    assert '**Properties:** `reason` "card_declined" · `items` 3' in markdown
    assert emf_metrics(capsys.readouterr().out)["EventRepublished"] == 1


def test_a_redelivered_message_is_republished_once(rig: Rig) -> None:
    message = webhook(custom_event_on(rig.sandbox, newest(rig.sandbox, "user-002")), rig.sandbox)
    rig.queue(message)
    rig.queue(message)  # SQS delivers at least once: the same body again

    module = rig.handler()
    rig.deliver(module, max_messages=1)
    rig.deliver(module, max_messages=1)

    assert len(republished_events(rig)) == 1
    assert len(rig.stack.events(COMPLETED)) == 1


def test_a_stream_is_republished_as_a_stream_event(rig: Rig) -> None:
    crash = newest(rig.sandbox, "user-001")
    document = payloads.stream_session(rig.sandbox.data.replay_url(crash), user_id="user-001")
    rig.queue(webhook(document, rig.sandbox, stream=True))

    rig.deliver(rig.handler())

    [detail] = republished_events(rig, STREAM_DETAIL_TYPE)
    assert detail["name"] == "Checkout rage clicks"
    assert detail["uid"] == "user-001"
    assert detail["properties"]["event_type"] == "click"
    assert detail["session_id"] == crash.api_id
    assert republished_events(rig) == []


def test_a_custom_event_not_named_in_the_setting_is_republished_but_not_investigated(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.queue(webhook(custom_event_on(rig.sandbox, newest(rig.sandbox, "user-001")), rig.sandbox))

    _, response = rig.deliver(rig.handler(INVESTIGATE_CUSTOM_EVENTS="Payment Error, Order Failed"))

    assert response == {"batchItemFailures": []}
    [detail] = republished_events(rig)
    assert detail["investigated"] is False
    assert rig.reports() == [] and rig.stack.events(COMPLETED) == []
    assert rig.sandbox.requests == []  # not a single Fullstory call
    assert emf_metrics(capsys.readouterr().out)["CustomEventNotInvestigated"] == 1


def test_a_named_custom_event_is_investigated(rig: Rig) -> None:
    rig.queue(webhook(custom_event_on(rig.sandbox, newest(rig.sandbox, "user-001")), rig.sandbox))

    rig.deliver(rig.handler(INVESTIGATE_CUSTOM_EVENTS="checkout failed"))

    [detail] = republished_events(rig)
    assert detail["investigated"] is True
    assert len(rig.reports()) == 1


def test_rejected_and_duplicate_deliveries_republish_nothing(rig: Rig) -> None:
    data = rig.sandbox.data
    keys = SigningKeys(signing_secrets=(TEST_SIGNING_SECRET,), stream_tokens=(TEST_STREAM_TOKEN,))
    queue, now = MemoryQueue(), [ANCHOR.timestamp()]
    intake = Intake(
        IntakePolicy(org_id=data.org_id),
        FakeKeys(keys, fresh=keys),  # a refresh finds the same secret: the forged one stays forged
        queue,
        MemoryLedger(),
        clock=lambda: now[0],
    )
    body = payloads.encode(custom_event_on(rig.sandbox, newest(rig.sandbox, "user-001")))
    signed_at = int(ANCHOR.timestamp())
    good = sign(TEST_SIGNING_SECRET, body, data.org_id, signed_at)
    forged = sign("not-the-secret", body, data.org_id, signed_at)

    def deliver(signature: str) -> int:
        headers = {"content-type": "application/json", "fullstory-signature": signature}
        status = intake.handle(HttpRequest("POST", "/", headers, body, "198.51.100.23")).response.status
        now[0] += 30  # Fullstory's retry comes later, after the first answer
        return status

    assert [deliver(good), deliver(good), deliver(forged)] == [202, 200, 401]
    [message] = queue.messages
    rig.queue(message)
    rig.deliver(rig.handler())

    assert len(republished_events(rig)) == 1


def test_an_eventbridge_outage_retries_then_publishes_once(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.queue(webhook(custom_event_on(rig.sandbox, newest(rig.sandbox, "user-001")), rig.sandbox))
    publish = EventBridgePublisher.publish
    outages = [1]

    def flaky(self: EventBridgePublisher, detail: dict[str, Any], **kwargs: Any) -> None:
        if kwargs.get("detail_type") == CUSTOM_EVENT_DETAIL_TYPE and outages:
            outages.pop()
            raise DependencyUnavailable("events", "EventBridge is unavailable")
        publish(self, detail, **kwargs)

    monkeypatch.setattr(EventBridgePublisher, "publish", flaky)
    module = rig.handler()

    with pytest.raises(BatchProcessingError):  # the one record failed: SQS will redeliver it
        invoke(module, rig.stack.receive())
    assert republished_events(rig) == [] and rig.reports() == []
    _, second = rig.deliver(module)

    assert second == {"batchItemFailures": []}
    assert len(republished_events(rig)) == 1
    assert len(rig.reports()) == 1


def test_on_the_last_receive_a_lost_event_is_counted_and_the_investigation_still_runs(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.queue(webhook(custom_event_on(rig.sandbox, newest(rig.sandbox, "user-001")), rig.sandbox))
    publish = EventBridgePublisher.publish

    def down(self: EventBridgePublisher, detail: dict[str, Any], **kwargs: Any) -> None:
        if kwargs.get("detail_type") == CUSTOM_EVENT_DETAIL_TYPE:
            raise DependencyUnavailable("events", "EventBridge is unavailable")
        publish(self, detail, **kwargs)

    monkeypatch.setattr(EventBridgePublisher, "publish", down)
    module = rig.handler()
    for _ in range(1, MAX_RECEIVE_COUNT):
        with pytest.raises(BatchProcessingError):
            invoke(module, rig.stack.receive())
    _, last = rig.deliver(module)

    assert last == {"batchItemFailures": []}
    assert republished_events(rig) == []
    assert len(rig.reports()) == 1
    out = capsys.readouterr().out
    assert emf_metrics(out)["RepublishFailed"] == 1
    assert '"outcome":"not_republished"' in out.replace(" ", "")
