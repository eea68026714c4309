"""The load benchmark's client: sign and POST deliveries from a pool of threads, one answer each.

The same code drives the floor and the gateway. Each delivery is signed just before its clock starts
(an exact replay reuses its original's `Fullstory-Signature`; a re-signed one waits for a later
second); the ack latency runs from the request's start (connect included) to the answer's last byte.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench._load_deliveries import Delivery
from fstriage.core.signature import sign

REPLAY_WAIT_SECONDS = 60.0  # a replay waits (at most this long) until its original was answered
REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass(slots=True)
class Answer:
    status: int = 0
    outcome: str = ""  # the answer's `status` field (queued, duplicate, ...) or its `error`
    request_id: str | None = None
    latency_ms: float = math.nan
    connect_ms: float = 0.0  # of which the TCP connect (a new connection only)
    signature: str = ""
    error: str | None = None


class Sender:
    """The same client code for the floor and the gateway: `concurrency` threads, http.client."""

    def __init__(
        self,
        url: str,
        deliveries: Sequence[Delivery],
        *,
        secret: str,
        org_id: str,
        keep_alive: bool,
        between: Callable[[], None] | None = None,
    ) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self.deliveries = list(deliveries)
        self._secret, self._org_id = secret, org_id
        self.keep_alive = keep_alive
        self._between = between  # called after each delivery, untimed (with concurrency 1)
        self.answers = [Answer() for _ in self.deliveries]
        self._answered = [threading.Event() for _ in self.deliveries]
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []

    def run(self, concurrency: int) -> float:
        """Send everything; return the wall time in seconds."""
        started = time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load-client") as pool:
                list(pool.map(self._send, range(len(self.deliveries))))
        finally:
            with self._lock:
                for connection in self._connections:
                    connection.close()
                self._connections.clear()
        return time.perf_counter() - started

    def _send(self, index: int) -> None:
        delivery, answer = self.deliveries[index], self.answers[index]
        try:
            if delivery.replay_of is not None:
                if not self._answered[delivery.replay_of].wait(REPLAY_WAIT_SECONDS):
                    answer.error = "original not answered in time"
                    return
                if not self.answers[delivery.replay_of].signature:
                    answer.error = "original was not sent"
                    return
            if delivery.kind == "replay" and delivery.replay_of is not None:
                # The exact retry: the same bytes and the same header.
                answer.signature = self.answers[delivery.replay_of].signature
            elif delivery.kind == "resigned" and delivery.replay_of is not None:
                _next_second_after(self.answers[delivery.replay_of].signature)
                answer.signature = sign(self._secret, delivery.body, self._org_id)
            else:
                answer.signature = sign(self._secret, delivery.body, self._org_id)
            headers = {"Content-Type": "application/json", "Fullstory-Signature": answer.signature}
            if not self.keep_alive:
                headers["Connection"] = "close"
            started = time.perf_counter()
            status, payload, answer.connect_ms = self._post(delivery.body, headers)
            answer.latency_ms = (time.perf_counter() - started) * 1000
            answer.status = status
            with contextlib.suppress(ValueError):
                document = json.loads(payload)
                if isinstance(document, dict):
                    answer.outcome = str(document.get("status") or document.get("error") or "")
                    request_id = document.get("request_id")
                    answer.request_id = str(request_id) if request_id else None
        except (OSError, http.client.HTTPException) as error:
            answer.error = f"{type(error).__name__}: {error}"
        finally:
            self._answered[index].set()
            if self._between is not None:
                self._between()

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        connect_ms = 0.0
        if connection is None or not self.keep_alive:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=REQUEST_TIMEOUT_SECONDS)
            started = time.perf_counter()
            connection.connect()
            connect_ms = (time.perf_counter() - started) * 1000
            if self.keep_alive:
                self._local.connection = connection
                with self._lock:
                    self._connections.append(connection)
        try:
            connection.request("POST", self._path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except BaseException:
            connection.close()
            self._local.connection = None
            raise
        if not self.keep_alive or response.will_close:
            connection.close()
            self._local.connection = None
        return response.status, payload, connect_ms


def _next_second_after(signature: str) -> None:
    """Sleep (under a second) until the clock has left the second a signature was made in."""
    stamp = next((part[2:] for part in signature.split(",") if part.startswith("t:")), "0")
    deadline = time.monotonic() + 2.0
    while int(time.time()) <= int(stamp) and time.monotonic() < deadline:
        time.sleep(0.05)
