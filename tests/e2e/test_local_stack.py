"""The whole stack on one machine, end to end: `fstriage local`'s LocalStack, started once.

sam build (x86_64) -> the built functions under the Lambda Runtime Interface Emulator -> moto_server
for AWS -> the function URL gateway and Lambda's SQS poller -> the Fullstory sandbox. Requests are
signed for real, at the current time; nothing is patched. Without the tools (`make setup`) the module
is skipped, unless FSTRIAGE_E2E_REQUIRED is set (as `make test-e2e` does): then it fails.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from fstriage.core.report import investigation_id_for
from fstriage.core.signature import sign
from fstriage_cli.local import CollectedReport, LocalConfig, LocalStack, LocalStackError
from fstriage_cli.local.rie import session_members
from fstriage_cli.samples.values import TEST_ORG_ID, TEST_SIGNING_SECRET
from tests.support.local_stack import (
    fresh_alert,
    fresh_note,
    post,
    queued,
    send,
    started_stack,
    wait_for_report,
)
from tests.support.schemas import REPORT_SCHEMA

pytestmark = pytest.mark.e2e

# Short, so the poison message reaches the dead-letter queue in maxReceiveCount * 6 s; long enough
# that an investigation (even one sleeping through 429s) finishes before its message reappears.
VISIBILITY_TIMEOUT = 6
EXPORT_POLL_DELAY = 1  # the template's investigator re-polls a pending export after 30 s
REPORT_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with started_stack(
        tmp_path_factory,
        "local-stack",
        visibility_timeout=VISIBILITY_TIMEOUT,
        aws_outages=True,  # the proxy counts what the webhook queued (no outage is switched on here)
        function_env={"InvestigatorFunction": {"EXPORT_POLL_DELAY_SECONDS": str(EXPORT_POLL_DELAY)}},
    ) as running:
        yield running


# -- helpers ---------------------------------------------------------------------------------------


def wait_drained(stack: LocalStack, timeout: float = 30.0) -> None:
    """Until the queue holds nothing (a finished investigation's message is deleted just after its
    report is published)."""
    deadline = time.monotonic() + timeout
    while stack.queue_depth(stack.queue_url) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.queue_depth(stack.queue_url) == 0


def reports_of(stack: LocalStack, investigation_id: str) -> list[CollectedReport]:
    return [r for r in stack.reports if r.investigation_id == investigation_id]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# -- tests ---------------------------------------------------------------------------------------


def test_a_signed_segment_alert_yields_a_schema_valid_report_in_the_reports_dir(stack: LocalStack) -> None:
    investigation_id = queued(stack, fresh_alert())

    collected = wait_for_report(stack, investigation_id, REPORT_TIMEOUT)

    assert collected.json_path == stack.reports_dir / f"{investigation_id}.json"
    report = collected.load()
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["investigation_id"] == investigation_id
    assert report["status"] == "complete", report["notes"]
    assert report["trigger"]["kind"] == "segment_alert"
    # The sandbox holds the alert's segment (checkout-errors-seg) with sessions in the alert's window.
    assert report["sessions"] and report["error_groups"]
    markdown = collected.markdown_path.read_text()
    assert investigation_id in markdown and markdown.startswith("# ")
    # The export was still pending at first: the request went back on the queue with a delay, and the
    # next delivery found it done.
    assert stack.sandbox is not None
    assert len(stack.sandbox.requests_to("GET /operations/v1/{id}")) >= 2


def test_a_note_investigates_the_session_the_sample_names(stack: LocalStack) -> None:
    investigation_id = queued(stack, fresh_note())

    report = wait_for_report(stack, investigation_id, REPORT_TIMEOUT).load()

    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["status"] == "complete", report["notes"]
    sessions = report["sessions"]
    # The named session first, then (its identify event naming the user) that user's other sessions.
    assert sessions[0]["session_id"] == "5741938475610293:8203948571029384"
    uid = sessions[0]["user"]["uid"]
    assert uid and all(s["user"]["uid"] == uid for s in sessions)


def test_a_forged_delivery_is_refused_with_401_and_queues_nothing(stack: LocalStack) -> None:
    wait_drained(stack)
    before = len(stack.reports)
    status, answer, _ = post(stack.webhook_url, fresh_alert(), secret="not-the-signing-secret")

    assert status == 401
    assert answer["error"] == "bad_signature"
    assert stack.queue_depth(stack.queue_url) == 0
    # A genuine delivery sent after it is the next (and only) report.
    marker = queued(stack, fresh_note())
    wait_for_report(stack, marker, REPORT_TIMEOUT)
    assert [r.investigation_id for r in stack.reports[before:]] == [marker]


def webhook_queued(stack: LocalStack) -> list[str]:
    """The request_id of every message the webhook queued (each SendMessage moto accepted)."""
    assert stack.outages is not None
    return [json.loads(body)["request_id"] for body in stack.outages.sent_messages("WebhookFunction")]


def test_a_duplicate_delivery_makes_one_report(stack: LocalStack) -> None:
    alert = fresh_alert(value=61)
    body = json.dumps(alert, separators=(",", ":")).encode()
    signed_at = int(time.time())
    header = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, signed_at)
    resigned = sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, signed_at + 1)  # a retry signed a second later
    assert resigned != header
    before = len(webhook_queued(stack))
    status, first, _ = send(
        stack.webhook_url, body, {"Content-Type": "application/json", "Fullstory-Signature": header}
    )
    assert (status, first["status"]) == (202, "queued"), first
    investigation_id = investigation_id_for(str(first["request_id"]))

    # Fullstory's retries: the same bytes and the same signature header, then the same bytes signed again.
    again = [
        send(stack.webhook_url, body, {"Content-Type": "application/json", "Fullstory-Signature": value})
        for value in (header, resigned)
    ]

    assert [(status, answer["status"]) for status, answer, _ in again] == [(200, "duplicate")] * 2
    assert [answer["request_id"] for _, answer, _ in again] == [first["request_id"]] * 2
    wait_for_report(stack, investigation_id, REPORT_TIMEOUT)
    marker = queued(stack, fresh_note())  # everything queued before it has been worked off
    wait_for_report(stack, marker, REPORT_TIMEOUT)
    queued_ids = webhook_queued(stack)[before:]
    assert queued_ids.count(first["request_id"]) == 1, queued_ids
    assert len(reports_of(stack, investigation_id)) == 1
    assert sorted(p.name for p in stack.reports_dir.glob(f"{investigation_id}.*")) == [
        f"{investigation_id}.html",
        f"{investigation_id}.json",
        f"{investigation_id}.md",
    ]


def test_a_429_storm_still_yields_a_complete_report(stack: LocalStack) -> None:
    sandbox = stack.sandbox
    assert sandbox is not None
    wait_drained(stack)  # nothing else may take the 429s
    exports_before = len(sandbox.requests_to("POST /segments/v1/exports"))
    storm = 6  # more than one call's attempts: the first delivery gives up, SQS redelivers it
    sandbox.faults.update(rate_limit_count=storm, retry_after=0.5)
    try:
        investigation_id = queued(stack, fresh_alert(value=73))

        report = wait_for_report(stack, investigation_id, REPORT_TIMEOUT).load()
    finally:
        sandbox.faults.reset()

    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["status"] == "complete", report["notes"]
    assert report["sessions"]
    # Every 429 was served (to the export start, the investigation's first call) and survived.
    assert len(sandbox.requests_to("POST /segments/v1/exports")) - exports_before == storm + 1


def test_a_poison_message_ends_in_the_dead_letter_queue(stack: LocalStack) -> None:
    poison = f"not an investigation request {uuid.uuid4()}"
    sqs = stack.client("sqs")
    message_id = sqs.send_message(QueueUrl=stack.queue_url, MessageBody=poison)["MessageId"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    max_receives = int(redrive["maxReceiveCount"])

    deadline = time.monotonic() + VISIBILITY_TIMEOUT * (max_receives + 2) + 10
    dead: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not dead:
        answer = sqs.receive_message(QueueUrl=stack.dlq_url, WaitTimeSeconds=1, VisibilityTimeout=60)
        dead = answer.get("Messages") or []

    assert [m["Body"] for m in dead] == [poison]
    tried = [i for i in stack.invocations if message_id in i.message_ids]
    assert len(tried) == max_receives  # delivered maxReceiveCount times, failed each time
    assert all(message_id in i.failed for i in tried)
    assert stack.queue_depth(stack.queue_url) == 0


def test_a_busy_port_is_reported_before_anything_starts(stack: LocalStack) -> None:
    busy = int(stack.webhook_url.rsplit(":", 1)[1].strip("/"))
    second = LocalStack(LocalConfig(port=busy, build=False, reports_dir=stack.reports_dir))

    with pytest.raises(LocalStackError, match=f"port {busy} on 127.0.0.1 is in use"):
        second.start()
    assert second.pids == []


def test_stopping_the_stack_leaves_no_process_and_no_open_port(stack: LocalStack) -> None:
    pids, ports = stack.pids, stack.ports
    assert len(pids) >= 2
    assert [port for port in ports if not port_open(port)] == []
    runtimes = [member for pid in pids for member in session_members(pid) if member != pid]
    assert runtimes  # the emulators started their Python runtimes (in their sessions)

    stack.stop()

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert session_members(pid) == []
    assert [port for port in ports if port_open(port)] == []
