"""The local stack's pieces on their own (fast, no emulator): the function URL mapping, the SQS
poller's record shape and failure rules, the template resolver, and the sandbox's sample anchors."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from fstriage.core.http import request_from_function_url_event
from fstriage.core.request import parse_isoformat
from fstriage.core.session_ids import normalise_session_id
from fstriage.settings import InvestigatorSettings, WebhookSettings
from fstriage_cli.local.command import config_from, parser
from fstriage_cli.local.config import LocalStackError
from fstriage_cli.local.gateway import build_event, http_answer
from fstriage_cli.local.poller import failed_message_ids, lambda_record
from fstriage_cli.local.rie import Invocation
from fstriage_cli.local.template import Template
from fstriage_cli.sandbox import generate
from fstriage_cli.sandbox.samples import sample_anchors, sample_investigations

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


def load_template(**overrides: str) -> Template:
    return Template.load(
        TEMPLATE,
        {"FullstoryOrgId": "o-TEST-na1", **overrides},
        region="us-east-1",
        account_id="123456789012",
        stack_name="fstriage",
    )


# -- the function URL ------------------------------------------------------------------------------


def test_a_json_request_becomes_a_v2_event_the_library_reads_back_byte_for_byte() -> None:
    body = b'{"eventName":"test","version":1,"data":{}}'
    event = build_event(
        "POST",
        "/streams/tok?x=1&x=2&y=",
        [
            ("Content-Type", "application/json"),
            ("Fullstory-Signature", "o:o,t:1,v:x"),
            ("Cookie", "a=1; b=2"),
        ],
        body,
        source_ip="8.35.195.3",
        port=3000,
    )

    assert event["version"] == "2.0"
    assert event["rawPath"] == "/streams/tok"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["fullstory-signature"] == "o:o,t:1,v:x"  # lower-cased names
    assert event["headers"]["x-forwarded-for"] == "8.35.195.3"
    assert event["requestContext"]["http"]["sourceIp"] == "8.35.195.3"
    assert event["isBase64Encoded"] is False
    request = request_from_function_url_event(event)
    assert (request.method, request.path, request.body, request.source_ip) == (
        "POST",
        "/streams/tok",
        body,
        "8.35.195.3",
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", b"\x00\xffbinary"),
        ("application/json", b"\xff\xfe not utf-8"),
        (None, b"x"),
    ],
)
def test_a_body_that_is_not_text_is_base64_encoded(content_type: str | None, body: bytes) -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    event = build_event("POST", "/", headers, body, source_ip="127.0.0.1", port=1)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body
    assert request_from_function_url_event(event).body == body


def test_the_functions_answer_becomes_the_http_answer() -> None:
    answer = {"statusCode": 401, "headers": {"content-type": "application/json"}, "body": '{"error":"x"}'}
    status, headers, body = http_answer(Invocation(answer, None, 0.0))
    assert (status, body) == (401, b'{"error":"x"}')
    assert ("content-type", "application/json") in headers

    assert http_answer(Invocation({"errorType": "Boom", "errorMessage": "x"}, "Boom", 0.0))[0] == 502
    assert http_answer(Invocation({"hello": 1}, None, 0.0))[:1] == (200,)  # payload inference
    encoded = {"statusCode": 200, "body": base64.b64encode(b"\x00").decode(), "isBase64Encoded": True}
    assert http_answer(Invocation(encoded, None, 0.0))[2] == b"\x00"


# -- the SQS poller ----------------------------------------------------------------------------------


def test_a_message_becomes_a_lambda_sqs_record() -> None:
    message: dict[str, Any] = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "Body": "{}",
        "MD5OfBody": hashlib.md5(b"{}", usedforsecurity=False).hexdigest(),
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "MessageAttributes": {"kind": {"StringValue": "note", "DataType": "String"}},
    }

    record = lambda_record(message, queue_arn="arn:aws:sqs:us-east-1:123456789012:q", region="us-east-1")

    assert record == {
        "messageId": "m-1",
        "receiptHandle": "rh-1",
        "body": "{}",
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "messageAttributes": {
            "kind": {
                "stringValue": "note",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
        "awsRegion": "us-east-1",
    }


def test_which_records_stay_on_the_queue_after_an_invocation() -> None:
    ids = ["a", "b"]

    def failures(*items: Any) -> Invocation:
        return Invocation({"batchItemFailures": [{"itemIdentifier": item} for item in items]}, None, 0.0)

    assert failed_message_ids(Invocation({"batchItemFailures": []}, None, 0.0), ids, partial=True) == set()
    assert failed_message_ids(failures("b"), ids, partial=True) == {"b"}
    assert failed_message_ids(failures("zzz"), ids, partial=True) == {"a", "b"}  # unknown ID: all
    assert failed_message_ids(failures(""), ids, partial=True) == {"a", "b"}
    assert failed_message_ids(Invocation(None, "Unhandled", 0.0), ids, partial=True) == {"a", "b"}
    assert failed_message_ids(failures("b"), ids, partial=False) == set()  # not ReportBatchItemFailures


# -- the template ------------------------------------------------------------------------------------


def test_the_template_resolves_what_the_local_stack_needs() -> None:
    template = load_template()
    investigator = template.function("InvestigatorFunction")
    (source,) = investigator.sqs_events

    assert source.queue == "InvestigationQueue"
    assert (source.batch_size, source.batching_window, source.report_batch_item_failures) == (2, 0, True)
    assert source.maximum_concurrency == 2
    assert investigator.timeout == 120  # FindInMap
    assert investigator.runtime == "python3.13"  # from Globals
    assert template.resolve(template.properties("InvestigationQueue")["VisibilityTimeout"]) == 720
    assert template.function("WebhookFunction").timeout == 10

    for logical_id, ref in {
        "SigningSecret": "arn:secret",
        "FullstoryApiKeySecret": "arn:key",
        "InvestigationQueue": "https://q",
        "DedupeTable": "dedupe",
        "IdempotencyTable": "idem",
        "StateTable": "state",
        "ReportsBucket": "bucket",
    }.items():
        template.physical[logical_id] = {"Ref": ref}
    webhook_env = template.environment(template.function("WebhookFunction"))
    investigator_env = template.environment(investigator)
    assert WebhookSettings.from_env(webhook_env).signing_secret_arn == "arn:secret"
    settings = InvestigatorSettings.from_env(investigator_env)
    assert (settings.reports_bucket, settings.idempotency_table, settings.state_table) == (
        "bucket",
        "idem",
        "state",
    )
    assert investigator_env["SLACK_WEBHOOK_SECRET_ARN"] == ""  # Fn::If on a condition


def test_template_parameters_are_checked_like_a_deploy_would() -> None:
    assert load_template(LogLevel="DEBUG").parameters["LogLevel"] == "DEBUG"
    with pytest.raises(LocalStackError, match="LogLevel"):
        load_template(LogLevel="LOUD")
    with pytest.raises(LocalStackError, match="no parameter"):
        load_template(NoSuchParameter="1")
    with pytest.raises(LocalStackError, match="minimum"):
        load_template(SignatureToleranceSeconds="0")


def test_command_line_flags_become_the_config() -> None:
    args = parser().parse_args(
        [
            "--port",
            "0",
            "--parameter",
            "LogLevel=DEBUG",
            "--function-env",
            "InvestigatorFunction:EXPORT_POLL_DELAY_SECONDS=2",
            "--source-ip",
            "8.35.195.3",
            "--visibility-timeout",
            "5",
        ]
    )
    config = config_from(args)
    assert config.port == 0
    assert config.parameters == {"LogLevel": "DEBUG", "WriteBackToFullstory": "true"}  # on with the sandbox
    assert config.function_env == {"InvestigatorFunction": {"EXPORT_POLL_DELAY_SECONDS": "2"}}
    assert (config.source_ip, config.visibility_timeout) == ("8.35.195.3", 5)
    with pytest.raises(SystemExit):
        config_from(parser().parse_args(["--parameter", "novalue"]))


# -- the sandbox's sample anchors ------------------------------------------------------------------


def test_every_id_the_samples_name_exists_in_the_sandbox_inside_the_samples_window() -> None:
    investigations = sample_investigations()
    planned = sample_anchors()
    data = generate(7, anchors=planned.anchors)
    assert investigations

    for name, decision in investigations:
        start, end = parse_isoformat(decision.window.start), parse_isoformat(decision.window.end)
        for session_id in decision.subject.session_ids:
            session = data.session(normalise_session_id(session_id))
            assert session is not None, (name, session_id)
            assert session.has_errors
        if decision.subject.uid or decision.subject.email:
            found = data.sessions_of(uid=decision.subject.uid, email=decision.subject.email)
            assert found, name
        alert = decision.trigger.alert
        segment_id = alert.segment_id if alert else None
        if decision.trigger.kind == "metric_alert" and alert:
            segment_id = planned.metric_segments[str(alert.metric_name or alert.name)]
        if segment_id:
            inside = [s for s in data.segment_sessions(segment_id) if start <= s.created <= end]
            assert len(inside) >= 3, (name, segment_id)


def test_anchors_leave_the_seeded_data_as_it_was() -> None:
    plain = generate(7)
    anchored = generate(7, now=plain.now, anchors=sample_anchors().anchors)
    by_id = {s.api_id: s for s in anchored.sessions}

    assert all(by_id[s.api_id].events == s.events for s in plain.sessions)
    assert anchored.segments[: len(plain.segments)] == plain.segments
    assert anchored.users[: len(plain.users)] == plain.users


def test_the_sample_anchors_follow_the_files(tmp_path: Path) -> None:
    event = json.loads((ROOT / "events" / "webhook-note-created.json").read_text())
    document = json.loads(event["body"])
    document["data"]["sessionUrl"] = "https://app.fullstory.com/ui/o-TEST-na1/session/1111:2222"
    event["body"] = json.dumps(document)
    (tmp_path / "note.json").write_text(json.dumps(event))

    planned = sample_anchors(tmp_path)

    (user,) = planned.anchors.users
    assert (user.device_id, [s.session_id for s in user.sessions]) == ("1111", ["2222"])
