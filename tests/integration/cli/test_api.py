"""The read-only commands against the sandbox: test-connection, sessions, segments, summary, events, explain.

Also how Fullstory's failures, the deployed secret and the host and region options are handled.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fstriage_cli.sandbox import FullstorySandbox
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS
from fstriage_cli.sandbox.views import TRIAGE_PROFILE
from tests.integration.cli.harness import (
    API_KEY,
    EVENTS,
    ORG_ID,
    api,
    cli,
    newest_session,
)

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
