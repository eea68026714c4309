"""A local Fullstory Server API: a real HTTP server on 127.0.0.1 answering the endpoints fstriage uses.

    with FullstorySandbox(seed=7) as sandbox:
        client = FullstoryClient("na1.sandbox-key", base_url=sandbox.base_url)

Answers follow Fullstory's documented Server API: shapes, status codes and `{"message","code"}`
error bodies. Auth is `Authorization: Basic <anything non-empty>`. Export downloads are served without
auth, like Fullstory's pre-signed storage URLs. Every request is recorded (`requests`, `calls`), and
every server event `POST /v2/events` creates is kept (`written_events`; see `write_back`).

This module holds the sandbox's state; `http_handler` serves it, `routes` maps paths to `endpoints`,
`exports` and `write_back`.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from http.server import ThreadingHTTPServer

from fstriage_cli.background_server import BackgroundServer
from fstriage_cli.sandbox.anchors import Anchors
from fstriage_cli.sandbox.exports import ExportStore
from fstriage_cli.sandbox.faults import Faults
from fstriage_cli.sandbox.generator import DEFAULT_APP_URL, DEFAULT_ORG_ID, generate
from fstriage_cli.sandbox.http_handler import CONTROL_ROUTE, SandboxHTTPServer, SandboxRequestHandler
from fstriage_cli.sandbox.protocol import RecordedRequest
from fstriage_cli.sandbox.write_back import WrittenEvent, WrittenEvents


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
        org_id: str = DEFAULT_ORG_ID,
        app_url: str = DEFAULT_APP_URL,
        role: str = "ADMIN",
        now: datetime | None = None,
        users: int = 30,
        faults: Faults | None = None,
        anchors: Anchors | None = None,
    ) -> None:
        self.data = generate(seed, now=now, users=users, org_id=org_id, app_url=app_url, anchors=anchors)
        self.faults = faults or Faults(seed=seed, role=role)
        super().__init__(host, port)
        self._public_url = public_url.rstrip("/") if public_url else None
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._requests: list[RecordedRequest] = []
        self.exports = ExportStore(self.data.seed)  # the segment exports started
        self.writes = WrittenEvents()  # what `POST /v2/events` created, and its idempotency keys

    # -- lifecycle ---------------------------------------------------------------------------

    def _make_server(self) -> ThreadingHTTPServer:
        server = SandboxHTTPServer(self._address, SandboxRequestHandler)
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
        return self.writes.all()

    def reset_records(self) -> None:
        """Forget recorded requests, written events and the answers kept for idempotency keys."""
        with self._lock:
            self._calls.clear()
            self._requests.clear()
        self.writes.clear()

    def record(self, entry: RecordedRequest) -> None:
        """Keep one received request (the HTTP handler calls this for every request)."""
        with self._lock:
            self._requests.append(entry)
            if entry.route != CONTROL_ROUTE:
                self._calls[entry.route] += 1
