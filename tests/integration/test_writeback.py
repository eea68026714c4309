"""Write-back into Fullstory: the client's `create_event`, the sandbox's `POST /v2/events`, and the
investigator writing one server event per investigated session (moto stack + the sandbox, as in
test_investigator_handler.py).

Time is never asserted: retries sleep through a recorder, and "too little time" is a Lambda context
that reports little remaining time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from fstriage.adapters.fullstory import ROUTES, FullstoryClient, RetryPolicy, span_name
from fstriage.core.errors import ConfigurationError, FullstoryForbidden, FullstoryNotFound
from fstriage.core.writeback import EVENT_NAME, idempotency_key
from fstriage.settings import InvestigatorSettings
from fstriage_cli.local.command import config_from, parser
from fstriage_cli.local.config import WRITE_BACK_PARAMETER
from fstriage_cli.sandbox import FullstorySandbox, WrittenEvent
from tests.integration import test_investigator_handler as base
from tests.integration.test_investigator_handler import (
    Rig,
    covered_by_session_trigger,
    custom_event_on,
    emf_metrics,
    log_lines,
    metric_alert,
    newest,
    request_of,
    webhook,
)

# That module's fixtures, used here by name: the sandbox (module-scoped), its reset, and the rig.
running_sandbox = base.running_sandbox
sandbox = base.sandbox
rig = base.rig

CREATE_EVENT = "POST /v2/events"
API_KEY = "na1.sandbox-test-key/SANDBOX"
ON = {"WRITE_BACK_TO_FULLSTORY": "true"}


@pytest.fixture
def client(sandbox: FullstorySandbox) -> Iterator[FullstoryClient]:
    sleeps: list[float] = []
    fast = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.02)
    with FullstoryClient(API_KEY, base_url=sandbox.base_url, retry=fast, sleep=sleeps.append) as made:
        yield made


def a_session(sandbox: FullstorySandbox) -> str:
    return sandbox.data.sessions[0].api_id


def post(base_url: str, body: Any, *, key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": "Basic k", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base_url + "/v2/events", data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the sandbox on 127.0.0.1
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")


# ---------------------------------------------------------------------------------------------
# The client


def test_create_event_posts_the_documented_body_with_its_idempotency_key(
    client: FullstoryClient,
    sandbox: FullstorySandbox,
) -> None:
    session = a_session(sandbox)

    client.create_event(
        "fstriage Investigation",
        idempotency_key="key-1",
        session_id=session,
        timestamp="2026-11-01T00:00:00.000Z",
        properties={"investigation_id": "inv_1", "sessions_hit": 2},
        schema={"sessions_hit": "int"},
    )

    [sent] = sandbox.requests_to(CREATE_EVENT)
    assert sent.headers["idempotency-key"] == "key-1"
    assert json.loads(sent.body) == {
        "name": "fstriage Investigation",
        "timestamp": "2026-11-01T00:00:00.000Z",
        "properties": {"investigation_id": "inv_1", "sessions_hit": 2},
        "schema": {"properties": {"sessions_hit": "int"}},
        "session": {"id": session},
    }
    assert sandbox.written_events == [
        WrittenEvent(
            name="fstriage Investigation",
            session_id=session,
            session_known=True,
            user=None,
            timestamp="2026-11-01T00:00:00.000Z",
            properties={"investigation_id": "inv_1", "sessions_hit": 2},
            schema={"properties": {"sessions_hit": "int"}},
            idempotency_key="key-1",
        )
    ]
    usage = client.usage
    assert (usage.writes, usage.calls, usage.by_operation) == (1, 1, {"create_event": 1})
    assert span_name("create_event") == ROUTES["create_event"] == "POST /v2/events"


def test_create_event_takes_any_session_id_form_and_a_user_without_a_session(
    client: FullstoryClient,
    sandbox: FullstorySandbox,
) -> None:
    session = sandbox.data.sessions[0]
    client.create_event("by url", idempotency_key="k-url", session_id=sandbox.data.replay_url(session))
    client.create_event("by uid", idempotency_key="k-uid", uid="user-001")

    by_url, by_uid = sandbox.written_events
    assert by_url.session_id == session.api_id and by_url.user is None
    assert by_uid.session_id is None and by_uid.user == {"uid": "user-001"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"session_id": "1:2", "uid": "u"},  # Fullstory refuses `user` next to `session.id`
        {},
        {"session_id": "1:2", "idempotency_key": "has space"},
        {"session_id": "1:2", "idempotency_key": ""},
    ],
)
def test_create_event_refuses_what_it_cannot_send(client: FullstoryClient, kwargs: dict[str, Any]) -> None:
    arguments = {"idempotency_key": "k", **kwargs}
    with pytest.raises(ValueError):
        client.create_event("x", **arguments)


def test_a_write_is_retried_on_429_and_5xx_with_the_same_key_and_creates_one_event(
    client: FullstoryClient,
    sandbox: FullstorySandbox,
) -> None:
    sandbox.faults.update(rate_limit_count=1, server_error_count=1, retry_after=0, path_filter="/v2/events")

    client.create_event("x", idempotency_key="retry-key", session_id=a_session(sandbox))

    attempts = sandbox.requests_to(CREATE_EVENT)
    assert [r.headers["idempotency-key"] for r in attempts] == ["retry-key"] * 3
    assert len({r.body for r in attempts}) == 1
    assert len(sandbox.written_events) == 1
    assert (client.usage.writes, client.usage.retries) == (1, 2)


@pytest.mark.parametrize(
    ("switch", "error", "status"),
    [("events_forbidden", FullstoryForbidden, 403), ("events_not_found", FullstoryNotFound, 404)],
)
def test_a_refused_write_raises_once_and_counts_no_write(
    client: FullstoryClient,
    sandbox: FullstorySandbox,
    switch: str,
    error: type[Exception],
    status: int,
) -> None:
    sandbox.faults.update(**{switch: True})

    with pytest.raises(error) as raised:
        client.create_event("x", idempotency_key="k", session_id=a_session(sandbox))

    assert getattr(raised.value, "status", None) == status
    assert len(sandbox.requests_to(CREATE_EVENT)) == 1  # not retried
    assert sandbox.written_events == []
    assert client.usage.writes == 0


# ---------------------------------------------------------------------------------------------
# The sandbox's POST /v2/events


def test_the_same_key_gets_the_first_answer_and_creates_nothing_new(sandbox: FullstorySandbox) -> None:
    body = {"name": "x", "session": {"id": a_session(sandbox)}}

    assert post(sandbox.base_url, body, key="same")[0] == 200
    assert post(sandbox.base_url, body, key="same")[0] == 200
    assert len(sandbox.written_events) == 1

    status, answer = post(sandbox.base_url, {**body, "name": "y"}, key="same")
    assert (status, answer["code"]) == (409, "conflict")  # another body under a used key
    assert len(sandbox.written_events) == 1

    post(sandbox.base_url, body)
    post(sandbox.base_url, body)
    assert len(sandbox.written_events) == 3  # without a key, every request creates one


def test_a_refusal_kept_for_a_key_is_answered_again(sandbox: FullstorySandbox) -> None:
    status, _ = post(sandbox.base_url, {"session": {"id": a_session(sandbox)}}, key="no-name")
    assert status == 400
    # Fullstory keeps the endpoint's answer for a key, refusals included.
    assert post(sandbox.base_url, {"session": {"id": a_session(sandbox)}}, key="no-name")[0] == 400
    assert sandbox.written_events == []


def test_switch_refusals_are_not_kept_for_the_key(sandbox: FullstorySandbox) -> None:
    body = {"name": "x", "session": {"id": a_session(sandbox)}}
    sandbox.faults.update(events_forbidden=True)
    assert post(sandbox.base_url, body, key="k")[0] == 403
    sandbox.faults.update(events_forbidden=False, events_not_found=True)
    assert post(sandbox.base_url, body, key="k")[0] == 404
    sandbox.faults.update(events_not_found=False)
    assert post(sandbox.base_url, body, key="k")[0] == 200
    assert len(sandbox.written_events) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "invalid_argument"),
        ([], "invalid_argument"),
        ({"session": {"id": "1:2"}}, "required_field"),
        ({"name": " ", "session": {"id": "1:2"}}, "required_field"),
        ({"name": "x", "session": {"id": "no-colon"}}, "invalid_argument"),
        ({"name": "x", "session": {"id": "1:2"}, "user": {"uid": "u"}}, "invalid_argument"),
        ({"name": "x", "session": {"use_most_recent": True}}, "invalid_argument"),
        ({"name": "x"}, "required_field"),
        ({"name": "x", "user": {"uid": "u" * 257}}, "invalid_argument"),
        ({"name": "x", "session": {"id": "1:2"}, "timestamp": "yesterday"}, "invalid_argument"),
        ({"name": "x", "session": {"id": "1:2"}, "properties": []}, "invalid_argument"),
        (
            {"name": "x", "session": {"id": "1:2"}, "schema": {"properties": {"n": "integer"}}},
            "invalid_argument",
        ),
    ],
)
def test_a_body_fullstory_would_refuse_is_answered_400(
    sandbox: FullstorySandbox,
    body: Any,
    code: str,
) -> None:
    status, answer = post(sandbox.base_url, body)
    assert (status, answer["code"]) == (400, code)
    assert set(answer) == {"message", "code"}
    assert sandbox.written_events == []


def test_an_unknown_session_gets_an_event_without_a_session(sandbox: FullstorySandbox) -> None:
    assert post(sandbox.base_url, {"name": "x", "session": {"id": "123:456"}})[0] == 200
    [written] = sandbox.written_events
    assert (written.session_id, written.session_known) == ("123:456", False)


def test_a_standard_key_may_write(sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(role="USER")
    assert post(sandbox.base_url, {"name": "x", "session": {"id": a_session(sandbox)}})[0] == 200


# ---------------------------------------------------------------------------------------------
# The investigator


def the_report(rig: Rig) -> dict[str, Any]:
    """The one report stored so far (its EventBridge announcement is tested elsewhere)."""
    [(report, _)] = rig.reports()
    return report


def deliver_custom_event(rig: Rig, **settings: str) -> tuple[dict[str, Any], list[str], str]:
    """A custom event on user-001's newest session, investigated: the report, the sessions it covers
    and when the webhook received it."""
    session = newest(rig.sandbox, "user-001")
    message = webhook(custom_event_on(rig.sandbox, session), rig.sandbox)
    rig.queue(message)
    _, response = rig.deliver(rig.handler(**settings))
    assert response == {"batchItemFailures": []}
    report = the_report(rig)
    request = request_of(message)
    assert report["request_id"] == request.request_id
    return report, covered_by_session_trigger(rig.sandbox, session), request.origin.received_at


def test_each_investigated_session_gets_one_event_and_the_report_counts_them(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    report, covered, received_at = deliver_custom_event(rig, **ON)

    assert len(covered) >= 2
    written = rig.sandbox.written_events
    assert [w.session_id for w in written] == [s["session_id"] for s in report["sessions"]] == covered
    keys = [r.headers["idempotency-key"] for r in rig.sandbox.requests_to(CREATE_EVENT)]
    assert keys == [idempotency_key(report["investigation_id"], session) for session in covered]
    top = report["error_groups"][0]
    for event in written:
        assert event.name == EVENT_NAME and event.session_known and event.user is None
        assert event.properties["investigation_id"] == report["investigation_id"]
        assert event.properties["status"] == report["status"]
        assert event.properties["trigger_kind"] == "custom_event"
        assert event.properties["sessions_investigated"] == len(covered)
        assert (event.properties["top_error_kind"], event.properties["top_error_signature"]) == (
            top["kind"],
            top["signature"],
        )
        assert event.properties["report_uri"] == f"s3://{rig.stack.bucket}/{report['artifacts']['json_key']}"
        assert event.timestamp == received_at  # the request's time, not the clock
    assert report["cost"]["fullstory_writes"] == len(covered)
    assert report["cost"]["fullstory_calls"] == sum(rig.sandbox.calls.values())
    assert not any("investigation events" in note for note in report["notes"])
    assert (
        f"{len(covered)} events written" in rig.stack.objects()[report["artifacts"]["markdown_key"]].decode()
    )
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["FullstoryEventsWritten"] == len(covered)
    assert metrics["FullstoryEventsRefused"] == 0


def test_a_redelivery_after_a_failed_store_writes_nothing_twice(rig: Rig) -> None:
    session = newest(rig.sandbox, "user-001")
    message = webhook(custom_event_on(rig.sandbox, session), rig.sandbox)
    covered = covered_by_session_trigger(rig.sandbox, session)
    rig.queue(message)
    module = rig.handler(**ON)
    # The first attempt writes its events, then cannot store the report: SQS redelivers the message.
    rig.stack.s3.delete_bucket(Bucket=rig.stack.bucket)
    with pytest.raises(BatchProcessingError):  # its one record failed: the batch fails
        rig.deliver(module)
    assert len(rig.sandbox.written_events) == len(covered)
    rig.stack.s3.create_bucket(Bucket=rig.stack.bucket)

    _, response = rig.deliver(module)

    assert response == {"batchItemFailures": []}
    report = the_report(rig)
    sent = rig.sandbox.requests_to(CREATE_EVENT)
    keys = [r.headers["idempotency-key"] for r in sent]
    assert len(sent) == 2 * len(covered)  # both attempts sent every event ...
    assert keys[: len(covered)] == keys[len(covered) :]  # ... under the same keys
    assert all(r.body == sent[i % len(covered)].body for i, r in enumerate(sent))  # with the same bodies
    assert [w.session_id for w in rig.sandbox.written_events] == covered  # ... and Fullstory kept one each
    assert report["cost"]["fullstory_writes"] == len(covered)
    assert not any("investigation events" in note for note in report["notes"])

    # A resend of the finished request is answered by the investigator's own guard: no write at all.
    rig.queue(message)
    assert rig.deliver(module)[1] == {"batchItemFailures": []}
    assert len(rig.sandbox.requests_to(CREATE_EVENT)) == 2 * len(covered)
    assert len(rig.sandbox.written_events) == len(covered)
    assert request_of(message).request_id == report["request_id"]


@pytest.mark.parametrize(
    ("switch", "status", "words"),
    [
        ("events_forbidden", 403, "the API key may not create server events"),
        ("events_not_found", 404, "this org may not accept server events"),
    ],
)
def test_a_refused_write_back_is_a_note_not_a_failure(
    rig: Rig, capsys: pytest.CaptureFixture[str], switch: str, status: int, words: str
) -> None:
    rig.sandbox.faults.update(**{switch: True})

    report, covered, _ = deliver_custom_event(rig, **ON)

    assert len(rig.sandbox.requests_to(CREATE_EVENT)) == 1  # the first refusal stops the rest
    assert rig.sandbox.written_events == []
    assert report["status"] != "failed" and len(report["sessions"]) == len(covered)
    [note] = [n for n in report["notes"] if "server events" in n]
    assert words in note and f"Fullstory answered {status}" in note
    assert "WriteBackToFullstory to false" in note
    assert note.endswith(f"0 of {len(covered)} investigated sessions got their event.")
    assert report["cost"]["fullstory_writes"] == 0
    out = capsys.readouterr().out
    metrics = emf_metrics(out)
    assert metrics["FullstoryEventsWritten"] == 0
    [line] = [line for line in log_lines(out) if line.get("message") == "fullstory write-back"]
    assert (line["written"], line["not_written"], line["refusal_status"]) == (0, len(covered), status)
    assert metrics["FullstoryEventsRefused"] == len(covered)


def test_the_refusal_note_does_not_change_the_status_or_headline(rig: Rig) -> None:
    session = newest(rig.sandbox, "user-001")
    rig.queue(webhook(custom_event_on(rig.sandbox, session), rig.sandbox))
    # No continuity: the second report would otherwise lead with "nothing new since the last report".
    rig.deliver(rig.handler(STATE_TABLE_NAME=None))  # write-back off
    rig.sandbox.faults.update(events_forbidden=True)
    again = custom_event_on(rig.sandbox, session)
    again["data"]["properties"]["attempt_int"] = 2  # another delivery of the same kind: a new request
    rig.queue(webhook(again, rig.sandbox))

    rig.deliver(rig.handler(**ON, STATE_TABLE_NAME=None))

    reports = [report for report, _ in rig.reports()]
    [plain] = [r for r in reports if not any("server events" in n for n in r["notes"])]
    [refused] = [r for r in reports if r is not plain]
    assert (refused["status"], refused["headline"]) == (plain["status"], plain["headline"])
    assert len(refused["notes"]) == len(plain["notes"]) + 1


def test_too_little_time_left_skips_the_writes_with_a_note(rig: Rig) -> None:
    session = newest(rig.sandbox, "user-001")
    rig.queue(webhook(custom_event_on(rig.sandbox, session), rig.sandbox))

    # Enough for the investigation (5 s margin), not for a write before the report's 10 s reserve.
    _, response = rig.deliver(rig.handler(**ON), remaining_ms=12_000)

    assert response == {"batchItemFailures": []}
    report = the_report(rig)
    assert rig.sandbox.requests_to(CREATE_EVENT) == []
    [note] = [n for n in report["notes"] if "ran out of time" in n]
    assert "MaxSessionsPerInvestigation" in note
    assert report["cost"]["fullstory_writes"] == 0


def test_write_back_is_off_by_default(rig: Rig) -> None:
    report, _, _ = deliver_custom_event(rig)

    assert rig.sandbox.requests_to(CREATE_EVENT) == []
    assert report["cost"]["fullstory_writes"] == 0


def test_an_investigation_that_read_no_session_writes_nothing(rig: Rig) -> None:
    rig.queue(webhook(metric_alert(), rig.sandbox))  # an unmapped metric: no session to read

    _, response = rig.deliver(rig.handler(**ON))

    assert response == {"batchItemFailures": []}
    report = the_report(rig)
    assert report["sessions"] == []
    assert rig.sandbox.requests_to(CREATE_EVENT) == []


@pytest.mark.parametrize("value", ["yes", "1", "on"])
def test_a_bad_write_back_setting_is_a_configuration_error(rig: Rig, value: str) -> None:
    env = {**rig.stack.env, "FULLSTORY_ORG_ID": "o-1", "WRITE_BACK_TO_FULLSTORY": value}
    with pytest.raises(ConfigurationError, match="WRITE_BACK_TO_FULLSTORY"):
        InvestigatorSettings.from_env(env)
    assert InvestigatorSettings.from_env({**env, "WRITE_BACK_TO_FULLSTORY": "TRUE"}).write_back
    assert not InvestigatorSettings.from_env({**env, "WRITE_BACK_TO_FULLSTORY": ""}).write_back


# ---------------------------------------------------------------------------------------------
# `fstriage local`


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], "true"),  # the sandbox: on, so local runs show it
        (["--no-write-back"], "false"),
        (["--parameter", "WriteBackToFullstory=false"], "false"),
        (["--fullstory-api-url", "https://api.fullstory.com"], None),  # a real org: the template's default
        (
            ["--fullstory-api-url", "https://api.fullstory.com", "--parameter", "WriteBackToFullstory=true"],
            "true",
        ),
    ],
)
def test_fstriage_local_turns_write_back_on_against_the_sandbox(
    flags: list[str], expected: str | None
) -> None:
    config = config_from(parser().parse_args(flags))
    assert config.parameters.get(WRITE_BACK_PARAMETER) == expected


def test_no_write_back_contradicting_the_parameter_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        config_from(parser().parse_args(["--no-write-back", "--parameter", "WriteBackToFullstory=true"]))
