"""Every file in events/ gets the answer its manifest promises, so `sam local invoke -e` examples never rot.

Each webhook event runs through the real entry point (functions/webhook/app.py) under moto, with the
settings from events/env.json and a secret holding the published test values.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import FormatChecker, validators

from fstriage.core import fme
from fstriage.core.republish import republished
from fstriage.core.request import InvestigationRequest
from fstriage_cli.samples import values
from fstriage_cli.samples.fakes import FakeLambdaContext
from fstriage_dev import events as generator
from tests.support.aws import REPO_ROOT, WebhookStack, webhook_stack, without_gc_pauses
from tests.support.schemas import REPUBLISHED_EVENT_SCHEMA, REQUEST_SCHEMA

EVENTS = REPO_ROOT / "events"
MANIFEST: dict[str, dict[str, Any]] = json.loads((EVENTS / "manifest.json").read_text())
ENV: dict[str, str] = json.loads((EVENTS / "env.json").read_text())["WebhookFunction"]
NOT_EVENTS = {"manifest.json", "env.json", "README.md"}
WEBHOOK_FILES = sorted(name for name, entry in MANIFEST.items() if entry["function"] == "WebhookFunction")
QUEUED_FILES = [name for name in WEBHOOK_FILES if MANIFEST[name].get("expect_outcome") == "queued"]
SQS_FILE = "sqs-investigation-request.json"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def invoke(stack: WebhookStack, event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the handler once; return the function URL answer and its decoded JSON body."""
    handler = stack.load_webhook_handler().handler
    with without_gc_pauses():
        answer: dict[str, Any] = handler(event, FakeLambdaContext())
    return answer, json.loads(answer["body"])


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def validate_against_schema(message: dict[str, Any]) -> None:
    validator_class = validators.validator_for(REQUEST_SCHEMA)
    validator_class.check_schema(REQUEST_SCHEMA)
    validator_class(REQUEST_SCHEMA, format_checker=FormatChecker()).validate(message)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookStack]:
    with webhook_stack(monkeypatch, env=ENV) as created:
        yield created


@pytest.mark.parametrize("name", WEBHOOK_FILES)
def test_webhook_event_gets_its_documented_answer(stack: WebhookStack, name: str) -> None:
    expected = MANIFEST[name]
    event = load_event(name)

    answer, body = invoke(stack, event)

    assert answer["statusCode"] == expected["expect_status"], body
    assert answer["headers"]["content-type"] == "application/json"
    if "expect_error" in expected:
        assert body["error"] == expected["expect_error"]
    else:
        assert body["status"] == expected["expect_outcome"]
    if "expect_reason" in expected:
        assert body["reason"] == expected["expect_reason"]
    for header, value in expected.get("expect_headers", {}).items():
        assert answer["headers"].get(header) == value
    # An answer never echoes the secret, the stream token, the signature or the body.
    text = answer["body"]
    assert values.TEST_SIGNING_SECRET not in text
    assert values.TEST_STREAM_TOKEN not in text
    signature = {k.lower(): v for k, v in event["headers"].items()}.get("fullstory-signature")
    if signature:
        assert signature.rsplit("v:", 1)[-1] not in text
    if raw_body(event):
        assert raw_body(event).decode(errors="replace") not in text

    messages = stack.messages()
    if expected.get("expect_outcome") != "queued":
        assert messages == []
        return
    assert len(messages) == 1
    message = json.loads(messages[0]["Body"])
    request = InvestigationRequest.from_message(message)
    assert request.request_id == body["request_id"]
    assert request.origin.org_id == values.TEST_ORG_ID
    attributes = {key: value["StringValue"] for key, value in messages[0]["MessageAttributes"].items()}
    assert attributes == {"schema_version": str(request.schema_version), "kind": request.trigger.kind}


@pytest.mark.parametrize("name", QUEUED_FILES)
def test_queued_message_matches_the_published_schema(stack: WebhookStack, name: str) -> None:
    answer, _ = invoke(stack, load_event(name))
    assert answer["statusCode"] == 202
    (message,) = stack.messages()
    validate_against_schema(json.loads(message["Body"]))


@pytest.mark.parametrize("name", QUEUED_FILES)
def test_replaying_a_queued_event_is_a_duplicate(stack: WebhookStack, name: str) -> None:
    event = load_event(name)
    first, first_body = invoke(stack, event)
    again, again_body = invoke(stack, event)  # a fresh cold start: the ledger, not memory, remembers

    assert (first["statusCode"], again["statusCode"]) == (202, 200)
    assert again_body == {"status": "duplicate", "request_id": first_body["request_id"]}
    assert len(stack.messages()) == 1


def test_segment_alert_expectations_are_what_the_example_claims(stack: WebhookStack) -> None:
    """Black-box check of the content, not just the status: the segment is found in its URL."""
    invoke(stack, load_event("webhook-segment-trend-alert.json"))
    request = InvestigationRequest.from_message(json.loads(stack.messages()[0]["Body"]))

    assert request.trigger.kind == "segment_alert"
    assert request.trigger.alert is not None
    assert request.trigger.alert.segment_id == "checkout-errors-seg"
    assert request.trigger.alert.segment_name == "Checkout errors"
    assert request.window.end == "2026-10-31T23:58:00.000Z"
    assert request.window.start == "2026-10-30T23:58:00.000Z"  # DAILY alert: one day back


def test_note_session_url_becomes_an_api_session_id(stack: WebhookStack) -> None:
    invoke(stack, load_event("webhook-note-created.json"))
    request = InvestigationRequest.from_message(json.loads(stack.messages()[0]["Body"]))

    assert request.trigger.kind == "note"
    assert request.subject.session_ids == ("5741938475610293:8203948571029384",)


def test_stream_events_name_their_subject(stack: WebhookStack) -> None:
    invoke(stack, load_event("stream-session.json"))
    invoke(stack, load_event("stream-user.json"))
    requests = [InvestigationRequest.from_message(json.loads(m["Body"])) for m in stack.messages()]
    subjects = {(r.subject.session_ids, r.subject.uid, r.subject.email) for r in requests}

    assert subjects == {
        (("5741938475610293:8203948571029384",), None, "shopper@example.com"),
        ((), "user-4821", None),
    }
    assert {r.trigger.kind for r in requests} == {"stream"}


def test_sqs_event_carries_the_request_the_webhook_queues(stack: WebhookStack) -> None:
    """The investigator consumes this message, so check the record itself (manifest: expect_status null)."""
    assert MANIFEST[SQS_FILE]["function"] == "InvestigatorFunction"
    assert MANIFEST[SQS_FILE]["expect_status"] is None
    (record,) = load_event(SQS_FILE)["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":fstriage-InvestigationQueue")
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode(), usedforsecurity=False).hexdigest()
    example = InvestigationRequest.from_message(json.loads(record["body"]))
    assert record["messageAttributes"]["kind"]["stringValue"] == example.trigger.kind

    invoke(stack, load_event("webhook-segment-trend-alert.json"))
    live = InvestigationRequest.from_message(json.loads(stack.messages()[0]["Body"]))

    # The same request, apart from when it was received (the example was made at the signing time).
    assert live.request_id == example.request_id
    assert (live.trigger, live.subject, live.window) == (example.trigger, example.subject, example.window)
    assert live.origin.delivery_key == example.origin.delivery_key
    assert live.origin.signed_at == example.origin.signed_at


def test_sqs_event_body_matches_the_published_schema() -> None:
    (record,) = load_event(SQS_FILE)["Records"]
    validate_against_schema(json.loads(record["body"]))


def test_manifest_lists_exactly_the_event_files() -> None:
    on_disk = {path.name for path in EVENTS.iterdir() if path.is_file()} - NOT_EVENTS

    assert set(MANIFEST) == on_disk
    for name, entry in MANIFEST.items():
        assert entry["function"] in {"WebhookFunction", "InvestigatorFunction", "FmeForwarderFunction"}, name
        assert entry["description"], name
        assert ("expect_error" in entry) != ("expect_outcome" in entry), name


def test_events_are_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fstriage_dev.events", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_generator_check_reports_drift(tmp_path: Path) -> None:
    assert generator.main(["--dir", str(tmp_path)]) == 0
    assert generator.main(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "webhook-test.json").write_text("{}\n")
    (tmp_path / "stray.json").write_text("{}\n")

    assert generator.main(["--check", "--dir", str(tmp_path)]) == 1


def test_env_json_is_for_local_invokes_only() -> None:
    """env.json widens the tolerance so the fixed-time signatures pass; it names no real account."""
    assert float(ENV["SIGNATURE_TOLERANCE_SECONDS"]) >= 20 * 365 * 24 * 3600
    assert ENV["FULLSTORY_ORG_ID"] == values.TEST_ORG_ID
    assert ":123456789012:" in ENV["SIGNING_SECRET_ARN"]
    assert "AWS_ENDPOINT_URL" not in ENV
    assert "300" in (EVENTS / "README.md").read_text()


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads template.yaml, keeping each short-form intrinsic (`!Ref X`) as its plain value."""


def _intrinsic(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def test_env_json_sets_only_variables_the_template_declares() -> None:
    """`sam local invoke --env-vars` silently drops variables the function does not declare."""
    template_path = REPO_ROOT / "template.yaml"
    if not template_path.exists():
        pytest.skip("template.yaml does not exist yet")
    template = _CloudFormationLoader(template_path.read_text()).get_single_data()
    every_env = json.loads((EVENTS / "env.json").read_text())
    for function, env in every_env.items():
        declared = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert set(env) <= set(declared), function


def test_custom_event_examples_carry_what_the_investigator_republishes() -> None:
    (record,) = load_event("sqs-custom-event-request.json")["Records"]
    request = InvestigationRequest.from_message(json.loads(record["body"]))
    assert request.trigger.kind == "custom_event"
    validate_against_schema(json.loads(record["body"]))

    (fme_record,) = load_event("sqs-fme-custom-event.json")["Records"]
    assert fme_record["eventSourceARN"].endswith(":fstriage-FmeForwarderQueue")
    event = fme.read_event(json.loads(fme_record["body"]))
    expected = republished(request, investigated=True, app_base_url="https://app.fullstory.com")
    assert expected is not None
    envelope = json.loads(fme_record["body"])
    assert envelope["detail"] == expected.detail
    validators.validator_for(REPUBLISHED_EVENT_SCHEMA)(REPUBLISHED_EVENT_SCHEMA).validate(envelope["detail"])
    assert event.name == "Checkout Failed"
