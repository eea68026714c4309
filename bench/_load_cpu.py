"""Measure the load benchmark's CPU: this process by thread role, and each function's emulators.

`Cpu` reads whole-process counters (`os.times`, `/proc/<pid>/stat` of the emulator sessions);
`ThreadCpu` attributes this process's CPU during a phase to what each thread serves.
"""

from __future__ import annotations

import os
import socketserver
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._load_floor import FloorServer
from fstriage_cli.local import LocalStack
from fstriage_cli.local.rie import session_members

SAMPLE_SECONDS = 0.2  # how often ThreadCpu reads the threads' CPU clocks


@dataclass(slots=True)
class Cpu:
    """CPU seconds: this process (all its threads), and each function's emulator sessions."""

    process: float
    functions: dict[str, float]

    @classmethod
    def now(cls, stack: LocalStack) -> Cpu:
        times = os.times()
        functions: dict[str, float] = {}
        for instance in stack.emulators:
            if instance.pid is None:
                continue
            pids = {instance.pid, *session_members(instance.pid)}
            name = instance.name.split("#", 1)[0]
            functions[name] = functions.get(name, 0.0) + sum(_proc_cpu(pid) for pid in pids)
        return cls(times.user + times.system, functions)

    def since(self, before: Cpu) -> Cpu:
        return Cpu(
            self.process - before.process,
            {name: value - before.functions.get(name, 0.0) for name, value in self.functions.items()},
        )

    def line(self, wall: float) -> str:
        parts = [f"this process (clients, gateway, moto, sandbox, pollers) {self.process:.1f} s"]
        parts += [f"{name} runtimes {value:.1f} s" for name, value in sorted(self.functions.items())]
        total = self.process + sum(self.functions.values())
        return f"{'; '.join(parts)}; total {total:.1f} CPU-s in {wall:.1f} s = {total / wall:.2f} CPUs busy"


class ThreadCpu:
    """CPU time of this process's threads during a phase, by what they serve (moto, the sandbox, the
    gateway, the pollers, ...). Long-lived threads: their CPU clocks are read every SAMPLE_SECONDS.
    Request threads of socketserver-based servers (the gateway, the sandbox, moto's werkzeug server;
    one per connection, often shorter than a sample): while the phase is open,
    `ThreadingMixIn.process_request_thread` is wrapped to register each new one on start and add its
    last CPU on exit (the servers behave exactly as before). Unattributed = the process's CPU minus
    the sum (threads that ran between samples without being request threads)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.process = 0.0
        self._seen: dict[threading.Thread, tuple[str, float]] = {}
        self._ended: set[threading.Thread] = set()  # request threads already added up
        self._lock = threading.Lock()
        self._open = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-thread-cpu")
        self._process_start = 0.0
        self._original: Any = None

    def __enter__(self) -> ThreadCpu:
        for thread in threading.enumerate():  # already running: count from now on
            cpu = _thread_cpu(thread)
            if cpu is not None:
                self._seen[thread] = (_category(thread), cpu)
        self._original = socketserver.ThreadingMixIn.process_request_thread
        original, tracker = self._original, self

        def process_request_thread(server: Any, request: Any, client_address: Any) -> None:
            tracker._begin(_server_category(server))
            try:
                original(server, request, client_address)
            finally:
                tracker._end()

        socketserver.ThreadingMixIn.process_request_thread = process_request_thread  # type: ignore[method-assign,assignment]
        times = os.times()
        self._process_start = times.user + times.system
        self._open = True
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        socketserver.ThreadingMixIn.process_request_thread = self._original  # type: ignore[method-assign]
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        times = os.times()
        with self._lock:
            self._open = False
            self.process = times.user + times.system - self._process_start

    def _begin(self, category: str) -> None:
        with self._lock:
            if self._open:
                self._seen[threading.current_thread()] = (category, time.thread_time())

    def _end(self) -> None:
        with self._lock:
            entry = self._seen.pop(threading.current_thread(), None)
            self._ended.add(threading.current_thread())
            if self._open and entry is not None:
                self._add(entry[0], time.thread_time() - entry[1])

    def _add(self, category: str, seconds: float) -> None:
        self.totals[category] = self.totals.get(category, 0.0) + max(0.0, seconds)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def _sample(self) -> None:
        with self._lock:
            for thread in threading.enumerate():
                cpu = _thread_cpu(thread)
                if cpu is None or thread in self._ended:
                    continue
                category, before = self._seen.get(thread, (_category(thread), 0.0))
                self._add(category, cpu - before)
                self._seen[thread] = (category, cpu)
            for gone in [thread for thread in self._seen if not thread.is_alive()]:
                del self._seen[gone]
            self._ended = {thread for thread in self._ended if thread.is_alive()}

    def line(self) -> str:
        attributed = sum(self.totals.values())
        ranked = sorted(self.totals.items(), key=lambda kv: -kv[1])
        parts = [f"{name} {value:.1f}" for name, value in ranked if value >= 0.05]
        parts.append(f"unattributed {max(0.0, self.process - attributed):.1f}")
        return f"this process {self.process:.1f} CPU-s = " + ", ".join(parts)


def _thread_cpu(thread: threading.Thread) -> float | None:
    if thread.ident is None or not thread.is_alive():
        return None
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (OSError, ValueError):
        return None


def _category(thread: threading.Thread) -> str:
    name = thread.name
    for prefix, category in (
        ("load-client", "client threads"),
        ("poller-", "SQS pollers"),
        ("report-collector", "report collector"),
        ("logs-", "emulator log copiers"),
        ("bench-", "this sampler"),
    ):
        if name.startswith(prefix):
            return category
    # A server's accept loop runs a bound method of its server.
    server = getattr(getattr(thread, "_target", None), "__self__", None)
    if server is not None:
        return _server_category(server)
    return "main and other threads"


def _server_category(server: object) -> str:
    if isinstance(server, FloorServer):  # a bench module: no prefix below names it
        return "floor server"
    module = type(server).__module__
    for prefix, category in (
        ("werkzeug", "moto"),
        ("moto", "moto"),
        ("fstriage_cli.sandbox", "Fullstory sandbox"),
        ("fstriage_cli.local.gateway", "function URL gateway"),
    ):
        if module.startswith(prefix):
            return category
    return f"other server ({module})"


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
