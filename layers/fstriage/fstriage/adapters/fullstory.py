"""The Fullstory Server API client: the only module that talks to Fullstory.

Every call goes through one `requests.Session` (a pooled adapter, shared by a small thread pool),
one shared `RateLimiter`, and one retry loop. The loop honours `Retry-After`, backs off with jitter,
and never sleeps past the caller's deadline: it raises instead, so the SQS item is reported failed
and redelivered. The local sandbox (`cli/fstriage_cli/sandbox`) answers the same documented shapes
and status codes, and the integration tests run this client against it.

Observability: every line goes through a Powertools child logger of the investigator's service logger
(JSON, with the keys the investigator appends), and every HTTP attempt is one trace subsegment named by
method and path template only. Memory: at most one large events answer is held at a time (see
`_LargeBodies`), so concurrent sessions near the size cap fit the function.
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
import re
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple
from urllib.parse import quote, urlsplit

import requests
import urllib3
from aws_lambda_powertools import Logger
from requests.adapters import HTTPAdapter

from fstriage.core.errors import (
    ConfigurationError,
    FullstoryAuthError,
    FullstoryBadRequest,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
    FullstoryRateLimited,
    FullstoryServerError,
    FullstoryUnavailable,
)
from fstriage.core.fullstory_models import (
    ExportLocation,
    FullstoryUsage,
    FullstoryUser,
    Me,
    Operation,
    OperationState,
    Segment,
    SessionRef,
    Summary,
)
from fstriage.core.ratelimit import RateLimiter
from fstriage.core.redact import mask_email
from fstriage.core.session_ids import normalise_session_id, replay_url

if TYPE_CHECKING:
    from aws_lambda_powertools.tracing.base import BaseProvider

# The result types are pure and live in core, so the investigation can use them without us.
__all__ = [
    "CONTEXT_SIGNAL_TYPES",
    "EXPORT_FIELDS",
    "ExportLocation",
    "FullstoryClient",
    "FullstoryUsage",
    "Me",
    "Operation",
    "RetryPolicy",
    "Segment",
    "SessionRef",
    "Summary",
    "api_base_url",
    "app_base_url",
    "deadline_from_lambda_context",
    "resolve_region",
    "span_name",
]

# The investigator is this client's one Lambda caller. As a child of its service logger, every line is
# that logger's JSON, with the keys it appends (investigation_id, request_id). Elsewhere (CLI, tests)
# the records go up to the root logger like any library's.
LOG_SERVICE: Final = "fstriage-investigator"
logger = Logger(service=LOG_SERVICE, child=True)

INTEGRATION_SOURCE: Final = "fstriage"
REGIONS: Final[Mapping[str, tuple[str, str]]] = {
    # region: (API base URL, app base URL for replay links)
    "na1": ("https://api.fullstory.com", "https://app.fullstory.com"),
    "eu1": ("https://api.eu1.fullstory.com", "https://app.eu1.fullstory.com"),
}
DEFAULT_REGION: Final = "na1"

# What Fullstory's Generate Context classifies for us (research, addendum).
CONTEXT_SIGNAL_TYPES: Final[tuple[str, ...]] = (
    "navigate",
    "click",
    "dead-click",
    "error-click",
    "rage-click",
    "network-error",
    "console-error",
)
# Optional export fields an investigation reads; UserId, SessionId, PageId, EventType, EventSubType
# and EventStart are always present.
EXPORT_FIELDS: Final[tuple[str, ...]] = (
    "UserAppKey",
    "UserEmail",
    "EventTargetText",
    "EventTargetSelector",
    "EventModFrustrated",
    "EventModDead",
    "EventModError",
    "EventWebSourceFileUrl",
    "ReqUrl",
    "ReqMethod",
    "ReqStatus",
    "PageUrl",
)
ExportFormat = Literal["FORMAT_NDJSON", "FORMAT_JSON"]

# Trace subsegment names: method and path template, never a session ID, key or query value. The
# placeholders are `:name`, since X-Ray names may hold `:` and `/` but not braces.
ROUTES: Final[Mapping[str, str]] = {
    "me": "GET /me",
    "sessions": "GET /sessions/v2",
    "users": "GET /v2/users",
    "user": "GET /v2/users/:user_id",
    "segments": "GET /segments/v1",
    "summary": "GET /v2/sessions/:session_id/summary",
    "session_events": "GET /v2/sessions/:session_id/events",
    "session_context": "POST /v2/sessions/:session_id/context",
    "export_start": "POST /segments/v1/exports",
    "operation": "GET /operations/v1/:operation_id",
    "export_results": "GET /search/v1/exports/:export_id/results",
    "export_download": "GET :export_download_url",
    "create_event": "POST /v2/events",
}

_GZIP_MAGIC = b"\x1f\x8b"
# The longest a call waits for a large-answer slot when it has no deadline of its own.
_LARGE_BODY_WAIT: Final = 300.0
_TAG = re.compile(r"<[^<>]*>")  # no nested `<`: linear on a page of `<<<<`
_SPACE = re.compile(r"\s+")
_USER_ID = re.compile(r"[0-9A-Za-z_-]{1,128}")
# An `Idempotency-Key` goes into a header: visible ASCII only, bounded.
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")


# ---------------------------------------------------------------------------------------------
# Region and URLs


def resolve_region(api_key: str, region: str | None = None) -> str:
    """`region` when given, else the key's `na1.`/`eu1.` prefix, else NA1 (which auto-routes)."""
    if region:
        chosen = region.strip().lower()
        if chosen not in REGIONS:
            raise ConfigurationError(f"unknown Fullstory region {region!r} (expected na1 or eu1)")
        return chosen
    prefix = api_key.strip().removeprefix("Basic ").split(".", 1)[0].lower()
    return prefix if prefix in REGIONS else DEFAULT_REGION


def org_region(org_id: str) -> str:
    """The region an org ID names in its suffix (`o-ABC12-eu1`), else NA1."""
    suffix = org_id.strip().rpartition("-")[2].lower()
    return suffix if suffix in REGIONS else DEFAULT_REGION


def api_base_url(region: str) -> str:
    return REGIONS[region][0]


def app_base_url(region: str) -> str:
    return REGIONS[region][1]


def deadline_from_lambda_context(context: Any) -> Callable[[], float]:
    """Seconds left in this invocation, read from the Lambda context on every call."""
    return lambda: float(context.get_remaining_time_in_millis()) / 1000.0


# ---------------------------------------------------------------------------------------------
# Retry policy and usage counting


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    # A Retry-After longer than this is not slept on: the error goes up and SQS redelivers later.
    max_retry_after: float = 30.0
    # Kept free before the deadline, so the caller still has time to record the failure.
    safety_margin: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")


class _UsageCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._retries = 0
        self._activations = 0
        self._downloads = 0
        self._writes = 0
        self._by_operation: dict[str, int] = {}

    def call(self, operation: str, *, download: bool, retry: bool) -> None:
        with self._lock:
            if download:
                self._downloads += 1
            else:
                self._calls += 1
                self._by_operation[operation] = self._by_operation.get(operation, 0) + 1
            if retry:
                self._retries += 1

    def spend(self, activations: int) -> None:
        with self._lock:
            self._activations += activations

    def wrote(self) -> None:
        with self._lock:
            self._writes += 1

    def snapshot(self) -> FullstoryUsage:
        with self._lock:
            return FullstoryUsage(
                calls=self._calls,
                retries=self._retries,
                activations=self._activations,
                downloads=self._downloads,
                by_operation=dict(self._by_operation),
                writes=self._writes,
            )


# No usable answer: worth another attempt. (A malformed URL is a bug, not in this list.)
_TRANSPORT_ERRORS: Final = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.HTTPError,  # raised by `raw.read1`, which requests does not wrap
)


class _SlowBody(Exception):
    """The body kept trickling past the read budget."""


class _Answer(NamedTuple):
    status: int
    headers: Mapping[str, str]
    body: bytes


# ---------------------------------------------------------------------------------------------
# Tracing


def span_name(operation: str) -> str:
    """The trace subsegment name of an operation's HTTP call (a template: no ID, key or query value)."""
    return ROUTES[operation]


_tracing_lock = threading.Lock()
_tracing: list[BaseProvider | None] = []  # resolved once per process


def _function_trace_provider() -> BaseProvider | None:
    """The function's Powertools tracer provider, or None when tracing is off (tests, CLI, local)."""
    with _tracing_lock:
        if not _tracing:
            from aws_lambda_powertools import Tracer  # noqa: PLC0415 (only once a call is made)

            # Powertools shares one Tracer configuration per process. auto_patch=False: a Tracer made
            # with the defaults patches every library, requests included, whose subsegments would
            # record each URL (session IDs; the Slack webhook's secret path). The function's own
            # Tracer has patched botocore already.
            tracer = Tracer(auto_patch=False)
            _tracing.append(None if tracer.disabled else tracer.provider)
        return _tracing[0]


# ---------------------------------------------------------------------------------------------
# Memory: large answers one at a time


class _LargeBodies:
    """Slots for answers larger than `threshold` bytes, shared by a client and its views.

    Reading and parsing an events answer holds about 4.5x its size, and the investigator reads
    FETCH_CONCURRENCY (4) sessions at once in 512 MB: four answers near the 32 MiB cap peaked at
    603 MB (`python -m bench.session_memory`), and an out-of-memory kill is retried five times,
    paying Activations each time. So an answer that grows past `threshold` first takes a slot, and
    keeps it until its parsed events are freed (the caller digests them in between): 248 MB. Smaller
    answers never wait. The bound holds whatever the concurrency, which sizing the function would not
    (and sizing pays for the rare case on every invocation); a streaming parse would need a second
    JSON parser in the layer. A holder waits for nothing, so waiters cannot deadlock; a caller that
    keeps one large list and asks for another waits until its deadline, then gets FullstoryUnavailable.
    """

    def __init__(self, threshold: int, slots: int) -> None:
        if slots < 1:
            raise ConfigurationError("large_bodies_at_once must be at least 1")
        self.threshold = threshold
        self._slots = threading.BoundedSemaphore(slots)

    def take(self, wait: float) -> bool:
        return self._slots.acquire(timeout=max(0.0, wait))

    def give_back(self) -> None:
        self._slots.release()


class _Lease:
    """One call's claim on a large-answer slot: taken once its answer outgrows the threshold."""

    def __init__(self, slots: _LargeBodies, wait: Callable[[], float]) -> None:
        self._slots = slots
        self._wait = wait
        self._lock = threading.Lock()
        self._held = False

    def need(self, size: int, operation: str) -> None:
        """Block until a slot is free when `size` is past the threshold; raise at the deadline."""
        if self._held or size <= self._slots.threshold:
            return
        if not self._slots.take(self._wait()):
            raise FullstoryUnavailable(
                f"{operation}: no memory for another large answer before the deadline", attempts=1
            )
        self._held = True

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._slots.give_back()

    def release_when_freed(self, owner: object) -> None:
        """Keep the slot until `owner` (the parsed events) is garbage: that is when the memory goes."""
        with self._lock:
            if self._held:
                weakref.finalize(owner, self.release)


class _RoleCache:
    """The key's role once `GET /me` answered (or refused); the lock makes it one call per client."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.known = False
        self.value: str | None = None


class _Events(list[dict[str, Any]]):
    """A plain list of events that can carry a weak reference (for `_Lease.release_when_freed`)."""


# ---------------------------------------------------------------------------------------------
# The client


class FullstoryClient:
    """A Fullstory Server API client.

    Create one per container and share it between threads; call `with_deadline()` per
    investigation for a view with its own deadline and usage counters (same pool, same limiter).
    """

    def __init__(
        self,
        api_key: str,
        *,
        region: str | None = None,
        base_url: str | None = None,
        app_url: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        download_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        deadline: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        max_pages: int = 50,
        max_body_bytes: int = 32 * 1024 * 1024,
        large_body_bytes: int = 4 * 1024 * 1024,
        large_bodies_at_once: int = 1,
        pool_size: int = 8,
        session: requests.Session | None = None,
        trace_provider: BaseProvider | None = None,
        log: Logger | None = None,
    ) -> None:
        key = api_key.strip().removeprefix("Basic ").strip()
        # The key goes into a header: refuse anything that could split or fold it.
        if not key or any(ch.isspace() or ord(ch) < 0x20 for ch in key):
            raise ConfigurationError("the Fullstory API key is empty or malformed")
        self._key = key
        self.region = resolve_region(key, region)
        self.base_url = (base_url or api_base_url(self.region)).rstrip("/")
        if urlsplit(self.base_url).scheme not in ("https", "http") or not urlsplit(self.base_url).netloc:
            raise ConfigurationError(f"the Fullstory API URL {self.base_url!r} is not an http(s) URL")
        self.app_base_url = (app_url or app_base_url(self.region)).rstrip("/")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._download_timeout = download_timeout
        self._retry = retry or RetryPolicy()
        self._limiter = rate_limiter or RateLimiter(8.0, 8)
        self._deadline = deadline
        self._sleep = sleep
        self._jitter = jitter
        self._clock: Callable[[], float] = time.monotonic
        self._max_pages = max_pages
        self._max_body_bytes = max_body_bytes
        self._large_bodies = _LargeBodies(large_body_bytes, large_bodies_at_once)
        self._session = session or _new_session(pool_size)
        self._usage = _UsageCounter()
        self._trace_provider = trace_provider
        # Retries are logged through the calling function's logger (default: the investigator's).
        self._log = log or logger
        # The key's role, asked once per client (one per container); `with_deadline` views share it.
        self._role = _RoleCache()

    def __repr__(self) -> str:
        return f"FullstoryClient(base_url={self.base_url!r})"  # never the key

    def __enter__(self) -> FullstoryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the shared connection pool (call on the owner, not on `with_deadline` views)."""
        self._session.close()

    def with_deadline(self, deadline: Callable[[], float] | None) -> FullstoryClient:
        """A view for one investigation: own deadline and usage counters, shared pool and limiter."""
        view = copy.copy(self)
        view._deadline = deadline
        view._usage = _UsageCounter()
        return view

    @property
    def usage(self) -> FullstoryUsage:
        return self._usage.snapshot()

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._limiter

    def replay_url(self, org_id: str, session_id: str) -> str:
        """The app link for a session, in this client's region (any accepted session ID form)."""
        return replay_url(self.app_base_url, org_id, normalise_session_id(session_id))

    # -- operations --------------------------------------------------------------------------

    def me(self) -> Me:
        """`GET /me`: the key's email, org and role ("Test Connection")."""
        body = _object(self._call("GET", "/me", operation="me"))
        return Me(
            email=_text(body.get("email")) or "",
            org_id=_text(body.get("orgId") or body.get("org_id")) or "",
            role=(_text(body.get("role")) or "UNKNOWN").upper(),
        )

    def key_role(self) -> str | None:
        """The key's role from `GET /me`, asked once and cached; None when `/me` was refused or failed.

        It tells a Standard key's 403 from Anywhere: Activation being off. A refusal is cached like an
        answer (the same key gets the same one); an outage is not, so a later call asks again.
        """
        with self._role.lock:
            if self._role.known:
                return self._role.value
            try:
                role: str | None = self.me().role
            except FullstoryError as error:
                if error.retryable or isinstance(error, FullstoryUnavailable):
                    return None
                role = None
            self._role.known, self._role.value = True, role
            return role

    def sessions(
        self, *, uid: str | None = None, email: str | None = None, limit: int = 20
    ) -> list[SessionRef]:
        """`GET /sessions/v2`: a user's recent sessions, by uid or email (exactly one)."""
        if (uid is None) == (email is None):
            raise ValueError("pass exactly one of uid or email")
        params: dict[str, str | int] = {"limit": max(1, limit)}
        if uid is not None:
            params["uid"] = uid
        else:
            params["email"] = str(email)
        body = _object(self._call("GET", "/sessions/v2", params=params, operation="sessions"))
        found: list[SessionRef] = []
        for item in _list(body.get("sessions")):
            entry = _object(item)
            user_id = _text(entry.get("userId") or entry.get("user_id"))
            session_id = _text(entry.get("sessionId") or entry.get("session_id"))
            if not user_id or not session_id:
                continue  # unusable without both halves of the API ID
            created = _text(entry.get("createdTime") or entry.get("created_time"))
            found.append(
                SessionRef(
                    user_id=user_id,
                    session_id=session_id,
                    created_time=created,
                    created_at=_parse_time(created),
                    fs_url=_text(entry.get("fsUrl") or entry.get("fs_url")),
                )
            )
        return found

    def users(self, *, uid: str | None = None, email: str | None = None) -> list[FullstoryUser]:
        """`GET /v2/users`: the user records with this uid or email (exactly one; first page only)."""
        if (uid is None) == (email is None):
            raise ValueError("pass exactly one of uid or email")
        params = {"uid": uid} if uid is not None else {"email": str(email)}
        body = _object(self._call("GET", "/v2/users", params=params, operation="users"))
        found = (_user(_object(item)) for item in _list(body.get("results")))
        return [user for user in found if user is not None]

    def user(self, user_id: str) -> FullstoryUser | None:
        """`GET /v2/users/{id}` by a Fullstory ID of the user; None when the answer has no `id`. Which ID
        it takes (the person's `indv` of a replay URL, or the `device` of a session ID) is not
        documented: callers try both."""
        if not _USER_ID.fullmatch(user_id):
            raise ValueError("a Fullstory user ID is digits, letters, `-` or `_`")
        return _user(_object(self._call("GET", f"/v2/users/{user_id}", operation="user")))

    def create_event(
        self,
        name: str,
        *,
        idempotency_key: str,
        session_id: str | None = None,
        uid: str | None = None,
        timestamp: str | None = None,
        properties: Mapping[str, Any] | None = None,
        schema: Mapping[str, str] | None = None,
    ) -> None:
        """`POST /v2/events`: one server event, on a session (`U:S`, any accepted form) or on a user.

        Fullstory takes `user` only without `session.id` (the session already names its user), so
        pass one of them. `schema` declares property types (`{"count": "int"}`): Fullstory infers
        every JSON number as a real otherwise. Counts one write in `usage` when Fullstory accepts it.

        Every attempt carries the same `Idempotency-Key`, so the client's usual retries (connection
        errors, 429, 5xx, within the deadline and the rate limiter) are safe: Fullstory answers a
        repeat of a key it has executed with its first answer and creates nothing new. A 5xx that
        came from the endpoint itself is kept for the key and comes back; one from in front of it
        (a proxy, an overload) is not, and the retry may succeed.
        """
        if not name.strip():
            raise ValueError("an event needs a name")
        if (session_id is None) == (uid is None):
            raise ValueError("pass exactly one of session_id or uid")
        if not _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ValueError("an Idempotency-Key is 1 to 255 visible ASCII characters")
        payload: dict[str, Any] = {"name": name}
        if timestamp is not None:
            payload["timestamp"] = timestamp
        if properties:
            payload["properties"] = dict(properties)
        if schema:
            payload["schema"] = {"properties": dict(schema)}
        if session_id is not None:
            payload["session"] = {"id": normalise_session_id(session_id)}
        else:
            payload["user"] = {"uid": uid}
        self._call(
            "POST",
            "/v2/events",
            json_body=payload,
            operation="create_event",
            extra_headers={"Idempotency-Key": idempotency_key},
        )
        self._usage.wrote()

    def segments(self, *, page_size: int = 100, creator: str | None = None) -> list[Segment]:
        """`GET /segments/v1`, every page. Raises on a repeated page token or past `max_pages`."""
        params: dict[str, str | int] = {"limit": min(max(1, page_size), 100)}
        if creator:
            params["creator"] = creator
        found: list[Segment] = []
        seen: set[str] = set()
        for page in range(1, self._max_pages + 1):
            body = _object(self._call("GET", "/segments/v1", params=params, operation="segments"))
            for item in _list(body.get("segments")):
                entry = _object(item)
                segment_id = _text(entry.get("id"))
                if segment_id:
                    found.append(
                        Segment(
                            id=segment_id,
                            name=_text(entry.get("name")) or segment_id,
                            creator=_text(entry.get("creator")),
                            created=_text(entry.get("created")),
                            url=_text(entry.get("url")),
                        )
                    )
            token = _text(body.get("nextPaginationToken") or body.get("next_pagination_token"))
            if not token:
                return found
            if token in seen:
                # The singer tap's lesson: a server that repeats a token would loop us forever.
                raise FullstoryError(
                    f"segments: page token repeated on page {page}", code="pagination_loop", retryable=False
                )
            seen.add(token)
            params["paginationToken"] = token
        raise FullstoryError(
            f"segments: more than {self._max_pages} pages", code="too_many_pages", retryable=False
        )

    def summary(self, session_id: str, config_profile: str | None = None) -> Summary:
        """`GET /v2/sessions/{id}/summary`: the AI summary, plus `response` when the profile has a schema."""
        params = {"config_profile": config_profile} if config_profile else None
        path = f"/v2/sessions/{_session_segment(session_id)}/summary"
        body = _object(self._call("GET", path, params=params, operation="summary"))
        response = body.get("response")
        if isinstance(response, str):
            # Some producers send the structured answer as a JSON string.
            try:
                response = json.loads(response)
            except ValueError:
                response = None
        return Summary(
            text=_text(body.get("summary")),
            response=response if isinstance(response, dict) else None,
        )

    def session_events(self, session_id: str) -> list[dict[str, Any]]:
        """`GET /v2/sessions/{id}/events`: raw events (costs 1 Activation).

        An answer past `large_body_bytes` waits for a free slot (see `_LargeBodies`) and keeps it
        until the returned list is garbage, so drop the list once it is digested.
        """
        path = f"/v2/sessions/{_session_segment(session_id)}/events"
        lease = _Lease(self._large_bodies, lambda: min(self._remaining(), _LARGE_BODY_WAIT))
        try:
            body = self._call("GET", path, operation="session_events", activations=1, lease=lease)
            events = body if isinstance(body, list) else _object(body).get("events")
            del body
            kept = _Events(_dicts(_list(events)))
        except BaseException:
            lease.release()
            raise
        lease.release_when_freed(kept)
        return kept

    def session_context(
        self, session_id: str, include_types: Sequence[str] = CONTEXT_SIGNAL_TYPES
    ) -> dict[str, Any]:
        """`POST /v2/sessions/{id}/context`: Fullstory's classified events (costs 1 Activation)."""
        path = f"/v2/sessions/{_session_segment(session_id)}/context"
        payload = {"events": {"include_types": list(include_types)}}
        body = _object(
            self._call("POST", path, json_body=payload, operation="session_context", activations=1)
        )
        return _object(body.get("context_data"))

    def start_segment_export(
        self,
        segment_id: str,
        start: datetime,
        end: datetime,
        *,
        fields: Sequence[str] = EXPORT_FIELDS,
        export_format: ExportFormat = "FORMAT_NDJSON",
        timezone: str = "UTC",
    ) -> str:
        """`POST /segments/v1/exports` (TYPE_EVENT): returns the operation ID to poll."""
        window = {"start": _rfc3339(start), "end": _rfc3339(end)}
        payload = {
            "segmentId": segment_id,
            "type": "TYPE_EVENT",
            "format": export_format,
            "timeRange": window,
            "segmentTimeRange": window,
            "timezone": timezone,
            "fields": list(fields),
        }
        body = _object(
            self._call("POST", "/segments/v1/exports", json_body=payload, operation="export_start")
        )
        operation_id = _text(body.get("operationId") or body.get("operation_id"))
        if not operation_id:
            raise FullstoryError("export: no operationId in the answer", code="bad_response")
        return operation_id

    def operation(self, operation_id: str) -> Operation:
        """`GET /operations/v1/{id}`."""
        path = f"/operations/v1/{quote(operation_id, safe='')}"
        body = _object(self._call("GET", path, operation="operation"))
        results = _object(body.get("results"))
        export_id = (
            results.get("searchExportId") or results.get("search_export_id") or body.get("searchExportId")
        )
        details = body.get("errorDetails") or body.get("error_details")
        if details is not None and not isinstance(details, str):
            details = json.dumps(details)[:500]
        pct = body.get("estimatePctComplete")
        return Operation(
            id=_text(body.get("id")) or operation_id,
            state=_state(body.get("state")),
            search_export_id=_text(export_id),
            error_details=details[:500] if isinstance(details, str) else None,
            estimate_pct_complete=float(pct) if isinstance(pct, int | float) else None,
        )

    def wait_for_operation(
        self, operation_id: str, *, poll_seconds: float = 2.0, max_polls: int = 30
    ) -> Operation:
        """Poll until COMPLETED or FAILED; raise FullstoryUnavailable at `max_polls` or the deadline."""
        for poll in range(1, max_polls + 1):
            current = self.operation(operation_id)
            if current.done:
                return current
            if poll == max_polls:
                break
            if poll_seconds >= self._remaining():
                raise FullstoryUnavailable(
                    f"export still pending after {poll} polls; the deadline is near",
                    retry_after=poll_seconds,
                    attempts=poll,
                )
            self._sleep(poll_seconds)
        raise FullstoryUnavailable(f"export still pending after {max_polls} polls", attempts=max_polls)

    def export_location(self, search_export_id: str) -> ExportLocation:
        """`GET /search/v1/exports/{id}/results`: where to download the finished export."""
        path = f"/search/v1/exports/{quote(search_export_id, safe='')}/results"
        body = _object(self._call("GET", path, operation="export_results"))
        location = _text(body.get("location"))
        # https only, except against a plain-http API (the local sandbox): the URL comes from an
        # answer, so it must not be able to point the function at anything else.
        allowed = ("https", "http") if urlsplit(self.base_url).scheme == "http" else ("https",)
        if not location or urlsplit(location).scheme not in allowed or not urlsplit(location).netloc:
            raise FullstoryError("export: no usable download location", code="bad_response")
        return ExportLocation(location=location, expires=_text(body.get("expires")))

    def download_export(self, location: str) -> list[dict[str, Any]]:
        """GET `location` WITHOUT credentials (it is a pre-signed URL), gunzip, parse NDJSON or JSON."""
        raw = self._send(
            "GET",
            location,
            headers={"Accept": "*/*", "User-Agent": f"{INTEGRATION_SOURCE}"},
            operation="export_download",
            download=True,
        )
        return _parse_rows(_gunzip(raw, self._max_body_bytes) if raw[:2] == _GZIP_MAGIC else raw)

    def export_results(self, search_export_id: str) -> list[dict[str, Any]]:
        return self.download_export(self.export_location(search_export_id).location)

    def export_segment_rows(
        self,
        segment_id: str,
        start: datetime,
        end: datetime,
        *,
        fields: Sequence[str] = EXPORT_FIELDS,
        export_format: ExportFormat = "FORMAT_NDJSON",
        poll_seconds: float = 2.0,
        max_polls: int = 30,
    ) -> list[dict[str, Any]]:
        """The whole export flow: start, poll, locate, download. A FAILED export raises."""
        operation_id = self.start_segment_export(
            segment_id, start, end, fields=fields, export_format=export_format
        )
        finished = self.wait_for_operation(operation_id, poll_seconds=poll_seconds, max_polls=max_polls)
        if finished.state == "FAILED" or not finished.search_export_id:
            raise FullstoryError(
                f"export failed: {finished.error_details or 'no details'}", code="export_failed"
            )
        return self.export_results(finished.search_export_id)

    # -- transport ---------------------------------------------------------------------------

    def _remaining(self) -> float:
        """Seconds we may still spend, the safety margin already taken off."""
        if self._deadline is None:
            return math.inf
        return self._deadline() - self._retry.safety_margin

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        activations: int = 0,
        lease: _Lease | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Any:
        headers = {
            "Authorization": f"Basic {self._key}",
            "Accept": "application/json",
            "Integration-Source": INTEGRATION_SOURCE,
            "User-Agent": INTEGRATION_SOURCE,
            **(extra_headers or {}),
        }
        raw = self._send(
            method,
            self.base_url + path,
            headers=headers,
            operation=operation,
            params=params,
            json_body=json_body,
            activations=activations,
            lease=lease,
        )
        if not raw or raw.isspace():
            return {}
        try:
            text = raw.decode(json.detect_encoding(raw), "surrogatepass")  # what json.loads(bytes) does
            del raw  # a large answer is held once while it is parsed, as text, not twice
            return json.loads(text)
        except ValueError:
            raise FullstoryError(f"{operation}: the answer is not JSON", code="bad_response") from None

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        operation: str,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        activations: int = 0,
        download: bool = False,
        lease: _Lease | None = None,
    ) -> bytes:
        attempt = 0
        while True:
            attempt += 1
            budget = self._remaining()
            if budget <= 0:
                raise FullstoryUnavailable(
                    f"{operation}: no time left before the deadline", attempts=attempt - 1
                )
            if not download:
                # Downloads come from storage, not the rate-limited API.
                if self._limiter.acquire(max_wait=budget) is None:
                    raise FullstoryUnavailable(
                        f"{operation}: the rate limiter's wait runs past the deadline", attempts=attempt - 1
                    )
                budget = self._remaining()
            self._usage.call(operation, download=download, retry=attempt > 1)

            def one_call(budget: float = budget) -> _Answer:
                return self._request(
                    method,
                    url,
                    headers=headers,
                    operation=operation,
                    params=params,
                    json_body=json_body,
                    budget=budget,
                    download=download,
                    lease=lease,
                    activations=activations,
                )

            try:
                answer = self._traced(operation, attempt, one_call)
            except (*_TRANSPORT_ERRORS, _SlowBody) as exc:
                # The exception text can hold the URL (and an email in the query): keep only its type.
                failure: FullstoryError = FullstoryUnavailable(
                    f"{operation}: {type(exc).__name__} talking to Fullstory", attempts=attempt
                )
            else:
                if 200 <= answer.status < 300:
                    if activations:
                        self._usage.spend(activations)
                    return answer.body
                failure = self._error_for(answer.status, answer.headers, answer.body, operation)
                if not failure.retryable:
                    raise failure
            if lease is not None:
                lease.release()  # nothing large is held while this call backs off
            self._before_retry(failure, attempt, operation)

    def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        operation: str,
        params: Mapping[str, str | int] | None,
        json_body: Any,
        budget: float,
        download: bool,
        lease: _Lease | None,
        activations: int,
    ) -> _Answer:
        """One HTTP attempt, its body read to the end (or the connection dropped)."""
        timeout = (min(self._connect_timeout, budget), min(self._read_timeout, budget))
        response = self._session.request(
            method,
            url,
            params=params,
            json=json_body,
            headers=dict(headers),
            timeout=timeout,
            stream=True,
            allow_redirects=False,  # a pre-signed download is served directly; never follow elsewhere
        )
        try:
            status = response.status_code
            body_budget = self._download_timeout if download else self._read_timeout
            try:
                body = self._read_body(response, min(body_budget, budget), operation, lease)
            except FullstoryError as refused:
                if refused.code == "response_too_large" and 200 <= status < 300:
                    refused.status = status
                    if activations:
                        self._usage.spend(activations)  # Fullstory served it: the Activation is spent
                raise
        except BaseException:
            response.close()  # drops a half-read connection instead of reusing it
            raise
        # Read to the end: the connection goes back to the pool for the next call.
        response.raw.release_conn()
        return _Answer(status, response.headers, body)

    def _traced(self, operation: str, attempt: int, call: Callable[[], _Answer]) -> _Answer:
        """`call` inside one trace subsegment, when the function traces; annotations hold no PII."""
        provider = self._trace_provider or _function_trace_provider()
        if provider is None:
            return call()
        with provider.in_subsegment(name=span_name(operation)) as subsegment:
            annotate = subsegment.put_annotation
            annotate(key="fullstory_operation", value=operation)
            annotate(key="attempt", value=_number(attempt))
            outcome: _Answer | BaseException
            try:
                answer = call()
            except BaseException as exc:
                # Re-raised below, outside the subsegment, which would otherwise record the exception's
                # text: that can hold the URL, and so a query value. The type alone is kept.
                annotate(key="error", value=type(exc).__name__)
                outcome = exc
            else:
                annotate(key="status", value=_number(answer.status))
                # X-Ray's error (4xx), throttle (429) and fault (5xx) flags, when the provider has them.
                flag_status = getattr(subsegment, "apply_status_code", None)
                if callable(flag_status):
                    flag_status(answer.status)
                outcome = answer
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _before_retry(self, failure: FullstoryError, attempt: int, operation: str) -> None:
        """Sleep before the next attempt, or raise when attempts, Retry-After or the deadline say stop."""
        if failure.retry_after is not None and failure.retry_after > self._retry.max_retry_after:
            raise failure  # too long to wait in-process: let SQS redeliver later
        if attempt >= self._retry.max_attempts:
            raise FullstoryUnavailable(
                f"gave up after {attempt} attempts: {failure.message}",
                status=failure.status,
                code=failure.code,
                retry_after=failure.retry_after,
                attempts=attempt,
            ) from failure
        backoff = min(self._retry.max_delay, self._retry.base_delay * 2 ** (attempt - 1))
        # "Equal jitter": half the backoff is fixed, half random, so threads do not retry in step.
        delay = max(backoff * (0.5 + 0.5 * self._jitter()), failure.retry_after or 0.0)
        remaining = self._remaining()
        if delay >= remaining:
            raise FullstoryUnavailable(
                f"deadline: {remaining:.1f}s left, next retry in {delay:.1f}s: {failure.message}",
                status=failure.status,
                code=failure.code,
                retry_after=delay,
                attempts=attempt,
            ) from failure
        self._log.warning(
            "fullstory call retried",
            extra={"operation": operation, "status": failure.status, "attempt": attempt, "delay": delay},
        )
        self._sleep(delay)

    def _read_body(
        self, response: requests.Response, budget: float, operation: str, lease: _Lease | None = None
    ) -> bytes:
        """Read the body in whatever pieces arrive, within `budget` seconds and the size cap.

        The read timeout is per socket read, so a server dripping bytes would never trip it;
        `read1` returns what has arrived, so the clock is checked as the body trickles in. A wait
        for a large-answer slot (`lease`) is not counted against the budget.
        """
        started = self._clock()
        declared = _content_length(response.headers)
        if declared is not None and declared > self._max_body_bytes:
            raise self._too_large(operation)  # refused before a byte of it is read
        if lease is not None and declared is not None:
            waiting = self._clock()
            lease.need(declared, operation)
            started += self._clock() - waiting
        # BytesIO.getvalue() hands over its buffer without a copy: no second copy of a large body.
        buffer = io.BytesIO()
        size = 0
        # urllib3 >= 2.3 has read1; an older one (say, bundled elsewhere) still works, less finely.
        read = getattr(response.raw, "read1", None) or response.raw.read
        while True:
            chunk = read(64 * 1024, decode_content=True)
            if not chunk:
                return buffer.getvalue()
            size += len(chunk)
            if size > self._max_body_bytes:
                raise self._too_large(operation)
            if lease is not None:
                waiting = self._clock()
                lease.need(size, operation)
                started += self._clock() - waiting
            buffer.write(chunk)
            if self._clock() - started > budget:
                raise _SlowBody

    def _too_large(self, operation: str) -> FullstoryError:
        cap = self._max_body_bytes
        size = f"{cap // 2**20} MiB" if cap % 2**20 == 0 else f"{cap:,} bytes"
        return FullstoryError(
            f"{operation}: the answer is larger than the client's {size} cap", code="response_too_large"
        )

    def _error_for(
        self, status: int, headers: Mapping[str, str], body: bytes, operation: str
    ) -> FullstoryError:
        message, code = _error_message(body, secret=self._key)
        # Error text reaches reports and logs: an echoed email is masked like any other.
        message = f"{operation}: HTTP {status}: {mask_email(message)}"
        retry_after = _retry_after(headers.get("Retry-After"))
        if status == 400:
            return FullstoryBadRequest(message, status=status, code=code)
        if status == 401:
            return FullstoryAuthError(message, status=status, code=code)
        if status == 403:
            return FullstoryForbidden(message, status=status, code=code)
        if status in (404, 410):
            return FullstoryNotFound(message, status=status, code=code)
        if status == 429:
            return FullstoryRateLimited(message, status=status, code=code, retry_after=retry_after)
        if status >= 500:
            return FullstoryServerError(message, status=status, code=code, retry_after=retry_after)
        return FullstoryError(message, status=status, code=code, retryable=False)


# ---------------------------------------------------------------------------------------------
# Helpers (pure)


def _new_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # No proxies or ~/.netrc from the environment: netrc could add credentials to the
    # unauthenticated export download. Lambda has no proxy to honour.
    session.trust_env = False
    # Cookies would make threads share mutable state; the API needs none.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(1, pool_size), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _number(value: int) -> Any:
    return value  # an int is a `numbers.Number`, which the annotation signature names but mypy cannot see


def _content_length(headers: Mapping[str, str]) -> int | None:
    try:
        length = int(headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _dicts(items: Iterable[Any]) -> Iterable[dict[str, Any]]:
    return (item for item in items if isinstance(item, dict))


def _session_segment(session_id: str) -> str:
    # Any accepted form -> `device:session`, then `:` -> `%3A` as the API requires.
    return quote(normalise_session_id(session_id), safe="")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _user(body: dict[str, Any]) -> FullstoryUser | None:
    user_id = _text(body.get("id"))
    if user_id is None:
        return None
    return FullstoryUser(
        id=user_id,
        uid=_text(body.get("uid")),
        email=_text(body.get("email")),
        display_name=_text(body.get("display_name") or body.get("displayName")),
    )


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    return None


def _parse_time(value: str | None) -> datetime | None:
    """Epoch seconds or milliseconds, or ISO 8601; None when unreadable."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not math.isfinite(number):
        return None
    try:
        return datetime.fromtimestamp(number / 1000 if number > 1e12 else number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _state(value: Any) -> OperationState:
    state = (_text(value) or "").upper()
    if state == "PENDING":
        return "PENDING"
    if state == "COMPLETED":
        return "COMPLETED"
    if state == "FAILED":
        return "FAILED"
    return "UNKNOWN"


def _rfc3339(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _retry_after(value: str | None) -> float | None:
    """Seconds (the documented form) or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _error_message(body: bytes, *, secret: str) -> tuple[str, str | None]:
    """(message, code) from `{"message","code"}` JSON, else a cleaned-up text excerpt.

    The secret is masked in the whole text before anything is cut, so no fragment of it survives.
    """
    text = body[:65536].decode("utf-8", errors="replace").replace(secret, "***")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        message = _text(document.get("message")) or _text(document.get("error")) or ""
        code = _text(document.get("code"))
        return message[:200], code
    cleaned = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
    return (cleaned or "(empty body)")[:200], None


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Decompress every gzip member, refusing more than `limit` bytes (a zip bomb stays small)."""
    out = bytearray()
    data = raw
    while data:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(data, limit + 1 - len(out))
        except zlib.error:
            raise FullstoryError("export: the download is not valid gzip", code="bad_export") from None
        if len(out) > limit or decompressor.unconsumed_tail:
            raise FullstoryError(f"export: more than {limit} bytes once unzipped", code="export_too_large")
        data = decompressor.unused_data
        if data[:2] != _GZIP_MAGIC:
            break  # trailing padding, not another member
    return bytes(out)


def _parse_rows(data: bytes) -> list[dict[str, Any]]:
    """A JSON array, or NDJSON (one object per line). Lines that are not objects are skipped."""
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            document = json.loads(text)
        except ValueError:
            raise FullstoryError("export: the JSON array is malformed", code="bad_export") from None
        return [row for row in _list(document) if isinstance(row, dict)]
    rows: list[dict[str, Any]] = []
    unreadable = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            unreadable += 1
    if unreadable:
        logger.warning("export lines skipped", extra={"unreadable_lines": unreadable})
    return rows
