"""How the investigator fails: one JSON log line per failed attempt, poison that ends as a `failed`
report before any Fullstory call, a last attempt that reports instead of dead-lettering, and a resend
whose export-poll continuation died.

Same rig as test_investigator_handler.py (moto stack + the Fullstory sandbox + the real entry point).
The Lambda crashing or timing out on a receive is simulated by receiving the message without
invoking the handler, as the event source mapping would see it; time passing for idempotency records
by rewriting their expiry in the moto table, as `end_delays` does for SQS delays.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from fstriage import investigator_app
from fstriage.core.investigation import Investigation, invalid_request
from fstriage.core.jsonlimits import json_safe
from fstriage.core.report import build_report, investigation_id_for, render_markdown
from fstriage.core.request import InvestigationRequest
from fstriage.core.request_checks import presentable, request_problems
from fstriage.settings import InvestigatorSettings
from fstriage_cli.samples import payloads
from fstriage_cli.sandbox import FullstorySandbox
from tests.integration import test_investigator_handler as base
from tests.integration.test_investigator_handler import (
    COMPLETED,
    EXPORT_START,
    SESSIONS,
    SQS_EXAMPLE,
    Rig,
    checkout_errors,
    custom_event_on,
    emf_metrics,
    invoke,
    log_lines,
    metric_alert,
    newest,
    request_of,
    segment_alert,
    webhook,
)
from tests.support.aws import MAX_RECEIVE_COUNT

# That module's fixtures, used here by name: the sandbox (module-scoped), its reset, and the rig.
running_sandbox = base.running_sandbox
sandbox = base.sandbox
rig = base.rig

FAILURE_FIELDS = {"message_id", "request_id", "error_type", "attempt", "retried", "outcome"}


def failure_lines(out: str) -> list[dict[str, Any]]:
    """The log lines of failed attempts: those that name an error type."""
    return [line for line in log_lines(out) if "error_type" in line]


def receive_without_finishing(rig: Rig, message_id: str, times: int) -> None:
    """`times` receives of a message on which the function died (timeout, out of memory) before
    answering: the event source mapping neither deletes it nor learns anything."""
    for _ in range(times):
        assert [r["messageId"] for r in rig.stack.receive()] == [message_id]


def dead_letters(rig: Rig) -> list[dict[str, Any]]:
    response = rig.stack.sqs.receive_message(QueueUrl=rig.stack.dlq_url, MaxNumberOfMessages=10)
    return list(response.get("Messages", []))


def age_idempotency_records(rig: Rig, seconds: int) -> None:
    """Move every idempotency record `seconds` towards its expiry, as if that much time had passed."""
    dynamodb = rig.stack.dynamodb
    for item in dynamodb.scan(TableName=rig.stack.table_name, ConsistentRead=True)["Items"]:
        names = [name for name in ("expiration", "in_progress_expiration") if name in item]
        dynamodb.update_item(
            TableName=rig.stack.table_name,
            Key={"id": item["id"]},
            UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in names),
            ExpressionAttributeNames={f"#{n}": n for n in names},
            ExpressionAttributeValues={f":{n}": {"N": str(int(item[n]["N"]) - seconds)} for n in names},
        )


def strict_json(raw: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def settings_of(rig: Rig, **overrides: str) -> InvestigatorSettings:
    env = {**rig.stack.env, "FULLSTORY_ORG_ID": rig.sandbox.data.org_id, **overrides}
    return InvestigatorSettings.from_env(env)


class Bug(Exception):
    """Stands for any programming error inside an investigation."""


# ---------------------------------------------------------------------------------------------
# One JSON line per failed attempt


@pytest.mark.parametrize("kind", ["unexpected", "outage"])
def test_a_record_failing_in_a_batch_that_succeeds_leaves_one_line_naming_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    user = rig.sandbox.data.user("user-001")
    failing = webhook(payloads.stream_user(user_email=user.email), rig.sandbox, stream=True)
    failing_id = rig.queue(failing)
    rig.queue(webhook(metric_alert(), rig.sandbox))  # needs no Fullstory call
    if kind == "outage":
        rig.sandbox.faults.update(server_error_rate=1.0, path_filter="/sessions/v2")
    else:
        real_run = Investigation.run

        def run(self: Investigation, request: InvestigationRequest) -> Any:
            if request.subject.email:  # quotes its input, as a KeyError would
                raise Bug(f"no such user {request.subject.email} in {failing[0]}")
            return real_run(self, request)

        monkeypatch.setattr(Investigation, "run", run)

    records, response = rig.deliver(rig.handler())

    assert len(records) == 2
    assert response == {"batchItemFailures": [{"itemIdentifier": failing_id}]}
    [(report, _)] = rig.reports()
    assert report["trigger"]["kind"] == "metric_alert"
    out = capsys.readouterr().out
    [line] = failure_lines(out)
    assert set(line) >= FAILURE_FIELDS
    assert line["message_id"] == failing_id
    assert line["request_id"] == request_of(failing).request_id
    assert line["investigation_id"] == investigation_id_for(line["request_id"])
    assert (line["attempt"], line["retried"], line["outcome"]) == (1, True, "retry")
    metrics = emf_metrics(out)
    assert (metrics["InvestigationFailed"], metrics["InvestigationRetried"]) == (1, 1)
    if kind == "outage":
        assert (line["level"], line["error_type"], line["reason"]) == (
            "WARNING",
            "FullstoryUnavailable",
            "fullstory_unavailable",
        )
        assert "InvestigationUnexpectedError" not in metrics
    else:
        assert (line["level"], line["error_type"]) == ("ERROR", "Bug")
        assert "reason" not in line
        assert metrics["InvestigationUnexpectedError"] == 1
    # Neither the body nor the exception's text (which quoted it) was logged.
    assert user.email not in out and failing[0] not in out and "no such user" not in out


def test_an_unreadable_message_naming_a_request_id_is_logged_with_it(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    message = json.loads(webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True)[0])
    message["schema_version"] = 2  # a newer webhook, during a deploy
    poison_id = rig.stack.send(json.dumps(message))

    for attempt in range(1, MAX_RECEIVE_COUNT + 1):
        with pytest.raises(BatchProcessingError):
            invoke(rig.handler(), rig.stack.receive())
        [line] = failure_lines(capsys.readouterr().out)
        assert line["message"] == "queued message is not an investigation request"
        assert (line["message_id"], line["request_id"]) == (poison_id, message["request_id"])
        assert (line["error_type"], line["detail"], line["attempt"]) == (
            "PayloadError",
            "unsupported schema_version",
            attempt,
        )
        last = attempt == MAX_RECEIVE_COUNT
        assert (line["retried"], line["outcome"]) == (not last, "dead_letter" if last else "retry")

    # Kept for a redrive once the investigator reads it, and the DLQ alarm says so; no report.
    assert rig.stack.receive() == []
    assert [m["MessageId"] for m in dead_letters(rig)] == [poison_id]
    assert rig.stack.objects() == {}
    assert sum(rig.sandbox.calls.values()) == 0


# ---------------------------------------------------------------------------------------------
# Poison: reported as failed before any Fullstory call


def _surrogate_in_text(message: dict[str, Any]) -> None:
    message["trigger"]["text"] = "Checkout \ud800 failed"


def _nan_value(message: dict[str, Any]) -> None:
    message["trigger"]["alert"] = {"name": "Errors", "value": math.nan}


def _infinite_value(message: dict[str, Any]) -> None:
    message["trigger"]["alert"] = {"name": "Errors", "value": math.inf}


def _unparseable_session(message: dict[str, Any]) -> None:
    message["subject"]["session_ids"] = ["https://[::1/session/12:34"]


def _surrogate_in_uid(message: dict[str, Any]) -> None:
    message["subject"]["uid"] = "user-\udfff"


def _not_a_time(message: dict[str, Any]) -> None:
    message["window"]["start"] = "yesterday"


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (_surrogate_in_text, "trigger.text is not valid Unicode (it holds a lone surrogate)"),
        (_nan_value, "trigger.alert.value is not a finite number"),
        (_infinite_value, "trigger.alert.value is not a finite number"),
        (_unparseable_session, "subject.session_ids[0] is not a Fullstory session ID"),
        (_surrogate_in_uid, "subject.uid is not valid Unicode (it holds a lone surrogate)"),
        (_not_a_time, "window.start is not an ISO 8601 time"),
    ],
)
def test_a_request_that_cannot_be_investigated_is_reported_failed_before_any_fullstory_call(
    rig: Rig, capsys: pytest.CaptureFixture[str], spoil: Any, problem: str
) -> None:
    session = newest(rig.sandbox, "user-003")
    message = json.loads(webhook(custom_event_on(rig.sandbox, session), rig.sandbox)[0])
    spoil(message)
    body = json.dumps(message)  # NaN, Infinity and \ud800 escapes: JSON Python reads, as a queue may hold
    message_id = rig.stack.send(body)

    _, response = rig.deliver(rig.handler())

    assert response == {"batchItemFailures": []}  # once: it would be the same on every receive
    report, markdown = rig.the_report()  # schema-valid, with its Markdown twin and its event
    assert report["request_id"] == message["request_id"]
    assert report["status"] == "failed"
    [note] = report["notes"]
    assert note.startswith(f"The queued request could not be investigated: {problem}")
    assert "No Fullstory call was made" in note
    assert report["sessions"] == []
    assert report["cost"] == {"fullstory_calls": 0, "activations": 0, "fullstory_writes": 0}
    assert sum(rig.sandbox.calls.values()) == 0
    for raw in rig.stack.objects().values():
        raw.decode("utf-8")  # strict UTF-8
    [json_key] = [key for key in rig.stack.objects() if key.endswith(".json")]
    strict_json(rig.stack.objects()[json_key])  # no NaN or Infinity
    assert "\ud800" not in markdown and "\udfff" not in markdown
    out = capsys.readouterr().out
    [line] = failure_lines(out)
    assert (line["message_id"], line["request_id"]) == (message_id, message["request_id"])
    assert (line["error_type"], line["reason"], line["outcome"], line["retried"]) == (
        "PayloadError",
        "invalid_request",
        "failed_report",
        False,
    )
    assert problem in line["problems"]
    metrics = emf_metrics(out)
    assert (metrics["InvestigationRequestInvalid"], metrics["InvestigationCompleted"]) == (1, 1)
    assert rig.stack.receive() == []


# ---------------------------------------------------------------------------------------------
# The last receive reports instead of dead-lettering


def test_a_failure_on_the_last_receive_becomes_a_failed_report(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.sandbox.faults.update(server_error_rate=1.0, path_filter="/sessions/v2")
    message = webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True)
    message_id = rig.queue(message)
    handler = rig.handler()

    for attempt in range(1, MAX_RECEIVE_COUNT):
        with pytest.raises(BatchProcessingError):
            invoke(handler, rig.stack.receive())
        [line] = failure_lines(capsys.readouterr().out)
        assert (line["attempt"], line["retried"], line["outcome"]) == (attempt, True, "retry")
    calls_before_last = rig.sandbox.calls[SESSIONS]
    [record] = rig.stack.receive()
    assert record["attributes"]["ApproximateReceiveCount"] == str(MAX_RECEIVE_COUNT)

    response = invoke(handler, [record])
    rig.stack.settle([record], response)

    assert response == {"batchItemFailures": []}  # deleted: the chain ends here, in a report
    report, _ = rig.the_report()
    assert report["request_id"] == request_of(message).request_id
    assert report["status"] == "failed"
    assert report["notes"] == [
        f"The investigation failed on each of its {MAX_RECEIVE_COUNT} attempts, the last with "
        "fullstory_unavailable, so it is reported as failed instead of being tried again. Investigate by "
        "hand with `fstriage investigate` once the cause is gone; the cost above counts the last attempt "
        "only."
    ]
    assert report["cost"]["fullstory_calls"] == rig.sandbox.calls[SESSIONS] - calls_before_last
    out = capsys.readouterr().out
    [line] = failure_lines(out)
    assert (line["message_id"], line["error_type"], line["reason"]) == (
        message_id,
        "FullstoryUnavailable",
        "fullstory_unavailable",
    )
    assert (line["attempt"], line["retried"], line["outcome"]) == (MAX_RECEIVE_COUNT, False, "failed_report")
    metrics = emf_metrics(out)
    assert (metrics["InvestigationFailedFinal"], metrics["InvestigationFailed"]) == (1, 1)
    assert "InvestigationRetried" not in metrics
    assert rig.stack.receive() == [] and dead_letters(rig) == []


def test_an_export_chain_whose_continuation_keeps_failing_ends_in_a_failed_report(rig: Rig) -> None:
    rig.queue(webhook(segment_alert(checkout_errors(rig.sandbox)), rig.sandbox))  # PENDING once
    handler = rig.handler()
    _, response = rig.deliver(handler)  # starts the export, re-queues a continuation
    assert response == {"batchItemFailures": []}
    rig.sandbox.faults.update(server_error_rate=1.0, path_filter="/operations/")

    for _ in range(1, MAX_RECEIVE_COUNT):
        with pytest.raises(BatchProcessingError):
            invoke(handler, rig.stack.receive())
    [record] = rig.stack.receive()
    assert json.loads(record["body"])["continuation"]["polls"] == 1
    response = invoke(handler, [record])
    rig.stack.settle([record], response)

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["status"] == "failed"
    assert report["notes"][0].startswith(
        f"The investigation failed on each of its {MAX_RECEIVE_COUNT} attempts"
    )
    assert rig.sandbox.calls[EXPORT_START] == 1
    assert rig.stack.receive() == [] and dead_letters(rig) == []


def test_a_last_attempt_whose_failed_report_cannot_be_stored_is_dead_lettered_with_its_line(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.sandbox.faults.update(server_error_rate=1.0, path_filter="/sessions/v2")
    message_id = rig.queue(webhook(payloads.stream_user(user_id="user-001"), rig.sandbox, stream=True))
    handler = rig.handler()
    receive_without_finishing(rig, message_id, MAX_RECEIVE_COUNT - 1)
    rig.stack.s3.delete_bucket(Bucket=rig.stack.bucket)  # the reports bucket is gone too

    with pytest.raises(BatchProcessingError):
        invoke(handler, rig.stack.receive())

    [line] = failure_lines(capsys.readouterr().out)
    assert (line["message_id"], line["error_type"], line["attempt"]) == (
        message_id,
        "FullstoryUnavailable",
        MAX_RECEIVE_COUNT,
    )
    assert (line["retried"], line["outcome"]) == (False, "dead_letter")
    assert line["report_error_type"]
    assert rig.stack.receive() == []
    assert [m["MessageId"] for m in dead_letters(rig)] == [message_id]


# ---------------------------------------------------------------------------------------------
# A resend after the export-poll continuation died


def test_a_resend_after_the_continuation_died_in_the_dlq_gets_a_report(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.sandbox.faults.update(export_never_completes=True)
    original = webhook(segment_alert(checkout_errors(rig.sandbox)), rig.sandbox)
    rig.queue(original)
    handler = rig.handler()
    _, response = rig.deliver(handler)
    assert response == {"batchItemFailures": []}
    # The continuation kills the function on every receive (no handler code finishes, so not even the
    # last attempt can write a report) and SQS dead-letters it.
    [continuation] = rig.stack.receive()
    receive_without_finishing(rig, continuation["messageId"], MAX_RECEIVE_COUNT - 1)
    assert rig.stack.receive() == []
    assert [m["MessageId"] for m in dead_letters(rig)] == [continuation["messageId"]]
    capsys.readouterr()

    # A resend while `#0` still answers is a recognised duplicate, and says so.
    rig.queue(original)
    _, response = rig.deliver(handler)
    assert response == {"batchItemFailures": []}
    assert rig.stack.objects() == {}
    out = capsys.readouterr().out
    [said] = [line for line in log_lines(out) if line["message"].startswith("duplicate request")]
    assert said["message"] == "duplicate request; an earlier delivery is still polling its export"
    assert said["level"] == "WARNING"
    assert said["request_id"] == request_of(original).request_id
    assert emf_metrics(out)["InvestigationDuplicate"] == 1

    # Once the chain's lifetime has passed, a resend is investigated afresh and reported.
    age_idempotency_records(rig, investigator_app.poll_record_expiry(settings_of(rig)))
    rig.sandbox.faults.reset()
    rig.sandbox.faults.update(export_pending_polls=0)
    rig.queue(original)
    _, response = rig.deliver(handler)

    assert response == {"batchItemFailures": []}
    report, _ = rig.the_report()
    assert report["request_id"] == request_of(original).request_id
    assert report["status"] == "complete"
    assert rig.sandbox.calls[EXPORT_START] == 2  # a new chain
    calls = sum(rig.sandbox.calls.values())

    # The report's own guard lives on: a later resend costs nothing and reports nothing again.
    age_idempotency_records(rig, investigator_app.poll_record_expiry(settings_of(rig)))
    capsys.readouterr()
    rig.queue(original)
    _, response = rig.deliver(handler)
    assert response == {"batchItemFailures": []}
    assert sum(rig.sandbox.calls.values()) == calls
    assert len(rig.reports()) == 1 and len(rig.stack.events(COMPLETED)) == 1
    out = capsys.readouterr().out
    assert "duplicate request; already investigated" in [line["message"] for line in log_lines(out)]


# ---------------------------------------------------------------------------------------------
# The pieces, without AWS


def test_request_problems_accepts_what_the_webhook_queues(sandbox: FullstorySandbox) -> None:
    for document, stream in (
        (custom_event_on(sandbox, newest(sandbox, "user-003")), False),
        (segment_alert(checkout_errors(sandbox)), False),
        (payloads.stream_user(user_id="user-001"), True),
    ):
        assert request_problems(request_of(webhook(document, sandbox, stream=stream))) == []


def test_request_problems_never_quote_the_request_and_are_bounded(sandbox: FullstorySandbox) -> None:
    message = json.loads(webhook(custom_event_on(sandbox, newest(sandbox, "user-003")), sandbox)[0])
    secret = "someone@example.com"
    message["subject"]["session_ids"] = [f"{secret}-{n}" for n in range(20)]
    message["trigger"]["text"] = 42
    request = InvestigationRequest.from_message(message)

    problems = request_problems(request)

    assert problems[0] == "trigger.text is not a string"
    assert problems[-1] == "and 16 more"
    assert len(problems) == 6
    assert not any(secret in problem for problem in problems)


def test_a_failed_report_of_a_spoiled_request_is_valid_json_and_utf8() -> None:
    example = json.loads(SQS_EXAMPLE.read_text())
    body = json.loads(example["Records"][0]["body"])
    body["trigger"]["alert"]["value"] = float("nan")
    body["trigger"]["alert"]["segment_name"] = "Checkout \udc80"
    body["trigger"]["occurred_at"] = 1234
    request = InvestigationRequest.from_message(body)
    now = datetime(2026, 11, 1, tzinfo=UTC)

    outcome = invalid_request(request, request_problems(request), now=now)
    report = json_safe(build_report(outcome.evidence, investigator_app.NOTHING_SPENT, now))

    shown = presentable(request, now=now)
    assert shown.trigger.alert is not None and shown.trigger.alert.value is None
    assert shown.trigger.occurred_at == request.window.end
    assert request_problems(shown) == []
    strict_json(json.dumps(report).encode())
    render_markdown(report).encode("utf-8")
    assert report["headline"] == 'Segment alert "Checkout \ufffd": could not be investigated; see notes'
    assert outcome.evidence.notes.sentences() == [
        "The queued request could not be investigated: trigger.occurred_at is not an ISO 8601 time; "
        "trigger.alert.segment_name is not valid Unicode (it holds a lone surrogate); trigger.alert.value "
        "is not a finite number. No Fullstory call was made; fix what sent it, or investigate by hand with "
        "`fstriage investigate`."
    ]
