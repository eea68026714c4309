"""The real Fullstory client against the real sandbox server on 127.0.0.1.

Time is never asserted: retries sleep through an injected recorder, and deadlines are fake
countdowns that only the recorded sleeps move.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment

from fstriage.adapters import fullstory
from fstriage.adapters.fullstory import ROUTES, FullstoryClient, RetryPolicy, span_name
from fstriage.core.errors import (
    FullstoryAuthError,
    FullstoryBadRequest,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
    FullstoryRateLimited,
    FullstoryServerError,
    FullstoryUnavailable,
    PayloadError,
)
from fstriage.core.fullstory_models import FullstoryUser
from fstriage.core.ratelimit import RateLimiter
from fstriage_cli.sandbox import FullstorySandbox
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS
from fstriage_cli.sandbox.views import TRIAGE_PROFILE

API_KEY = "na1.sandbox-test-key/SANDBOX"
EVENTS = "GET /v2/sessions/{id}/events"
CONTEXT = "POST /v2/sessions/{id}/context"


@dataclass
class FakeTime:
    """Records sleeps; `remaining` is the deadline countdown, moved only by those sleeps."""

    remaining: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.remaining -= seconds

    def deadline(self) -> float:
        return self.remaining


@pytest.fixture
def sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=7) as running:
        yield running


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


MakeClient = Callable[..., FullstoryClient]


@pytest.fixture
def make_client(sandbox: FullstorySandbox, fake_time: FakeTime) -> Iterator[MakeClient]:
    made: list[FullstoryClient] = []

    def make(**overrides: Any) -> FullstoryClient:
        settings: dict[str, Any] = {
            "base_url": sandbox.base_url,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "sleep": fake_time.sleep,
            "jitter": lambda: 0.0,
            "rate_limiter": RateLimiter(1000, 1000),
            "retry": RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, safety_margin=1.0),
        }
        settings.update(overrides)
        client = FullstoryClient(settings.pop("api_key", API_KEY), **settings)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> FullstoryClient:
    return make_client()


def crash_session_id(sandbox: FullstorySandbox) -> str:
    return sandbox.data.sessions_of(uid="user-001")[0].api_id


# ---------------------------------------------------------------------------------------------
# Happy paths


def test_me_reports_email_org_and_role(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    me = client.me()
    assert (me.email, me.org_id, me.role) == ("sandbox-admin@example.test", "o-SANDBOX-na1", "ADMIN")


def test_every_call_sends_the_raw_key_and_the_integration_headers(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    client.me()
    (request,) = sandbox.requests_to("GET /me")
    assert request.headers["authorization"] == f"Basic {API_KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["integration-source"] == "fstriage"


def test_sessions_by_uid_and_by_email(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    user = sandbox.data.user("user-001")
    expected = [s.api_id for s in sandbox.data.sessions_of(uid="user-001")]

    by_uid = client.sessions(uid="user-001")
    by_email = client.sessions(email=user.email, limit=1)

    assert [s.api_session_id for s in by_uid] == expected
    assert [s.api_session_id for s in by_email] == expected[:1]
    newest = by_uid[0]
    assert newest.user_id == user.device_id
    assert newest.created_at == sandbox.data.sessions_of(uid="user-001")[0].created
    assert newest.fs_url == f"https://app.fullstory.com/ui/o-SANDBOX-na1/session/{newest.api_session_id}"


def test_sessions_of_an_unknown_user_is_an_empty_list(client: FullstoryClient) -> None:
    assert client.sessions(uid="nobody") == []


def test_user_records_by_uid_email_and_fullstory_id(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    user = sandbox.data.user("user-001")
    expected = FullstoryUser(
        id=user.individual_id, uid=user.uid, email=user.email, display_name=user.display_name
    )

    assert client.users(uid="user-001") == [expected]
    assert client.users(email=user.email) == [expected]
    assert client.users(uid="nobody") == []
    assert client.user(user.individual_id) == expected
    assert client.user(user.device_id) == expected  # the sandbox answers for either form by default
    with pytest.raises(FullstoryNotFound):
        client.user("0000000000")
    with pytest.raises(ValueError):
        client.user("../me")
    with pytest.raises(ValueError):
        client.users()
    assert [r.path for r in sandbox.requests_to("GET /v2/users")] == [
        "/v2/users?uid=user-001",
        f"/v2/users?{urlencode({'email': user.email})}",
        "/v2/users?uid=nobody",
    ]


def test_sessions_needs_exactly_one_of_uid_and_email(client: FullstoryClient) -> None:
    with pytest.raises(ValueError):
        client.sessions()
    with pytest.raises(ValueError):
        client.sessions(uid="a", email="b@example.test")


def test_segments_follow_every_page(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    segments = client.segments(page_size=2)

    assert [s.name for s in segments] == [s.name for s in sandbox.data.segments]
    assert sandbox.calls["GET /segments/v1"] == 3  # six segments, two per page
    tokens = [r.path for r in sandbox.requests_to("GET /segments/v1")]
    assert "paginationToken=pt-2" in tokens[1]
    assert "paginationToken=pt-4" in tokens[2]


def test_summary_text_and_structured_response(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    session_id = crash_session_id(sandbox)

    plain = client.summary(session_id)
    structured = client.summary(session_id, config_profile=TRIAGE_PROFILE)

    assert plain.text is not None
    assert "Cannot read properties of undefined (reading 'total')" in plain.text
    assert plain.response is None
    assert structured.response is not None
    assert structured.response["frustrated"] is True
    assert "config_profile=fstriage-triage" in sandbox.requests_to("GET /v2/sessions/{id}/summary")[1].path


def test_session_events_are_the_raw_events(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    session_id = crash_session_id(sandbox)

    events = client.session_events(session_id)

    assert events == list(sandbox.data.session(session_id).events)  # type: ignore[union-attr]
    assert {e["event_type"] for e in events} >= {
        "navigate",
        "click",
        "request",
        "exception",
        "console_message",
    }


def test_session_context_classifies_the_signals(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    context = client.session_context(crash_session_id(sandbox), include_types=["rage-click", "network-error"])

    types = {event["type"] for page in context["pages"] for event in page["events"]}
    assert types == {"rage-click", "network-error"}
    assert context["context"]["session_id"] == crash_session_id(sandbox)
    (request,) = sandbox.requests_to(CONTEXT)
    assert json.loads(request.body) == {"events": {"include_types": ["rage-click", "network-error"]}}


def test_session_ids_in_any_form_are_sent_url_encoded(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    session = sandbox.data.sessions_of(uid="user-001")[0]
    replay_url = sandbox.data.replay_url(session)
    bang_form = f"999:{session.device_id}!{session.session_id}"

    for form in (session.api_id, replay_url, bang_form):
        client.session_events(form)

    paths = [r.path for r in sandbox.requests_to(EVENTS)]
    assert paths == [f"/v2/sessions/{session.device_id}%3A{session.session_id}/events"] * 3


def test_a_malformed_session_id_never_reaches_the_api(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    with pytest.raises(PayloadError):
        client.session_events("not a session")
    assert sandbox.calls[EVENTS] == 0


def test_activations_and_calls_are_counted(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    session_id = crash_session_id(sandbox)
    client.me()
    client.summary(session_id)
    client.session_events(session_id)
    client.session_context(session_id)

    usage = client.usage
    assert usage.calls == 4
    assert usage.activations == 2  # events + context; /me and summary cost none
    assert usage.by_operation == {"me": 1, "summary": 1, "session_events": 1, "session_context": 1}


def test_a_failed_activation_call_is_not_counted_as_spent(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    with pytest.raises(FullstoryNotFound):
        client.session_events("123:456")
    assert client.usage.activations == 0
    assert client.usage.calls == 1


def test_with_deadline_gives_fresh_counters_on_the_same_pool(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    client.me()
    view = client.with_deadline(lambda: 500.0)
    view.session_events(crash_session_id(sandbox))

    assert (view.usage.calls, view.usage.activations) == (1, 1)
    assert client.usage.calls == 1
    assert view.rate_limiter is client.rate_limiter
    assert len({r.client_port for r in sandbox.requests}) == 1  # one pooled keep-alive connection


def test_the_client_is_usable_from_a_thread_pool(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    ids = [s.api_id for s in sandbox.data.sessions[:12]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(client.session_events, ids))

    assert [len(events) for events in results] == [len(s.events) for s in sandbox.data.sessions[:12]]
    assert client.usage.activations == 12
    assert sandbox.calls[EVENTS] == 12


def test_calls_wait_for_the_shared_rate_limiter(make_client: MakeClient, fake_time: FakeTime) -> None:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        fake_time.sleep(seconds)
        clock[0] += seconds

    limiter = RateLimiter(2, 1, clock=lambda: clock[0], sleep=sleep)
    client = make_client(rate_limiter=limiter)

    for _ in range(3):
        client.me()

    assert fake_time.sleeps == [0.5, 0.5]


# ---------------------------------------------------------------------------------------------
# Segment export


def test_export_goes_pending_then_completed_then_rows(
    client: FullstoryClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.update(export_pending_polls=2)
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    now = sandbox.data.now

    rows = client.export_segment_rows(segment.id, now - timedelta(days=8), now, poll_seconds=1.5)

    assert sandbox.calls["GET /operations/v1/{id}"] == 3  # PENDING, PENDING, COMPLETED
    assert fake_time.sleeps == [1.5, 1.5]
    assert {f"{r['UserId']}:{r['SessionId']}" for r in rows} == {
        s.api_id for s in sandbox.data.error_sessions
    }
    assert all(isinstance(r["UserId"], str) and isinstance(r["SessionId"], str) for r in rows)
    failed = [r for r in rows if r["EventType"] == "request" and r["ReqStatus"] >= 400]
    assert any("/api/v1/orders/" in r["ReqUrl"] and r["ReqMethod"] == "POST" for r in failed)
    rage = [r for r in rows if r["EventType"] == "click" and r["EventModFrustrated"] > 0]
    assert "Pay now" in {r["EventTargetText"] for r in rage}
    (start,) = sandbox.requests_to("POST /segments/v1/exports")
    body = json.loads(start.body)
    assert body["segmentId"] == segment.id
    assert (body["type"], body["format"]) == ("TYPE_EVENT", "FORMAT_NDJSON")


def test_export_as_a_json_array(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    now = sandbox.data.now
    rows = client.export_segment_rows(
        segment.id, now - timedelta(days=8), now, export_format="FORMAT_JSON", fields=["UserEmail"]
    )
    assert rows
    assert set(rows[0]) <= {
        "UserId",
        "SessionId",
        "PageId",
        "EventType",
        "EventSubType",
        "EventStart",
        "UserEmail",
    }


def test_the_download_carries_no_authorization_header(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    now = sandbox.data.now
    operation_id = client.start_segment_export(segment.id, now - timedelta(days=1), now)
    finished = client.wait_for_operation(operation_id, poll_seconds=0.1)
    assert finished.state == "COMPLETED"
    assert finished.search_export_id is not None

    client.export_results(finished.search_export_id)

    (download,) = sandbox.requests_to("GET /downloads/{name}")
    assert "authorization" not in download.headers
    assert all("authorization" in r.headers for r in sandbox.requests if r.route != download.route)
    assert client.usage.downloads == 1
    assert client.usage.by_operation.get("export_download") is None  # not an API call


def test_a_failed_export_raises_with_its_details(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(export_fails=True, export_pending_polls=0)
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    now = sandbox.data.now

    with pytest.raises(FullstoryError) as failed:
        client.export_segment_rows(segment.id, now - timedelta(days=1), now)

    assert failed.value.code == "export_failed"
    assert "sandbox was told to fail" in failed.value.message
    assert sandbox.calls["GET /search/v1/exports/{id}/results"] == 0


def test_an_export_that_never_completes_stops_at_max_polls(
    client: FullstoryClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.update(export_never_completes=True)
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    now = sandbox.data.now
    operation_id = client.start_segment_export(segment.id, now - timedelta(days=1), now)

    with pytest.raises(FullstoryUnavailable) as pending:
        client.wait_for_operation(operation_id, poll_seconds=2, max_polls=5)

    assert sandbox.calls["GET /operations/v1/{id}"] == 5
    assert fake_time.sleeps == [2, 2, 2, 2]
    assert pending.value.retryable


def test_export_polling_stops_before_the_deadline(
    make_client: MakeClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.update(export_never_completes=True)
    fake_time.remaining = 10.0
    client = make_client(deadline=fake_time.deadline)
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    now = sandbox.data.now
    operation_id = client.start_segment_export(segment.id, now - timedelta(days=1), now)

    with pytest.raises(FullstoryUnavailable):
        client.wait_for_operation(operation_id, poll_seconds=4, max_polls=100)

    assert sum(fake_time.sleeps) <= 10.0 - 1.0  # never into the safety margin
    assert fake_time.sleeps == [4, 4]


# ---------------------------------------------------------------------------------------------
# Errors


def test_401_is_an_auth_error_and_is_not_retried(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(unauthorized=True)

    with pytest.raises(FullstoryAuthError) as refused:
        client.me()

    assert (refused.value.status, refused.value.code, refused.value.retryable) == (401, "unauthorized", False)
    assert sandbox.calls["GET /me"] == 1


def test_403_tier_keeps_the_api_message(make_client: MakeClient) -> None:
    with FullstorySandbox(seed=7, role="USER") as standard:
        client = make_client(base_url=standard.base_url)
        assert client.me().role == "USER"  # /me still answers for a Standard key

        with pytest.raises(FullstoryForbidden) as forbidden:
            client.sessions(uid="user-001")

    assert forbidden.value.code == "forbidden"
    assert "insufficient permissions" in forbidden.value.message
    assert not forbidden.value.activation_disabled
    assert standard.calls["GET /sessions/v2"] == 1


def test_403_activation_off_says_so(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(activation_off=True)
    session_id = crash_session_id(sandbox)
    assert client.sessions(uid="user-001")  # reads without Activation still work

    with pytest.raises(FullstoryForbidden) as forbidden:
        client.session_events(session_id)

    assert forbidden.value.activation_disabled
    assert "Activation" in forbidden.value.message
    assert client.usage.activations == 0


def test_404_for_an_unknown_session(client: FullstoryClient) -> None:
    with pytest.raises(FullstoryNotFound) as missing:
        client.session_context("1234567890:987654321")
    assert (missing.value.status, missing.value.code) == (404, "resource_not_found")
    assert not missing.value.retryable


def test_404_for_an_unknown_summary_profile(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    with pytest.raises(FullstoryNotFound):
        client.summary(crash_session_id(sandbox), config_profile="no-such-profile")


def test_400_is_a_bad_request_and_is_not_retried(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    with pytest.raises(FullstoryBadRequest) as bad:
        client.sessions(uid="")

    assert (bad.value.status, bad.value.code, bad.value.retryable) == (400, "required_field", False)
    assert sandbox.calls["GET /sessions/v2"] == 1


def test_429_with_retry_after_then_success(
    client: FullstoryClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.update(rate_limit_count=2, retry_after=3)

    assert client.me().role == "ADMIN"

    assert fake_time.sleeps == [3.0, 3.0]  # Retry-After beats the shorter backoff
    assert sandbox.calls["GET /me"] == 3
    assert (client.usage.calls, client.usage.retries) == (3, 2)


def test_a_retry_after_too_long_to_wait_goes_up_as_rate_limited(
    client: FullstoryClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.update(rate_limit_count=1, retry_after=120)

    with pytest.raises(FullstoryRateLimited) as limited:
        client.me()

    assert limited.value.retry_after == 120
    assert limited.value.retryable
    assert fake_time.sleeps == []


def test_5xx_then_success_backs_off_exponentially(
    client: FullstoryClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.update(server_error_count=3, server_error_status=502)

    assert client.segments()

    assert fake_time.sleeps == [0.25, 0.5, 1.0]  # base 0.5 doubling, jitter 0 = half of each
    assert sandbox.calls["GET /segments/v1"] == 4


def test_backoff_is_capped(make_client: MakeClient, sandbox: FullstorySandbox, fake_time: FakeTime) -> None:
    sandbox.faults.update(server_error_count=5)
    client = make_client(
        jitter=lambda: 1.0, retry=RetryPolicy(max_attempts=6, base_delay=1, max_delay=3, safety_margin=1)
    )
    client.me()
    assert fake_time.sleeps == [1, 2, 3, 3, 3]


def test_5xx_exhausted_is_unavailable_with_the_last_answer(
    client: FullstoryClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.update(server_error_count=10)

    with pytest.raises(FullstoryUnavailable) as exhausted:
        client.session_events(crash_session_id(sandbox))

    error = exhausted.value
    assert (error.status, error.code, error.attempts, error.retryable) == (503, "server_error", 4, True)
    assert isinstance(error.__cause__, FullstoryServerError)
    assert sandbox.calls[EVENTS] == 4
    assert len(fake_time.sleeps) == 3
    assert client.usage.activations == 0


def test_a_non_json_error_body_is_tolerated(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(unauthorized=True, error_body="html")

    with pytest.raises(FullstoryAuthError) as refused:
        client.me()

    assert refused.value.code is None
    assert "401" in refused.value.message
    assert "<" not in refused.value.message
    assert len(refused.value.message) <= 200


def test_an_error_page_echoing_the_key_does_not_leak_it(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    sandbox.faults.update(server_error_count=10, error_body="echo")

    with pytest.raises(FullstoryUnavailable) as exhausted:
        client.me()

    text = exhausted.value.message + str(exhausted.value.__cause__)
    assert "sandbox-test-key" not in text
    assert "***" in text


def test_latency_beyond_the_read_timeout_is_unavailable(
    make_client: MakeClient, sandbox: FullstorySandbox
) -> None:
    sandbox.faults.update(latency_ms=300)
    client = make_client(read_timeout=0.05, retry=RetryPolicy(max_attempts=2, safety_margin=1))

    with pytest.raises(FullstoryUnavailable) as timed_out:
        client.me()

    assert timed_out.value.attempts == 2
    assert timed_out.value.status is None
    assert sandbox.calls["GET /me"] == 2


def test_a_dripping_body_is_cut_off_at_the_read_budget(
    make_client: MakeClient, sandbox: FullstorySandbox
) -> None:
    # Each piece arrives well within the socket timeout; only the total budget can catch it.
    sandbox.faults.update(drip_delay_ms=25, drip_chunk_bytes=8, path_filter="/me")
    client = make_client(read_timeout=0.1, retry=RetryPolicy(max_attempts=1, safety_margin=1))

    with pytest.raises(FullstoryUnavailable) as slow:
        client.me()

    assert "_SlowBody" in slow.value.message
    sandbox.faults.reset()
    assert client.me().role == "ADMIN"  # the cut connection was not reused


def test_the_deadline_stops_retries_early(
    make_client: MakeClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.update(rate_limit_count=10, retry_after=3)
    fake_time.remaining = 5.0
    client = make_client(deadline=fake_time.deadline)

    with pytest.raises(FullstoryUnavailable) as stopped:
        client.me()

    # 5 s left, 1 s margin: one 3 s wait fits, the second would not.
    assert fake_time.sleeps == [3.0]
    assert sum(fake_time.sleeps) <= 5.0 - 1.0
    assert sandbox.calls["GET /me"] == 2
    assert stopped.value.status == 429
    assert stopped.value.retry_after == 3.0
    assert isinstance(stopped.value.__cause__, FullstoryRateLimited)


def test_no_call_is_made_inside_the_safety_margin(
    make_client: MakeClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    fake_time.remaining = 0.9
    client = make_client(deadline=fake_time.deadline)

    with pytest.raises(FullstoryUnavailable):
        client.me()

    assert sandbox.calls["GET /me"] == 0


def test_a_rate_limiter_wait_past_the_deadline_raises_without_calling(
    make_client: MakeClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    fake_time.remaining = 1.5
    limiter = RateLimiter(0.1, 1, clock=lambda: 0.0, sleep=fake_time.sleep)
    client = make_client(deadline=fake_time.deadline, rate_limiter=limiter)
    client.me()

    with pytest.raises(FullstoryUnavailable):
        client.me()

    assert sandbox.calls["GET /me"] == 1
    assert fake_time.sleeps == []


def test_a_repeated_page_token_stops_pagination(client: FullstoryClient, sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(repeat_page_token=True)

    with pytest.raises(FullstoryError) as looped:
        client.segments(page_size=2)

    assert looped.value.code == "pagination_loop"
    assert sandbox.calls["GET /segments/v1"] == 2


def test_pages_are_capped(make_client: MakeClient, sandbox: FullstorySandbox) -> None:
    client = make_client(max_pages=2)

    with pytest.raises(FullstoryError) as capped:
        client.segments(page_size=1)

    assert capped.value.code == "too_many_pages"
    assert sandbox.calls["GET /segments/v1"] == 2


def test_a_connection_refused_is_unavailable(make_client: MakeClient, fake_time: FakeTime) -> None:
    with FullstorySandbox(seed=1) as gone:
        base_url = gone.base_url
    client = make_client(base_url=base_url, retry=RetryPolicy(max_attempts=2, safety_margin=1))

    with pytest.raises(FullstoryUnavailable) as refused:
        client.me()

    assert refused.value.attempts == 2
    assert len(fake_time.sleeps) == 1


# ---------------------------------------------------------------------------------------------
# Tracing: one subsegment per HTTP attempt, named by method and path template


@dataclass
class RecordedSpan:
    name: str
    annotations: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


class SpanSegment(BaseSegment):
    def __init__(self, span: RecordedSpan) -> None:
        self.span = span

    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        self.span.annotations[key] = value

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.span.metadata[key] = value

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self.span.metadata["exception"] = str(exception)


class RecordingProvider(BaseProvider):
    """A tracer provider that keeps what the client hands it, instead of sending it to X-Ray."""

    def __init__(self) -> None:
        self.spans: list[RecordedSpan] = []

    @contextlib.contextmanager
    def in_subsegment(self, name: Any = None, **kwargs: Any) -> Iterator[BaseSegment]:
        span = RecordedSpan(str(name))
        self.spans.append(span)
        yield SpanSegment(span)

    def in_subsegment_async(self, name: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError

    def put_annotation(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        raise NotImplementedError

    def patch(self, modules: Any) -> None:
        raise NotImplementedError

    def patch_all(self) -> None:
        raise NotImplementedError


def matches(template: str, request: Any) -> bool:
    """Whether a span name (`METHOD /path/:placeholder`) describes the request the sandbox saw."""
    method, path = template.split(" ", 1)
    if path.startswith(":"):  # the pre-signed download: any URL
        return bool(request.method == method)
    pattern = "/".join("[^/]+" if part.startswith(":") else re.escape(part) for part in path.split("/"))
    return bool(request.method == method and re.fullmatch(pattern, request.path.split("?", 1)[0]))


def test_every_call_is_one_subsegment_named_by_its_path_template(
    make_client: MakeClient, sandbox: FullstorySandbox
) -> None:
    provider = RecordingProvider()
    client = make_client(trace_provider=provider)
    user = sandbox.data.users[0]
    session_id = crash_session_id(sandbox)
    segment = sandbox.data.segment_named(CHECKOUT_ERRORS)
    sandbox.faults.update(server_error_count=1, path_filter="/events")
    sandbox.faults.update(export_pending_polls=1)

    client.me()
    client.sessions(email=user.email)
    client.sessions(uid=user.uid)
    client.segments()
    client.summary(session_id, config_profile=TRIAGE_PROFILE)
    client.session_events(session_id)  # a 503, then the events
    client.session_context(session_id)
    client.export_segment_rows(segment.id, sandbox.data.now - timedelta(days=1), sandbox.data.now)

    requests = sandbox.requests
    assert [span.name for span in provider.spans] == [
        "GET /me",
        "GET /sessions/v2",
        "GET /sessions/v2",
        "GET /segments/v1",
        "GET /v2/sessions/:session_id/summary",
        "GET /v2/sessions/:session_id/events",
        "GET /v2/sessions/:session_id/events",
        "POST /v2/sessions/:session_id/context",
        "POST /segments/v1/exports",
        "GET /operations/v1/:operation_id",
        "GET /operations/v1/:operation_id",
        "GET /search/v1/exports/:export_id/results",
        "GET :export_download_url",
    ]
    assert len(requests) == len(provider.spans)
    assert all(matches(span.name, request) for span, request in zip(provider.spans, requests, strict=True))
    events = [span.annotations for span in provider.spans if span.name.endswith("/events")]
    assert events == [
        {"fullstory_operation": "session_events", "attempt": 1, "status": 503},
        {"fullstory_operation": "session_events", "attempt": 2, "status": 200},
    ]
    assert all(
        set(span.annotations) == {"fullstory_operation", "attempt", "status"} for span in provider.spans
    )
    # No value of a request (ID, email, key, token, query) reaches a name, an annotation or metadata.
    recorded = json.dumps([(s.name, s.annotations, s.metadata) for s in provider.spans])
    device, _, session = session_id.partition(":")
    for secret in (API_KEY, user.email, user.uid, device, session, segment.id, TRIAGE_PROFILE, "?", "%3A"):
        assert secret not in recorded


def test_a_transport_failure_is_annotated_with_its_type_only(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    with FullstorySandbox(seed=1) as gone:
        base_url = gone.base_url
    provider = RecordingProvider()
    client = make_client(base_url=base_url, trace_provider=provider, retry=RetryPolicy(max_attempts=1))

    with pytest.raises(FullstoryUnavailable):
        client.sessions(email="jane.doe@example.test")

    [span] = provider.spans
    assert span.name == "GET /sessions/v2"
    assert span.annotations == {"fullstory_operation": "sessions", "attempt": 1, "error": "ConnectionError"}
    assert span.metadata == {}  # the exception's text, which names the URL, never reaches the trace


def test_every_operation_has_a_template_without_values() -> None:
    assert set(ROUTES) == {
        "me",
        "sessions",
        "users",
        "user",
        "segments",
        "summary",
        "session_events",
        "session_context",
        "export_start",
        "operation",
        "export_results",
        "export_download",
        "create_event",
    }
    for operation, name in ROUTES.items():
        assert span_name(operation) == name
        # Method, then literal segments or `:placeholders` only; no braces (X-Ray names refuse them).
        assert re.fullmatch(r"(GET|POST) (/?(:[a-z_]+|[a-z0-9]+))+", name), name


def test_tracing_is_off_in_tests_so_no_provider_is_used(client: FullstoryClient) -> None:
    # tests/conftest.py sets POWERTOOLS_TRACE_DISABLED=1, as the local stack runs with no X-Ray daemon.
    assert fullstory._function_trace_provider() is None
    client.me()  # and calls work without one


# ---------------------------------------------------------------------------------------------
# Large answers: one at a time, and over the cap a clear error


def test_a_large_answer_waits_until_the_previous_one_is_freed(
    make_client: MakeClient, sandbox: FullstorySandbox
) -> None:
    client = make_client(large_body_bytes=1024)  # every events answer of the sandbox is "large" here
    first_id, second_id = (s.api_id for s in sandbox.data.sessions[:2])
    held = client.session_events(first_id)
    outcome: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: outcome.append(client.session_events(second_id)))

    reader.start()
    reader.join(timeout=1.0)
    assert reader.is_alive()  # parked: the first answer's events are still in memory
    assert held  # used after the wait, so not freed early
    del held
    reader.join(timeout=30)

    assert not reader.is_alive()
    assert outcome[0] == list(sandbox.data.session(second_id).events)  # type: ignore[union-attr]
    assert sandbox.calls[EVENTS] == 2


def test_small_answers_never_wait_for_a_large_one(make_client: MakeClient, sandbox: FullstorySandbox) -> None:
    client = make_client(large_body_bytes=1024)
    held = client.session_events(crash_session_id(sandbox))

    client.summary(crash_session_id(sandbox))  # same thread: it would wait forever if it were gated
    client.session_context(crash_session_id(sandbox))
    with make_client().with_deadline(None) as other:  # another client has its own slot
        assert other.session_events(crash_session_id(sandbox)) == held


def test_a_large_answer_gives_up_waiting_at_the_deadline(
    make_client: MakeClient, sandbox: FullstorySandbox, fake_time: FakeTime
) -> None:
    client = make_client(large_body_bytes=1024, deadline=fake_time.deadline)  # safety margin 1 s
    held = client.session_events(crash_session_id(sandbox))
    fake_time.remaining = 1.2  # 0.2 s left past the safety margin

    with pytest.raises(FullstoryUnavailable, match="no memory for another large answer"):
        client.session_events(sandbox.data.sessions[1].api_id)

    assert held
    del held
    fake_time.remaining = 1000.0
    assert client.session_events(sandbox.data.sessions[1].api_id)  # the slot came back


def test_an_answer_over_the_cap_is_refused_but_its_activation_counted(
    make_client: MakeClient, sandbox: FullstorySandbox
) -> None:
    client = make_client(max_body_bytes=4096)
    session_id = crash_session_id(sandbox)
    assert len(json.dumps(sandbox.data.session(session_id).events)) > 4096  # type: ignore[union-attr]

    with pytest.raises(FullstoryError) as refused:
        client.session_events(session_id)

    assert refused.value.code == "response_too_large"
    assert refused.value.status == 200
    assert not refused.value.retryable
    assert refused.value.message == "session_events: the answer is larger than the client's 4,096 bytes cap"
    assert (client.usage.calls, client.usage.activations) == (1, 1)  # served, so spent
    assert client.summary(session_id).text  # the pool is still usable


def test_key_role_asks_me_once_per_client_and_its_views_share_it(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    sandbox.faults.update(role="architect")

    roles = [client.key_role(), client.with_deadline(None).key_role(), client.key_role()]

    assert roles == ["ARCHITECT"] * 3
    assert sandbox.calls["GET /me"] == 1


def test_key_role_is_none_when_me_is_refused_and_the_refusal_is_kept(
    client: FullstoryClient, sandbox: FullstorySandbox
) -> None:
    sandbox.faults.update(me_refused=True)

    assert client.key_role() is None
    assert client.key_role() is None
    assert sandbox.calls["GET /me"] == 1  # the same key gets the same refusal


def test_key_role_after_an_outage_asks_again(make_client: MakeClient, sandbox: FullstorySandbox) -> None:
    client = make_client(retry=RetryPolicy(max_attempts=1))
    sandbox.faults.update(server_error_count=1)

    assert client.key_role() is None  # an outage is not cached
    assert client.key_role() == "ADMIN"
    assert sandbox.calls["GET /me"] == 2
