"""Switchable AWS outages for the local stack: a small HTTP proxy between the functions and moto.

    outages = AwsOutages(moto_port).start()
    env["AWS_ENDPOINT_URL"] = outages.endpoint_for("WebhookFunction")
    with outages.outage("sqs", mode="reset"):
        ...  # every SQS call of every function fails; DynamoDB, S3, ... still work

Each function gets its own listener, so calls are told apart by function; all listeners share one
switchboard. A call's service comes from its SigV4 credential scope (`Credential=<key>/<date>/
<region>/<service>/aws4_request`), else from `X-Amz-Target`. Outage modes, each something botocore
meets in real life:

- "reset": read the request, then reset the connection (TCP RST): `ConnectionClosedError`, as when a
  load balancer or a NAT drops the flow;
- "unavailable": `503 ServiceUnavailable` in the service's own protocol (JSON or XML), as AWS answers
  when a service is down or shedding load;
- "stall": read the request and never answer (until the outage ends): a black hole, so botocore's
  read timeout (or the caller's deadline) fires.

Tools that set the stack up or watch it (the SQS pollers, the report collector, tests) talk to moto
directly, so an outage hits only the functions. Every call through the proxy is recorded (`calls`),
with the message body of each `SendMessage`: the one count of queued messages that cannot be fooled
by the investigator's idempotency.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import parse_qs

MODES = ("reset", "unavailable", "stall")
SERVICES = ("sqs", "dynamodb", "secretsmanager", "s3", "events")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([a-z0-9-]+)/aws4_request")
_TARGETS = {
    "AmazonSQS": "sqs",
    "DynamoDB": "dynamodb",
    "secretsmanager": "secretsmanager",
    "AWSEvents": "events",
}
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
    | {"expect"}  # the proxy answers 100-continue itself
)
_STALL_LIMIT_SECONDS = 120.0  # a stalled call is reset after this, even if nobody restores the service


@dataclass(frozen=True, slots=True)
class ProxiedCall:
    function: str  # the listener's label: the function's logical ID
    service: str  # "sqs", "dynamodb", ... ("" when unknown)
    operation: str  # "SendMessage", "PutItem", ... ("GET", "PUT", ... for REST services)
    outcome: str  # "forwarded", or the outage mode that answered it
    status: int | None  # moto's status when forwarded
    message_body: str | None = None  # SendMessage only


class AwsOutages:
    """The switchboard plus one listener per function. Thread-safe."""

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._down: dict[tuple[str, str | None], str] = {}  # (service, function or None: all) -> mode
        self._restored = threading.Condition(self._lock)
        self._calls: list[ProxiedCall] = []
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []

    # -- listeners -------------------------------------------------------------------------------

    def endpoint_for(self, label: str) -> str:
        """The AWS_ENDPOINT_URL for one function (`localhost`, like moto's: S3 stays path-style)."""
        with self._lock:
            server = self._servers.get(label)
            if server is None:
                server = _Server(("127.0.0.1", 0), _Handler)
                server.daemon_threads = True
                server.outages = self
                server.label = label
                self._servers[label] = server
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    daemon=True,
                    name=f"aws-{label}",
                )
                self._threads.append(thread)
                thread.start()
            return f"http://localhost:{server.server_address[1]}"

    @property
    def ports(self) -> list[int]:
        with self._lock:
            return [int(s.server_address[1]) for s in self._servers.values()]

    def stop(self) -> None:
        self.restore()  # wakes stalled calls
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    # -- the switchboard -------------------------------------------------------------------------

    def fail(self, service: str, mode: str = "reset", *, function: str | None = None) -> None:
        """Make `service` unreachable for every function, or only for `function` (a logical ID)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self._lock:
            self._down[(service, function)] = mode

    def restore(self, service: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._down if service is None or k[0] == service]:
                del self._down[key]
            self._restored.notify_all()

    @contextlib.contextmanager
    def outage(self, service: str, mode: str = "reset", *, function: str | None = None) -> Iterator[None]:
        self.fail(service, mode, function=function)
        try:
            yield
        finally:
            self.restore(service)

    def mode(self, service: str, function: str) -> str | None:
        with self._lock:
            return self._down.get((service, function)) or self._down.get((service, None))

    def wait_restored(self, service: str, function: str, timeout: float) -> None:
        with self._lock:
            self._restored.wait_for(
                lambda: (service, function) not in self._down and (service, None) not in self._down, timeout
            )

    # -- what went through -------------------------------------------------------------------------

    def record(self, call: ProxiedCall) -> None:
        with self._lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[ProxiedCall]:
        with self._lock:
            return list(self._calls)

    def calls_of(
        self, *, function: str | None = None, service: str | None = None, operation: str | None = None
    ) -> list[ProxiedCall]:
        return [
            c
            for c in self.calls
            if (function is None or c.function == function)
            and (service is None or c.service == service)
            and (operation is None or c.operation == operation)
        ]

    def sent_messages(self, function: str) -> list[str]:
        """Bodies of the SendMessage calls `function` made that moto accepted."""
        return [
            c.message_body
            for c in self.calls_of(function=function, service="sqs", operation="SendMessage")
            if c.outcome == "forwarded" and c.status == 200 and c.message_body is not None
        ]


class _Server(ThreadingHTTPServer):
    outages: AwsOutages
    label: str
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def do_HEAD(self) -> None:
        self._proxy()

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def _proxy(self) -> None:
        outages = self._server.outages
        body = self._read_body()
        if body is None:
            self._reset()
            return
        service = service_of(self.headers.get("Authorization", ""), self.headers.get("X-Amz-Target", ""))
        operation = operation_of(self.command, self.headers.get("X-Amz-Target", ""), body)
        label = self._server.label
        mode = outages.mode(service, label)
        if mode == "stall":
            outages.record(ProxiedCall(label, service, operation, "stall", None))
            outages.wait_restored(service, label, _STALL_LIMIT_SECONDS)
            self._reset()  # the caller gave up long ago; a late answer would be a lie
            return
        if mode == "reset":
            outages.record(ProxiedCall(label, service, operation, "reset", None))
            self._reset()
            return
        if mode == "unavailable":
            outages.record(ProxiedCall(label, service, operation, "unavailable", None))
            self._unavailable(json_protocol="X-Amz-Target" in self.headers)
            return
        try:
            status, headers, answer = self._forward(body)
        except (OSError, http.client.HTTPException):
            self._drop_upstream()
            self._reset()
            return
        message = _message_body(body) if (service, operation) == ("sqs", "SendMessage") else None
        outages.record(ProxiedCall(label, service, operation, "forwarded", status, message))
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    return None
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        if self._upstream is None:
            host, port = self._server.outages._upstream
            self._upstream = http.client.HTTPConnection(host, port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if "Content-Length" in headers or body or self.command in ("POST", "PUT", "PATCH"):
            headers.pop("Content-Length", None)
            headers["Content-Length"] = str(len(body))
        try:
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            response = self._upstream.getresponse()
        except (OSError, http.client.HTTPException):
            # A kept-alive upstream connection moto closed: one fresh try.
            self._drop_upstream()
            host, port = self._server.outages._upstream
            self._upstream = http.client.HTTPConnection(host, port, timeout=60)
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            response = self._upstream.getresponse()
        answer = response.read()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        if self.command != "HEAD":
            kept = [(k, v) for k, v in kept if k.lower() != "content-length"]
            kept.append(("Content-Length", str(len(answer))))
        if response.will_close:
            self._drop_upstream()
        return response.status, kept, answer

    def _unavailable(self, *, json_protocol: bool) -> None:
        if json_protocol:
            body = json.dumps({"__type": "ServiceUnavailable", "message": "Service Unavailable"}).encode()
            content_type = "application/x-amz-json-1.0"
            extra = [("x-amzn-query-error", "ServiceUnavailable;Receiver")]
        else:
            body = (
                b"<?xml version='1.0' encoding='UTF-8'?><ErrorResponse><Error><Type>Receiver</Type>"
                b"<Code>ServiceUnavailable</Code><Message>Service Unavailable</Message></Error>"
                b"<RequestId>local-outage</RequestId></ErrorResponse>"
            )
            content_type = "text/xml"
            extra = []
        self.send_response_only(503)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the client gets a TCP RST, not a clean end of stream."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _drop_upstream(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        self._drop_upstream()


def service_of(authorization: str, target: str) -> str:
    found = _SCOPE.search(authorization)
    if found:
        return found.group(1)
    prefix = target.split(".", 1)[0].split("_", 1)[0]
    return _TARGETS.get(prefix, "")


def operation_of(method: str, target: str, body: bytes) -> str:
    if target:
        return target.rsplit(".", 1)[-1]
    if method == "POST" and body[:7] == b"Action=":
        action = parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return action[0]
    return method


def _message_body(body: bytes) -> str | None:
    if body[:1] == b"{":
        try:
            document = json.loads(body)
        except ValueError:
            return None
        value = document.get("MessageBody") if isinstance(document, dict) else None
        return value if isinstance(value, str) else None
    values = parse_qs(body.decode(errors="replace")).get("MessageBody")
    return values[0] if values else None
