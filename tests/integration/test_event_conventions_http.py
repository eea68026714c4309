"""The sandbox's convention switch over HTTP: the real client reads each known convention's events into
the same report, and an unknown convention gives a partial report that names the keys it saw."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from fstriage.adapters.fullstory import FullstoryClient
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings
from fstriage.core.report import build_report, render_markdown
from fstriage.core.request import InvestigationRequest
from fstriage_cli.samples import payloads
from fstriage_cli.sandbox import FullstorySandbox

NOW = datetime(2026, 11, 1, tzinfo=UTC)
API_KEY = "na1.conventions-test-key"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=7, now=NOW) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(sandbox: FullstorySandbox) -> Iterator[None]:
    yield
    sandbox.faults.reset()


def post_switch(sandbox: FullstorySandbox, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(sandbox.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    try:
        connection.request(
            "POST", "/__sandbox/faults", body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def user_stream(uid: str) -> InvestigationRequest:
    return payloads.request_for(
        payloads.stream_user(user_id=uid), received_at=NOW, lookback=timedelta(days=7), stream=True
    )


def report_over_http(sandbox: FullstorySandbox, uid: str) -> dict[str, Any]:
    with FullstoryClient(API_KEY, base_url=sandbox.base_url) as client:
        settings = InvestigationSettings(org_id=sandbox.data.org_id, concurrency=2)
        outcome = Investigation(client, settings).run(user_stream(uid))
        assert isinstance(outcome, Finished)
        return build_report(outcome.evidence, client.usage, NOW)


def test_the_control_route_switches_the_convention_of_the_events_endpoint(sandbox: FullstorySandbox) -> None:
    session = sandbox.data.sessions_of(uid="user-001")[0]
    status, settings = post_switch(sandbox, {"event_convention": "warehouse"})
    assert (status, settings["event_convention"]) == (200, "warehouse")

    with FullstoryClient(API_KEY, base_url=sandbox.base_url) as client:
        events = client.session_events(session.api_id)
    requests = [e["event_properties"] for e in events if e["event_type"] == "request"]
    assert requests and all("request_status" in props for props in requests if isinstance(props, dict))

    status, _ = post_switch(sandbox, {"event_convention": "pascal"})
    assert status == 400


@pytest.mark.parametrize("convention", ["warehouse", "camel_nested"])
def test_each_known_convention_gives_the_same_report_over_http(
    sandbox: FullstorySandbox, convention: str
) -> None:
    expected = report_over_http(sandbox, "user-001")
    sandbox.faults.update(event_convention=convention)

    report = report_over_http(sandbox, "user-001")

    assert report["error_groups"]
    assert [g["signature"] for g in report["error_groups"]] == [
        g["signature"] for g in expected["error_groups"]
    ]
    assert [g["count"] for g in report["error_groups"]] == [g["count"] for g in expected["error_groups"]]
    assert (report["status"], report["headline"]) == (expected["status"], expected["headline"])


def test_an_unknown_convention_is_partial_and_names_the_keys_over_http(sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(event_convention="unknown")

    report = report_over_http(sandbox, "user-001")

    assert report["status"] == "partial"
    assert report["error_groups"] == []
    assert "could not be read" in report["headline"]
    assert "no errors found" not in report["headline"]
    note = report["unread_events"]["note"]
    assert "zz_status_code" in note
    assert note in render_markdown(report)
    assert sandbox.data.user("user-001").email not in note
