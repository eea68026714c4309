"""A local stand-in for Harness FME's (formerly Split's) events API: a real HTTP server on 127.0.0.1.

    with FmeStandIn(api_key="fme-local-server-key") as fme:
        client = FmeEventsClient("fme-local-server-key", url=fme.events_url)
        ...
        assert fme.events[0]["eventTypeId"] == "Checkout_Failed"

`POST /api/events/bulk` checks `Authorization: Bearer <api_key>` (401 otherwise), checks the body (a
JSON array of events: `eventTypeId` 1-80 of `[A-Za-z0-9._:-]` starting with a letter or digit, a
non-empty `trafficTypeName`, a `key` of 1-250 characters, an integer `timestamp`, a numeric `value`,
flat `properties` of string/number/boolean/null; 400 otherwise), records what it accepted (`events`)
and answers 202. Those are the limits FME's SDKs apply, applied here to the bulk API as well; how the
real bulk API treats a bulk with one bad event (refused whole, as here, or in part) is not documented.
It fails on demand: `fail(status, times=n)` (or `POST /__fme/faults` with `{"status": 429, "times": 2,
"retry_after": 1}`) answers the next n bulks with that status (a 3xx without a Location).
`GET /__fme/events` lists the accepted events, `GET /__fme/requests` counts bulks.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from fstriage_cli.background_server import BackgroundServer

EVENTS_PATH = "/api/events/bulk"
CONTROL_PREFIX = "/__fme/"
DEFAULT_KEY = "fme-local-server-key"  # published test value: never a real key
_EVENT_TYPE_ID = re.compile(r"[a-zA-Z0-9][-_.:a-zA-Z0-9]{0,79}")
_EVENT_FIELDS = {
    "eventTypeId",
    "trafficTypeName",
    "key",
    "timestamp",
    "value",
    "properties",
    "environmentName",
}


@dataclass(frozen=True, slots=True)
class Fault:
    status: int
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class BulkRequest:
    status: int  # what the stand-in answered
    events: int  # how many events the body held (0 when it was not a list)
    authorization_ok: bool


def problems(body: Any) -> list[str]:
    """What the SDKs' limits refuse in a bulk body; [] when it is acceptable."""
    if not isinstance(body, list) or not body:
        return ["the body must be a non-empty JSON array of events"]
    found: list[str] = []
    for index, event in enumerate(body):
        where = f"event {index}"
        if not isinstance(event, dict):
            found.append(f"{where} is not an object")
            continue
        unknown = sorted(set(event) - _EVENT_FIELDS)
        if unknown:
            found.append(f"{where} has unknown fields {unknown}")
        type_id = event.get("eventTypeId")
        if not isinstance(type_id, str) or not _EVENT_TYPE_ID.fullmatch(type_id):
            found.append(f"{where}: eventTypeId is not a valid event type")
        traffic = event.get("trafficTypeName")
        if not isinstance(traffic, str) or not traffic:
            found.append(f"{where}: trafficTypeName is missing")
        key = event.get("key")
        if not isinstance(key, str) or not 1 <= len(key) <= 250:
            found.append(f"{where}: key must be 1-250 characters")
        timestamp = event.get("timestamp")
        if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int)):
            found.append(f"{where}: timestamp must be epoch milliseconds")
        value = event.get("value")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            found.append(f"{where}: value must be a number")
        properties = event.get("properties")
        if properties is not None:
            if not isinstance(properties, dict):
                found.append(f"{where}: properties must be an object")
            elif any(not (v is None or isinstance(v, str | int | float | bool)) for v in properties.values()):
                found.append(f"{where}: property values must be flat scalars")
    return found


class FmeStandIn(BackgroundServer):
    _thread_name = "fme-standin"

    def __init__(self, *, api_key: str = DEFAULT_KEY, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.api_key = api_key
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._requests: list[BulkRequest] = []
        self._faults: deque[Fault] = deque()

    # -- lifecycle ---------------------------------------------------------------------------------

    def _make_server(self) -> ThreadingHTTPServer:
        server = _Server(self._address, _Handler)
        server.standin = self
        return server

    @property
    def base_url(self) -> str:
        return self._bound_url("FME stand-in")

    @property
    def events_url(self) -> str:
        return self.base_url + EVENTS_PATH

    # -- records and faults ------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    @property
    def requests(self) -> list[BulkRequest]:
        with self._lock:
            return list(self._requests)

    def fail(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `times` bulks with `status` (after the key check passes or not)."""
        with self._lock:
            self._faults.extend(Fault(status, retry_after) for _ in range(max(0, times)))

    def reset(self) -> None:
        with self._lock:
            self._events.clear()
            self._requests.clear()
            self._faults.clear()

    def _bulk(self, authorization: str, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        count = len(body) if isinstance(body, list) else 0
        authorized = authorization == f"Bearer {self.api_key}"
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            if fault is not None:
                status, answer = fault.status, {"message": f"injected {fault.status}"}
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            elif not authorized:
                status, answer, headers = 401, {"message": "unauthorized"}, {}
            else:
                found = problems(body)
                if found:
                    status, answer, headers = 400, {"message": "; ".join(found[:5])}, {}
                else:
                    self._events.extend(cast(list[dict[str, Any]], body))
                    status, answer, headers = 202, {}, {}
            self._requests.append(BulkRequest(status, count, authorized))
        return status, answer, headers

    def _control(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        name = path.removeprefix(CONTROL_PREFIX)
        if method == "GET" and name == "events":
            return 200, self.events
        if method == "GET" and name == "requests":
            return 200, [{"status": r.status, "events": r.events} for r in self.requests]
        if method == "POST" and name == "faults":
            try:
                spec = json.loads(raw or b"{}")
                self.fail(
                    int(spec["status"]), times=int(spec.get("times", 1)), retry_after=spec.get("retry_after")
                )
            except (ValueError, KeyError, TypeError):
                return 400, {"message": 'want {"status": N, "times": N, "retry_after": S}'}
            return 200, {}
        if method == "POST" and name == "reset":
            self.reset()
            return 200, {}
        return 404, {"message": "unknown control path"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: FmeStandIn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FmeStandIn/1.0"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: read `events` and `requests` instead."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        standin = cast(_Server, self.server).standin
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if length > 0 else b""
        path = self.path.split("?", 1)[0]
        headers: dict[str, str] = {}
        if path.startswith(CONTROL_PREFIX):
            status, answer = standin._control(method, path, raw)
        elif path == EVENTS_PATH and method == "POST":
            status, answer, headers = standin._bulk(self.headers.get("Authorization", ""), raw)
        elif path == EVENTS_PATH:
            status, answer, headers = 405, {"message": "method not allowed"}, {"Allow": "POST"}
        else:
            status, answer = 404, {"message": "not found"}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
