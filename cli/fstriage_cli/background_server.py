"""A local HTTP service on its own daemon thread (the Fullstory sandbox, the FME stand-in)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Self


class BackgroundServer:
    """Start/stop and a context manager around a `ThreadingHTTPServer` that `_make_server` builds."""

    _thread_name = "local-http"

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    def start(self) -> Self:
        if self._server is None:
            self._server = self._make_server()
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},
                daemon=True,
                name=self._thread_name,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1]) if self._server is not None else 0

    def _bound_url(self, what: str) -> str:
        if self._server is None:
            raise RuntimeError(f"the {what} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
