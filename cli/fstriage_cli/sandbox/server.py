"""A local Fullstory Server API: a real HTTP server on 127.0.0.1 answering the endpoints fstriage uses.

    with FullstorySandbox(seed=7) as sandbox:
        client = FullstoryClient("na1.sandbox-key", base_url=sandbox.base_url)

Answers follow Fullstory's documented Server API: shapes, status codes and `{"message","code"}`
error bodies. Auth is `Authorization: Basic <anything non-empty>`. Export downloads are served without
auth, like Fullstory's pre-signed storage URLs. Every request is recorded (`requests`, `calls`).

`POST /v2/events` (server events, the write-back) validates the body as Fullstory documents it, keeps
what it created in `written_events`, and honours `Idempotency-Key`: a key it has answered gets that
first answer again and creates nothing (a different body under it is refused with 409, the sandbox's
choice: Fullstory documents the refusal, not its status). Answers it did not execute (the
`events_forbidden` / `events_not_found` switches, injected 429s and 5xx) are not kept for the key.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from fstriage_cli.background_server import BackgroundServer
from fstriage_cli.sandbox import conventions
from fstriage_cli.sandbox import data as synth
from fstriage_cli.sandbox.faults import Faults, FaultSettings

CONTROL_PATH = "/__sandbox/faults"
_LOOP_MARKER = "pt-loop"  # the page token `repeat_page_token` answers forever
_READ_ROLES = ("ADMIN", "ARCHITECT")
_ACTIVATION_OFF = (
    "Anywhere: Activation is not enabled for this organization; session events, context and "
    "summaries require it"
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # as sent, still URL-encoded, query included
    route: str  # e.g. "GET /v2/sessions/{id}/events", or "unmatched"
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client_port: int  # one port per TCP connection: shows whether the client pools connections


@dataclass(frozen=True, slots=True)
class WrittenEvent:
    """A server event `POST /v2/events` created (a repeat of an `Idempotency-Key` creates none)."""

    name: str
    session_id: str | None  # `session.id` as sent (`U:S`)
    session_known: bool  # False: no such session, so Fullstory creates the event without one
    user: Mapping[str, Any] | None
    timestamp: str | None
    properties: Mapping[str, Any]
    schema: Mapping[str, Any]
    idempotency_key: str | None


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(document, separators=(",", ":")).encode(), headers=headers or {})


def api_error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"message": message, "code": code}, headers)


@dataclass(slots=True)
class _Export:
    operation_id: str
    export_id: str
    created: datetime
    extension: str
    payload: bytes  # gzip
    pending_left: int
    state: str = "PENDING"
    finished: datetime | None = None
    # With `export_ready_after_seconds`: ready this many seconds after `started` (monotonic), polls aside.
    ready_after: float | None = None
    started: float = 0.0

    def progress(self) -> float:
        """`estimatePctComplete`: 100 when done; linear in time for a timed export (unrounded: its
        first check, milliseconds after the start, already tells a long export from a short one), else
        40."""
        if self.state != "PENDING":
            return 100
        if self.ready_after is None:
            return 40
        if self.ready_after <= 0:
            return 99.9
        return min(99.9, 100 * (time.monotonic() - self.started) / self.ready_after)


@dataclass(frozen=True, slots=True)
class _Call:
    sandbox: FullstorySandbox
    method: str
    path: str
    args: tuple[str, ...]
    query: dict[str, list[str]]
    body: bytes
    headers: Mapping[str, str]

    def param(self, *names: str) -> str | None:
        for name in names:
            values = self.query.get(name)
            if values:
                return values[0]
        return None


Handler = Callable[[_Call], Reply]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler
    read: bool = True  # a Standard (USER) key gets 403 here
    activation: bool = False  # needs Anywhere: Activation
    authenticated: bool = True


class FullstorySandbox(BackgroundServer):
    """Synthetic data (from `seed`) served over HTTP on an ephemeral 127.0.0.1 port.

    `public_url` is the address clients use when it differs from the bound one (e.g. a Lambda
    container reaching the host); it needs a fixed `port` and also goes into export locations.
    Runtime switches live in `faults`; what was called is in `calls` and `requests`. `anchors` add
    users, sessions and segments with fixed IDs (e.g. `samples.sample_anchors()` for `events/`).
    """

    _thread_name = "fs-sandbox"

    def __init__(
        self,
        seed: int = 7,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        org_id: str = synth.DEFAULT_ORG_ID,
        app_url: str = synth.DEFAULT_APP_URL,
        role: str = "ADMIN",
        now: datetime | None = None,
        users: int = 30,
        faults: Faults | None = None,
        anchors: synth.Anchors | None = None,
    ) -> None:
        self.data = synth.generate(
            seed, now=now, users=users, org_id=org_id, app_url=app_url, anchors=anchors
        )
        self.faults = faults or Faults(seed=seed, role=role)
        super().__init__(host, port)
        self._public_url = public_url.rstrip("/") if public_url else None
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._requests: list[RecordedRequest] = []
        self._exports: dict[str, _Export] = {}
        self._export_numbers = 0
        self._written: list[WrittenEvent] = []
        self._idempotent: dict[str, tuple[bytes, Reply]] = {}  # Idempotency-Key -> (body, first answer)

    # -- lifecycle ---------------------------------------------------------------------------

    def _make_server(self) -> ThreadingHTTPServer:
        server = _Server(self._address, _Handler)
        server.sandbox = self
        return server

    @property
    def base_url(self) -> str:
        """Where clients reach the sandbox (`public_url` when given, e.g. from inside a container)."""
        return self._public_url or self._bound_url("sandbox")

    # -- records -----------------------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Calls per route, e.g. `calls["GET /v2/sessions/{id}/events"]` (control calls excluded)."""
        with self._lock:
            return Counter(self._calls)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == route]

    @property
    def written_events(self) -> list[WrittenEvent]:
        """Every server event `POST /v2/events` created, in order."""
        with self._lock:
            return list(self._written)

    def reset_records(self) -> None:
        """Forget recorded requests, written events and the answers kept for idempotency keys."""
        with self._lock:
            self._calls.clear()
            self._requests.clear()
            self._written.clear()
            self._idempotent.clear()

    def _once(
        self, key: str | None, body: bytes, create: Callable[[], tuple[Reply, WrittenEvent | None]]
    ) -> Reply:
        """`create` once per idempotency key (under the lock, so two concurrent repeats make one event)."""
        with self._lock:
            if key is not None and key in self._idempotent:
                first_body, first = self._idempotent[key]
                if first_body != body:
                    return api_error(
                        409, "the Idempotency-Key was used with a different request body", "conflict"
                    )
                return Reply(first.status, first.body, first.content_type, dict(first.headers))
            reply, written = create()
            if written is not None:
                self._written.append(written)
            if key is not None:
                self._idempotent[key] = (body, reply)
            return reply

    def _record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(entry)
            if entry.route != CONTROL_ROUTE:
                self._calls[entry.route] += 1

    # -- exports -----------------------------------------------------------------------------

    def _new_export(
        self, payload: bytes, extension: str, pending: int, ready_after: float | None = None
    ) -> _Export:
        with self._lock:
            self._export_numbers += 1
            number = self._export_numbers
            export = _Export(
                operation_id=f"op-{self.data.seed}-{number:04d}",
                export_id=f"export-{self.data.seed}-{number:04d}",
                created=datetime.now(UTC),
                extension=extension,
                payload=payload,
                pending_left=pending,
                ready_after=ready_after,
                started=time.monotonic(),
            )
            self._exports[export.operation_id] = export
            return export

    def _poll_export(self, operation_id: str, settings: FaultSettings) -> _Export | None:
        with self._lock:
            export = self._exports.get(operation_id)
            if export is None or export.state != "PENDING" or settings.export_never_completes:
                return export
            if export.ready_after is not None:
                if time.monotonic() - export.started < export.ready_after:
                    return export
            elif export.pending_left > 0:
                export.pending_left -= 1
                return export
            export.state = "FAILED" if settings.export_fails else "COMPLETED"
            export.finished = datetime.now(UTC)
            return export

    def _export_by_id(self, export_id: str) -> _Export | None:
        with self._lock:
            return next((e for e in self._exports.values() if e.export_id == export_id), None)


CONTROL_ROUTE = "POST /__sandbox/faults"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: FullstorySandbox


# ---------------------------------------------------------------------------------------------
# Endpoints


def _me(call: _Call) -> Reply:
    settings = call.sandbox.faults.snapshot()
    if settings.me_refused:
        return api_error(403, _forbidden(settings, "insufficient permissions"), "forbidden")
    # A key refused for its tier is a Standard one, whatever `role` says.
    role = "USER" if settings.forbidden_tier else settings.role
    return json_reply(
        200, {"email": "sandbox-admin@example.test", "orgId": call.sandbox.data.org_id, "role": role}
    )


def _forbidden(settings: FaultSettings, message: str) -> str:
    return message if settings.forbidden_wording else "Forbidden"


def _sessions(call: _Call) -> Reply:
    uid, email = call.param("uid"), call.param("email")
    if not uid and not email:
        return api_error(400, "uid or email is required", "required_field")
    try:
        limit = int(call.param("limit") or 20)
    except ValueError:
        return api_error(400, "limit must be an integer", "invalid_argument")
    if limit < 1:
        return api_error(400, "limit must be positive", "invalid_argument")
    found = call.sandbox.data.sessions_of(uid=uid, email=email)[:limit]
    return json_reply(
        200,
        {
            "sessions": [
                {
                    "userId": s.device_id,
                    "sessionId": s.session_id,
                    "createdTime": str(int(s.created.timestamp())),
                    "fsUrl": call.sandbox.data.replay_url(s),
                }
                for s in found
            ]
        },
    )


def _user_record(user: synth.SandboxUser) -> dict[str, Any]:
    return {
        "id": user.individual_id,
        "uid": user.uid,
        "email": user.email,
        "display_name": user.display_name,
        "is_being_deleted": False,
        "properties": {},
    }


def _users(call: _Call) -> Reply:
    uid, email = call.param("uid"), call.param("email")
    found = [u for u in call.sandbox.data.users if (uid and u.uid == uid) or (email and u.email == email)]
    records = [_user_record(u) for u in found]
    return json_reply(200, {"results": records, "total_records": str(len(records))})


def _user(call: _Call) -> Reply:
    """By the individual's ID or the device's: which one Fullstory takes is not documented, so the
    `user_ids` switch narrows it to one, to show each form."""
    user_id = unquote(call.args[0])
    forms = call.sandbox.faults.snapshot().user_ids
    user = next(
        (
            u
            for u in call.sandbox.data.users
            if (forms != "device" and u.individual_id == user_id)
            or (forms != "individual" and u.device_id == user_id)
        ),
        None,
    )
    if user is None:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    return json_reply(200, _user_record(user))


_SESSION_ID = re.compile(r"[0-9A-Za-z_-]+:[0-9A-Za-z_-]+")
# The property types a `schema` may declare (and their list forms).
_DECLARABLE = frozenset({"str", "int", "real", "bool", "date"} | {"strs", "ints", "reals", "bools", "dates"})


def _create_event(call: _Call) -> Reply:
    settings = call.sandbox.faults.snapshot()
    # In front of the endpoint: such a refusal is not kept for the idempotency key.
    if settings.events_forbidden:
        return api_error(403, _forbidden(settings, "insufficient permissions"), "forbidden")
    if settings.events_not_found:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    key = call.headers.get("idempotency-key")
    return call.sandbox._once(key, call.body, lambda: _new_event(call, key))


def _new_event(call: _Call, key: str | None) -> tuple[Reply, WrittenEvent | None]:
    def refused(message: str, code: str = "invalid_argument") -> tuple[Reply, None]:
        return api_error(400, message, code), None

    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        return refused("request body is not valid JSON")
    if not isinstance(body, dict):
        return refused("request body must be an object")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        return refused("name is required", "required_field")
    timestamp = body.get("timestamp")
    if timestamp is not None:
        try:
            synth.parse_time(str(timestamp))
        except (TypeError, ValueError):
            return refused("timestamp must be an ISO 8601 time")
    properties = body.get("properties", {})
    if not isinstance(properties, dict):
        return refused("properties must be an object")
    schema = body.get("schema", {})
    declared = schema.get("properties", {}) if isinstance(schema, dict) else None
    if not isinstance(declared, dict) or any(t not in _DECLARABLE for t in declared.values()):
        return refused("schema.properties must map property names to types (str, int, real, bool, date ...)")
    session, user = body.get("session"), body.get("user")
    if not isinstance(session, dict | None) or not isinstance(user, dict | None):
        return refused("session and user must be objects")
    session_id = session.get("id") if session else None
    if session_id is not None and (not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id)):
        return refused("session.id must be '<device_id>:<session_id>'")
    if session_id is not None and user:
        return refused("user is not accepted when session.id is provided")
    user_fields = [f for f in ("uid", "id") if user and isinstance(user.get(f), str) and user[f]]
    if session and session.get("use_most_recent") is True and len(user_fields) != 1:
        return refused("session.use_most_recent needs exactly one user field")
    if user and any(len(str(user.get(f, ""))) > 256 for f in ("uid", "id")):
        return refused("user.uid and user.id are at most 256 characters")
    if session_id is None and not user_fields:
        return refused("a session.id or a user is required", "required_field")
    written = WrittenEvent(
        name=name,
        session_id=session_id,
        # An unknown session is no error: Fullstory creates the event without a session.
        session_known=session_id is not None and call.sandbox.data.session(session_id) is not None,
        user=dict(user) if user else None,
        timestamp=str(timestamp) if timestamp is not None else None,
        properties=properties,
        schema=dict(schema) if isinstance(schema, dict) else {},
        idempotency_key=key,
    )
    return Reply(200, b""), written


def _segments(call: _Call) -> Reply:
    settings = call.sandbox.faults.snapshot()
    try:
        limit = int(call.param("limit") or 20)
    except ValueError:
        return api_error(400, "limit must be an integer", "invalid_argument")
    if not 1 <= limit <= 100:
        return api_error(400, "limit must be between 1 and 100", "invalid_argument")
    token = call.param("paginationToken", "pagination_token") or ""
    offset = 0
    if token and token != _LOOP_MARKER:
        match = re.fullmatch(r"pt-(\d+)", token)
        if not match:
            return api_error(400, "invalid pagination token", "invalid_argument")
        offset = int(match.group(1))
    segments = call.sandbox.data.segments
    page = segments[offset : offset + limit]
    if settings.repeat_page_token:
        next_token = _LOOP_MARKER
    else:
        next_token = f"pt-{offset + limit}" if offset + limit < len(segments) else ""
    return json_reply(
        200,
        {
            "segments": [
                {"id": s.id, "name": s.name, "creator": s.creator, "created": s.created, "url": s.url}
                for s in page
            ],
            "nextPaginationToken": next_token,
        },
    )


def _start_export(call: _Call) -> Reply:
    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        return api_error(400, "request body is not valid JSON", "invalid_argument")
    if not isinstance(body, dict):
        return api_error(400, "request body must be an object", "invalid_argument")
    segment_id = body.get("segmentId")
    if not segment_id:
        return api_error(400, "segmentId is required", "required_field")
    if call.sandbox.data.segment(str(segment_id)) is None:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    if body.get("type", "TYPE_EVENT") != "TYPE_EVENT":
        return api_error(400, "the sandbox exports TYPE_EVENT only", "invalid_argument")
    export_format = body.get("format", "FORMAT_JSON")
    if export_format not in ("FORMAT_JSON", "FORMAT_NDJSON"):
        return api_error(400, "the sandbox exports FORMAT_JSON or FORMAT_NDJSON only", "invalid_argument")
    window = body.get("timeRange") or {}
    try:
        start = synth.parse_time(window["start"]) if window.get("start") else None
        end = synth.parse_time(window["end"]) if window.get("end") else None
    except (TypeError, ValueError, AttributeError):
        return api_error(400, "timeRange start/end must be RFC 3339 times", "invalid_argument")
    fields = [str(name) for name in body.get("fields") or [] if isinstance(name, str)]
    rows = synth.export_rows(call.sandbox.data, str(segment_id), start=start, end=end, fields=fields)
    if export_format == "FORMAT_NDJSON":
        text, extension = "".join(json.dumps(row) + "\n" for row in rows), "ndjson"
    else:
        text, extension = json.dumps(rows), "json"
    payload = gzip.compress(text.encode(), mtime=0)
    settings = call.sandbox.faults.snapshot()
    ready_after = settings.export_ready_after_seconds if settings.export_ready_after_seconds >= 0 else None
    export = call.sandbox._new_export(payload, extension, settings.export_pending_polls, ready_after)
    return json_reply(200, {"operationId": export.operation_id})


def _operation(call: _Call) -> Reply:
    export = call.sandbox._poll_export(call.args[0], call.sandbox.faults.snapshot())
    if export is None:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    document: dict[str, Any] = {
        "id": export.operation_id,
        "type": "SEARCH_EXPORT",
        "state": export.state,
        "createdAt": synth.isoformat(export.created),
        "estimatePctComplete": export.progress(),
    }
    if export.finished:
        document["finishedAt"] = synth.isoformat(export.finished)
    if export.state == "COMPLETED":
        expires = export.finished + timedelta(days=1) if export.finished else export.created
        document["results"] = {"searchExportId": export.export_id, "expires": synth.isoformat(expires)}
    if export.state == "FAILED":
        document["errorDetails"] = "export failed: the sandbox was told to fail it"
    return json_reply(200, document)


def _export_results(call: _Call) -> Reply:
    export = call.sandbox._export_by_id(call.args[0])
    if export is None or export.state != "COMPLETED":
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    expires = datetime.now(UTC) + timedelta(hours=1)
    location = f"{call.sandbox.base_url}/downloads/{export.export_id}.{export.extension}.gz"
    return json_reply(200, {"location": location, "expires": synth.isoformat(expires)})


def _download(call: _Call) -> Reply:
    name = call.args[0]
    export = call.sandbox._export_by_id(name.split(".", 1)[0])
    if export is None or export.state != "COMPLETED":
        return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
    disposition = f'attachment; filename="{export.export_id}.{export.extension}.gz"'
    return Reply(200, export.payload, "application/gzip", {"Content-Disposition": disposition})


def _session_or_error(call: _Call) -> synth.SandboxSession | Reply:
    session_id = unquote(call.args[0])
    if not re.fullmatch(r"[0-9A-Za-z_-]+:[0-9A-Za-z_-]+", session_id):
        return api_error(400, "session_id must be '<device_id>:<session_id>'", "invalid_argument")
    session = call.sandbox.data.session(session_id)
    if session is None:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    return session


def _events(call: _Call) -> Reply:
    session = _session_or_error(call)
    if isinstance(session, Reply):
        return session
    convention = call.sandbox.faults.snapshot().event_convention
    return json_reply(200, {"events": conventions.render(session.events, convention)})


def _context(call: _Call) -> Reply:
    session = _session_or_error(call)
    if isinstance(session, Reply):
        return session
    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        return api_error(400, "request body is not valid JSON", "invalid_argument")
    events = body.get("events") if isinstance(body, dict) else None
    events = events if isinstance(events, dict) else {}
    context = synth.context_data(
        call.sandbox.data,
        session,
        include_types=events.get("include_types") or None,
        exclude_types=events.get("exclude_types") or None,
    )
    return json_reply(200, {"context_data": context})


def _summary(call: _Call) -> Reply:
    session = _session_or_error(call)
    if isinstance(session, Reply):
        return session
    profile = call.param("config_profile")
    if profile and profile != synth.TRIAGE_PROFILE:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    text, response = synth.summary(session)
    return json_reply(200, {"summary": text, "response": response} if profile else {"summary": text})


def _route(method: str, pattern: str, name: str, handler: Handler, **flags: bool) -> _Route:
    return _Route(method, re.compile(pattern), name, handler, **flags)


_ROUTES = (
    _route("GET", r"/me", "GET /me", _me, read=False),
    _route("GET", r"/sessions/v2", "GET /sessions/v2", _sessions),
    _route("GET", r"/v2/users", "GET /v2/users", _users),
    _route("GET", r"/v2/users/([^/]+)", "GET /v2/users/{id}", _user),
    # Standard keys may create events: not a read.
    _route("POST", r"/v2/events", "POST /v2/events", _create_event, read=False),
    _route("GET", r"/segments/v1", "GET /segments/v1", _segments),
    _route("POST", r"/segments/v1/exports", "POST /segments/v1/exports", _start_export),
    _route("GET", r"/operations/v1/([^/]+)", "GET /operations/v1/{id}", _operation),
    _route(
        "GET", r"/search/v1/exports/([^/]+)/results", "GET /search/v1/exports/{id}/results", _export_results
    ),
    _route("GET", r"/v2/sessions/([^/]+)/events", "GET /v2/sessions/{id}/events", _events, activation=True),
    _route(
        "POST", r"/v2/sessions/([^/]+)/context", "POST /v2/sessions/{id}/context", _context, activation=True
    ),
    _route(
        "GET", r"/v2/sessions/([^/]+)/summary", "GET /v2/sessions/{id}/summary", _summary, activation=True
    ),
    _route("GET", r"/downloads/([^/]+)", "GET /downloads/{name}", _download, read=False, authenticated=False),
)


# ---------------------------------------------------------------------------------------------
# HTTP plumbing and fault injection


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection pool is exercised
    # Headers and body go out in two sends; with Nagle on, the client's delayed ACK stalls every
    # keep-alive call by ~40 ms (measured: 44 ms vs 1 ms a call).
    disable_nagle_algorithm = True
    server_version = "FullstorySandbox/1.0"
    timeout = 10  # idle keep-alive connections release their thread

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the CLI read `sandbox.requests` instead."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    @property
    def _sandbox(self) -> FullstorySandbox:
        return cast(_Server, self.server).sandbox

    def _dispatch(self, method: str) -> None:
        try:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                self._send(api_error(400, "bad Content-Length", "invalid_argument"), None)
                return
            body = self.rfile.read(length) if length > 0 else b""
            try:
                reply, drip = self._answer(method, body)
            except Exception as error:  # a sandbox bug answers 500 instead of dropping the connection
                reply, drip = api_error(500, f"sandbox error: {type(error).__name__}", "server_error"), None
            self._send(reply, drip)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client gave up (a timeout test): nothing to do

    def _answer(self, method: str, body: bytes) -> tuple[Reply, FaultSettings | None]:
        sandbox = self._sandbox
        parts = urlsplit(self.path)
        path = parts.path
        headers = {name.lower(): value for name, value in self.headers.items()}
        route, args, allowed = _match(method, path)
        name = CONTROL_ROUTE if path == CONTROL_PATH else (route.name if route else "unmatched")
        sandbox._record(RecordedRequest(method, self.path, name, headers, body, int(self.client_address[1])))
        if path == CONTROL_PATH:
            return _control(sandbox, method, body), None

        settings = sandbox.faults.snapshot()
        injected = settings.applies_to(path)
        if injected and settings.latency_ms:
            time.sleep(settings.latency_ms / 1000)
        drip = settings if injected and settings.drip_delay_ms else None
        if route is None:
            if allowed:
                return api_error(405, "method not allowed", "method_not_allowed", {"Allow": allowed}), drip
            return api_error(404, "Requested resource does not exist", "resource_not_found"), drip
        if route.authenticated:
            refused = _auth_refusal(headers, settings, self.path)
            if refused is not None:
                return refused, drip
            if injected and (
                sandbox.faults.take("rate_limit_count") or sandbox.faults.roll(settings.rate_limit_rate)
            ):
                retry_after = _seconds(settings.retry_after)
                message = "Too many requests. Client has exceeded the rate limit for this endpoint."
                reply = _fault_body(
                    settings, 429, message, "too_many_requests", headers=headers, path=self.path
                )
                reply.headers["Retry-After"] = retry_after
                sandbox.faults.count(429)
                return reply, drip
            if injected and (
                sandbox.faults.take("server_error_count") or sandbox.faults.roll(settings.server_error_rate)
            ):
                status = settings.server_error_status
                sandbox.faults.count(status)
                message = "Server error was encountered"
                return _fault_body(
                    settings, status, message, "server_error", headers=headers, path=self.path
                ), drip
            if route.read and (settings.forbidden_tier or settings.role not in _READ_ROLES):
                return api_error(403, _forbidden(settings, "insufficient permissions"), "forbidden"), drip
            if route.activation and settings.activation_off:
                return api_error(403, _forbidden(settings, _ACTIVATION_OFF), "forbidden"), drip
        call = _Call(sandbox, method, path, args, parse_qs(parts.query), body, headers)
        return route.handler(call), drip

    def _send(self, reply: Reply, drip: FaultSettings | None) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if drip is None:
            self.wfile.write(reply.body)
            return
        step = drip.drip_chunk_bytes
        for start in range(0, len(reply.body), step):
            self.wfile.write(reply.body[start : start + step])
            self.wfile.flush()
            time.sleep(drip.drip_delay_ms / 1000)


def _match(method: str, path: str) -> tuple[_Route | None, tuple[str, ...], str]:
    allowed: list[str] = []
    for route in _ROUTES:
        found = route.pattern.fullmatch(path)
        if found is None:
            continue
        if route.method == method:
            return route, found.groups(), ""
        allowed.append(route.method)
    return None, (), ", ".join(allowed)


def _auth_refusal(headers: Mapping[str, str], settings: FaultSettings, path: str) -> Reply | None:
    scheme, _, key = headers.get("authorization", "").partition(" ")
    if scheme != "Basic" or not key.strip() or settings.unauthorized:
        return _fault_body(
            settings, 401, "access is unauthorized", "unauthorized", headers=headers, path=path
        )
    return None


def _fault_body(
    settings: FaultSettings, status: int, message: str, code: str, *, headers: Mapping[str, str], path: str
) -> Reply:
    """An injected error's body: the documented JSON, an HTML proxy page, or a page echoing headers."""
    if settings.error_body == "html":
        page = (
            f"<html><head><title>{status} Error</title></head><body><center><h1>{status} {message}"
            "</h1></center><hr><center>sandbox-proxy/1.0</center>"
            + "<!-- padding -->" * 20
            + "</body></html>"
        )
        return Reply(status, page.encode(), "text/html")
    if settings.error_body == "echo":
        # Some proxies echo the request in error pages; the client must not repeat the key.
        # Authorization first, so the key sits inside the part a client might keep.
        ordered = sorted(headers.items(), key=lambda item: item[0] != "authorization")
        dump = "; ".join(f"{name}: {value}" for name, value in ordered)
        return Reply(
            status, f"{status} upstream error for {path}. Request headers: {dump}".encode(), "text/plain"
        )
    return api_error(status, message, code)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _control(sandbox: FullstorySandbox, method: str, body: bytes) -> Reply:
    if method == "GET":
        return json_reply(200, sandbox.faults.as_dict())
    if method != "POST":
        return api_error(405, "method not allowed", "method_not_allowed", {"Allow": "GET, POST"})
    try:
        changes = json.loads(body or b"{}")
    except ValueError:
        return api_error(400, "body must be a JSON object", "invalid_argument")
    if not isinstance(changes, dict):
        return api_error(400, "body must be a JSON object", "invalid_argument")
    if changes.pop("reset", False) is True:
        sandbox.faults.reset()
    try:
        sandbox.faults.update(**changes)
    except ValueError as error:
        return api_error(400, str(error), "invalid_argument")
    return json_reply(200, sandbox.faults.as_dict())
