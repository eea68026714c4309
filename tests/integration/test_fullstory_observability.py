"""The Fullstory client inside the investigator: its log lines, and an answer over the size cap.

The log test runs the real entry point (functions/investigator/app.py) on moto against the sandbox, as
test_investigator_handler does; the cap test runs the real Investigation with a client whose cap is
small enough for a sandbox session to exceed it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fstriage import investigator_app
from fstriage.adapters.fullstory import FullstoryClient, RetryPolicy
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings
from fstriage.core.ratelimit import RateLimiter
from fstriage.core.report import investigation_id_for
from fstriage.core.request import (
    InvestigationRequest,
)
from fstriage_cli.manual import manual_request
from fstriage_cli.samples.fakes import FakeLambdaContext
from fstriage_cli.sandbox import FullstorySandbox, SandboxSession
from tests.support.aws import (
    ACCOUNT_ID,
    DEFAULT_API_KEY,
    REGION,
    investigator_stack,
)

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
NO_WAIT = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, safety_margin=1.0)


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=6, now=ANCHOR) as running:
        yield running


@pytest.fixture
def sandbox(running_sandbox: FullstorySandbox) -> FullstorySandbox:
    running_sandbox.faults.reset()
    running_sandbox.reset_records()
    return running_sandbox


def investigate_sessions(sessions: list[SandboxSession], org_id: str) -> InvestigationRequest:
    """The CLI's own manual request (`fstriage investigate --session`), over the sandbox's 8 days."""
    return manual_request(
        org_id=org_id, session_ids=[session.api_id for session in sessions], window_hours=8 * 24, now=ANCHOR
    )


def served_size(session: SandboxSession) -> int:
    """The size of the session's events answer, serialised as the sandbox serialises it."""
    return len(json.dumps({"events": list(session.events)}, separators=(",", ":")).encode())


def json_lines(stdout: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" not in line]  # EMF metric blobs are not log lines


def test_a_client_log_line_is_json_with_the_investigation_keys(
    monkeypatch: pytest.MonkeyPatch, sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # The events call is answered 503 once: the client retries it from a worker thread and logs that.
    sandbox.faults.update(server_error_count=1, path_filter="/events")
    session = sandbox.data.sessions_of(uid="user-001")[0]
    request = investigate_sessions([session], sandbox.data.org_id)
    with investigator_stack(monkeypatch) as stack:
        module = stack.load_investigator_handler(
            monkeypatch,
            FULLSTORY_ORG_ID=sandbox.data.org_id,
            FULLSTORY_API_URL=sandbox.base_url,
            FULLSTORY_RATE_PER_SECOND="1000",
        )
        monkeypatch.setattr(
            investigator_app, "FullstoryClient", functools.partial(FullstoryClient, retry=NO_WAIT)
        )
        stack.send(request.to_json())
        records = stack.receive()
        context = FakeLambdaContext(
            function_name="fstriage-InvestigatorFunction",
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:fstriage-InvestigatorFunction",
            log_group_name="/aws/lambda/fstriage-InvestigatorFunction",
            remaining_ms=120_000,
        )
        response = module.handler({"Records": records}, context)

    assert response == {"batchItemFailures": []}
    out = capsys.readouterr().out
    [retried] = [line for line in json_lines(out) if line["message"] == "fullstory call retried"]
    assert retried["level"] == "WARNING"
    assert retried["service"] == "fstriage-investigator"
    assert retried["investigation_id"] == investigation_id_for(request.request_id)
    assert retried["request_id"] == request.request_id
    assert (retried["operation"], retried["status"], retried["attempt"]) == ("session_events", 503, 1)
    assert retried["function_request_id"] == context.aws_request_id  # the handler's Lambda context too
    # Nothing but JSON on stdout, and never the key or the session's path.
    assert all(line.startswith("{") for line in out.splitlines() if line.strip())
    assert DEFAULT_API_KEY not in out


def test_a_session_over_the_cap_is_a_note_not_a_failed_report(sandbox: FullstorySandbox) -> None:
    sessions = sandbox.data.sessions_of(uid="user-001")[:2]
    small, large = sorted(sessions, key=served_size)
    cap = served_size(large) - 1
    assert served_size(small) <= cap
    client = FullstoryClient(
        DEFAULT_API_KEY,
        base_url=sandbox.base_url,
        rate_limiter=RateLimiter(1000, 1000),
        retry=NO_WAIT,
        max_body_bytes=cap,
    )
    investigation = Investigation(client, InvestigationSettings(org_id=sandbox.data.org_id, max_sessions=2))

    with client:
        outcome = investigation.run(investigate_sessions([large, small], sandbox.data.org_id))

    assert isinstance(outcome, Finished)
    evidence = outcome.evidence
    assert evidence.status == "partial"
    by_id = {finding.session_id: finding for finding in evidence.sessions}
    assert by_id[large.api_id].digest is None and by_id[large.api_id].summary_text is not None
    assert by_id[small.api_id].digest is not None
    [note] = [sentence for sentence in evidence.notes.sentences() if "Session events" in sentence]
    assert "larger than the client's" in note and "cap" in note
    assert "too large to read" in note and "after retries" not in note  # it was not retried
    assert sandbox.calls["GET /v2/sessions/{id}/events"] == 1 + 1  # the large one was not retried
