"""The function URL, locally: any HTTP request -> a payload v2 event -> the webhook -> its answer.

The event comes from `fstriage.core.http.function_url_event` (the library's own mapping), then gets
what a real function URL adds: a request ID and time, `x-forwarded-*` headers, query string
parameters and cookies. A body is base64-encoded unless it is text, as a function URL does.
"""

from __future__ import annotations

import base64
import json
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl

from fstriage.core.http import HttpRequest, function_url_event
from fstriage_cli.local.rie import EmulatedFunction, Invocation

MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/graphql",
)
_METHOD_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110)


class FunctionPool:
    """Idle instances of one function; an invocation borrows one (waiting while all are busy)."""

    def __init__(self, instances: list[EmulatedFunction]) -> None:
        self.instances = instances
        self._idle: queue.Queue[EmulatedFunction] = queue.Queue()
        for instance in instances:
            self._idle.put(instance)

    def invoke(self, event: Any) -> Invocation:
        instance = self._idle.get()
        try:
            return instance.invoke(event)
        finally:
            self._idle.put(instance)


def is_text(content_type: str | None) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind.startswith(_TEXT_TYPES) or kind.endswith(("+json", "+xml"))


def build_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str,
    port: int,
) -> dict[str, Any]:
    """The function URL (payload v2) event for one HTTP request."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    merged.setdefault("x-forwarded-for", source_ip)
    merged.setdefault("x-forwarded-proto", "http")
    merged.setdefault("x-forwarded-port", str(port))
    merged.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
    text = is_text(merged.get("content-type"))
    if text:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            text = False
    request_id = str(uuid.uuid4())
    path = target if target.startswith("/") else "/" + target.split("/", 3)[-1]  # absolute-form target
    request = HttpRequest(method=method, path=path, headers=merged, body=body, source_ip=source_ip)
    event = function_url_event(request, base64_body=bool(body) and not text, request_id=request_id)
    now = datetime.now(UTC)
    event["requestContext"]["time"] = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    event["requestContext"]["timeEpoch"] = int(now.timestamp() * 1000)
    if not body:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    if event["rawQueryString"]:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(event["rawQueryString"], keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    if cookies:
        event["cookies"] = cookies
    return event


def http_answer(invocation: Invocation) -> tuple[int, list[tuple[str, str]], bytes]:
    """What the function URL sends back for the function's result."""
    if invocation.error is not None:
        body = json.dumps({"Message": "Internal Server Error"}).encode()
        return 502, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "FunctionError")], body
    result = invocation.payload
    if not (isinstance(result, dict) and "statusCode" in result):
        # Any other value is the body of a 200 (function URL "payload inference").
        return 200, [("Content-Type", "application/json")], json.dumps(result).encode()
    status = int(result.get("statusCode") or 200)
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or []]
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(str(raw))
    else:
        body = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # SO_REUSEADDR (HTTPServer's default) still refuses a port someone listens on
    # The stdlib's backlog of 5 overflowed under 20 concurrent clients (connects stalled ~1 s, or reset).
    request_queue_size = 128
    invoke: Callable[[dict[str, Any]], Invocation]
    source_ip: str | None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fstriage-local-function-url/1.0"
    timeout = 30
    # Headers and body go out in two sends; with Nagle on, a keep-alive answer stalled ~45 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the webhook logs each request itself."""

    def __getattr__(self, name: str) -> Any:
        # Any method token (GET, POST, BREW, post, ...) goes to the function as sent, as on a function
        # URL: the function decides (the webhook answers 405). http.server has already refused a
        # request line that is not `METHOD target version`.
        if name.startswith("do_") and _METHOD_TOKEN.fullmatch(name[3:]):
            return self._forward
        raise AttributeError(name)

    def _forward(self) -> None:
        server = cast(_Server, self.server)
        try:
            body = self._read_body()
        except ValueError as error:
            self._reply(
                400, [("Content-Type", "application/json")], json.dumps({"Message": str(error)}).encode()
            )
            return
        if body is None:
            self._reply(
                413, [("Content-Type", "application/json")], b'{"Message":"Request Entity Too Large"}'
            )
            return
        event = build_event(
            self.command,
            self.path,
            list(self.headers.items()),
            body,
            source_ip=server.source_ip or self.client_address[0],
            port=server.server_address[1],
        )
        status, headers, payload = http_answer(server.invoke(event))
        headers.append(("x-amzn-RequestId", event["requestContext"]["requestId"]))
        self._reply(status, headers, payload)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(1024).split(b";", 1)[0].strip()
                length = int(line or b"0", 16)
                if length == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                size += length
                if size > MAX_BODY_BYTES:
                    self.close_connection = True
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline(8)
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise ValueError("bad Content-Length") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class FunctionUrlGateway:
    """An HTTP server on 127.0.0.1:`port` in front of the webhook. Binding happens in the
    constructor, so a port in use is reported before anything slow starts."""

    def __init__(self, port: int, *, source_ip: str | None = None) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler, bind_and_activate=True)
        self._server.source_ip = source_ip
        self._server.invoke = self._unavailable
        self._thread: threading.Thread | None = None

    @staticmethod
    def _unavailable(event: dict[str, Any]) -> Invocation:
        return Invocation(None, "NotReady", 0.0)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, invoke: Callable[[dict[str, Any]], Invocation]) -> None:
        self._server.invoke = invoke
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="function-url",
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
