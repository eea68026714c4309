"""In-memory fakes of the core's ports and of Lambda's context object, with switches to make them fail.

One of each: the tests, the `events/` generator and the benchmarks share them. `MemoryFullstory` serves
the Fullstory sandbox's data with no HTTP.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fstriage.core.deadline import Deadline
from fstriage.core.errors import DependencyUnavailable, FullstoryError, FullstoryNotFound
from fstriage.core.fullstory_models import (
    FullstoryUsage,
    FullstoryUser,
    Operation,
    Segment,
    SessionRef,
    Summary,
)
from fstriage.core.ports import Claim, ClaimResult, SigningKeys
from fstriage_cli.samples.values import (
    ACCOUNT_ID,
    REGION,
    TEST_SIGNING_SECRET,
    TEST_STREAM_TOKEN,
    WEBHOOK_FUNCTION_NAME,
)
from fstriage_cli.sandbox import SandboxData, SandboxSession, views


@dataclass
class FakeLambdaContext:
    """What Powertools' `inject_lambda_context` reads from a real LambdaContext."""

    function_name: str = WEBHOOK_FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{WEBHOOK_FUNCTION_NAME}"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{WEBHOOK_FUNCTION_NAME}"
    log_stream_name: str = "local"
    # What `get_remaining_time_in_millis` answers: a webhook's few seconds by default.
    remaining_ms: int = 3000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def published_keys() -> SigningKeys:
    """The published test secret and stream token, as the signing-keys port hands them out."""
    return SigningKeys(signing_secrets=(TEST_SIGNING_SECRET,), stream_tokens=(TEST_STREAM_TOKEN,))


@dataclass
class FakeKeys:
    """The signing-keys port: `keys` now, `fresh` after a forced refresh."""

    keys: SigningKeys = field(default_factory=published_keys)
    # What a forced refresh returns (None: the refresh is rate-limited).
    fresh: SigningKeys | None = None
    refreshes: int = 0
    unavailable: bool = False

    def current(self, deadline: Deadline | None = None) -> SigningKeys:
        if self.unavailable:
            raise DependencyUnavailable("secrets")
        return self.keys

    def refreshed(self, deadline: Deadline | None = None) -> SigningKeys | None:
        self.refreshes += 1
        if self.fresh is not None:
            self.keys = self.fresh
        return self.fresh


@dataclass
class MemoryQueue:
    """The request queue: keeps every (body, attributes) sent."""

    messages: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    unavailable: bool = False
    deadlines: list[Deadline | None] = field(default_factory=list)

    def send(self, body: str, *, attributes: dict[str, str], deadline: Deadline | None = None) -> str:
        self.deadlines.append(deadline)
        if self.unavailable:
            raise DependencyUnavailable("queue")
        self.messages.append((body, attributes))
        return f"msg-{len(self.messages)}"


@dataclass
class MemoryLedger:
    """The DynamoDB ledger's conditions in memory. `calls` counts every operation, like AWS calls."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: bool = False
    release_fails: bool = False
    calls: Counter[str] = field(default_factory=Counter)

    def claim(
        self,
        identity: str,
        request_id: str,
        *,
        now: float,
        expires_at: float,
        answer_by: float,
        deadline: Deadline | None = None,
    ) -> ClaimResult:
        self.calls["claim"] += 1
        if self.unavailable:
            raise DependencyUnavailable("ledger")
        existing = self.items.get(identity)
        if existing is not None and existing["expires_at"] >= now:
            return self._result(existing, now)
        self.items[identity] = {"request_id": request_id, "answer_by": answer_by, "expires_at": expires_at}
        return ClaimResult(Claim.CLAIMED, request_id, answer_by)

    def lookup(self, identity: str, *, now: float, deadline: Deadline | None = None) -> ClaimResult | None:
        self.calls["lookup"] += 1
        if self.unavailable:
            raise DependencyUnavailable("ledger")
        existing = self.items.get(identity)
        return None if existing is None or existing["expires_at"] < now else self._result(existing, now)

    def release(self, identity: str, request_id: str, *, deadline: Deadline | None = None) -> None:
        self.calls["release"] += 1
        if self.unavailable or self.release_fails:
            raise DependencyUnavailable("ledger")
        if self.items.get(identity, {}).get("request_id") == request_id:
            del self.items[identity]

    @staticmethod
    def _result(item: dict[str, Any], now: float) -> ClaimResult:
        outcome = Claim.IN_FLIGHT if now < item["answer_by"] else Claim.DUPLICATE
        return ClaimResult(outcome, item["request_id"], item["answer_by"])


@dataclass
class MemoryFullstory:
    """The investigation's `FullstoryPort` in memory, serving a sandbox `SandboxData` (no HTTP).

    `fail` maps an operation (`summary`, `session_events`, `session_context`, `sessions`, `segments`,
    `export_start`, `operation`, `export_results`), or `operation:session_id` for one session, to the
    error it raises. The export answers PENDING `pending_polls` times, then `export_state`.
    `before_call` runs first on every call (e.g. to move a fake clock).
    """

    data: SandboxData
    app_base_url: str = "https://app.fullstory.com"
    fail: dict[str, FullstoryError] = field(default_factory=dict)
    # Extra raw events appended to a session's own (e.g. more `identify` events).
    extra_events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Event types left out of every session's events (e.g. `identify`, for an anonymous user).
    without_event_types: frozenset[str] = frozenset()
    # Sessions listed for a uid or email instead of the sandbox's (e.g. refs without a created time).
    listed: dict[str, list[SessionRef]] = field(default_factory=dict)
    pending_polls: int = 0
    export_state: str = "COMPLETED"
    export_error_details: str | None = None
    before_call: Callable[[str], None] | None = None
    # What `GET /me` says the key's role is (`fail["me"]` refuses it instead).
    role: str = "ADMIN"
    calls: Counter[str] = field(default_factory=Counter)
    activations: int = 0
    _exports: dict[str, tuple[str, datetime, datetime]] = field(default_factory=dict)

    @property
    def usage(self) -> FullstoryUsage:
        return FullstoryUsage(
            calls=sum(self.calls.values()), retries=0, activations=self.activations, downloads=0
        )

    def _call(self, operation: str, session_id: str | None = None) -> None:
        self.calls[operation] += 1
        if self.before_call is not None:
            self.before_call(operation)
        error = self.fail.get(f"{operation}:{session_id}") or self.fail.get(operation)
        if error is not None:
            raise error

    def _session(self, session_id: str) -> SandboxSession:
        session = self.data.session(session_id)
        if session is None:
            raise _not_found()
        return session

    def key_role(self) -> str | None:
        try:
            self._call("me")
        except FullstoryError:
            return None
        return self.role

    def sessions(
        self, *, uid: str | None = None, email: str | None = None, limit: int = 20
    ) -> list[SessionRef]:
        self._call("sessions")
        key = uid if uid is not None else email
        if key in self.listed:
            return self.listed[key][:limit]
        return [
            SessionRef(
                user_id=s.device_id,
                session_id=s.session_id,
                created_time=str(int(s.created.timestamp())),
                created_at=s.created,
                fs_url=self.data.replay_url(s),
            )
            for s in self.data.sessions_of(uid=uid, email=email)[:limit]
        ]

    def users(self, *, uid: str | None = None, email: str | None = None) -> list[FullstoryUser]:
        self._call("users")
        return [
            FullstoryUser(id=u.device_id, uid=u.uid, email=u.email, display_name=u.display_name)
            for u in self.data.users
            if (uid is not None and u.uid == uid) or (email is not None and u.email == email)
        ]

    def segments(self) -> list[Segment]:
        self._call("segments")
        return [Segment(s.id, s.name, s.creator, s.created, s.url) for s in self.data.segments]

    def summary(self, session_id: str, config_profile: str | None = None) -> Summary:
        self._call("summary", session_id)
        text, response = views.summary(self._session(session_id))
        return Summary(text=text, response=response if config_profile else None)

    def session_events(self, session_id: str) -> list[dict[str, Any]]:
        self._call("session_events", session_id)
        own = [e for e in self._session(session_id).events if e["event_type"] not in self.without_event_types]
        events = own + self.extra_events.get(session_id, [])
        self.activations += 1
        return events

    def session_context(self, session_id: str) -> dict[str, Any]:
        self._call("session_context", session_id)
        context = views.context_data(self.data, self._session(session_id))
        self.activations += 1
        return context

    def start_segment_export(self, segment_id: str, start: datetime, end: datetime) -> str:
        self._call("export_start")
        if self.data.segment(segment_id) is None:
            raise _not_found()
        operation_id = f"op-{len(self._exports) + 1}"
        self._exports[operation_id] = (segment_id, start, end)
        return operation_id

    def operation(self, operation_id: str) -> Operation:
        self._call("operation")
        if self.pending_polls > 0:
            self.pending_polls -= 1
            return Operation(operation_id, "PENDING", None, None, 40.0)
        completed = self.export_state == "COMPLETED"
        return Operation(
            operation_id,
            "COMPLETED" if completed else "FAILED",
            f"export-{operation_id}" if completed else None,
            None if completed else self.export_error_details,
            100.0,
        )

    def export_results(self, search_export_id: str) -> list[dict[str, Any]]:
        self._call("export_results")
        segment_id, start, end = self._exports[search_export_id.removeprefix("export-")]
        return views.export_rows(self.data, segment_id, start=start, end=end, fields=[])


@dataclass
class MemoryActivationCounter:
    """The DynamoDB Activation count's condition in memory: one month's count never passes the cap."""

    counts: dict[str, int] = field(default_factory=dict)
    expiries: dict[str, int] = field(default_factory=dict)
    unavailable: bool = False
    calls: Counter[str] = field(default_factory=Counter)

    def reserve(self, month: str, *, cap: int, expires_at: int) -> int | None:
        self.calls["reserve"] += 1
        if self.unavailable:
            raise DependencyUnavailable("state")
        if self.counts.get(month, 0) >= cap:
            return None
        self.counts[month] = self.counts.get(month, 0) + 1
        self.expiries[month] = expires_at
        return self.counts[month]

    def used(self, month: str) -> int:
        self.calls["used"] += 1
        if self.unavailable:
            raise DependencyUnavailable("state")
        return self.counts.get(month, 0)


def _not_found() -> FullstoryNotFound:
    return FullstoryNotFound("Requested resource does not exist", status=404, code="resource_not_found")
