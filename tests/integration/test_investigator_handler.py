"""The investigator Lambda handler end to end in-process: moto (SQS + DLQ, S3, DynamoDB idempotency,
Secrets Manager, EventBridge) against the Fullstory sandbox on 127.0.0.1.

Requests are what the real webhook intake queues for signed payloads that point at sandbox sessions,
users and segments. Each test receives them from the moto queue as the event source mapping would,
runs the real entry point (functions/investigator/app.py) and deletes what it did not report failed.

Two seams, both for speed: the Fullstory client's retry backoff is not a setting, so `Rig.handler`
builds the production client with a tiny backoff (and records its sleeps); and the sandbox gets
TCP_NODELAY (see `running_sandbox`). The client's timeouts are not settings either, so timeouts are
tested on the Investigation with a client built with a small read timeout.
"""

from __future__ import annotations

import functools
import html
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from fstriage import investigator_app
from fstriage.adapters import aws
from fstriage.adapters.fullstory import FullstoryClient, RetryPolicy
from fstriage.adapters.outputs import StoredReport
from fstriage.core.errors import ConfigurationError, FullstoryUnavailable
from fstriage.core.http import HttpRequest
from fstriage.core.intake import STREAMS_PREFIX, Intake, IntakePolicy
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings
from fstriage.core.ports import SigningKeys
from fstriage.core.ratelimit import RateLimiter
from fstriage.core.request import Continuation, InvestigationRequest, parse_isoformat
from fstriage.core.signature import sign
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import FakeKeys, FakeLambdaContext, MemoryLedger, MemoryQueue
from fstriage_cli.samples.values import (
    ACCOUNT_ID,
    FULLSTORY_STREAM_IP,
    REGION,
    TEST_SIGNING_SECRET,
    TEST_STREAM_TOKEN,
)
from fstriage_cli.sandbox import FullstorySandbox, SandboxSession, views
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS
from fstriage_cli.sandbox.model import SandboxSegment
from tests.support.aws import (
    DEFAULT_API_KEY,
    INVESTIGATOR_APP,
    MAX_RECEIVE_COUNT,
    REPO_ROOT,
    InvestigatorStack,
    investigator_stack,
)
from tests.support.schemas import REPORT_SCHEMA

COMPLETED = "Investigation Completed"
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)  # the sandbox's "now" and every payload's time
SEED = 6  # user-001 has 4 sessions: 2 in the last 24 h (the newest a checkout crash), 2 older
SQS_EXAMPLE = REPO_ROOT / "events" / "sqs-investigation-request.json"
FAST_RETRIES = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, safety_margin=1.0)

EXPORT_START = "POST /segments/v1/exports"
OPERATION = "GET /operations/v1/{id}"
EXPORT_RESULTS = "GET /search/v1/exports/{id}/results"
DOWNLOAD = "GET /downloads/{name}"
SESSIONS = "GET /sessions/v2"
EVENTS = "GET /v2/sessions/{id}/events"
CONTEXT = "POST /v2/sessions/{id}/context"
SUMMARY = "GET /v2/sessions/{id}/summary"


# ---------------------------------------------------------------------------------------------
# The rig: sandbox + moto stack + the handler, and the webhook intake that makes requests


@dataclass
class Rig:
    stack: InvestigatorStack
    sandbox: FullstorySandbox
    monkeypatch: pytest.MonkeyPatch
    sleeps: list[float] = field(default_factory=list)

    def handler(self, **overrides: str | None) -> ModuleType:
        """A cold start of the investigator with the stack's settings plus `overrides`."""
        settings: dict[str, str | None] = {
            "FULLSTORY_ORG_ID": self.sandbox.data.org_id,
            "FULLSTORY_API_URL": self.sandbox.base_url,
            "FULLSTORY_RATE_PER_SECOND": "1000",
            "EXPORT_POLL_DELAY_SECONDS": "0",
            # Each pending answer re-queues, as the export tests expect (tests/*/test_export_inline_wait.py
            # cover the in-process wait).
            "EXPORT_INLINE_WAIT_SECONDS": "0",
        }
        settings.update(overrides)
        module = self.stack.load_investigator_handler(self.monkeypatch, INVESTIGATOR_APP, **settings)

        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            time.sleep(seconds)

        self.monkeypatch.setattr(
            investigator_app,
            "FullstoryClient",
            functools.partial(FullstoryClient, retry=FAST_RETRIES, sleep=sleep),
        )
        return module

    def queue(self, message: tuple[str, dict[str, str]]) -> str:
        body, attributes = message
        return self.stack.send(body, attributes)

    def deliver(
        self, module: ModuleType, *, max_messages: int = 10, remaining_ms: int = 120_000
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One poll of the event source mapping: receive, invoke, delete what succeeded."""
        records = self.stack.receive(max_messages=max_messages)
        assert records, "nothing to deliver"
        response = invoke(module, records, remaining_ms=remaining_ms)
        self.stack.settle(records, response)
        return records, response

    def reports(self) -> list[tuple[dict[str, Any], str]]:
        """Every stored report (JSON, Markdown twin), each checked against the schema."""
        objects = self.stack.objects()
        found = []
        for key in sorted(k for k in objects if k.endswith(".json")):
            report = json.loads(objects[key])
            jsonschema.validate(report, REPORT_SCHEMA)
            markdown_key = key.removesuffix(".json") + ".md"
            html_key = key.removesuffix(".json") + ".html"
            assert markdown_key in objects, f"no Markdown twin for {key}"
            assert html_key in objects, f"no HTML twin for {key}"
            assert objects[html_key].decode().startswith("<!doctype html>")
            assert report["artifacts"] == {
                "bucket": self.stack.bucket,
                "json_key": key,
                "markdown_key": markdown_key,
                "html_key": html_key,
            }
            found.append((report, objects[markdown_key].decode()))
        return found

    def the_report(self) -> tuple[dict[str, Any], str]:
        """The one report written so far, with its one EventBridge event checked against it."""
        [(report, markdown)] = self.reports()
        [event] = self.stack.events(COMPLETED)
        assert_announces(event, report)
        assert markdown.startswith(f"# {report['headline']}\n")
        assert f"**Status:** {report['status']}" in markdown
        for note in report["notes"]:
            assert f"- {note}" in markdown
        return report, markdown


def sent_messages() -> list[dict[str, Any]]:
    """Every SendMessage the investigator makes from now on (a re-queued export poll); call it after
    `Rig.handler`, which loads the investigator afresh."""
    sent: list[dict[str, Any]] = []
    aws.client("sqs").meta.events.register(
        "provide-client-params.sqs.SendMessage", lambda params, **_: sent.append(dict(params))
    )
    return sent


def invoke(
    module: ModuleType, records: list[dict[str, Any]], *, remaining_ms: int = 120_000
) -> dict[str, Any]:
    context = FakeLambdaContext(
        function_name="fstriage-InvestigatorFunction",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:fstriage-InvestigatorFunction",
        log_group_name="/aws/lambda/fstriage-InvestigatorFunction",
        remaining_ms=remaining_ms,
    )
    response: dict[str, Any] = module.handler({"Records": records}, context)
    return response


def assert_announces(event: dict[str, Any], report: dict[str, Any]) -> None:
    assert (event["source"], event["detail-type"]) == ("fstriage", "Investigation Completed")
    detail = event["detail"]
    assert detail["investigation_id"] == report["investigation_id"]
    assert detail["request_id"] == report["request_id"]
    assert detail["status"] == report["status"]
    assert detail["headline"] == report["headline"]
    assert detail["session_count"] == len(report["sessions"])
    assert detail["top_error_groups"] == [
        {
            "kind": group["kind"],
            "signature": group["signature"],
            "sessions": len(group["sessions"]),
            "count": group["count"],
        }
        for group in report["error_groups"][:3]
    ]
    assert detail["report"] == report["artifacts"]
    # The presigned GET of the HTML twin (signed with the test's fake credentials, pointing at moto).
    url = urllib.parse.urlsplit(detail["report_url"])
    assert url.path.endswith("/" + report["artifacts"]["html_key"])
    assert "X-Amz-Signature" in urllib.parse.parse_qs(url.query)
    assert detail["cost"] == report["cost"]


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=SEED, now=ANCHOR) as running:
        yield running


@pytest.fixture
def sandbox(running_sandbox: FullstorySandbox) -> FullstorySandbox:
    """The module's sandbox with default switches and no recorded calls."""
    running_sandbox.faults.reset()
    running_sandbox.reset_records()
    return running_sandbox


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch, sandbox: FullstorySandbox) -> Iterator[Rig]:
    with investigator_stack(monkeypatch) as stack:
        yield Rig(stack, sandbox, monkeypatch)


def webhook(
    document: dict[str, Any],
    sandbox: FullstorySandbox,
    *,
    stream: bool = False,
    lookback: timedelta = timedelta(hours=24),
) -> tuple[str, dict[str, str]]:
    """What the real webhook intake queues for `document`, signed (or streamed) at ANCHOR."""
    org_id = sandbox.data.org_id
    queue = MemoryQueue()
    keys = SigningKeys(signing_secrets=(TEST_SIGNING_SECRET,), stream_tokens=(TEST_STREAM_TOKEN,))
    intake = Intake(
        IntakePolicy(org_id=org_id, lookback=lookback),
        FakeKeys(keys),
        queue,
        MemoryLedger(),
        clock=ANCHOR.timestamp,
    )
    body = payloads.encode(document)
    headers = {"content-type": "application/json"}
    if stream:
        request = HttpRequest("POST", STREAMS_PREFIX + TEST_STREAM_TOKEN, headers, body, FULLSTORY_STREAM_IP)
    else:
        headers["fullstory-signature"] = sign(TEST_SIGNING_SECRET, body, org_id, int(ANCHOR.timestamp()))
        request = HttpRequest("POST", "/", headers, body, "198.51.100.23")
    result = intake.handle(request)
    assert result.response.status == 202, result.response.body
    [message] = queue.messages
    return message


def request_of(message: tuple[str, dict[str, str]]) -> InvestigationRequest:
    return InvestigationRequest.from_json(message[0])


# -- sandbox-backed payloads -----------------------------------------------------------------------


def checkout_errors(sandbox: FullstorySandbox) -> SandboxSegment:
    """The "Checkout errors" segment, as `GET /segments/v1` lists it."""
    return sandbox.data.segment_named(CHECKOUT_ERRORS)


def segment_alert(segment: SandboxSegment) -> dict[str, Any]:
    document = payloads.segment_alert(timestamp=ANCHOR.isoformat())
    document["data"]["alertConfig"].update(segmentUrl=f"{segment.url}/people/0", segmentName=segment.name)
    return document


def metric_alert() -> dict[str, Any]:
    document = payloads.metric_alert()
    document["data"]["timestamp"] = ANCHOR.isoformat()
    return document


def newest(sandbox: FullstorySandbox, uid: str) -> SandboxSession:
    return sandbox.data.sessions_of(uid=uid)[0]


def note_on(sandbox: FullstorySandbox, session: SandboxSession) -> dict[str, Any]:
    document = payloads.note_created()
    document["data"].update(sessionUrl=sandbox.data.replay_url(session), notedTime=ANCHOR.isoformat())
    return document


def custom_event_on(sandbox: FullstorySandbox, session: SandboxSession) -> dict[str, Any]:
    document = payloads.custom_event()
    document["data"].update(sessionUrl=sandbox.data.replay_url(session), timestamp=ANCHOR.isoformat())
    return document


def covered_by_session_trigger(sandbox: FullstorySandbox, session: SandboxSession) -> list[str]:
    """What a note or custom event on `session` covers: that session, then (its identify event naming
    the user) the user's other sessions in the window, newest first."""
    return [session.api_id] + [
        s for s in sessions_in_window(sandbox, session.user.uid) if s != session.api_id
    ]


def sessions_in_window(sandbox: FullstorySandbox, uid: str, hours: float = 24) -> list[str]:
    """The user's sessions created in the `hours` before ANCHOR, newest first (what a report covers)."""
    start = ANCHOR - timedelta(hours=hours)
    return [s.api_id for s in sandbox.data.sessions_of(uid=uid) if start <= s.created <= ANCHOR]


def exported_sessions(sandbox: FullstorySandbox, segment_id: str, request: InvestigationRequest) -> set[str]:
    """The sessions the sandbox's export holds for the request's window."""
    rows = views.export_rows(
        sandbox.data,
        segment_id,
        start=parse_isoformat(request.window.start),
        end=parse_isoformat(request.window.end),
        fields=[],
    )
    return {f"{row['UserId']}:{row['SessionId']}" for row in rows}


def emf_metrics(stdout: str) -> dict[str, float]:
    """Metric name -> summed value, from the EMF blobs Powertools printed."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        blob = json.loads(line)
        if "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + (
                    sum(value) if isinstance(value, list) else value
                )
    return totals


def log_lines(stdout: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" not in line]


# ---------------------------------------------------------------------------------------------
# Each trigger kind


def test_segment_alert_with_a_ready_export_reports_the_segment_sessions(rig: Rig) -> None:
    rig.sandbox.faults.update(export_pending_polls=0)
    segment = checkout_errors(rig.sandbox)
    message = webhook(segment_alert(segment), rig.sandbox)
    rig.queue(message)
    expected = exported_sessions(rig.sandbox, segment.id, request_of(message))
    assert 2 <= len(expected) <= 10  # the data this test relies on

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, markdown = rig.the_report()
    assert report["status"] == "complete"
    assert report["notes"] == []
    assert report["request_id"] == request_of(message).request_id
    assert report["trigger"]["segment"] == {
        "id": segment.id,
        "name": segment.name,
        "url": f"{segment.url}/people/0",
    }
    assert {s["session_id"] for s in report["sessions"]} == expected
    for session in report["sessions"]:
        sandbox_session = rig.sandbox.data.session(session["session_id"])
        assert sandbox_session is not None
        assert session["user"]["uid"] == sandbox_session.user.uid  # from the export rows
        assert session["summary"]["available"] and session["events_available"]
        assert session["signal_source"] == "events"
        assert session["error_signal_count"] > 0  # every session of this segment has errors
    assert report["error_groups"]
    assert report["headline"].startswith('Segment alert "Checkout errors": errors in ')
    calls = rig.sandbox.calls
    assert (calls[EXPORT_START], calls[OPERATION], calls[EXPORT_RESULTS], calls[DOWNLOAD]) == (1, 1, 1, 1)
    assert calls[EVENTS] == calls[SUMMARY] == len(expected)
    assert report["cost"]["activations"] == len(expected)
    assert report["cost"]["fullstory_calls"] == sum(calls.values()) - calls[DOWNLOAD]
    assert f"## Sessions ({len(expected)})" in markdown
    assert rig.stack.queue_counts() == {"Messages": 0, "MessagesNotVisible": 0, "MessagesDelayed": 0}


def test_pending_export_requeues_a_delayed_continuation_and_the_continuation_finishes(rig: Rig) -> None:
    segment = checkout_errors(rig.sandbox)  # the sandbox answers PENDING once by default
    message = webhook(segment_alert(segment), rig.sandbox)
    rig.queue(message)
    handler = rig.handler(EXPORT_POLL_DELAY_SECONDS="30")
    sent = sent_messages()

    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": []}
    assert rig.stack.objects() == {}
    assert rig.stack.events(COMPLETED) == []
    [requeued] = sent
    assert requeued["DelaySeconds"] == 30
    assert requeued["MessageAttributes"]["kind"]["StringValue"] == "segment_alert"
    continuation = json.loads(requeued["MessageBody"])["continuation"]
    assert continuation["segment_id"] == segment.id
    assert continuation["polls"] == 1
    assert continuation["operation_id"]
    # The original was deleted; the continuation waits out its delay, invisible to consumers.
    assert rig.stack.queue_counts() == {"Messages": 0, "MessagesNotVisible": 0, "MessagesDelayed": 1}
    assert rig.stack.receive() == []

    rig.stack.end_delays()
    [record], response = rig.deliver(handler)

    assert record["body"] == requeued["MessageBody"]
    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "complete"
    assert report["request_id"] == request_of(message).request_id
    assert {s["session_id"] for s in report["sessions"]} == exported_sessions(
        rig.sandbox, segment.id, request_of(message)
    )
    calls = rig.sandbox.calls
    assert (calls[EXPORT_START], calls[OPERATION]) == (1, 2)  # polled again, never restarted
    assert len(sent) == 1


def test_failed_export_gives_a_failed_report_with_a_note(rig: Rig) -> None:
    rig.sandbox.faults.update(export_pending_polls=0, export_fails=True)
    rig.queue(webhook(segment_alert(checkout_errors(rig.sandbox)), rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "failed"
    assert report["sessions"] == []
    assert report["notes"] == [
        "Fullstory could not export the segment (export failed: the sandbox was told to fail it); "
        "the report covers the alert only."
    ]
    assert report["headline"] == 'Segment alert "Checkout errors": could not be investigated; see notes'
    assert rig.sandbox.calls[EVENTS] == 0


def test_export_that_never_completes_stops_after_export_max_polls(rig: Rig) -> None:
    rig.sandbox.faults.update(export_never_completes=True)
    rig.queue(webhook(segment_alert(checkout_errors(rig.sandbox)), rig.sandbox))
    handler = rig.handler(EXPORT_MAX_POLLS="3")

    for _ in range(2):
        _, response = rig.deliver(handler)  # a delay of 0: the continuation is visible at once
        assert response == {"batchItemFailures": []}
        assert rig.stack.objects() == {}
    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "failed"
    segment_id = report["trigger"]["alert"]["segment_id"]
    assert report["notes"] == [
        "The segment export was still being prepared after 3 checks; the report covers the alert only. "
        f"Investigate by hand later with `fstriage investigate --segment {segment_id}`."
    ]
    assert (rig.sandbox.calls[EXPORT_START], rig.sandbox.calls[OPERATION]) == (1, 3)
    assert rig.stack.receive() == []


def test_unmapped_metric_alert_is_reported_with_a_note_and_no_fullstory_calls(rig: Rig) -> None:
    rig.queue(webhook(metric_alert(), rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "complete"
    assert report["sessions"] == []
    assert report["notes"] == [
        "Metric alerts name no sessions. Map the metric 'Checkout conversion' to a segment in "
        "METRIC_SEGMENTS to investigate the sessions behind it."
    ]
    assert report["trigger"]["alert"]["metric_name"] == "Checkout conversion"
    assert report["cost"] == {"fullstory_calls": 0, "activations": 0, "fullstory_writes": 0}
    assert sum(rig.sandbox.calls.values()) == 0


def test_mapped_metric_alert_investigates_its_segment(rig: Rig) -> None:
    rig.sandbox.faults.update(export_pending_polls=0)
    segment = checkout_errors(rig.sandbox)
    message = webhook(metric_alert(), rig.sandbox)
    rig.queue(message)

    _, response = rig.deliver(rig.handler(METRIC_SEGMENTS=json.dumps({"Checkout conversion": segment.id})))

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "complete"
    assert report["trigger"]["kind"] == "metric_alert"
    assert {s["session_id"] for s in report["sessions"]} == exported_sessions(
        rig.sandbox, segment.id, request_of(message)
    )
    assert report["headline"].startswith('Metric alert "Checkout conversion dropped": errors in ')
    assert json.loads(rig.sandbox.requests_to(EXPORT_START)[0].body)["segmentId"] == segment.id


def test_note_investigates_its_session_and_the_users_other_sessions_in_the_window(rig: Rig) -> None:
    """Generate Context names the session's user (the sandbox's raw events carry no `identify`)."""
    crash = newest(rig.sandbox, "user-001")
    in_window = sessions_in_window(rig.sandbox, "user-001")
    older = [s.api_id for s in rig.sandbox.data.sessions_of(uid="user-001")][len(in_window) :]
    assert in_window[0] == crash.api_id and len(in_window) == 2 and older  # the data this relies on
    rig.queue(webhook(note_on(rig.sandbox, crash), rig.sandbox))

    _, response = rig.deliver(rig.handler(SESSION_EVENT_SOURCE="context"))

    assert response == {"batchItemFailures": []}
    report, markdown = rig.the_report()
    assert report["status"] == "complete"
    assert [s["session_id"] for s in report["sessions"]] == in_window  # the noted one first
    user = rig.sandbox.data.user("user-001")
    for session in report["sessions"]:
        assert session["user"] == {"uid": "user-001", "email": user.email, "display_name": user.display_name}
        assert session["signal_source"] == "context"
    [noted] = [s for s in report["sessions"] if s["session_id"] == crash.api_id]
    # Generate Context files the uncaught TypeError under console-error.
    assert {signal["kind"] for signal in noted["signals"]} == {
        "console_error",
        "network_error",
        "error_click",
        "rage_click",
    }
    assert report["headline"].startswith("Note on a session: errors in 2 of 2 sessions; top: ")
    assert report["trigger"]["text"] == "Customer says the Pay now button does nothing"
    [listed] = rig.sandbox.requests_to(SESSIONS)
    assert "uid=user-001" in listed.path
    assert rig.sandbox.calls[CONTEXT] == 2
    assert user.email not in markdown  # masked in the Markdown view


def test_custom_event_investigates_its_session(rig: Rig) -> None:
    session = newest(rig.sandbox, "user-003")  # a dead click and an unreadable event
    rig.queue(webhook(custom_event_on(rig.sandbox, session), rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "partial"  # the unreadable event is said, not silently dropped
    assert report["unread_events"]["count"] == 1
    assert [s["session_id"] for s in report["sessions"]] == covered_by_session_trigger(rig.sandbox, session)
    noted = report["sessions"][0]
    assert noted["replay_url"] == rig.sandbox.data.replay_url(session)
    assert noted["user"]["uid"] == "user-003"  # from the session's identify event
    assert "dead_click" in {signal["kind"] for signal in noted["signals"]}
    assert sum(noted["unclassified"].values()) == 1
    assert report["trigger"]["text"] == "Checkout Failed"
    assert report["headline"].startswith('Custom event "Checkout Failed": ')
    # The identify event named the user, so their other sessions were listed once, by uid.
    [listed] = rig.sandbox.requests_to(SESSIONS)
    assert "uid=user-003" in listed.path


def test_stream_with_a_session_and_email_covers_the_users_sessions_in_the_window(rig: Rig) -> None:
    crash = newest(rig.sandbox, "user-001")
    email = rig.sandbox.data.user("user-001").email
    document = payloads.stream_session(rig.sandbox.data.replay_url(crash), user_email=email)
    rig.queue(webhook(document, rig.sandbox, stream=True))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "complete"
    assert [s["session_id"] for s in report["sessions"]] == sessions_in_window(rig.sandbox, "user-001")
    assert report["headline"].startswith('Stream "Checkout rage clicks": errors in ')
    # The stream named an email, the session's identify event a uid: the uid is the precise key.
    [listed] = rig.sandbox.requests_to(SESSIONS)
    assert "uid=user-001" in listed.path


@pytest.mark.parametrize("by", ["uid", "email"])
def test_stream_naming_a_user_covers_their_sessions_in_the_window(rig: Rig, by: str) -> None:
    user = rig.sandbox.data.user("user-001")
    document = (
        payloads.stream_user(user_id=user.uid) if by == "uid" else payloads.stream_user(user_email=user.email)
    )
    rig.queue(webhook(document, rig.sandbox, stream=True))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "complete"
    expected = sessions_in_window(rig.sandbox, "user-001")
    assert [s["session_id"] for s in report["sessions"]] == expected
    assert all(s["created_at"] for s in report["sessions"])
    assert rig.sandbox.calls[SESSIONS] == 1
    assert rig.sandbox.calls[EVENTS] == len(expected)  # the older sessions cost nothing


# ---------------------------------------------------------------------------------------------
# Fullstory errors


def test_rejected_api_key_fails_the_report_counts_it_and_does_not_retry(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.sandbox.faults.update(unauthorized=True)
    rig.queue(webhook(note_on(rig.sandbox, newest(rig.sandbox, "user-001")), rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "failed"
    assert report["notes"] == [
        "Fullstory rejected the API key (401). Store a valid Admin or Architect key in the Fullstory API key "
        "secret; every investigation fails until then."
    ]
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["FullstoryAuthFailed"] == 1
    assert metrics["InvestigationCompleted"] == 1
    assert "InvestigationRetried" not in metrics
    assert rig.stack.receive() == []  # deleted: a retry would be refused the same way
    assert rig.sandbox.calls[SUMMARY] == rig.sandbox.calls[EVENTS] == 1  # 401 is never retried


def test_standard_tier_key_gives_a_partial_report_for_a_session(rig: Rig) -> None:
    rig.sandbox.faults.update(forbidden_tier=True)
    session = newest(rig.sandbox, "user-001")
    rig.queue(webhook(note_on(rig.sandbox, session), rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, markdown = rig.the_report()
    assert report["status"] == "partial"
    [only] = report["sessions"]
    assert (only["events_available"], only["summary"]["available"]) == (False, False)
    assert only["events_unavailable_reason"] == "403 forbidden"
    summary_note, events_note = report["notes"]
    assert summary_note.startswith(
        "AI summaries were unavailable for 1 session (Fullstory answered 403: summary: HTTP 403: "
        "insufficient permissions). Summaries need an Admin or Architect API key"
    )
    assert events_note.startswith(
        "Session events were unavailable for 1 session (Fullstory answered 403: session_events: HTTP 403: "
        "insufficient permissions). Session events need an Admin or Architect API key"
    )
    assert "events unavailable (403 forbidden)" in markdown
    assert report["cost"]["activations"] == 0


def test_standard_tier_key_fails_a_segment_alert_whose_export_is_refused(rig: Rig) -> None:
    rig.sandbox.faults.update(forbidden_tier=True)
    rig.queue(webhook(segment_alert(checkout_errors(rig.sandbox)), rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "failed"
    assert report["notes"] == [
        "The segment export was refused (Fullstory answered 403: export_start: HTTP 403: insufficient "
        "permissions). Segment exports need an Admin or Architect API key."
    ]
    assert rig.sandbox.calls[EXPORT_START] == 1


def test_activation_off_keeps_the_export_and_falls_back_to_its_rows(rig: Rig) -> None:
    rig.sandbox.faults.update(activation_off=True, export_pending_polls=0)
    segment = checkout_errors(rig.sandbox)
    message = webhook(segment_alert(segment), rig.sandbox)
    rig.queue(message)
    expected = exported_sessions(rig.sandbox, segment.id, request_of(message))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, markdown = rig.the_report()
    assert report["status"] == "partial"
    assert {s["session_id"] for s in report["sessions"]} == expected
    for session in report["sessions"]:
        assert session["events_available"] is False
        assert session["signal_source"] == "export"  # errors still told, from the export's rows
        assert session["signals"]
    assert report["error_groups"]
    summary_note, events_note = report["notes"]
    n = len(expected)
    assert summary_note.startswith(f"AI summaries were unavailable for {n} sessions (Fullstory answered 403")
    assert events_note.startswith(f"Session events were unavailable for {n} sessions (Fullstory answered 403")
    for note in (summary_note, events_note):
        assert "Anywhere: Activation is not enabled for this organization" in note  # Fullstory's words
        assert "which is off for this org: ask Fullstory to enable it" in note  # so the fix names Activation
        assert "Standard key" not in note
    assert "(from the segment export)" in markdown
    assert report["cost"]["activations"] == 0


def test_unknown_session_is_reported_with_a_note(rig: Rig) -> None:
    known = newest(rig.sandbox, "user-002")
    unknown = f"{known.device_id}:1234567890123456"
    document = payloads.note_created()
    document["data"].update(
        sessionUrl=f"{rig.sandbox.data.app_url}/ui/{rig.sandbox.data.org_id}/session/{unknown}",
        notedTime=ANCHOR.isoformat(),
    )
    rig.queue(webhook(document, rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "partial"
    [only] = report["sessions"]
    assert only["session_id"] == unknown
    assert only["events_unavailable_reason"] == "404 resource_not_found"
    assert (
        "Fullstory found no events for 1 session (404): the session may be older than the data retention, "
        "or was not recorded."
    ) in report["notes"]
    assert not any("SUMMARY_PROFILE_ID" in note for note in report["notes"])  # the session is unknown
    assert "no errors found" not in report["headline"]


def test_rate_limit_is_waited_out_as_retry_after_says(rig: Rig) -> None:
    rig.sandbox.faults.update(rate_limit_count=1, retry_after=0.05)
    session = newest(rig.sandbox, "user-003")
    rig.queue(webhook(custom_event_on(rig.sandbox, session), rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "partial"  # user-003's unreadable event, and nothing else
    assert report["notes"] == [report["unread_events"]["note"]]
    assert rig.sleeps == [0.05]  # Retry-After, not the (smaller) backoff
    # Summary + events per session, the user's session list, and the one refused call.
    expected = 2 * len(covered_by_session_trigger(rig.sandbox, session)) + 1 + 1
    assert sum(rig.sandbox.calls.values()) == expected
    assert report["cost"]["fullstory_calls"] == expected


def test_server_errors_are_retried_until_an_answer_arrives(rig: Rig) -> None:
    rig.sandbox.faults.update(server_error_count=2, error_body="html")
    session = newest(rig.sandbox, "user-003")
    rig.queue(webhook(custom_event_on(rig.sandbox, session), rig.sandbox))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "partial"  # user-003's unreadable event, and nothing else
    assert report["notes"] == [report["unread_events"]["note"]]
    assert len(rig.sleeps) == 2
    # Summary + events per session, the user's session list, and the two refused calls.
    assert (
        report["cost"]["fullstory_calls"] == 2 * len(covered_by_session_trigger(rig.sandbox, session)) + 1 + 2
    )


@pytest.mark.parametrize("error_body", ["json", "html"])
def test_server_errors_past_the_retries_leave_a_per_session_gap(rig: Rig, error_body: str) -> None:
    rig.sandbox.faults.update(server_error_rate=1.0, path_filter="/events", error_body=error_body)
    rig.queue(webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True))
    in_window = sessions_in_window(rig.sandbox, "user-001")

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "partial"
    assert [s["session_id"] for s in report["sessions"]] == in_window
    assert all(s["summary"]["available"] and not s["events_available"] for s in report["sessions"])
    [note] = report["notes"]
    assert note.startswith(
        f"Session events failed for {len(in_window)} sessions after retries (Fullstory answered 503: "
        "gave up after 4 attempts: session_events: HTTP 503: "
    )
    if error_body == "html":
        assert "Server error was encountered sandbox-proxy/1.0" in note  # the page's text, no markup
        assert "<" not in note
    assert rig.sandbox.calls[EVENTS] == 4 * len(in_window)


def test_discovery_outage_fails_only_its_record_and_a_redelivery_finishes_it(rig: Rig) -> None:
    rig.sandbox.faults.update(server_error_rate=1.0, path_filter="/sessions/v2")
    stream_id = rig.queue(webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True))
    rig.queue(webhook(payloads.metric_alert(), rig.sandbox))  # lists no sessions
    handler = rig.handler()

    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": [{"itemIdentifier": stream_id}]}
    [(report, _)] = rig.reports()
    assert report["trigger"]["kind"] == "metric_alert"
    assert rig.sandbox.calls[SESSIONS] == 4

    rig.sandbox.faults.reset()
    [record], response = rig.deliver(handler)

    assert record["messageId"] == stream_id
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert response == {"batchItemFailures": []}
    assert sorted(r["trigger"]["kind"] for r, _ in rig.reports()) == ["metric_alert", "stream"]
    assert len(rig.stack.events(COMPLETED)) == 2


def test_a_batch_where_every_record_fails_is_retried_whole(rig: Rig) -> None:
    rig.sandbox.faults.update(server_error_rate=1.0, path_filter="/sessions/v2")
    rig.queue(webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True))
    records = rig.stack.receive()

    with pytest.raises(BatchProcessingError):
        invoke(rig.handler(), records)

    assert rig.stack.objects() == {}
    assert len(rig.stack.receive()) == 1  # nothing was deleted


def test_timeouts_become_a_note_per_session_or_fail_discovery(sandbox: FullstorySandbox) -> None:
    """The client's timeouts are not settings, so this runs the Investigation with a client built
    with a 0.2 s read timeout against a sandbox that answers events (then the user list) in 1 s."""
    sandbox.faults.update(latency_ms=1000, path_filter="/events")
    client = FullstoryClient(
        DEFAULT_API_KEY,
        base_url=sandbox.base_url,
        connect_timeout=0.5,
        read_timeout=0.2,
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, safety_margin=0),
        rate_limiter=RateLimiter(1000, 1000),
    )
    investigation = Investigation(client, InvestigationSettings(org_id=sandbox.data.org_id))
    session = newest(sandbox, "user-003")

    outcome = investigation.run(request_of(webhook(custom_event_on(sandbox, session), sandbox)))

    assert isinstance(outcome, Finished)
    assert outcome.evidence.status == "partial"
    [finding] = outcome.evidence.sessions
    assert finding.summary_text is not None and finding.digest is None
    assert finding.events_unavailable == "no answer fullstory_unavailable"
    assert outcome.evidence.notes.sentences() == [
        "Session events failed for 1 session after retries (Fullstory answered nothing: gave up after 2 "
        "attempts: session_events: ReadTimeout talking to Fullstory)."
    ]
    assert sandbox.calls[EVENTS] == 2

    sandbox.faults.update(path_filter="/sessions/v2")
    with pytest.raises(FullstoryUnavailable):
        investigation.run(request_of(webhook(payloads.stream_user(user_id="user-001"), sandbox, stream=True)))
    client.close()


def test_user_stream_whose_sessions_cannot_be_listed_fails_with_a_note(rig: Rig) -> None:
    rig.sandbox.faults.update(forbidden_tier=True)
    rig.queue(webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True))

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "failed"  # the user's sessions were all there was to read
    assert report["sessions"] == []
    assert report["notes"] == [
        "The user's other sessions could not be listed (Fullstory answered 403: sessions: HTTP 403: "
        "insufficient permissions); listing sessions needs an Admin or Architect API key."
    ]
    assert report["headline"] == 'Stream "Signup form errors": could not be investigated; see notes'


def test_the_sqs_example_in_events_falls_back_to_its_segment_name(rig: Rig) -> None:
    """events/sqs-investigation-request.json names segment `checkout-errors-seg`, which the seeded
    sandbox does not have (404 to the export); its name, "Checkout errors", finds the real one."""
    rig.sandbox.faults.update(export_pending_polls=0)
    example = json.loads(SQS_EXAMPLE.read_text())
    [record] = example["Records"]
    request = InvestigationRequest.from_json(record["body"])
    assert request.trigger.alert is not None
    assert rig.sandbox.data.segment(str(request.trigger.alert.segment_id)) is None
    named = checkout_errors(rig.sandbox)

    response = invoke(rig.handler(), example["Records"])

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["request_id"] == request.request_id
    assert report["status"] == "complete"
    assert report["trigger"]["segment"]["id"] == named.id
    assert report["window"] == {"start": request.window.start, "end": request.window.end}
    first, second = rig.sandbox.requests_to(EXPORT_START)
    assert json.loads(first.body)["segmentId"] == "checkout-errors-seg"
    assert json.loads(second.body)["segmentId"] == named.id


# ---------------------------------------------------------------------------------------------
# Duplicates, poison records, partial batches


@dataclass
class SlackInbox:
    url: str
    posts: list[dict[str, Any]]


@pytest.fixture
def slack() -> Iterator[SlackInbox]:
    """A Slack incoming webhook on 127.0.0.1 that records what is posted."""
    posts: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            posts.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield SlackInbox(f"http://{host!s}:{port}/services/T000/B000/XXXX", posts)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slack_rig(monkeypatch: pytest.MonkeyPatch, sandbox: FullstorySandbox, slack: SlackInbox) -> Iterator[Rig]:
    with investigator_stack(monkeypatch, slack_url=slack.url) as stack:
        yield Rig(stack, sandbox, monkeypatch)


def test_a_redelivered_request_makes_one_report_one_event_and_one_slack_post(
    slack_rig: Rig, slack: SlackInbox, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = slack_rig
    message = webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True)
    rig.queue(message)
    rig.queue(message)  # the webhook's replay window, or SQS's at-least-once delivery

    _, first = rig.deliver(rig.handler(), max_messages=1)
    calls_after_first = sum(rig.sandbox.calls.values())
    _, second = rig.deliver(rig.handler(), max_messages=1)  # another container: nothing in memory

    assert first == second == {"batchItemFailures": []}
    report, _ = rig.the_report()  # exactly one report and one event
    assert sum(rig.sandbox.calls.values()) == calls_after_first  # Fullstory was not asked again
    [post] = slack.posts
    assert post["text"].startswith(f"*{report['headline']}* (complete)")
    assert f"s3://{rig.stack.bucket}/{report['artifacts']['markdown_key']}" in post["text"]
    [event] = rig.stack.events(COMPLETED)
    link = event["detail"]["report_url"]
    assert f"<{link.replace('&', '&amp;')}|Open the report>" in post["text"]  # Slack unescapes `&amp;`
    opened = requests.get(link, timeout=5)  # moto answers the presigned GET as S3 would
    assert opened.status_code == 200, opened.text
    assert opened.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'<h1 id="headline">{html.escape(report["headline"])}</h1>' in opened.text
    assert rig.stack.receive() == []
    metrics = emf_metrics(capsys.readouterr().out)
    assert (metrics["InvestigationCompleted"], metrics["InvestigationDuplicate"]) == (1, 1)


def test_duplicates_within_one_batch_are_investigated_once(
    slack_rig: Rig, slack: SlackInbox, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = slack_rig
    message = webhook(note_on(rig.sandbox, newest(rig.sandbox, "user-001")), rig.sandbox)
    rig.queue(message)
    rig.queue(message)

    records, response = rig.deliver(rig.handler())

    assert len(records) == 2
    assert response == {"batchItemFailures": []}
    rig.the_report()
    assert len(slack.posts) == 1
    assert rig.sandbox.calls[EVENTS] == len(
        covered_by_session_trigger(rig.sandbox, newest(rig.sandbox, "user-001"))
    )
    metrics = emf_metrics(capsys.readouterr().out)
    assert (metrics["InvestigationCompleted"], metrics["InvestigationDuplicate"]) == (1, 1)


def test_poison_records_fail_alone_and_the_rest_of_the_batch_is_reported(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    not_json = rig.stack.send("not json")
    not_a_request = rig.stack.send(json.dumps({"hello": "world"}))
    rig.queue(webhook(custom_event_on(rig.sandbox, newest(rig.sandbox, "user-003")), rig.sandbox))

    records, response = rig.deliver(rig.handler())

    assert len(records) == 3
    assert sorted(item["itemIdentifier"] for item in response["batchItemFailures"]) == sorted(
        [not_json, not_a_request]
    )
    report, _ = rig.the_report()
    assert report["trigger"]["kind"] == "custom_event"
    assert {record["messageId"] for record in rig.stack.receive()} == {not_json, not_a_request}
    out = capsys.readouterr().out
    assert emf_metrics(out)["InvestigationRequestRejected"] == 2
    rejected = {
        line["message_id"]: (line["detail"], line["error_type"], line["attempt"], line["retried"])
        for line in log_lines(out)
        if line["message"] == "queued message is not an investigation request"
    }
    assert rejected == {
        not_json: ("not JSON", "PayloadError", 1, True),
        not_a_request: ("unsupported schema_version", "PayloadError", 1, True),
    }
    assert '"hello"' not in out


def test_a_poison_record_lands_in_the_dlq_after_five_receives(rig: Rig) -> None:
    poison = rig.stack.send("not json")
    handler = rig.handler()

    for receive in range(1, MAX_RECEIVE_COUNT + 1):
        [record] = rig.stack.receive()
        assert record["attributes"]["ApproximateReceiveCount"] == str(receive)
        with pytest.raises(BatchProcessingError):  # the whole (one-record) batch failed
            invoke(handler, [record])

    assert rig.stack.receive() == []  # the sixth receive moves it to the DLQ instead
    dead = rig.stack.sqs.receive_message(QueueUrl=rig.stack.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [(m["MessageId"], m["Body"]) for m in dead] == [(poison, "not json")]
    assert rig.stack.objects() == {}


# ---------------------------------------------------------------------------------------------
# Configuration, time, logs


@pytest.mark.parametrize(("stored", "problem"), [(None, "has no value yet"), ("", "is empty")])
def test_missing_api_key_gives_a_failed_report_that_says_how_to_set_it(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: FullstorySandbox,
    capsys: pytest.CaptureFixture[str],
    stored: str | None,
    problem: str,
) -> None:
    """The stack creates the secret empty (None: no version at all); an operator may also store ""."""
    with investigator_stack(monkeypatch, api_key=stored) as stack:
        rig = Rig(stack, sandbox, monkeypatch)
        rig.queue(webhook(custom_event_on(sandbox, newest(sandbox, "user-003")), sandbox))
        handler = rig.handler()

        _, response = rig.deliver(handler)

        assert response == {"batchItemFailures": []}
        report, _ = rig.the_report()
        assert report["status"] == "failed"
        secret_arn = stack.env["FULLSTORY_API_KEY_SECRET_ARN"]
        assert report["notes"] == [
            f"The investigation could not start: the Fullstory API key secret {problem}; set it with "
            f"`aws secretsmanager put-secret-value --secret-id {secret_arn} --secret-string ...`."
        ]
        assert report["cost"] == {"fullstory_calls": 0, "activations": 0, "fullstory_writes": 0}
        assert sum(sandbox.calls.values()) == 0
        assert emf_metrics(capsys.readouterr().out)["InvestigatorMisconfigured"] == 1

        # Setting the key is enough: the next request is investigated without a new cold start.
        stack.put_secret(secret_arn, json.dumps({"api_key": DEFAULT_API_KEY}))
        rig.queue(webhook(note_on(sandbox, newest(sandbox, "user-001")), sandbox))
        _, response = rig.deliver(handler)

        assert response == {"batchItemFailures": []}
        statuses = sorted((r["trigger"]["kind"], r["status"]) for r, _ in rig.reports())
        assert statuses == [("custom_event", "failed"), ("note", "complete")]


@pytest.mark.parametrize(
    "missing", ["REPORTS_BUCKET", "IDEMPOTENCY_TABLE_NAME", "FULLSTORY_API_KEY_SECRET_ARN"]
)
def test_missing_setting_fails_the_whole_batch(
    rig: Rig, missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.queue(webhook(custom_event_on(rig.sandbox, newest(rig.sandbox, "user-003")), rig.sandbox))
    records = rig.stack.receive()

    with pytest.raises(ConfigurationError, match=f"setting {missing} is missing"):
        invoke(rig.handler(**{missing: None}), records)

    out = capsys.readouterr().out
    assert emf_metrics(out)["InvestigatorMisconfigured"] == 1
    assert any(f"setting {missing} is missing" in line["message"] for line in log_lines(out))
    assert rig.stack.objects() == {}
    assert len(rig.stack.receive()) == 1  # still queued: nothing is lost
    assert sum(rig.sandbox.calls.values()) == 0


def test_too_little_time_left_fails_the_record_for_redelivery(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = rig.queue(webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True))
    rig.queue(webhook(metric_alert(), rig.sandbox))  # needs no Fullstory call, so no time either
    records = rig.stack.receive()
    handler = rig.handler()

    response = invoke(handler, records, remaining_ms=3000)  # under the 5 s the investigation keeps free

    assert response == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert [r["trigger"]["kind"] for r, _ in rig.reports()] == ["metric_alert"]
    assert sum(rig.sandbox.calls.values()) == 0
    assert emf_metrics(capsys.readouterr().out)["InvestigationRetried"] == 1

    # The redelivery, with time to spare, is not mistaken for a duplicate.
    records = [r for r in rig.stack.receive() if r["messageId"] == message_id]
    assert invoke(handler, records) == {"batchItemFailures": []}
    [(report, _)] = [(r, md) for r, md in rig.reports() if r["trigger"]["kind"] == "stream"]
    assert report["status"] == "complete"


def test_logs_carry_the_investigation_id_and_never_the_key_emails_or_bodies(
    slack_rig: Rig, slack: SlackInbox, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = slack_rig
    rig.sandbox.faults.update(server_error_rate=1.0, path_filter="/events", error_body="echo")
    user = rig.sandbox.data.user("user-001")
    message = webhook(payloads.stream_user(user_email=user.email), rig.sandbox, stream=True)
    rig.queue(message)
    poison = json.dumps({"user_email": user.email, "note": "not a request"})
    rig.stack.send(poison)

    rig.deliver(rig.handler())

    out = capsys.readouterr().out
    report, markdown = rig.the_report()
    assert report["status"] == "partial"
    [post] = slack.posts
    sessions = [rig.sandbox.data.session(s["session_id"]) for s in report["sessions"]]
    emails = {user.email} | {s.user.email for s in sessions if s is not None}
    for text in (out, markdown, post["text"], json.dumps(report)):
        assert DEFAULT_API_KEY not in text  # the echoed Authorization header is masked too
    for text in (out, markdown, post["text"]):
        assert not any(email in text for email in emails)
    assert message[0] not in out and poison not in out
    finished = [line for line in log_lines(out) if line["message"] == "investigation finished"]
    assert [line["investigation_id"] for line in finished] == [report["investigation_id"]]
    assert all(line["function_name"] == "fstriage-InvestigatorFunction" for line in log_lines(out))


def test_a_forked_export_chain_still_finishes_its_request_once(rig: Rig) -> None:
    """If the message that queued an export poll is redelivered (its idempotency record lost to a
    timeout), two polls of one request can both find the export done: one report, one event."""
    rig.sandbox.faults.update(export_pending_polls=0)
    segment = checkout_errors(rig.sandbox)
    request = request_of(webhook(segment_alert(segment), rig.sandbox))
    operation_id = FullstoryClient(DEFAULT_API_KEY, base_url=rig.sandbox.base_url).start_segment_export(
        segment.id, parse_isoformat(request.window.start), parse_isoformat(request.window.end)
    )
    for polls in (1, 2):
        fork = request.continued(
            Continuation(
                segment_id=segment.id, operation_id=operation_id, polls=polls, started_at=request.window.end
            )
        )
        rig.stack.send(fork.to_json(), {"schema_version": "1", "kind": "segment_alert"})
    handler = rig.handler()

    records, response = rig.deliver(handler, max_messages=1)
    records_2, response_2 = rig.deliver(handler, max_messages=1)

    assert len(records) == len(records_2) == 1
    assert response == response_2 == {"batchItemFailures": []}
    rig.the_report()  # exactly one
    assert len(rig.stack.events(COMPLETED)) == 1


def test_slack_text_cannot_ping_channels_or_break_out_of_code_spans() -> None:
    hostile = "TypeError: a ` <!channel> URGENT: re-enter your password at <https://evil.example|here>"
    report = {
        "headline": f"Segment alert: errors; top: {hostile}",
        "status": "complete",
        "error_groups": [{"kind": "exception", "signature": hostile, "sessions": ["1:2"], "count": 1}],
    }
    stored = StoredReport("bucket", "reports/a.json", "reports/a.md")

    text = investigator_app.slack_text(report, stored)

    assert "<!channel>" not in text and "<https://" not in text
    assert "&lt;!channel&gt;" in text
    bullet = text.splitlines()[1]
    assert bullet.count("`") == 2  # the signature's own backtick cannot close the code span


# ---------------------------------------------------------------------------------------------
# The cause of a 403, from the key's role; the user's identity and the window

ME = "GET /me"


@pytest.mark.parametrize(
    ("faults", "cause", "not_cause"),
    [
        (
            {"activation_off": True},
            "The key's role is ADMIN, which may read them, so: Session events are part of Anywhere: "
            "Activation, which is off for this org",
            "Standard",
        ),
        (
            {"role": "USER"},
            "Session events need an Admin or Architect API key; this key's role is USER (Standard)",
            "is off for this org",
        ),
    ],
)
def test_a_bare_403_is_explained_by_the_keys_role_asked_once_per_container(
    rig: Rig, faults: dict[str, Any], cause: str, not_cause: str
) -> None:
    # Fullstory's 403 says only "Forbidden": the role alone tells the two causes apart.
    rig.sandbox.faults.update(forbidden_wording=False, **faults)
    module = rig.handler()
    for uid in ("user-001", "user-004"):  # two deliveries to the same container
        document = note_on(rig.sandbox, newest(rig.sandbox, uid))
        document["data"]["id"] = f"note-{uid}"
        rig.queue(webhook(document, rig.sandbox))
        _, response = rig.deliver(module)
        assert response == {"batchItemFailures": []}

    reports = rig.reports()
    assert len(reports) == 2
    for report, _ in reports:
        [events_note] = [n for n in report["notes"] if n.startswith("Session events were unavailable")]
        assert "HTTP 403: Forbidden" in events_note
        assert cause in events_note
        assert not_cause not in events_note
    assert rig.sandbox.calls[ME] == 1  # one client per container, and it keeps the role


def test_when_me_is_refused_fullstorys_wording_is_only_a_hint(rig: Rig) -> None:
    rig.sandbox.faults.update(me_refused=True, activation_off=True)
    rig.queue(webhook(note_on(rig.sandbox, newest(rig.sandbox, "user-001")), rig.sandbox))

    rig.deliver(rig.handler())

    report, _ = rig.the_report()
    [events_note] = [n for n in report["notes"] if n.startswith("Session events were unavailable")]
    assert "The key's role could not be read (GET /me), but Fullstory's message names it." in events_note
    assert "Anywhere: Activation, which is off for this org" in events_note


def test_when_me_is_refused_and_the_403_is_bare_both_causes_are_named(rig: Rig) -> None:
    rig.sandbox.faults.update(me_refused=True, activation_off=True, forbidden_wording=False)
    rig.queue(webhook(note_on(rig.sandbox, newest(rig.sandbox, "user-001")), rig.sandbox))

    rig.deliver(rig.handler())

    report, _ = rig.the_report()
    [events_note] = [n for n in report["notes"] if n.startswith("Session events were unavailable")]
    assert "Either the key's tier is too low" in events_note
    assert "or Anywhere: Activation is off for this org" in events_note


def test_a_summary_profiles_structured_response_reaches_the_report(rig: Rig) -> None:
    session = newest(rig.sandbox, "user-003")
    rig.queue(webhook(note_on(rig.sandbox, session), rig.sandbox))

    rig.deliver(rig.handler(SUMMARY_PROFILE_ID=views.TRIAGE_PROFILE))

    report, _ = rig.the_report()  # schema-checked
    [only] = report["sessions"]
    _, expected = views.summary(session)
    assert only["summary"]["response"] == expected
    assert only["summary"]["text"]


def test_a_uid_that_lists_nothing_falls_back_to_the_email(rig: Rig) -> None:
    user = rig.sandbox.data.user("user-001")
    document = payloads.stream_user(user_id="uid-from-another-app", user_email=user.email)
    rig.queue(webhook(document, rig.sandbox, stream=True))

    rig.deliver(rig.handler())

    report, markdown = rig.the_report()
    assert report["trigger"]["subject"]["matched_by"] == "email"
    assert {s["session_id"] for s in report["sessions"]} == {
        s.api_id for s in rig.sandbox.data.sessions_of(uid="user-001")[:2]
    }
    assert "Fullstory listed no sessions for the user's uid; their email matched 4 sessions" in markdown
    assert rig.sandbox.calls["GET /sessions/v2"] == 2


def test_a_user_whose_sessions_are_all_older_than_the_window_is_told_how_many_and_when(rig: Rig) -> None:
    older = rig.sandbox.data.sessions_of(uid="user-002")  # 3 sessions, the newest 2 days old
    rig.queue(webhook(payloads.stream_user(user_id="user-002"), rig.sandbox, stream=True))

    rig.deliver(rig.handler())

    report, markdown = rig.the_report()
    assert (report["status"], report["sessions"]) == ("complete", [])
    outside = report["outside_window"]
    assert (outside["count"], outside["at_least"]) == (3, False)
    # The listing sends epoch seconds: the newest time is the sandbox's, to the second.
    assert parse_isoformat(outside["newest"]) == older[0].created.replace(microsecond=0)
    newest_at = outside["newest"]
    assert report["headline"].endswith(
        f"no sessions in the window; 3 outside it, the newest at {newest_at}; see notes"
    )
    assert (
        "The user has 3 sessions in Fullstory, but all lie outside the window; the newest was created at "
        f"{newest_at}. Investigate a wider window to read them." in markdown
    )
    assert rig.sandbox.calls[EVENTS] == 0
