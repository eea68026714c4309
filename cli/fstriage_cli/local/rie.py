"""A built function under the Lambda Runtime Interface Emulator, on the host (no container).

Each emulator gets its own 127.0.0.1 ports: `--runtime-interface-emulator-address` (where we invoke)
and `--runtime-api-address` (its internal runtime API, 127.0.0.1:9001 by default, so a second
emulator without it fails with "address already in use"). Never pass `--help` to the emulator: it
runs "--help" as the bootstrap and hangs. Each emulator leads its own session (it puts its runtime in
a process group of its own, inside that session), so stopping the session stops the runtime too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fstriage_cli.local.config import LocalStackError

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
_ERROR_KEYS = {"errorMessage", "errorType", "stackTrace", "requestId", "cause"}


@dataclass(frozen=True, slots=True)
class Invocation:
    payload: Any  # the function's answer (or its error document)
    error: str | None  # None: the function returned; else the error type (unhandled, timeout, ...)
    duration: float


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class EmulatedFunction:
    """One emulator process running one function instance; invocations are serialised, as Lambda
    sends one event at a time to an execution environment."""

    def __init__(
        self,
        name: str,
        *,
        rie: Path,
        runtime_python: Path,
        code_dir: Path,
        layer_dirs: list[Path],
        handler: str,
        environment: Mapping[str, str],
        timeout: int,
        log_file: Path | None,
        echo_logs: bool = False,
    ) -> None:
        self.name = name
        self._rie = rie
        self._python = runtime_python
        self._code_dir = code_dir
        self._layers = layer_dirs
        self._handler = handler
        self._environment = dict(environment)
        self.timeout = timeout
        self._log_file = log_file
        self._echo = echo_logs
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self.port = 0
        self.runtime_api_port = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def ports(self) -> tuple[int, int]:
        return self.port, self.runtime_api_port

    def environment(self) -> dict[str, str]:
        """The process environment: built from scratch, so nothing (no real AWS credentials, no
        profile, no config file) leaks in from ours."""
        python_path = [str(self._code_dir), *(str(layer / "python") for layer in self._layers)]
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(python_path),
            # Lambda's /opt is read-only and sam build writes no .pyc: keep the build as built.
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "LAMBDA_TASK_ROOT": str(self._code_dir),
            "_HANDLER": self._handler,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            **self._environment,
        }

    def start(self, *, attempts: int = 3, timeout: float = 15.0) -> EmulatedFunction:
        for attempt in range(attempts):
            self.port, self.runtime_api_port = free_port(), free_port()
            if self.port == self.runtime_api_port:
                continue
            self._spawn()
            if self._wait_ready(timeout):
                return self
            self.stop()
            if attempt == attempts - 1:
                break
        raise LocalStackError(f"{self.name}: the runtime emulator did not start (see {self._log_file})")

    def _spawn(self) -> None:
        command = [
            str(self._rie),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{self.runtime_api_port}",
            str(self._python),
            "-m",
            "awslambdaric",
            self._handler,
        ]
        self._process = subprocess.Popen(  # noqa: S603 -- our own binaries, fixed arguments
            command,
            cwd=self._code_dir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its runtime too
        )
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._copy_logs, args=(self._process.stdout,), daemon=True, name=f"logs-{self.name}"
        )
        self._reader.start()

    def _copy_logs(self, stream: IO[bytes]) -> None:
        sink = self._log_file.open("ab") if self._log_file is not None else None
        try:
            for line in iter(stream.readline, b""):
                if sink is not None:
                    sink.write(line)
                    sink.flush()
                if self._echo:
                    sys.stderr.write(f"[{self.name}] {line.decode(errors='replace')}")
        finally:
            if sink is not None:
                sink.close()

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            if port_open(self.port):
                return True
            time.sleep(0.02)
        return False

    def invoke(self, event: Any) -> Invocation:
        body = json.dumps(event).encode()
        with self._lock:
            started = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout + 15)
            try:
                connection.request(
                    "POST", INVOKE_PATH, body=body, headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                raw = response.read()
                function_error = response.getheader("X-Amz-Function-Error")
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                return Invocation(None, f"EmulatorUnavailable: {error}", time.monotonic() - started)
            finally:
                connection.close()
        duration = time.monotonic() - started
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        if status >= 400:
            return Invocation(payload, f"EmulatorError: HTTP {status}", duration)
        if function_error or _looks_like_error(payload):
            kind = payload.get("errorType") if isinstance(payload, dict) else None
            return Invocation(payload, str(kind or function_error or "Unhandled"), duration)
        return Invocation(payload, None, duration)

    def stop(self, grace: float = 3.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        _stop_session(process, grace)
        if process.stdout is not None:
            process.stdout.close()
        if self._reader is not None:
            self._reader.join(timeout=2)
            self._reader = None


def _looks_like_error(payload: Any) -> bool:
    return (
        isinstance(payload, dict)
        and bool(payload)
        and set(payload) <= _ERROR_KEYS
        and ("errorType" in payload or "errorMessage" in payload)
    )


def session_members(session: int) -> list[int]:
    """PIDs in the session `session` (from /proc). The emulator leads its own session, and starts its
    Python runtime in a process group of its own inside it, so the session is what holds both."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == session:
            members.append(int(stat.parent.name))
    return members


def _stop_session(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the emulator (it stops its runtime), then SIGKILL whatever is left of its session."""
    session = process.pid  # start_new_session: the session ID is the leader's PID
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in [session, *session_members(session)]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            process.poll()  # reap the leader, or it lingers as a zombie in the session
            if process.returncode is not None and not session_members(session):
                return
            time.sleep(0.02)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
