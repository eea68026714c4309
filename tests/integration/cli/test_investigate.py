"""`fstriage investigate`: sessions, users and segments, the Lambda's own Investigation from a terminal."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import jsonschema
import pytest

from fstriage.adapters.fullstory import FullstoryClient
from fstriage.core.investigation import Investigation
from fstriage.core.request import Alert, Origin, Subject, Trigger, Window, build_request, isoformat
from fstriage_cli import cli_investigate, manual
from fstriage_cli.mcp_server import fullstory_tools
from fstriage_cli.progress import Progress
from fstriage_cli.sandbox import FullstorySandbox
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS
from tests.integration.cli.harness import (
    API_KEY,
    EVENTS,
    ORG_ID,
    api,
    newest_session,
)
from tests.support.schemas import REPORT_SCHEMA

# ---------------------------------------------------------------------------------------------
# investigate


def test_investigate_a_session_prints_markdown_with_its_replay_link(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)

    run = api(sandbox, capsys, "investigate", "--session", sandbox.data.replay_url(session))

    assert run.code == 0
    assert run.out.startswith("# Manual investigation: errors in")
    assert f"]({sandbox.data.replay_url(session)})" in run.out
    assert "TypeError" in run.out
    assert "Activation" in run.err
    assert sandbox.calls["GET /me"] == 1  # the org for replay links came from /me


def test_investigate_json_validates_against_the_report_schema(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)

    run = api(
        sandbox,
        capsys,
        "investigate",
        "--session",
        session.api_id,
        "--org-id",
        ORG_ID,
        "--note",
        "ticket 42",
        "--json",
    )

    assert run.code == 0
    report = json.loads(run.out)  # stdout holds nothing but the report
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["trigger"]["kind"] == "manual"
    assert report["trigger"]["text"] == "ticket 42"
    assert report["trigger"]["subject"]["session_ids"] == [session.api_id]
    assert (
        report["sessions"][0]["replay_url"]
        == f"https://app.fullstory.com/ui/{ORG_ID}/session/{session.api_id}"
    )
    assert report["cost"]["activations"] >= 1
    assert sandbox.calls["GET /me"] == 0  # --org-id given: no /me


def test_investigate_a_user_caps_the_sessions_and_uses_the_window(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    user = max(sandbox.data.users, key=lambda u: len(sandbox.data.sessions_of(uid=u.uid)))
    assert len(sandbox.data.sessions_of(uid=user.uid)) > 1

    run = api(
        sandbox,
        capsys,
        "investigate",
        "--uid",
        user.uid,
        "--window-hours",
        str(24 * 30),
        "--max-sessions",
        "1",
        "--event-source",
        "context",
        "--json",
    )

    report = json.loads(run.out)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert run.code == 0
    assert len(report["sessions"]) == 1
    assert report["sessions"][0]["session_id"] == sandbox.data.sessions_of(uid=user.uid)[0].api_id
    assert report["sessions"][0]["signal_source"] == "context"
    assert sandbox.calls[EVENTS] == 0


def test_investigate_a_user_whose_sessions_are_older_than_the_window_suggests_a_wider_one(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    newest = max(session.created for session in sandbox.data.sessions_of(uid="user-001"))
    assert datetime.now(UTC) - newest > timedelta(hours=2)  # a 1 h window ending now holds none
    run = api(
        sandbox,
        capsys,
        "investigate",
        "--uid",
        "user-001",
        "--org-id",
        ORG_ID,
        "--window-hours",
        "1",
        "--json",
    )

    assert run.code == 0
    report = json.loads(run.out)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["sessions"] == []
    outside = report["outside_window"]
    assert outside["count"] == len(sandbox.data.sessions_of(uid="user-001"))
    hours = manual.window_hours_to_reach(outside, report["window"]["end"])
    assert hours is not None and hours > 1
    assert f"try --window-hours {hours}" in run.err
    wider = api(
        sandbox, capsys, "investigate", "--uid", "user-001", "--org-id", ORG_ID, "--window-hours", str(hours)
    )
    assert wider.code == 0 and "outside the window" not in wider.err


def test_investigate_that_gathers_nothing_exits_1(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.faults.update(role="USER")  # listing the user's sessions is refused

    run = api(sandbox, capsys, "investigate", "--uid", "user-001", "--org-id", ORG_ID)

    assert run.code == 1
    assert "Admin or Architect" in run.out  # the report's note says why
    assert "nothing could be investigated" in run.err


def test_the_cli_sleeps_where_the_lambda_would_requeue(sandbox: FullstorySandbox) -> None:
    """`run_until_finished` drives a segment export (the only path that re-queues) to the end."""
    sandbox.faults.update(export_pending_polls=2)
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    now = datetime.now(UTC)
    request = build_request(
        trigger=Trigger(
            kind="segment_alert",
            source="system_webhook",
            event_name="segment.trend.alert",
            event_id="alert-1",
            occurred_at=isoformat(now),
            alert=Alert(segment_id=segment.id, segment_name=segment.name),
        ),
        subject=Subject(),
        window=Window(start=isoformat(now - timedelta(days=8)), end=isoformat(now)),
        origin=Origin(org_id=ORG_ID, delivery_key="sig:" + "0" * 64, received_at=isoformat(now)),
    )
    slept: list[float] = []
    waits: list[int] = []
    with FullstoryClient(API_KEY, base_url=sandbox.base_url) as client:
        port = manual.ProgressPort(client, None)
        finished = manual.run_until_finished(
            Investigation(port, manual.cli_investigation_settings(ORG_ID, max_sessions=2)),
            request,
            sleep=slept.append,
            on_wait=lambda requeue: waits.append(requeue.delay_seconds),
        )

    assert slept == [5, 5]
    assert waits == [5, 5]
    assert finished.evidence.status == "complete"
    assert finished.evidence.matched_sessions == len(sandbox.data.segment_sessions(segment.id))
    assert len(finished.evidence.sessions) == 2


# ---------------------------------------------------------------------------------------------
# investigate --segment: a segment alert's export flow from the terminal


class RecordingProgress(Progress):
    """A progress display that keeps every status it was given (and draws nothing)."""

    statuses: ClassVar[list[str]] = []

    def __init__(self, label: str, **_: Any) -> None:
        super().__init__(label, stream=io.StringIO(), background=False)

    def update(self, status: str) -> None:
        RecordingProgress.statuses.append(f"{self._label}: {status}")
        super().update(status)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The CLI's sleeps between export checks, recorded instead of slept; statuses are recorded too."""
    slept: list[float] = []
    monkeypatch.setattr(manual, "pause", slept.append)
    monkeypatch.setattr(RecordingProgress, "statuses", [])
    monkeypatch.setattr(cli_investigate, "Progress", RecordingProgress)
    return slept


@pytest.mark.parametrize("how", ["id", "url", "name", "part of a name"])
def test_investigate_a_segment_runs_the_export_flow_and_prints_the_report(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], waits: list[float], how: str
) -> None:
    sandbox.faults.update(export_pending_polls=2)
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    value = {
        "id": segment.id,
        "url": segment.url,
        "name": segment.name.upper(),
        "part of a name": "checkout err",
    }[how]

    run = api(
        sandbox,
        capsys,
        "investigate",
        "--segment",
        value,
        "--window-hours",
        str(24 * 8),
        "--max-sessions",
        "2",
    )

    assert run.code == 0, run.err
    assert run.out.startswith(
        f'# Segment "{CHECKOUT_ERRORS}": errors in 2 of 2 sessions'
    )  # no alert: not "Segment alert"
    assert "TypeError" in run.out
    assert waits == [5, 5]  # slept where the Lambda would re-queue, twice while the export was pending
    assert sandbox.calls["POST /segments/v1/exports"] == 1
    assert sandbox.calls["GET /operations/v1/{id}"] == 3
    assert sandbox.calls[EVENTS] == 2
    assert segment.id in run.err
    preparing = [status for status in RecordingProgress.statuses if "preparing the segment export" in status]
    assert preparing and "(check 1/60, next check in 5s)" in preparing[0]


def test_investigate_a_segment_json_names_the_segment_and_its_window(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], waits: list[float]
) -> None:
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)

    run = api(
        sandbox,
        capsys,
        "investigate",
        "--segment",
        segment.id,
        "--window-hours",
        "36",
        "--max-sessions",
        "1",
        "--org-id",
        ORG_ID,
        "--json",
    )

    report = json.loads(run.out)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["trigger"]["kind"] == "segment_alert"
    assert report["trigger"]["segment"] == {"id": segment.id, "name": segment.name, "url": segment.url}
    start = datetime.fromisoformat(report["window"]["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(report["window"]["end"].replace("Z", "+00:00"))
    assert end - start == timedelta(hours=36)
    assert run.code == (0 if report["sessions"] else 1)


@pytest.mark.parametrize(
    "case",
    [
        ("c", ["Checkout errors", "Frustrated clicks", "Completed checkout"], "segments match 'c'"),
        ("Chekout erors", ["Checkout errors"], "no segment matches"),
        ("https://app.fullstory.com/ui/o-X-na1/segments/nope", [], "no segment with the ID nope"),
    ],
)
def test_investigate_a_segment_that_is_ambiguous_or_unknown_lists_candidates_and_exports_nothing(
    sandbox: FullstorySandbox,
    capsys: pytest.CaptureFixture[str],
    waits: list[float],
    case: tuple[str, list[str], str],
) -> None:
    value, listed, says = case

    run = api(sandbox, capsys, "investigate", "--segment", value, "--org-id", ORG_ID)

    assert run.code == 2
    assert run.out == ""
    assert says in run.err
    for name in listed:
        segment = sandbox.data.segment_named(name)
        assert f"{segment.id} ('{name}')" in run.err
    assert sandbox.calls["GET /segments/v1"] >= 1
    assert sandbox.calls["POST /segments/v1/exports"] == 0


def test_investigate_a_segment_whose_export_never_completes_stops_and_says_what_to_do(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], waits: list[float]
) -> None:
    sandbox.faults.update(export_never_completes=True)

    run = api(
        sandbox,
        capsys,
        "investigate",
        "--segment",
        CHECKOUT_ERRORS,
        "--export-wait",
        "0.5",  # 30 s: six checks 5 s apart
        "--org-id",
        ORG_ID,
        "--json",
    )

    report = json.loads(run.out)
    assert run.code == 1
    assert report["status"] == "failed"
    assert "still being prepared" in run.err and "--export-wait" in run.err and "--window-hours" in run.err
    assert sandbox.calls["GET /operations/v1/{id}"] == 6
    assert waits == [5] * 5
    assert sandbox.calls[EVENTS] == 0


def test_investigate_a_segment_whose_export_fails_exits_1(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], waits: list[float]
) -> None:
    sandbox.faults.update(export_fails=True)

    run = api(sandbox, capsys, "investigate", "--segment", CHECKOUT_ERRORS, "--org-id", ORG_ID)

    assert run.code == 1
    assert "could not export the segment" in run.err
    assert "could not be investigated" in run.out


def test_every_segment_stop_is_worded_by_the_cli_and_the_mcp_server() -> None:
    assert set(cli_investigate.SEGMENT_FAILURES) == manual.SEGMENT_STOPS
    assert set(fullstory_tools.SEGMENT_FAILURES) == manual.SEGMENT_STOPS
