"""The FME forwarder's handler end to end in-process: moto (EventBridge rule -> SQS, Secrets Manager), the
Fullstory sandbox and the FME stand-in, both real HTTP servers on 127.0.0.1.

Each test puts "Fullstory Custom Event"s on the bus as the investigator does, receives what the rule
copied into the queue as Lambda's event source would, runs the real entry point
(functions/fme_forwarder/app.py) and settles the batch with its `batchItemFailures`. One seam, for
speed: the clients' retry backoff is not a setting, so it is shortened (and its sleeps recorded).
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fstriage import fme_app
from fstriage.adapters import aws
from fstriage.adapters.fme import FmeEventsClient, FmeRetryPolicy
from fstriage.adapters.fullstory import FullstoryClient, RetryPolicy
from fstriage_cli.fme_standin import FmeStandIn
from fstriage_cli.samples.fakes import FakeLambdaContext
from fstriage_cli.sandbox import Anchors, AnchorUser, FullstorySandbox, SandboxSession
from tests.support.aws import (
    ACCOUNT_ID,
    REGION,
    REPO_ROOT,
    apply_env,
    import_entry_point,
    lambda_record,
)

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
FME_KEY = "fme-test-server-key"
FORWARDER_APP = REPO_ROOT / "functions" / "fme_forwarder" / "app.py"
ANONYMOUS_DEVICE = "9000000000000001"
USERS = "GET /v2/users/{id}"
FAST_FULLSTORY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, safety_margin=1.0)
FAST_FME = FmeRetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, safety_margin=1.0)


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[FullstorySandbox]:
    anonymous = AnchorUser(
        uid="", email="", display_name="", device_id=ANONYMOUS_DEVICE, sessions=()
    )  # a visitor never identified: Fullstory knows the user, with no uid
    with FullstorySandbox(seed=6, now=ANCHOR, anchors=Anchors(users=(anonymous,))) as running:
        yield running


@pytest.fixture(scope="module")
def running_fme() -> Iterator[FmeStandIn]:
    with FmeStandIn(api_key=FME_KEY) as running:
        yield running


@dataclass
class Rig:
    sandbox: FullstorySandbox
    fme: FmeStandIn
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    events: Any
    sqs: Any
    queue_url: str
    queue_arn: str
    env: dict[str, str]
    sleeps: list[float] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)

    def handler(self, **overrides: str | None) -> ModuleType:
        """A cold start of the forwarder with the rig's settings plus `overrides`."""
        apply_env(self.monkeypatch, {**self.env, **overrides})
        aws.client.cache_clear()

        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            time.sleep(seconds)

        self.monkeypatch.setattr(
            fme_app, "FullstoryClient", functools.partial(FullstoryClient, retry=FAST_FULLSTORY, sleep=sleep)
        )
        self.monkeypatch.setattr(
            fme_app, "FmeEventsClient", functools.partial(FmeEventsClient, retry=FAST_FME, sleep=sleep)
        )
        return import_entry_point(FORWARDER_APP, fme_app.SERVICE, self.modules)

    def publish(self, *details: dict[str, Any]) -> None:
        """What the investigator does per accepted custom event: one event on the bus."""
        entries = [
            {
                "Source": "fstriage",
                "DetailType": "Fullstory Custom Event",
                "Detail": json.dumps(detail),
                "EventBusName": "default",
            }
            for detail in details
        ]
        for start in range(0, len(entries), 10):
            answer = self.events.put_events(Entries=entries[start : start + 10])
            assert answer["FailedEntryCount"] == 0

    def deliver(self, module: ModuleType, *, remaining_ms: int = 60_000) -> tuple[list[str], set[str]]:
        """One poll: every visible record in one batch; returns (message IDs, failed IDs)."""
        records: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                VisibilityTimeout=0,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in {r["messageId"] for r in records}]
            if not fresh:
                break
            records.extend(lambda_record(m, self.queue_arn) for m in fresh)
        assert records, "nothing to deliver"
        self.capsys.readouterr()
        context = FakeLambdaContext(function_name="fstriage-FmeForwarderFunction", remaining_ms=remaining_ms)
        response = module.handler({"Records": records}, context)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        done = [
            {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
            for i, r in enumerate(records)
            if r["messageId"] not in failed
        ]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done[start : start + 10])
        return [r["messageId"] for r in records], failed

    def output(self) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """(metrics summed by name, and by `name:<dimension value>` for a metric with its own dimension
        such as `reason` or `id_form`; the JSON log lines) printed since the last poll."""
        metrics: dict[str, float] = {}
        lines: list[dict[str, Any]] = []
        for line in self.capsys.readouterr().out.splitlines():
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if not isinstance(document, dict):
                continue
            if "_aws" not in document:
                lines.append(document)
                continue
            for directive in document["_aws"]["CloudWatchMetrics"]:
                dimensions = [d for group in directive["Dimensions"] for d in group if d != "service"]
                for metric in directive["Metrics"]:
                    name = metric["Name"]
                    value = document[name]
                    total = sum(value) if isinstance(value, list) else value
                    key = ":".join([name, *(str(document[d]) for d in dimensions)])
                    metrics[key] = metrics.get(key, 0) + total
        return metrics, lines


@pytest.fixture
def rig(
    running_sandbox: FullstorySandbox,
    running_fme: FmeStandIn,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Rig]:
    running_sandbox.faults.reset()
    running_sandbox.reset_records()
    running_fme.reset()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    aws.client.cache_clear()
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        fullstory_arn = secrets.create_secret(Name="fstriage/fullstory", SecretString="na1.sandbox-key")[
            "ARN"
        ]
        fme_arn = secrets.create_secret(Name="fstriage/fme", SecretString=json.dumps({"api_key": FME_KEY}))[
            "ARN"
        ]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="fstriage-fme")["QueueUrl"]
        queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:fstriage-fme"
        events = boto3.client("events", region_name=REGION)
        pattern = {"source": ["fstriage"], "detail-type": ["Fullstory Custom Event"]}
        events.put_rule(Name="fme", EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule="fme", Targets=[{"Id": "queue", "Arn": queue_arn}])
        yield Rig(
            sandbox=running_sandbox,
            fme=running_fme,
            monkeypatch=monkeypatch,
            capsys=capsys,
            events=events,
            sqs=sqs,
            queue_url=queue_url,
            queue_arn=queue_arn,
            env={
                "FULLSTORY_API_KEY_SECRET_ARN": fullstory_arn,
                "FME_API_KEY_SECRET_ARN": fme_arn,
                "FME_EVENTS_URL": running_fme.events_url,
                "FME_TRAFFIC_TYPE": "user",
                "FULLSTORY_API_URL": running_sandbox.base_url,
                "FULLSTORY_RATE_PER_SECOND": "1000",
            },
        )
    aws.client.cache_clear()


def detail(session: SandboxSession | None, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "delivery_id": f"req_{uuid.uuid4().hex}",
        "org_id": "o-SANDBOX-na1",
        "name": "Checkout Failed",
        "properties": {"reason": "card_declined", "amount": 129.99, "split": {"value": 4.5}},
        "untyped_properties": [],
        "session_id": session.api_id if session else None,
        "user_id": session.user.individual_id if session else None,
        "device_id": session.device_id if session else None,
        "replay_url": None,
        "page_url": "https://shop.example.test/checkout",
        "occurred_at": "2026-10-31T23:57:41Z",
        "investigated": True,
    }
    base.update(fields)
    return base


def sessions_of(sandbox: FullstorySandbox, uid: str) -> list[SandboxSession]:
    return sandbox.data.sessions_of(uid=uid)


# -- tests ---------------------------------------------------------------------------------------


def test_a_custom_event_reaches_fme_keyed_by_the_users_uid(rig: Rig) -> None:
    session = sessions_of(rig.sandbox, "user-001")[-1]
    rig.publish(detail(session))

    _, failed = rig.deliver(rig.handler())

    assert failed == set()
    (sent,) = rig.fme.events
    assert sent == {
        "eventTypeId": "Checkout_Failed",
        "trafficTypeName": "user",
        "key": "user-001",
        "timestamp": int(datetime(2026, 10, 31, 23, 57, 41, tzinfo=UTC).timestamp() * 1000),
        "value": 4.5,
        "properties": {
            "reason": "card_declined",
            "amount": 129.99,
            "fstriage.fullstory_event_name": "Checkout Failed",
        },
    }
    metrics, lines = rig.output()
    assert metrics["FmeEventsForwarded"] == 1
    assert metrics["FmeEventTypeRewritten"] == 1
    assert (
        rig.sqs.get_queue_attributes(QueueUrl=rig.queue_url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )
    # No line holds the uid, the user's email or a property value.
    text = json.dumps(lines)
    assert "user-001" not in text and "card_declined" not in text and "@" not in text


def test_a_sessions_events_resolve_the_user_once_and_go_in_one_bulk(rig: Rig) -> None:
    first, second = sessions_of(rig.sandbox, "user-001")[-2:]
    other = sessions_of(rig.sandbox, "user-002")[-1]
    rig.publish(*(detail(first, name=f"step.{i}") for i in range(5)), detail(second), detail(other))
    module = rig.handler()

    _, failed = rig.deliver(module)

    assert failed == set()
    assert rig.sandbox.calls[USERS] == 2  # user-001 (both sessions share the device) and user-002
    assert [r.events for r in rig.fme.requests] == [7]
    assert sorted({e["key"] for e in rig.fme.events}) == ["user-001", "user-002"]
    metrics, _ = rig.output()
    assert metrics["FmeUserLookup"] == 2
    assert metrics["FmeUidCacheHit"] == 5

    # The next batch in the same container asks Fullstory nothing for the same users.
    rig.publish(detail(first, name="later"))
    rig.deliver(module)
    assert rig.sandbox.calls[USERS] == 2


def test_an_unresolvable_user_is_dropped_with_a_metric_never_retried(rig: Rig) -> None:
    anonymous = detail(None, device_id=ANONYMOUS_DEVICE, session_id=f"{ANONYMOUS_DEVICE}:1")
    unknown = detail(
        None, user_id="6543210987654321", device_id="1234567890123456", session_id="1234567890123456:1"
    )
    no_session = detail(None)
    rig.publish(anonymous, unknown, no_session)

    _, failed = rig.deliver(rig.handler())

    assert failed == set()  # deleted: a retry could not find a uid either
    assert rig.fme.events == []
    metrics, lines = rig.output()
    assert metrics["FmeEventDropped"] == 3
    assert metrics["FmeEventDroppedByReason:anonymous_user"] == 1
    assert metrics["FmeEventDroppedByReason:unknown_user"] == 1
    assert metrics["FmeEventDroppedByReason:no_session"] == 1
    dropped = [line for line in lines if line.get("message") == "event not forwarded to FME"]
    assert sorted(line["reason"] for line in dropped) == ["anonymous_user", "no_session", "unknown_user"]
    assert all(line["delivery_id"].startswith("req_") for line in dropped)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_fme_throttling_and_outages_are_retried_within_the_invocation(rig: Rig, status: int) -> None:
    rig.publish(detail(sessions_of(rig.sandbox, "user-001")[-1]))
    rig.fme.fail(status, times=2)

    _, failed = rig.deliver(rig.handler())

    assert failed == set()
    assert [r.status for r in rig.fme.requests] == [status, status, 202]
    assert len(rig.fme.events) == 1
    assert len(rig.sleeps) == 2


def test_an_fme_outage_longer_than_the_retries_sends_the_batch_back_to_the_queue(rig: Rig) -> None:
    rig.publish(
        detail(sessions_of(rig.sandbox, "user-001")[-1]), detail(sessions_of(rig.sandbox, "user-002")[-1])
    )
    rig.fme.fail(500, times=FAST_FME.max_attempts)
    module = rig.handler()

    ids, failed = rig.deliver(module)

    assert failed == set(ids)
    assert rig.fme.events == []
    metrics, _ = rig.output()
    assert metrics["FmeRecordsRetried"] == 2
    # Redelivered once FME is back: forwarded, and the users come from the cache.
    _, failed = rig.deliver(module)
    assert failed == set()
    assert len(rig.fme.events) == 2
    assert rig.sandbox.calls[USERS] == 2


def test_a_retry_after_longer_than_the_remaining_time_is_not_slept_on(rig: Rig) -> None:
    rig.publish(detail(sessions_of(rig.sandbox, "user-001")[-1]))
    rig.fme.fail(429, times=1, retry_after=20)

    ids, failed = rig.deliver(rig.handler(), remaining_ms=10_000)

    assert failed == set(ids)
    assert rig.sleeps == []


def test_a_refused_fme_key_fails_the_batch_and_counts_for_the_alarm(rig: Rig) -> None:
    rig.publish(
        detail(sessions_of(rig.sandbox, "user-001")[-1]), detail(sessions_of(rig.sandbox, "user-002")[-1])
    )
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.put_secret_value(SecretId=rig.env["FME_API_KEY_SECRET_ARN"], SecretString="a-revoked-key")

    ids, failed = rig.deliver(rig.handler())

    assert failed == set(ids)  # kept: redriven from the DLQ once the key is fixed
    assert [r.status for r in rig.fme.requests] == [401]  # permanent: not retried in-process
    metrics, lines = rig.output()
    assert metrics["FmeAuthFailed"] == 1
    assert "a-revoked-key" not in json.dumps(lines)


def test_a_bulk_fme_refuses_is_split_so_only_the_refused_event_fails(rig: Rig) -> None:
    sessions = [sessions_of(rig.sandbox, uid)[-1] for uid in ("user-001", "user-002", "user-003")]
    rig.publish(*(detail(s, name=f"ok.{i}") for i, s in enumerate(sessions)))
    module = rig.handler()
    # FME refuses the whole bulk once, then the half holding the first event alone.
    rig.fme.fail(400, times=1)
    original = rig.fme._bulk

    def refuse_first(authorization: str, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        body = json.loads(raw)
        if any(event["eventTypeId"] == "ok.0" for event in body) and not rig.fme._faults:
            return 400, {"message": "refused"}, {}
        return original(authorization, raw)

    rig.monkeypatch.setattr(rig.fme, "_bulk", refuse_first)

    _, failed = rig.deliver(module)

    assert len(failed) == 1
    assert sorted(e["eventTypeId"] for e in rig.fme.events) == ["ok.1", "ok.2"]
    metrics, _ = rig.output()
    assert metrics["FmeEventRejected"] == 1
    assert metrics["FmeEventsForwarded"] == 2


def test_a_partially_failing_batch_keeps_only_what_can_still_succeed(rig: Rig) -> None:
    good = detail(sessions_of(rig.sandbox, "user-001")[-1])
    anonymous = detail(None, device_id=ANONYMOUS_DEVICE, session_id=f"{ANONYMOUS_DEVICE}:1")
    rig.publish(good, anonymous)
    rig.events.put_events(
        Entries=[
            {
                "Source": "fstriage",
                "DetailType": "Fullstory Custom Event",
                "Detail": json.dumps(detail(None) | {"schema_version": 99}),
            }
        ]
    )

    ids, failed = rig.deliver(rig.handler())

    assert len(ids) == 3
    assert len(failed) == 1  # the unreadable message: kept for the DLQ, not dropped
    assert len(rig.fme.events) == 1
    metrics, _ = rig.output()
    assert metrics["FmeMessageUnreadable"] == 1
    assert metrics["FmeEventDropped"] == 1


def test_a_fullstory_outage_is_retried_not_dropped(rig: Rig) -> None:
    rig.publish(detail(sessions_of(rig.sandbox, "user-001")[-1]))
    rig.sandbox.faults.update(server_error_count=10)

    ids, failed = rig.deliver(rig.handler())

    assert failed == set(ids)
    assert rig.fme.requests == []
    metrics, _ = rig.output()
    assert "FmeEventDropped" not in metrics


def test_a_redelivered_event_already_forwarded_is_not_sent_twice(rig: Rig) -> None:
    event = detail(sessions_of(rig.sandbox, "user-001")[-1])
    module = rig.handler()
    rig.publish(event)
    rig.deliver(module)
    rig.publish(event)  # the same delivery again (an EventBridge or SQS redelivery)

    _, failed = rig.deliver(module)

    assert failed == set()
    assert len(rig.fme.events) == 1
    metrics, _ = rig.output()
    assert metrics["FmeDuplicate"] == 1


def test_an_empty_fme_key_secret_fails_the_batch_as_misconfigured(rig: Rig) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    empty = secrets.create_secret(Name="fstriage/fme-empty")["ARN"]
    rig.publish(detail(sessions_of(rig.sandbox, "user-001")[-1]))

    with pytest.raises(Exception, match="FME server-side key"):
        rig.deliver(rig.handler(FME_API_KEY_SECRET_ARN=empty))

    metrics, _ = rig.output()
    assert metrics["FmeForwarderMisconfigured"] == 1


# -- which of the user's IDs Fullstory answers for ------------------------------------------------

MISMATCH = "Fullstory knows the user by the device ID, not the individual ID"


def mismatch_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") == MISMATCH]


@pytest.mark.parametrize("answers_for", ["either", "individual"])
def test_the_individual_id_is_tried_first_and_answers(rig: Rig, answers_for: str) -> None:
    session = sessions_of(rig.sandbox, "user-001")[-1]
    rig.sandbox.faults.update(user_ids=answers_for)
    rig.publish(detail(session))

    _, failed = rig.deliver(rig.handler())

    assert failed == set()
    assert [e["key"] for e in rig.fme.events] == ["user-001"]
    assert [r.path for r in rig.sandbox.requests_to(USERS)] == [f"/v2/users/{session.user.individual_id}"]
    metrics, lines = rig.output()
    assert metrics["FmeUserLookupAnswered:individual"] == 1
    assert "FmeUserLookupAnswered:device" not in metrics
    assert mismatch_lines(lines) == []


def test_an_individual_id_fullstory_does_not_know_falls_back_to_the_device_and_says_so(rig: Rig) -> None:
    first, second = sessions_of(rig.sandbox, "user-001")[-2:]
    rig.sandbox.faults.update(user_ids="device")
    rig.publish(detail(first), detail(first, name="again"))
    module = rig.handler()

    _, failed = rig.deliver(module)

    assert failed == set()
    assert [e["key"] for e in rig.fme.events] == ["user-001", "user-001"]
    user = first.user
    assert [r.path for r in rig.sandbox.requests_to(USERS)] == [
        f"/v2/users/{user.individual_id}",
        f"/v2/users/{user.device_id}",
    ]
    metrics, lines = rig.output()
    assert metrics["FmeUserLookupAnswered:device"] == 1
    assert "FmeUserLookupAnswered:individual" not in metrics
    assert metrics["FmeUserLookup"] == 2
    (mismatch,) = mismatch_lines(lines)  # once, not once per event: the second came from the cache
    assert mismatch["delivery_id"].startswith("req_")
    assert user.individual_id not in json.dumps(lines) and user.device_id not in json.dumps(lines)

    # The same user's next session, in the next batch: both answers are cached, nothing logged again.
    rig.publish(detail(second))
    rig.deliver(module)
    assert len(rig.sandbox.requests_to(USERS)) == 2
    metrics, lines = rig.output()
    assert mismatch_lines(lines) == []
    assert metrics["FmeEventsForwarded"] == 1


def test_without_an_individual_id_the_device_id_is_looked_up(rig: Rig) -> None:
    session = sessions_of(rig.sandbox, "user-002")[-1]
    rig.sandbox.faults.update(user_ids="device")
    old = detail(session)
    del old["device_id"]  # a detail from before device_id: its user_id was the device
    old["user_id"] = session.device_id
    rig.publish(detail(session, user_id=None), old)

    _, failed = rig.deliver(rig.handler())

    assert failed == set()
    assert [e["key"] for e in rig.fme.events] == ["user-002", "user-002"]
    assert [r.path for r in rig.sandbox.requests_to(USERS)] == [f"/v2/users/{session.device_id}"]
    metrics, lines = rig.output()
    assert metrics["FmeUserLookupAnswered:device"] == 1
    assert metrics["FmeUidCacheHit"] == 1
    assert mismatch_lines(lines) == []


def test_an_event_whose_ids_fullstory_knows_by_neither_form_is_dropped(rig: Rig) -> None:
    session = sessions_of(rig.sandbox, "user-003")[-1]
    # The sandbox answers only for individual IDs, and this event names a device alone.
    rig.sandbox.faults.update(user_ids="individual")
    rig.publish(detail(session, user_id=None))
    # Both forms unknown to Fullstory.
    rig.publish(detail(None, user_id="6543210987654321", device_id="1234567890123456"))

    _, failed = rig.deliver(rig.handler())

    assert failed == set()
    assert rig.fme.events == []
    assert len(rig.sandbox.requests_to(USERS)) == 3
    metrics, lines = rig.output()
    assert metrics["FmeEventDroppedByReason:unknown_user"] == 2
    assert "FmeUserLookupAnswered:device" not in metrics
    assert "FmeUserLookupAnswered:individual" not in metrics
    assert mismatch_lines(lines) == []


@pytest.mark.parametrize("status", [301, 307])
def test_a_redirect_from_fme_is_a_refused_url_not_an_outage(rig: Rig, status: int) -> None:
    rig.publish(detail(sessions_of(rig.sandbox, "user-001")[-1]))
    rig.fme.fail(status, times=FAST_FME.max_attempts)

    ids, failed = rig.deliver(rig.handler())

    assert failed == set(ids)  # kept for the DLQ, to be redriven once the URL is fixed
    assert [r.status for r in rig.fme.requests] == [status]  # not retried as if FME were down
    assert rig.sleeps == []
    metrics, _ = rig.output()
    assert metrics["FmeAuthFailed"] == 1


def test_a_rewritten_name_is_logged_with_its_emails_masked(rig: Rig) -> None:
    rig.publish(detail(sessions_of(rig.sandbox, "user-001")[-1], name="Sent to jane.doe@example.test"))

    _, failed = rig.deliver(rig.handler())

    assert failed == set()
    assert [e["eventTypeId"] for e in rig.fme.events] == ["Sent_to_jane.doe_example.test"]
    _, lines = rig.output()
    (rewritten,) = [
        line for line in lines if line.get("message") == "event name rewritten to a valid FME event type"
    ]
    assert rewritten["event_name"] == "Sent to j***@example.test"
    assert "jane" not in json.dumps(lines)
