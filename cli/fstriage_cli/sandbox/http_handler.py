"""The sandbox's HTTP plumbing: record each request, inject faults, check auth, dispatch and reply.

Auth is `Authorization: Basic <anything non-empty>`; a Standard (USER) key is refused on read routes.
Injected faults (latency, 429s, 5xx, dripped bodies, odd error bodies) come from `faults` and apply
only to paths matching its `path_filter`; `GET`/`POST /__sandbox/faults` reads or changes them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from fstriage_cli.sandbox.faults import FaultSettings
from fstriage_cli.sandbox.protocol import Call, RecordedRequest, Reply, api_error, forbidden, json_reply
from fstriage_cli.sandbox.routes import match

if TYPE_CHECKING:
    from fstriage_cli.sandbox.server import FullstorySandbox

CONTROL_PATH = "/__sandbox/faults"
CONTROL_ROUTE = "POST /__sandbox/faults"
_READ_ROLES = ("ADMIN", "ARCHITECT")
_ACTIVATION_OFF = (
    "Anywhere: Activation is not enabled for this organization; session events, context and "
    "summaries require it"
)


class SandboxHTTPServer(ThreadingHTTPServer):
    """A thread per connection, each handler serving the same sandbox."""

    daemon_threads = True
    sandbox: FullstorySandbox


class SandboxRequestHandler(BaseHTTPRequestHandler):
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
        return cast(SandboxHTTPServer, self.server).sandbox

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
        route, args, allowed = match(method, path)
        name = CONTROL_ROUTE if path == CONTROL_PATH else (route.name if route else "unmatched")
        sandbox.record(RecordedRequest(method, self.path, name, headers, body, int(self.client_address[1])))
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
                return api_error(403, forbidden(settings, "insufficient permissions"), "forbidden"), drip
            if route.activation and settings.activation_off:
                return api_error(403, forbidden(settings, _ACTIVATION_OFF), "forbidden"), drip
        call = Call(sandbox, method, path, args, parse_qs(parts.query), body, headers)
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
