"""The load benchmark's floor: a bare stdlib HTTP server answering a fixed 202 JSON to any POST.

Two stdlib switches keep it a floor: TCP_NODELAY, and a listen backlog of 128 instead of 5.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FLOOR_ANSWER = b'{"status":"queued","request_id":"req_' + b"0" * 32 + b'"}'


class _FloorHandler(BaseHTTPRequestHandler):
    """Reads the body, answers a fixed 202 JSON of the webhook's size. TCP_NODELAY (the stdlib
    switch), so a keep-alive answer is not held back by Nagle's algorithm."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(FLOOR_ANSWER)))
        self.end_headers()
        self.wfile.write(FLOOR_ANSWER)


class FloorServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: at concurrency 20 with a new connection per request,
    # the kernel then drops or resets connections (1 s SYN retransmits), which is not the least a
    # server must do. 128 is what werkzeug (moto's server) uses.
    request_queue_size = 128


@contextlib.contextmanager
def floor_server() -> Iterator[str]:
    server = FloorServer(("127.0.0.1", 0), _FloorHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
