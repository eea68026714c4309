"""The local Fullstory sandbox itself: data conventions, documented answers, fault switches.

Raw HTTP through `http.client` (no proxies, no client library), so these tests pin what the
sandbox serves independently of the fstriage client.
"""

from __future__ import annotations

import gzip
import http.client
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from fstriage_cli.sandbox import FullstorySandbox, generate
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS
from fstriage_cli.sandbox.views import context_event

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
AUTH = {"Authorization": "Basic anything"}


@pytest.fixture
def sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=7, now=NOW) as running:
        yield running


def fetch(
    base_url: str, method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        send_headers = dict(headers or {})
        if payload is not None:
            send_headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=send_headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------
# Synthetic data


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not() -> None:
    first, again, other = generate(7, now=NOW), generate(7, now=NOW), generate(8, now=NOW)

    assert [s.events for s in first.sessions] == [s.events for s in again.sessions]
    assert [s.id for s in first.segments] == [s.id for s in again.segments]
    assert [s.api_id for s in first.sessions] != [s.api_id for s in other.sessions]


def test_users_and_sessions_follow_the_conventions() -> None:
    data = generate(7, now=NOW)

    assert len(data.users) == 30
    for index, user in enumerate(data.users, start=1):
        assert user.uid == f"user-{index:03d}"
        assert re.fullmatch(rf"[a-z]+\.{index:03d}@example\.test", user.email)
        assert 1 <= len(data.sessions_of(uid=user.uid)) <= 4
    for session in data.sessions:
        assert session.device_id.isdigit() and session.session_id.isdigit()
        assert NOW - timedelta(days=7) <= session.created < NOW
    assert len({s.api_id for s in data.sessions}) == len(data.sessions)
    share = len(data.error_sessions) / len(data.sessions)
    assert 0.1 <= share <= 0.6


@pytest.mark.parametrize("seed", [1, 7, 42, 2024])
def test_the_anchor_sessions_exist_for_any_seed(seed: int) -> None:
    data = generate(seed, now=NOW)

    crash = data.sessions_of(uid="user-001")[0]
    assert crash.scenarios == ("checkout_crash",)
    assert {"exception", "failed_request", "rage_click", "error_click"} <= crash.problems
    assert all(
        not s.problems & {"exception", "console_error", "failed_request"}
        for s in data.sessions_of(uid="user-002")
    )
    assert {"unreadable", "dead_click"} <= data.sessions_of(uid="user-003")[0].problems


def test_raw_events_use_the_documented_property_names() -> None:
    crash = generate(7, now=NOW).sessions_of(uid="user-001")[0]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in crash.events:
        assert set(event) >= {
            "device_id",
            "session_id",
            "view_id",
            "event_time",
            "event_type",
            "event_properties",
        }
        assert event["source_type"] == "web"
        assert set(event["source_properties"]["url"]) >= {"full_url", "path"}
        assert event["event_time"].endswith("Z")
        by_type.setdefault(event["event_type"], []).append(event["event_properties"])

    assert set(by_type) >= {"navigate", "load", "click", "change", "request", "console_message", "exception"}
    (exception,) = by_type["exception"]
    assert exception == {
        "message": "Cannot read properties of undefined (reading 'total')",
        "name": "TypeError",
        "source_url": "https://shop.example.test/static/js/checkout.js",
        "line_number": 214,
    }
    assert all(set(p) == {"message", "level", "source_url"} for p in by_type["console_message"])
    assert {p["level"] for p in by_type["console_message"]} >= {"error", "log"}
    assert all(set(p) == {"method", "url", "status_code", "duration_ms"} for p in by_type["request"])
    failed = [p for p in by_type["request"] if p["status_code"] >= 400]
    assert len(failed) == 1
    assert re.fullmatch(r"https://shop\.example\.test/api/v1/orders/\d{6}/pay", failed[0]["url"])
    assert failed[0]["method"] == "POST" and failed[0]["status_code"] in (500, 502)
    clicks = by_type["click"]
    assert all(set(p) == {"target", "is_rage_click", "is_dead_click", "is_error_click"} for p in clicks)
    assert any(p["is_error_click"] and p["target"]["text"] == "Pay now" for p in clicks)
    assert sum(p["is_rage_click"] for p in clicks) == 1  # one burst, flagged on its last click


def test_some_events_of_known_types_have_unreadable_properties() -> None:
    data = generate(7, now=NOW)
    unreadable = [
        e
        for s in data.sessions
        for e in s.events
        if e["event_type"] in ("exception", "request", "console_message")
        and not (
            isinstance(e["event_properties"], dict)
            and ("message" in e["event_properties"] or "url" in e["event_properties"])
        )
    ]
    assert unreadable
    assert all(context_event(e) is None for e in unreadable)


def test_failed_request_paths_carry_ids_that_grouping_must_fold() -> None:
    data = generate(7, now=NOW)
    paths = {
        urlsplit(e["event_properties"]["url"]).path
        for s in data.error_sessions
        for e in s.events
        if e["event_type"] == "request"
        and isinstance(e["event_properties"], dict)
        and e["event_properties"].get("status_code", 0) >= 400
    }
    assert len({re.sub(r"\d{6}", "N", p) for p in paths if "/orders/" in p}) == 1
    assert len({p for p in paths if "/orders/" in p}) > 1


# ---------------------------------------------------------------------------------------------
# Documented answers


@pytest.mark.parametrize("authorization", [None, "Bearer abc", "Basic ", "basic abc"])
def test_api_calls_without_basic_auth_are_401(sandbox: FullstorySandbox, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    status, reply_headers, body = fetch(sandbox.base_url, "GET", "/me", headers=headers)

    assert status == 401
    assert reply_headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "access is unauthorized", "code": "unauthorized"}


def test_unknown_paths_and_methods(sandbox: FullstorySandbox) -> None:
    status, _, body = fetch(sandbox.base_url, "GET", "/v9/nothing", headers=AUTH)
    assert (status, json.loads(body)["code"]) == (404, "resource_not_found")
    status, headers, _ = fetch(sandbox.base_url, "DELETE", "/me", headers=AUTH)
    assert (status, headers["allow"]) == (405, "GET")


def test_sessions_answer_in_camel_case_strings(sandbox: FullstorySandbox) -> None:
    busy = next(u for u in sandbox.data.users if len(sandbox.data.sessions_of(uid=u.uid)) >= 3)
    status, _, body = fetch(sandbox.base_url, "GET", f"/sessions/v2?uid={busy.uid}&limit=2", headers=AUTH)

    assert status == 200
    sessions = json.loads(body)["sessions"]
    assert len(sessions) == 2
    assert set(sessions[0]) == {"userId", "sessionId", "createdTime", "fsUrl"}
    assert all(isinstance(value, str) for value in sessions[0].values())


def test_a_session_id_must_be_url_encoded_or_plain_device_colon_session(sandbox: FullstorySandbox) -> None:
    session = sandbox.data.sessions[0]
    encoded = f"/v2/sessions/{session.device_id}%3A{session.session_id}/events"
    assert fetch(sandbox.base_url, "GET", encoded, headers=AUTH)[0] == 200
    status, _, body = fetch(sandbox.base_url, "GET", "/v2/sessions/justone/events", headers=AUTH)
    assert (status, json.loads(body)["code"]) == (400, "invalid_argument")


def test_context_events_use_fullstory_types(sandbox: FullstorySandbox) -> None:
    crash = sandbox.data.sessions_of(uid="user-001")[0]
    path = f"/v2/sessions/{crash.device_id}%3A{crash.session_id}/context"

    status, _, body = fetch(sandbox.base_url, "POST", path, headers=AUTH, body={})

    assert status == 200
    data = json.loads(body)["context_data"]
    events = [e for page in data["pages"] for e in page["events"]]
    assert {e["type"] for e in events} >= {
        "navigate",
        "click",
        "error-click",
        "rage-click",
        "network-error",
        "console-error",
    }
    assert all(set(e) >= {"type", "description", "timestamp", "content", "properties"} for e in events)
    assert data["context"]["user_context"]["uid"] == "user-001"


def test_export_rows_mark_rage_and_error_clicks_like_fullstory(sandbox: FullstorySandbox) -> None:
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    status, _, body = fetch(
        sandbox.base_url,
        "POST",
        "/segments/v1/exports",
        headers=AUTH,
        body={"segmentId": segment.id, "type": "TYPE_EVENT", "format": "FORMAT_NDJSON"},
    )
    operation_id = json.loads(body)["operationId"]
    assert status == 200
    pending = json.loads(fetch(sandbox.base_url, "GET", f"/operations/v1/{operation_id}", headers=AUTH)[2])
    done = json.loads(fetch(sandbox.base_url, "GET", f"/operations/v1/{operation_id}", headers=AUTH)[2])
    assert (pending["state"], done["state"]) == ("PENDING", "COMPLETED")
    export_id = done["results"]["searchExportId"]
    location = json.loads(
        fetch(sandbox.base_url, "GET", f"/search/v1/exports/{export_id}/results", headers=AUTH)[2]
    )["location"]

    status, headers, payload = fetch(sandbox.base_url, "GET", urlsplit(location).path)  # no auth

    assert status == 200
    assert headers["content-type"] == "application/gzip"
    assert ".ndjson.gz" in headers["content-disposition"]
    rows = [json.loads(line) for line in gzip.decompress(payload).decode().splitlines()]
    crash = sandbox.data.sessions_of(uid="user-001")[0]
    clicks = [r for r in rows if r["SessionId"] == crash.session_id and r["EventType"] == "click"]
    assert max(r["EventModFrustrated"] for r in clicks) >= 3  # the burst's running count
    assert any(r["EventModError"] == 3 for r in clicks)  # followed by an uncaught exception
    exceptions = [r for r in rows if r["SessionId"] == crash.session_id and r["EventType"] == "exception"]
    assert exceptions[0]["EventSubType"] == "uncaught"
    assert exceptions[0]["EventTargetText"].startswith("TypeError: ")


# ---------------------------------------------------------------------------------------------
# Fault switches


def test_the_control_endpoint_switches_faults_out_of_process(sandbox: FullstorySandbox) -> None:
    status, _, body = fetch(
        sandbox.base_url, "POST", "/__sandbox/faults", body={"rate_limit_count": 1, "retry_after": 7}
    )
    assert status == 200
    assert json.loads(body)["rate_limit_count"] == 1

    status, headers, body = fetch(sandbox.base_url, "GET", "/me", headers=AUTH)
    assert (status, headers["retry-after"], json.loads(body)["code"]) == (429, "7", "too_many_requests")
    assert fetch(sandbox.base_url, "GET", "/me", headers=AUTH)[0] == 200

    status, _, body = fetch(sandbox.base_url, "POST", "/__sandbox/faults", body={"no_such_switch": 1})
    assert status == 400
    status, _, body = fetch(sandbox.base_url, "POST", "/__sandbox/faults", body={"role": "USER"})
    assert json.loads(fetch(sandbox.base_url, "GET", "/me", headers=AUTH)[2])["role"] == "USER"
    fetch(sandbox.base_url, "POST", "/__sandbox/faults", body={"reset": True})
    assert json.loads(fetch(sandbox.base_url, "GET", "/me", headers=AUTH)[2])["role"] == "ADMIN"
    assert "POST /__sandbox/faults" not in sandbox.calls


def test_bad_switch_values_are_refused_and_change_nothing(sandbox: FullstorySandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.faults.update(latency_ms=5, error_body="xml")
    with pytest.raises(ValueError):
        sandbox.faults.update(unauthorized="yes")
    assert sandbox.faults.snapshot().latency_ms == 0


def test_forbidden_tier_spares_me_and_activation_off_spares_other_reads(sandbox: FullstorySandbox) -> None:
    session = sandbox.data.sessions[0]
    events = f"/v2/sessions/{session.device_id}%3A{session.session_id}/events"
    sandbox.faults.update(forbidden_tier=True)
    assert fetch(sandbox.base_url, "GET", "/me", headers=AUTH)[0] == 200
    status, _, body = fetch(sandbox.base_url, "GET", "/segments/v1", headers=AUTH)
    assert (status, json.loads(body)) == (403, {"message": "insufficient permissions", "code": "forbidden"})

    sandbox.faults.update(forbidden_tier=False, activation_off=True)
    assert fetch(sandbox.base_url, "GET", "/segments/v1", headers=AUTH)[0] == 200
    status, _, body = fetch(sandbox.base_url, "GET", events, headers=AUTH)
    assert status == 403
    assert "Anywhere: Activation" in json.loads(body)["message"]


def test_server_errors_by_count_and_by_seeded_rate(sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(server_error_count=2, server_error_status=502, error_body="html")
    answers = [fetch(sandbox.base_url, "GET", "/me", headers=AUTH) for _ in range(3)]
    assert [a[0] for a in answers] == [502, 502, 200]
    assert answers[0][1]["content-type"] == "text/html"

    sandbox.faults.update(server_error_rate=0.5, error_body="json")
    statuses = [fetch(sandbox.base_url, "GET", "/me", headers=AUTH)[0] for _ in range(40)]
    assert 5 <= statuses.count(502) <= 35


def test_path_filter_limits_injected_faults(sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(server_error_count=5, path_filter="/segments")
    assert fetch(sandbox.base_url, "GET", "/me", headers=AUTH)[0] == 200
    assert fetch(sandbox.base_url, "GET", "/segments/v1", headers=AUTH)[0] == 503


def test_calls_and_requests_are_recorded_per_route(sandbox: FullstorySandbox) -> None:
    fetch(sandbox.base_url, "GET", "/me", headers=AUTH)
    fetch(sandbox.base_url, "GET", "/sessions/v2?uid=user-001", headers=AUTH)
    fetch(sandbox.base_url, "GET", "/sessions/v2?email=ada.001%40example.test", headers=AUTH)

    assert sandbox.calls == {"GET /me": 1, "GET /sessions/v2": 2}
    assert sandbox.requests_to("GET /sessions/v2")[1].path == "/sessions/v2?email=ada.001%40example.test"
    sandbox.reset_records()
    assert sandbox.calls == {}
