"""The webhook Lambda handler end to end in-process: moto SQS, Secrets Manager and DynamoDB."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from fstriage.adapters import aws
from fstriage.core.http import HttpRequest, function_url_event
from fstriage.core.signature import sign
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import FakeLambdaContext
from fstriage_cli.samples.values import TEST_ORG_ID, TEST_SIGNING_SECRET, TEST_STREAM_TOKEN
from tests.support.aws import WEBHOOK_SERVICE, apply_env, import_entry_point, without_gc_pauses
from tests.support.schemas import REQUEST_SCHEMA

ROOT = Path(__file__).parents[2]


@dataclass
class Stack:
    queue_url: str
    secret_arn: str
    table: str
    env: dict[str, str]
    secret_reads: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)

    def load_handler(self, monkeypatch: pytest.MonkeyPatch, **overrides: str | None) -> ModuleType:
        apply_env(monkeypatch, {**self.env, **overrides})
        aws.client.cache_clear()
        secrets = aws.client("secretsmanager")
        secrets.meta.events.register(
            "before-parameter-build.secrets-manager.GetSecretValue",
            lambda params, **_: self.secret_reads.append(params.get("VersionStage", "")),
        )
        return import_entry_point(ROOT / "functions/webhook/app.py", WEBHOOK_SERVICE, self.loaded)

    def queued(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]

    def ledger_items(self) -> list[dict[str, Any]]:
        return list(boto3.client("dynamodb").scan(TableName=self.table)["Items"])


@pytest.fixture
def stack() -> Iterator[Stack]:
    with mock_aws():
        sqs = boto3.client("sqs")
        dlq = sqs.create_queue(QueueName="fstriage-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        queue_url = sqs.create_queue(
            QueueName="fstriage-investigations",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
            },
        )["QueueUrl"]
        secret_arn = boto3.client("secretsmanager").create_secret(
            Name="fstriage-signing",
            SecretString=json.dumps(
                {"signing_secret": TEST_SIGNING_SECRET, "stream_token": TEST_STREAM_TOKEN}
            ),
        )["ARN"]
        boto3.client("dynamodb").create_table(
            TableName="fstriage-dedupe",
            KeySchema=[{"AttributeName": "delivery_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "delivery_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        env = {
            "FULLSTORY_ORG_ID": TEST_ORG_ID,
            "SIGNING_SECRET_ARN": secret_arn,
            "INVESTIGATION_QUEUE_URL": queue_url,
            "DEDUPE_TABLE_NAME": "fstriage-dedupe",
        }
        yield Stack(queue_url=queue_url, secret_arn=secret_arn, table="fstriage-dedupe", env=env)
        aws.client.cache_clear()


def invoke(
    module: ModuleType, body: bytes, *, signature: str | None, base64_body: bool = False
) -> dict[str, Any]:
    headers = {"content-type": "application/json", "user-agent": "Fullstory-Webhooks"}
    if signature is not None:
        headers["fullstory-signature"] = signature
    event = function_url_event(HttpRequest("POST", "/", headers, body, "34.1.2.3"), base64_body=base64_body)
    with without_gc_pauses():
        response: dict[str, Any] = module.handler(event, FakeLambdaContext())
    response["json"] = json.loads(response["body"])
    return response


def signed(body: bytes, secret: str = TEST_SIGNING_SECRET, *, at: int | None = None) -> str:
    return sign(secret, body, TEST_ORG_ID, at)


def test_signed_alert_is_queued_as_a_schema_valid_request(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = stack.load_handler(monkeypatch)
    body = payloads.encode(payloads.segment_alert())
    response = invoke(handler, body, signature=signed(body))
    assert response["statusCode"] == 202
    assert response["headers"]["content-type"] == "application/json"
    [message] = stack.queued()
    jsonschema.validate(message, REQUEST_SCHEMA)
    assert message["request_id"] == response["json"]["request_id"]
    [claim] = stack.ledger_items()
    assert claim["request_id"]["S"] == message["request_id"]
    assert claim["delivery_key"]["S"] == message["origin"]["delivery_key"]


def test_base64_encoded_bodies_are_verified_on_their_raw_bytes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = stack.load_handler(monkeypatch)
    body = payloads.encode(payloads.note_created()).replace(b'"text": "', b'"text": "caf\xc3\xa9 ')
    assert invoke(handler, body, signature=signed(body), base64_body=True)["statusCode"] == 202
    assert stack.queued()[0]["trigger"]["text"].startswith("café")


def test_replay_is_200_and_queues_nothing_new(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = stack.load_handler(monkeypatch)
    body = payloads.encode(payloads.note_created())
    signature = signed(body)
    first = invoke(handler, body, signature=signature)
    # A replay comes after the first delivery was answered (Fullstory retries later): past the claim's
    # `answer_by`, so it is answered from the ledger at once. (A copy racing the first is below.)
    [item] = stack.ledger_items()
    time.sleep(max(0.0, float(item["answer_by"]["N"]) - time.time()))
    second = invoke(handler, body, signature=signature)
    assert (first["statusCode"], second["statusCode"]) == (202, 200)
    assert second["json"]["status"] == "duplicate"
    assert len(stack.queued()) == 1


def test_racing_duplicates_queue_once(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two containers with their own caches: the conditional write lets only one queue."""
    first_container = stack.load_handler(monkeypatch)
    second_container = stack.load_handler(monkeypatch)
    body = payloads.encode(payloads.custom_event())
    signature = signed(body)
    statuses = sorted(
        invoke(m, body, signature=signature)["statusCode"] for m in (first_container, second_container)
    )
    assert statuses == [200, 202]
    assert len(stack.queued()) == 1


def test_both_secret_versions_work_during_rotation(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.secret_arn, SecretString=json.dumps({"signing_secret": "rotated-secret"})
    )
    handler = stack.load_handler(monkeypatch)
    old_body, new_body = payloads.encode(payloads.note_created()), payloads.encode(payloads.metric_alert())
    assert invoke(handler, new_body, signature=signed(new_body, "rotated-secret"))["statusCode"] == 202
    assert stack.secret_reads == ["AWSCURRENT"]  # a cold start reads one version: one call fewer
    assert invoke(handler, old_body, signature=signed(old_body, TEST_SIGNING_SECRET))["statusCode"] == 202
    assert stack.secret_reads == ["AWSCURRENT", "AWSCURRENT", "AWSPREVIOUS"]  # the old one, once needed
    later = payloads.encode(payloads.segment_alert())
    assert invoke(handler, later, signature=signed(later, TEST_SIGNING_SECRET))["statusCode"] == 202
    assert len(stack.secret_reads) == 3  # from the cache, both versions now


def test_rotation_after_cold_start_is_picked_up_and_refreshes_are_rate_limited(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = stack.load_handler(monkeypatch)
    warm = payloads.encode(payloads.metric_alert())
    assert invoke(handler, warm, signature=signed(warm))["statusCode"] == 202
    reads_when_warm = len(stack.secret_reads)
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.secret_arn, SecretString=json.dumps({"signing_secret": "rotated-secret"})
    )
    body = payloads.encode(payloads.note_created())
    assert invoke(handler, body, signature=signed(body, "rotated-secret"))["statusCode"] == 202
    reads_after_refresh = len(stack.secret_reads)
    assert reads_after_refresh > reads_when_warm
    signed_before_the_refresh = int(time.time()) - 30
    for attempt in range(20):
        forged = payloads.encode(payloads.segment_alert(id=f"forged-{attempt}"))
        # Our keys are newer than this signature, so a mismatch is final.
        answer = invoke(
            handler, forged, signature=signed(forged, "attacker-guess", at=signed_before_the_refresh)
        )
        assert (answer["statusCode"], answer["json"]["error"]) == (401, "bad_signature")
        # Signed after our keys were read: it could carry a secret rotated since, so "retry later".
        answer = invoke(handler, forged, signature=signed(forged, "attacker-guess"))
        assert (answer["statusCode"], answer["json"]["error"]) == (503, "secret_refresh_limited")
        assert int(answer["headers"]["retry-after"]) == 60
    assert len(stack.secret_reads) == reads_after_refresh  # no Secrets Manager call per forged request
    assert len(stack.queued()) == 2


def fail_calls(service: str, operation: str) -> Callable[[], None]:
    """Make every `operation` call fail as a dropped connection would, until the returned undo runs."""
    event_name = f"before-send.{aws.client(service).meta.service_model.service_id.hyphenize()}.{operation}"

    def drop_connection(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://unreachable.invalid")

    aws.client(service).meta.events.register(event_name, drop_connection)
    return lambda: aws.client(service).meta.events.unregister(event_name, drop_connection)


def test_queue_outage_is_503_with_retry_after_and_a_retry_succeeds(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = stack.load_handler(monkeypatch)
    body = payloads.encode(payloads.segment_alert())
    signature = signed(body)
    restore = fail_calls("sqs", "SendMessage")
    outage = invoke(handler, body, signature=signature)
    assert outage["statusCode"] == 503
    assert int(outage["headers"]["retry-after"]) > 0
    assert outage["json"]["error"] == "queue_unavailable"
    assert stack.ledger_items() == []  # nothing half-recorded
    restore()
    assert invoke(handler, body, signature=signature)["statusCode"] == 202
    assert len(stack.queued()) == 1


def test_ledger_outage_is_503_and_nothing_is_queued(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = stack.load_handler(monkeypatch)
    fail_calls("dynamodb", "PutItem")
    body = payloads.encode(payloads.segment_alert())
    response = invoke(handler, body, signature=signed(body))
    assert (response["statusCode"], response["json"]["error"]) == (503, "ledger_unavailable")
    assert stack.queued() == []


@pytest.mark.parametrize(
    ("setting", "error"), [("INVESTIGATION_QUEUE_URL", "queue"), ("DEDUPE_TABLE_NAME", "ledger")]
)
def test_a_wrong_resource_name_is_a_500_configuration_error_not_a_retry(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    setting: str,
    error: str,
) -> None:
    handler = stack.load_handler(monkeypatch, **{setting: stack.env[setting] + "-missing"})
    body = payloads.encode(payloads.segment_alert())
    response = invoke(handler, body, signature=signed(body))
    assert (response["statusCode"], response["json"]["error"]) == (500, "configuration_error")
    assert stack.ledger_items() == []
    assert f"misconfigured: {error}:" in capsys.readouterr().out


def test_missing_secret_fails_closed_with_500(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = stack.load_handler(monkeypatch, SIGNING_SECRET_ARN=stack.secret_arn + "-gone")
    body = payloads.encode(payloads.segment_alert())
    response = invoke(handler, body, signature=signed(body))
    assert (response["statusCode"], response["json"]["error"]) == (500, "configuration_error")
    assert stack.queued() == []
    assert "cannot read the signing secret" in capsys.readouterr().out


def test_secret_without_signing_value_fails_closed(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.secret_arn, SecretString=json.dumps({"x": "y"})
    )
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.secret_arn, SecretString=json.dumps({"x": "z"})
    )
    handler = stack.load_handler(monkeypatch)
    body = payloads.encode(payloads.segment_alert())
    assert invoke(handler, body, signature=signed(body))["statusCode"] == 500
    assert stack.queued() == []


@pytest.mark.parametrize("missing", ["FULLSTORY_ORG_ID", "SIGNING_SECRET_ARN", "INVESTIGATION_QUEUE_URL"])
def test_missing_setting_is_500_on_every_request_never_a_skip(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    handler = stack.load_handler(monkeypatch, **{missing: None})
    body = payloads.encode(payloads.segment_alert())
    for _ in range(2):
        response = invoke(handler, body, signature=signed(body))
        assert (response["statusCode"], response["json"]["error"]) == (500, "configuration_error")
    assert stack.queued() == []
    assert f"setting {missing} is missing" in capsys.readouterr().out


def test_logs_and_metrics_say_what_happened_without_secrets_or_bodies(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = stack.load_handler(monkeypatch)
    note = payloads.encode(payloads.note_created())
    accepted = invoke(handler, note, signature=signed(note))
    forged_signature = signed(note, "attacker-guess")
    invoke(handler, note.replace(b"does nothing", b"is broken"), signature=forged_signature)
    stream_body = json.dumps({"user_email": "jane.doe@example.test", "user_id": "u-1"}).encode()
    stream_event = function_url_event(
        HttpRequest(
            "POST",
            f"/streams/{TEST_STREAM_TOKEN}",
            {"content-type": "application/json"},
            stream_body,
            "8.35.195.1",
        )
    )
    assert handler.handler(stream_event, FakeLambdaContext())["statusCode"] == 202
    output = capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    logs = [line for line in lines if "message" in line]
    metrics = [line for line in lines if "_aws" in line]
    # The accepted delivery's record is its metrics line (request_id as EMF metadata).
    assert any(
        line.get("request_id") == accepted["json"]["request_id"] and line.get("outcome") == "accepted"
        for line in metrics
    )
    assert any(log.get("outcome") == "rejected" and log.get("reason") == "bad_signature" for log in logs)
    names = {
        metric["Name"]
        for line in metrics
        for block in line["_aws"]["CloudWatchMetrics"]
        for metric in block["Metrics"]
    }
    assert {"DeliveryAccepted", "DeliveryRejected", "DeliveryRejectedByReason"} <= names
    assert any(
        line.get("reason") == "bad_signature" and "DeliveryRejectedByReason" in line for line in metrics
    )
    for forbidden in (
        TEST_SIGNING_SECRET,
        TEST_STREAM_TOKEN,
        forged_signature.split("v:")[1],
        signed(note).split("v:")[1],
        "Pay now button",
        "jane.doe@example.test",
    ):
        assert forbidden not in output


def test_an_unexpected_failure_is_a_logged_500_never_a_crash(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = stack.load_handler(monkeypatch)

    def explode(**_: Any) -> None:
        raise ValueError("a secret-looking detail that must not be logged")

    aws.client("dynamodb").meta.events.register("before-send.dynamodb.PutItem", explode)
    body = payloads.encode(payloads.segment_alert())
    response = invoke(handler, body, signature=signed(body))
    assert (response["statusCode"], response["json"]["error"]) == (500, "internal_error")
    output = capsys.readouterr().out
    assert "webhook failed: unexpected ValueError" in output
    assert "secret-looking detail" not in output
    assert '"DeliveryError"' in output
    assert stack.queued() == []


def test_an_unknown_event_name_is_logged_clipped_and_masked(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = stack.load_handler(monkeypatch)
    name = "jane.doe@example.test " + "x" * 200_000  # signed, so it reaches the log line
    body = payloads.encode({"eventName": name, "version": 1, "data": {}})
    answer = invoke(handler, body, signature=signed(body))
    assert (answer["statusCode"], answer["json"]["reason"]) == (202, "unsupported_event")
    output = capsys.readouterr().out
    assert output.strip()
    assert max(len(line) for line in output.splitlines()) < 2_000
    assert "jane.doe@example.test" not in output
    assert any(
        str(json.loads(line).get("event_name", "")).startswith("j***@example.test")
        for line in output.splitlines()
        if line.startswith("{")
    )
