"""The `fstriage` CLI against the real Fullstory sandbox on 127.0.0.1 (and tiny local webhook servers).

Most tests run `main([...])` in-process and read what it printed; a few run the installed console
script in a subprocess. Every run checks that the API key never reaches stdout or stderr.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import jsonschema
import pytest
from moto import mock_aws

from fstriage.adapters.fullstory import FullstoryClient
from fstriage.core.investigation import Investigation
from fstriage.core.request import Alert, Origin, Subject, Trigger, Window, build_request, isoformat
from fstriage.core.signature import matches_any, parse_signature_header, sign
from fstriage_cli import cli as cli_module
from fstriage_cli import ops
from fstriage_cli.cli import main
from fstriage_cli.progress import ERASE_LINE, Progress
from fstriage_cli.sandbox import FullstorySandbox
from fstriage_cli.sandbox.data import CHECKOUT_ERRORS, TRIAGE_PROFILE

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT_SCHEMA = json.loads((REPO_ROOT / "layers/fstriage/fstriage/schemas/report.schema.json").read_text())
API_KEY = "na1.cli-test-key-7f3a9c/SANDBOX"
SIGNING_SECRET = "cli-test-signing-secret"
ORG_ID = "o-CLITEST-na1"
EVENTS = "GET /v2/sessions/{id}/events"
CONSOLE_SCRIPT = Path(sys.executable).parent / "fstriage"
ENV_NAMES = (
    "FULLSTORY_API_KEY",
    "FULLSTORY_API_URL",
    "FULLSTORY_REGION",
    "FULLSTORY_ORG_ID",
    "FSTRIAGE_SIGNING_SECRET",
)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=7) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(sandbox: FullstorySandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.reset()
    sandbox.reset_records()
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FULLSTORY_API_KEY", API_KEY)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = main(list(args))
    captured = capsys.readouterr()
    assert API_KEY not in captured.out and API_KEY not in captured.err
    assert API_KEY.split(".", 1)[1] not in captured.out + captured.err
    return Run(code, captured.out, captured.err)


def api(sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    return cli(capsys, *args, "--fullstory-api-url", sandbox.base_url)


def newest_session(sandbox: FullstorySandbox, uid: str = "user-001") -> Any:
    return sandbox.data.sessions_of(uid=uid)[0]


# ---------------------------------------------------------------------------------------------
# --help


HELP_MENTIONS = {
    "sign": ("--secret", "--org-id", "--timestamp", "--header", "--json", "FILE", "FSTRIAGE_SIGNING_SECRET"),
    "send": ("--secret", "--org-id", "--timeout", "--json", "URL", "FILE", "requestContext"),
    "test-connection": (
        "--probe-activation",
        "--session",
        "--email",
        "--uid",
        "--profile",
        "--secret-id",
        "--fullstory-api-url",
        "--region",
        "--json",
        "FULLSTORY_API_KEY",
        "1 Activation",
    ),
    "sessions": ("--email", "--uid", "--limit", "--secret-id", "--fullstory-api-url", "--region", "--json"),
    "segments": ("--creator", "--secret-id", "--fullstory-api-url", "--region", "--json"),
    "summary": ("SESSION", "--profile", "--secret-id", "--fullstory-api-url", "--region", "--json"),
    "events": ("SESSION", "--errors", "--secret-id", "--fullstory-api-url", "--region", "--json"),
    "explain": ("SESSION", "1 Activation", "key names", "--secret-id", "--fullstory-api-url", "--json"),
    "investigate": (
        "--session",
        "--email",
        "--uid",
        "--json",
        "--max-sessions",
        "--window-hours",
        "--profile",
        "--event-source",
        "--org-id",
        "--secret-id",
        "--fullstory-api-url",
        "--region",
        "--segment",
        "--export-wait",
    ),
}


@pytest.mark.parametrize("command", sorted(HELP_MENTIONS))
def test_every_subcommand_has_help_that_mentions_its_options_and_examples(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    run = cli(capsys, command, "--help")

    assert run.code == 0
    assert run.out.startswith(f"usage: fstriage {command}")
    for mention in HELP_MENTIONS[command]:
        assert mention in run.out, f"{command} --help does not mention {mention}"
    assert "examples:" in run.out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "--help")

    assert run.code == 0
    for command in ("local", "demo", *HELP_MENTIONS):
        assert command in run.out
    assert "exit codes" in run.out


# ---------------------------------------------------------------------------------------------
# Usage errors: exit 2


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["no-such-command"],
        ["sessions"],  # neither --email nor --uid
        ["sessions", "--email", "a@example.test", "--uid", "u"],
        ["sessions", "--uid", "u", "--limit", "0"],
        ["investigate"],
        ["investigate", "--session", "1:2", "--event-source", "carrier-pigeon"],
        ["investigate", "--session", "1:2", "--window-hours", "-3"],
        ["investigate", "--segment", "Checkout errors", "--uid", "u"],
        ["sign", "--org-id", "o", "--timestamp", "yesterday", "-"],
        ["test-connection", "--region", "ap1"],
    ],
)
def test_usage_errors_exit_2_before_any_call(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    run = cli(capsys, *args)

    assert run.code == 2
    assert "usage:" in run.err
    assert run.out == ""
    assert sandbox.calls == {}


def test_a_missing_key_exits_2_and_says_where_to_put_one(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FULLSTORY_API_KEY")

    run = api(sandbox, capsys, "segments")

    assert run.code == 2
    assert "FULLSTORY_API_KEY" in run.err and "--secret-id" in run.err
    assert sandbox.calls == {}


@pytest.mark.parametrize("command", ["summary", "events", "explain"])
def test_a_bad_session_id_exits_2_before_any_call(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    run = api(sandbox, capsys, command, "not a session")

    assert run.code == 2
    assert "not a recognisable Fullstory session ID" in run.err
    assert "device:session" in run.err
    assert sandbox.calls == {}


def test_investigate_rejects_a_bad_session_id_before_any_call(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = api(sandbox, capsys, "investigate", "--session", "https://app.fullstory.com/ui/o-X/segments/1")

    assert run.code == 2
    assert sandbox.calls == {}


# ---------------------------------------------------------------------------------------------
# Fullstory failures: exit 1 with one line that says what to do, never the key


@pytest.mark.parametrize(
    "args",
    [
        ["test-connection"],
        ["sessions", "--uid", "user-001"],
        ["segments"],
        ["summary", "1:2"],
        ["events", "1:2"],
        ["explain", "1:2"],
        ["investigate", "--session", "1:2"],
    ],
)
@pytest.mark.parametrize("error_body", ["json", "echo"])
def test_a_rejected_key_exits_1_with_a_hint_and_never_prints_the_key(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], args: list[str], error_body: str
) -> None:
    # "echo" makes the sandbox repeat the request headers, the Authorization header included.
    sandbox.faults.update(unauthorized=True, error_body=error_body)

    run = api(sandbox, capsys, *args)

    assert run.code == 1
    assert "the key was rejected (401): check FULLSTORY_API_KEY" in run.err
    assert "Traceback" not in run.err


def test_investigate_with_an_org_id_reports_the_401_and_exits_1(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.faults.update(unauthorized=True)

    run = api(sandbox, capsys, "investigate", "--session", "1:2", "--org-id", ORG_ID, "--json")

    assert run.code == 1
    report = json.loads(run.out)
    assert report["status"] == "failed"
    assert "the key was rejected (401)" in run.err


def test_a_standard_tier_403_exits_1_and_names_the_roles_that_can_read(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.faults.update(forbidden_tier=True)

    run = api(sandbox, capsys, "segments")

    assert run.code == 1
    assert "(403)" in run.err and "Admin or Architect" in run.err


@pytest.mark.parametrize("command", ["events", "explain"])
def test_activation_off_403_exits_1_and_says_so(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    sandbox.faults.update(activation_off=True)

    run = api(sandbox, capsys, command, newest_session(sandbox).api_id)

    assert run.code == 1
    assert "(403)" in run.err and "Anywhere: Activation is not enabled" in run.err


@pytest.mark.parametrize("command", ["summary", "explain"])
def test_an_unknown_session_exits_1_with_a_404_hint(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    run = api(sandbox, capsys, command, "1:2")

    assert run.code == 1
    assert "not found (404)" in run.err


# ---------------------------------------------------------------------------------------------
# test-connection


def test_test_connection_reports_role_org_and_host_and_spends_no_activation(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = api(sandbox, capsys, "test-connection")

    assert run.code == 0
    assert "ADMIN (Admin tier): can read sessions" in run.out
    assert sandbox.data.org_id in run.out
    assert sandbox.base_url in run.out
    assert "--probe-activation" in run.out and "1 Activation" in run.out
    assert sandbox.calls[EVENTS] == 0


def test_test_connection_probe_reads_one_session_when_asked(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = api(sandbox, capsys, "test-connection", "--probe-activation", "--uid", "user-001", "--json")

    assert run.code == 0
    report = json.loads(run.out)
    assert report["key"] == {
        "role": "ADMIN",
        "tier": "Admin",
        "can_read_sessions": True,
        "email": "sandbox-admin@example.test",
        "org_id": sandbox.data.org_id,
    }
    assert report["api"]["base_url"] == sandbox.base_url
    assert report["api"]["region"] == "na1"
    assert {name: check["status"] for name, check in report["checks"].items()} == {
        "sessions": "available",
        "summaries": "available",
        "events": "available",
    }
    assert report["probe_session"] == newest_session(sandbox).api_id
    assert report["cost"]["activations"] == 1
    assert sandbox.calls[EVENTS] == 1


def test_test_connection_without_the_flag_does_not_read_events_even_with_a_session(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = api(sandbox, capsys, "test-connection", "--uid", "user-001", "--json")

    report = json.loads(run.out)
    assert report["checks"]["events"]["status"] == "unknown"
    assert "--probe-activation" in report["checks"]["events"]["detail"]
    assert sandbox.calls[EVENTS] == 0


def test_test_connection_tells_activation_off_from_a_low_tier(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox.faults.update(activation_off=True)
    off = json.loads(
        api(sandbox, capsys, "test-connection", "--probe-activation", "--uid", "user-001", "--json").out
    )
    sandbox.faults.update(activation_off=False, role="USER")
    standard = api(sandbox, capsys, "test-connection", "--probe-activation", "--uid", "user-001")

    assert off["checks"]["sessions"]["status"] == "available"
    assert off["checks"]["events"]["status"] == "forbidden (Activation off)"
    assert off["checks"]["summaries"]["status"] == "forbidden (Activation off)"
    assert standard.code == 0
    assert "USER (Standard tier): cannot read sessions" in standard.out
    assert "Sessions:       forbidden (tier)" in standard.out
    assert "Session events: forbidden (tier)" in standard.out


# ---------------------------------------------------------------------------------------------
# sessions, segments, summary, events


def test_sessions_lists_a_users_sessions_with_replay_links(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = sandbox.data.sessions_of(uid="user-001")

    text = api(sandbox, capsys, "sessions", "--uid", "user-001")
    rows = json.loads(api(sandbox, capsys, "sessions", "--uid", "user-001", "--json").out)

    assert text.code == 0
    assert sandbox.data.replay_url(expected[0]) in text.out
    assert [row["session_id"] for row in rows] == [s.api_id for s in expected]
    assert rows[0]["replay_url"] == sandbox.data.replay_url(expected[0])


def test_sessions_by_email_honours_the_limit(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    user = max(sandbox.data.users, key=lambda u: len(sandbox.data.sessions_of(uid=u.uid)))

    rows = json.loads(api(sandbox, capsys, "sessions", "--email", user.email, "--limit", "1", "--json").out)

    assert len(rows) == 1
    assert "limit=1" in sandbox.requests_to("GET /sessions/v2")[-1].path


def test_segments_lists_every_segment(sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]) -> None:
    text = api(sandbox, capsys, "segments")
    listed = json.loads(api(sandbox, capsys, "segments", "--json").out)

    assert text.code == 0
    assert CHECKOUT_ERRORS in text.out
    assert [segment["id"] for segment in listed] == [s.id for s in sandbox.data.segments]


def test_summary_accepts_a_replay_url_with_the_indv_form(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)
    app = f"{sandbox.data.app_url}/ui/{sandbox.data.org_id}"
    url = f"{app}/session/12345:{session.device_id}!{session.session_id}"

    text = api(sandbox, capsys, "summary", url)
    structured = json.loads(
        api(sandbox, capsys, "summary", session.api_id, "--profile", TRIAGE_PROFILE, "--json").out
    )

    assert text.code == 0
    assert session.user.display_name in text.out
    assert structured["session_id"] == session.api_id
    assert structured["response"]["frustrated"] is True
    assert session.user.display_name in structured["summary"]


def test_events_prints_one_line_per_event_and_json_as_served(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)

    text = api(sandbox, capsys, "events", session.api_id)
    raw = json.loads(api(sandbox, capsys, "events", session.api_id, "--json").out)

    assert text.code == 0
    assert text.out.splitlines()[0] == f"{len(session.events)} events in session {session.api_id}"
    assert len(text.out.splitlines()) == len(session.events) + 1
    assert "1 Activation" in text.err
    assert raw == list(session.events)


def test_events_errors_prints_the_digest_signals(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)  # user-001's newest: the checkout crash

    text = api(sandbox, capsys, "events", session.api_id, "--errors")
    digest = json.loads(api(sandbox, capsys, "events", session.api_id, "--errors", "--json").out)

    assert text.code == 0
    assert "TypeError" in text.out and "rage_click" in text.out
    kinds = {signal["kind"] for signal in digest["signals"]}
    assert {"exception", "network_error", "rage_click", "error_click"} <= kinds
    assert digest["session_id"] == session.api_id


# ---------------------------------------------------------------------------------------------
# explain


def _raw_values(events: Any) -> set[str]:
    """Every string value in the error-bearing events' properties (nested too), long enough to spot."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) >= 6:
            found.add(value)

    for event in events:
        if event.get("event_type") in ("console_message", "exception", "request", "click"):
            walk(event.get("event_properties"))
    return found


def test_explain_reads_the_current_and_warehouse_conventions_to_the_same_signals(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)  # user-001's newest: the checkout crash

    current = api(sandbox, capsys, "explain", sandbox.data.replay_url(session), "--json")
    sandbox.faults.update(event_convention="warehouse")
    warehouse = api(sandbox, capsys, "explain", session.api_id, "--json")

    assert current.code == warehouse.code == 0
    assert "1 Activation" in current.err
    assert sandbox.calls[EVENTS] == 2
    one, other = json.loads(current.out), json.loads(warehouse.out)
    assert one["session_id"] == session.api_id
    assert one["event_count"] == len(session.events)
    assert one["unread"]["count"] == 0
    kinds = {group["kind"] for group in one["error_groups"]}
    assert {"exception", "network_error", "rage_click", "error_click"} <= kinds
    assert one["event_types"]["exception"]["signals"] == {"exception": 1}
    assert one["event_types"]["navigate"]["examined"] is False
    for document in (one, other):
        for breakdown in document["event_types"].values():
            read = breakdown["not_errors"] + breakdown["unread"]
            assert read <= breakdown["events"]

    # The warehouse convention has no line numbers, so only the examples may differ.
    def same(groups: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        return [(group["kind"], group["signature"], group["count"]) for group in groups]

    assert same(other["error_groups"]) == same(one["error_groups"])
    assert same(other["signals"]) == same(one["signals"])
    assert {kind: t["signals"] for kind, t in other["event_types"].items()} == {
        kind: t["signals"] for kind, t in one["event_types"].items()
    }


def test_explain_text_shows_signals_per_event_type_and_the_error_groups(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)

    run = api(sandbox, capsys, "explain", session.api_id)

    assert run.code == 0
    assert run.out.startswith(f"Session {session.api_id}: {len(session.events)} events")
    assert "read as rage_click: 1" in run.out
    assert "not read for errors" in run.out
    assert "Error groups a report would show" in run.out and "TypeError" in run.out
    assert "COULD NOT BE READ" not in run.out


def test_explain_lists_the_key_sets_of_unreadable_events_and_never_their_values(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)
    sandbox.faults.update(event_convention="unknown")  # every error-bearing key prefixed with zz_

    text = api(sandbox, capsys, "explain", session.api_id)
    document = json.loads(api(sandbox, capsys, "explain", session.api_id, "--json").out)

    assert text.code == 0
    assert "COULD NOT BE READ" in text.out and "zz_message" in text.out
    assert "could not be read, so errors among them are missing" in text.out
    assert document["error_groups"] == [] and document["signals"] == []
    unread = document["unread"]
    assert unread["count"] > 0
    assert "zz_message" in unread["by_type"]["exception"]["keys"]
    key_sets = document["event_types"]["request"]["unread_key_sets"]
    assert key_sets and all(key.startswith("zz_") for key_set in key_sets for key in key_set["keys"])
    assert sum(key_set["events"] for key_set in key_sets) == document["event_types"]["request"]["unread"]
    values = _raw_values(session.events)
    assert values  # the check below would prove nothing without them
    for value in values:
        assert value not in text.out, f"a property value leaked: {value!r}"
        assert json.dumps(value)[1:-1] not in json.dumps(document)


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
    hours = cli_module.window_hours_to_reach(outside, report["window"]["end"])
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
        port = ops.ProgressPort(client, None)
        finished = ops.run_until_finished(
            Investigation(port, ops.cli_investigation_settings(ORG_ID, max_sessions=2)),
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
    monkeypatch.setattr(ops, "pause", slept.append)
    monkeypatch.setattr(RecordingProgress, "statuses", [])
    monkeypatch.setattr(cli_module, "Progress", RecordingProgress)
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


# ---------------------------------------------------------------------------------------------
# The key from the deployed secret (--secret-id)


def test_the_key_can_come_from_the_deployed_secret(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FULLSTORY_API_KEY")
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        arn = secrets.create_secret(
            Name="fstriage/fullstory-api-key", SecretString=json.dumps({"api_key": API_KEY})
        )["ARN"]
        empty = secrets.create_secret(Name="fstriage/empty", SecretString="{}")["ARN"]

        good = api(sandbox, capsys, "test-connection", "--secret-id", arn)
        bad = api(sandbox, capsys, "test-connection", "--secret-id", empty)
        sandbox.faults.update(unauthorized=True)
        rejected = api(sandbox, capsys, "segments", "--secret-id", arn)

    assert good.code == 0
    assert "ADMIN" in good.out
    assert sandbox.requests_to("GET /me")[0].headers["authorization"] == f"Basic {API_KEY}"
    assert bad.code == 2
    assert "secret is empty" in bad.err
    assert rejected.code == 1
    assert f"check the secret {arn}" in rejected.err


# ---------------------------------------------------------------------------------------------
# sign


def test_sign_prints_a_header_that_verifies_over_the_files_exact_bytes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Odd spacing and key order: a re-serialised body would not verify.
    body = b'{ "eventName":"test" ,"version": 1,\n "data":{"message":"hi"}}\n'
    payload = tmp_path / "payload.json"
    payload.write_bytes(body)

    run = cli(capsys, "sign", "--secret", SIGNING_SECRET, "--org-id", ORG_ID, str(payload))

    assert run.code == 0
    header = parse_signature_header(run.out.strip())
    assert header.org_id == ORG_ID
    assert matches_any(header, body, [SIGNING_SECRET])
    assert not matches_any(header, json.dumps(json.loads(body)).encode(), [SIGNING_SECRET])


def test_sign_reads_stdin_takes_the_secret_from_the_environment_and_a_fixed_timestamp(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b'{"eventName":"test"}'
    monkeypatch.setenv("FSTRIAGE_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))

    run = cli(capsys, "sign", "--org-id", ORG_ID, "--timestamp", "1793491200", "--json", "-")

    assert run.code == 0
    document = json.loads(run.out)
    assert document["value"] == sign(SIGNING_SECRET, body, ORG_ID, 1793491200)
    assert document["timestamp"] == "1793491200"
    assert SIGNING_SECRET not in run.out + run.err


def test_sign_header_form_and_missing_secret(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_bytes(b"{}")

    header = cli(capsys, "sign", "--secret", SIGNING_SECRET, "--org-id", ORG_ID, "--header", str(payload))
    missing = cli(capsys, "sign", "--org-id", ORG_ID, str(payload))
    no_file = cli(capsys, "sign", "--secret", SIGNING_SECRET, "--org-id", ORG_ID, str(tmp_path / "nope.json"))

    assert header.out.startswith("Fullstory-Signature: o:")
    assert missing.code == 2 and "FSTRIAGE_SIGNING_SECRET" in missing.err
    assert no_file.code == 2 and "cannot read" in no_file.err


# ---------------------------------------------------------------------------------------------
# send, against tiny local webhook servers


@dataclass
class Received:
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


class WebhookServer:
    """Verifies Fullstory-Signature like the webhook does (or, with `always`, answers that status)."""

    def __init__(self, *, secret: str = SIGNING_SECRET, always: int | None = None) -> None:
        self.received = Received()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.bodies.append(body)
                outer.received.headers.append({k.lower(): v for k, v in self.headers.items()})
                status, answer = outer.answer(self.headers.get("Fullstory-Signature"), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._secret = secret
        self._always = always
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def answer(self, signature: str | None, body: bytes) -> tuple[int, dict[str, str]]:
        if self._always is not None:
            return self._always, {"reason": "bad_signature"}
        try:
            header = parse_signature_header(signature)
        except ValueError:
            return 401, {"reason": "bad_signature"}
        if header.org_id != ORG_ID or not matches_any(header, body, [self._secret]):
            return 401, {"reason": "bad_signature"}
        return 202, {"status": "queued"}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_send_signs_and_posts_a_file_like_the_test_endpoint_button(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = b'{"eventName":"test","version":1,"data":{"message":"hello"}}'
    payload = tmp_path / "test.json"
    payload.write_bytes(body)

    with WebhookServer() as server:
        run = cli(capsys, "send", server.url, str(payload), "--secret", SIGNING_SECRET, "--org-id", ORG_ID)

    assert run.code == 0
    assert run.out.splitlines()[0] == "HTTP 202 Accepted"
    assert '"queued"' in run.out
    assert server.received.bodies == [body]
    assert server.received.headers[0]["content-type"] == "application/json"


@pytest.mark.parametrize("event_file", ["webhook-test.json", "webhook-base64-body.json"])
def test_send_unwraps_a_function_url_event_and_re_signs_its_body(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, event_file: str
) -> None:
    event = json.loads((REPO_ROOT / "events" / event_file).read_text())
    monkeypatch.setenv("FSTRIAGE_SIGNING_SECRET", SIGNING_SECRET)

    with WebhookServer() as server:
        run = cli(
            capsys, "send", server.url, str(REPO_ROOT / "events" / event_file), "--org-id", ORG_ID, "--json"
        )

    assert run.code == 0
    answer = json.loads(run.out)
    assert answer["status"] == 202 and answer["json"] == {"status": "queued"}
    sent = server.received.bodies[0]
    assert sent.startswith(b"{") and b"requestContext" not in sent
    expected = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    assert sent == expected
    assert "function URL event" in run.err


def test_send_exits_1_when_the_endpoint_says_401(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_bytes(b'{"eventName":"test"}')

    with WebhookServer(secret="another-secret") as verifying, WebhookServer(always=401) as refusing:
        wrong_secret = cli(
            capsys, "send", verifying.url, str(payload), "--secret", SIGNING_SECRET, "--org-id", ORG_ID
        )
        refused = cli(
            capsys, "send", refusing.url, str(payload), "--secret", SIGNING_SECRET, "--org-id", ORG_ID
        )

    for run in (wrong_secret, refused):
        assert run.code == 1
        assert run.out.startswith("HTTP 401")
        assert "bad_signature" in run.out


def test_send_exits_1_when_nothing_answers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_bytes(b"{}")
    with WebhookServer() as server:
        url = server.url  # the port is free again once the server is gone

    run = cli(capsys, "send", url, str(payload), "--secret", SIGNING_SECRET, "--org-id", ORG_ID)

    assert run.code == 1
    assert "could not reach" in run.err


# ---------------------------------------------------------------------------------------------
# local and demo: delegated to their own modules


def test_local_and_demo_hand_everything_after_their_name_to_their_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 3

    fake = types.ModuleType("fstriage_cli.demo")
    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fstriage_cli.demo", fake)

    run = cli(capsys, "demo", "-h", "--json", "x")

    assert run.code == 3
    assert seen == [["-h", "--json", "x"]]


def test_a_missing_delegate_module_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fstriage_cli.demo", None)  # import fails as if it were absent

    run = cli(capsys, "demo", "--help")

    assert run.code == 2
    assert "fstriage demo" in run.err and "fstriage_cli.demo" in run.err and "missing" in run.err


# ---------------------------------------------------------------------------------------------
# The installed console script, in a subprocess


def _script_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["FULLSTORY_API_KEY"] = API_KEY
    return env


def test_the_console_script_investigates_a_session(sandbox: FullstorySandbox) -> None:
    assert CONSOLE_SCRIPT.exists(), "run `uv sync` to install the fstriage console script"
    session = newest_session(sandbox)

    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [
            str(CONSOLE_SCRIPT),
            "investigate",
            "--session",
            session.api_id,
            "--fullstory-api-url",
            sandbox.base_url,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=_script_env(),
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["sessions"][0]["replay_url"] == sandbox.data.replay_url(session)
    assert API_KEY not in done.stdout + done.stderr


def test_python_dash_m_runs_the_cli_and_returns_its_exit_codes(sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(unauthorized=True)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "fstriage_cli.cli", *args],
            capture_output=True,
            text=True,
            env=_script_env(),
            timeout=60,
            check=False,
        )

    rejected = run("segments", "--fullstory-api-url", sandbox.base_url)
    usage = run("segments", "--bogus")

    assert rejected.returncode == 1
    assert "the key was rejected (401)" in rejected.stderr
    assert usage.returncode == 2


# ---------------------------------------------------------------------------------------------
# The progress display (stderr only; a fake clock, no sleeping)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_spinner_on_a_terminal_only_after_the_delay_and_erases_it() -> None:
    now = [0.0]
    screen = FakeTerminal()
    with Progress("investigating", stream=screen, clock=lambda: now[0], background=False) as progress:
        progress.update("2 summaries")
        progress.render()
        assert screen.getvalue() == ""  # quick work shows nothing
        now[0] = 1.5
        progress.render()
        progress.render()

    frames = screen.getvalue()
    assert "investigating: 2 summaries (2s)" in frames or "investigating: 2 summaries (1s)" in frames
    assert frames.count(ERASE_LINE) == 3  # two frames drawn over each other, then erased
    assert frames.endswith(ERASE_LINE)
    assert "\n" not in frames


def test_progress_writes_occasional_plain_lines_when_not_a_terminal() -> None:
    now = [0.0]
    log = io.StringIO()
    with Progress(
        "listing segments", stream=log, clock=lambda: now[0], background=False, plain_every=5
    ) as progress:
        for moment in (0.5, 1.5, 2.0, 3.0, 7.0):
            now[0] = moment
            progress.update(f"at {moment}")
            progress.render()

    lines = log.getvalue().splitlines()
    assert lines == ["fstriage: listing segments: at 1.5 (2s)", "fstriage: listing segments: at 7.0 (7s)"]
    assert "\x1b" not in log.getvalue()


# ---------------------------------------------------------------------------------------------
# Host and region overrides


def test_a_bad_api_url_exits_2_before_any_call(capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "segments", "--fullstory-api-url", "api.fullstory.com")

    assert run.code == 2
    assert "not an http(s) URL" in run.err


def test_region_override_moves_replay_links_and_is_checked_against_the_org(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    session = newest_session(sandbox)

    report = json.loads(
        api(sandbox, capsys, "investigate", "--session", session.api_id, "--region", "eu1", "--json").out
    )
    check = json.loads(api(sandbox, capsys, "test-connection", "--region", "eu1", "--json").out)

    assert report["sessions"][0]["replay_url"].startswith("https://app.eu1.fullstory.com/ui/")
    assert check["api"] == {
        "base_url": sandbox.base_url,
        "region": "eu1",
        "app_url": "https://app.eu1.fullstory.com",
    }
    assert any("--region na1" in warning for warning in check["warnings"])  # the org ID ends in -na1
