"""Load through the local function URL: signed deliveries at concurrency 20, against a bare http.server.

    .venv/bin/python -m bench.load [--deliveries 1000] [--concurrency 20] [--keep-alive]
        [--investigators 2] [--drain-cap 600] [--replays 0.05] [--resigned 0.01]
        [--segment-alerts 0.10] [--fullstory-rate R] [--profile-rounds 30]

The whole stack runs in-process (`fstriage_cli.local.LocalStack`, `port=0`): the built webhook and
investigator under the Lambda runtime emulator, moto for AWS, the function URL gateway, Lambda's SQS
poller, the report collector and the Fullstory sandbox (seed 7, latency 0), reports in a temporary
folder. A pool of `--concurrency` client threads POSTs `--deliveries` deliveries through the
gateway, each signed with the stack's secret when it is sent:

- distinct deliveries, each a new business event (its own `data.id`): `note.created` and
  `recording.event.custom` naming sandbox sessions (half each), and `segment.trend.alert`s on the
  two segments the sandbox anchors for the `events/` samples (`--segment-alerts` of them);
- exact replays (`--replays`): the same bytes and `Fullstory-Signature` as a delivery sent at least
  100 deliveries earlier, as a retry of an answered delivery would be: expected `200 duplicate`;
- re-signed replays (`--resigned`): the same body signed again, in a later second than its original
  (so the `Fullstory-Signature` differs), as a retry signed anew would be.

Then it waits (at most `--drain-cap` seconds) until every accepted request has a report and the
queue is empty, and counts: accepted, lost, duplicated, investigated, dead-lettered (definitions in
bench/README.md). Ack latency is client-side, per delivery, from the request's start (connect
included) to the last byte of the answer. The floor is a bare stdlib `ThreadingHTTPServer` on
127.0.0.1 answering a fixed 202 JSON to any POST, hit by the same client code, concurrency and
bodies, just before the load; the ratio is gateway p50 / floor p50.

By default every delivery opens its own connection (`Connection: close`); `--keep-alive` gives each
client thread one persistent connection. Only 127.0.0.1 (and moto as localhost) is contacted; every
loop is bounded in count and time. Bottleneck profiling is printed after the results.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import http.client
import json
import math
import os
import random
import re
import socketserver
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench._report import machine
from fstriage.core.signature import sign
from fstriage_cli.events import CHECKOUT_ERRORS_ALERT, CUSTOM_EVENT, NOTE_CREATED, PAYMENT_DECLINES_ALERT
from fstriage_cli.local import CollectedReport, LocalConfig, LocalStack, LocalStackError, PolledInvocation
from fstriage_cli.local.rie import session_members
from fstriage_cli.sandbox.data import SandboxData, SandboxSession, isoformat

SEED = 20261123
REPLAY_DISTANCE = 100  # a replay follows its original by at least this many deliveries
REPLAY_WAIT_SECONDS = 60.0  # a replay waits (at most this long) until its original was answered
REQUEST_TIMEOUT_SECONDS = 30.0
VISIBILITY_TIMEOUT_SECONDS = 60  # the template's 720 s would retry a failed delivery after the cap
QUIET_WAIT_SECONDS = 10.0
SAMPLE_SECONDS = 0.2  # how often ThreadCpu reads the threads' CPU clocks
SETTLE_SECONDS = 15.0  # after draining: wait this long at most for the capture queue to empty
FULLSTORY_TIMEOUT_SECONDS = 5.0  # Fullstory gives up on a webhook delivery after about 5 s
FLOOR_ANSWER = b'{"status":"queued","request_id":"req_' + b"0" * 32 + b'"}'
DEFAULT_FULLSTORY_RATE = 8.0  # FULLSTORY_RATE_PER_SECOND's default, per investigator instance
SEGMENTS = ("checkout-errors-seg", "payment-declines-seg")  # anchored for the events/ samples
KINDS = ("note", "custom_event", "segment_alert", "replay", "resigned")
INVESTIGATOR = "InvestigatorFunction"
WEBHOOK = "WebhookFunction"
_RTDONE = re.compile(r"INVOKE RTDONE\(status: (\w+)[^)]*duration: ([\d.]+)ms\)")


# -- deliveries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    index: int
    kind: str  # note | custom_event | segment_alert | replay | resigned
    body: bytes
    replay_of: int | None = None
    session_id: str | None = None  # the session a note or custom event names (API form)


def _digits(text: str) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:16]


def _session_url(data: SandboxData, session: SandboxSession) -> str:
    """As a webhook payload writes it: `.../session/<indv>:<device>!<session>`."""
    return (
        f"{data.app_url}/ui/{data.org_id}/session/"
        f"{_digits(session.user.uid)}:{session.device_id}!{session.session_id}"
    )


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _copy(sample: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(sample)


def _note(data: SandboxData, session: SandboxSession, event_id: str, number: int) -> bytes:
    document = _copy(NOTE_CREATED)
    noted = session.created + timedelta(minutes=3)
    url = _session_url(data, session)
    document["data"].update(
        id=event_id,
        created=isoformat(noted + timedelta(seconds=20)),
        notedTime=isoformat(noted),
        text=f"Customer says 'Place order' did nothing (ticket #{5000 + number}).",
        sessionUrl=url,
        shareLink=f"{url}?share={event_id}",
        userUrl=f"{data.app_url}/ui/{data.org_id}/user/{_digits(session.user.uid)}",
    )
    return _encode(document)


def _custom(data: SandboxData, session: SandboxSession, event_id: str, number: int) -> bytes:
    document = _copy(CUSTOM_EVENT)
    document["data"].update(
        id=event_id,
        sessionUrl=_session_url(data, session),
        timestamp=isoformat(session.created + timedelta(minutes=2)),
    )
    document["data"]["properties"]["amount_real"] = round(20 + number * 0.37, 2)
    return _encode(document)


def _segment_alert(event_id: str, number: int) -> bytes:
    document = _copy(CHECKOUT_ERRORS_ALERT if number % 2 == 0 else PAYMENT_DECLINES_ALERT)
    document["data"].update(id=event_id, value=30 + number % 40)
    return _encode(document)


def make_deliveries(
    data: SandboxData,
    count: int,
    *,
    replay_share: float,
    resigned_share: float,
    segment_share: float,
    run_tag: str,
    seed: int = SEED,
) -> list[Delivery]:
    """`count` deliveries in sending order; replays come after their originals (>= REPLAY_DISTANCE)."""
    rng = random.Random(seed)
    replays, resigned = round(count * replay_share), round(count * resigned_share)
    distinct = count - replays - resigned
    if distinct <= REPLAY_DISTANCE and replays + resigned:
        raise SystemExit(f"replays need more than {REPLAY_DISTANCE} distinct deliveries")
    segments = round(distinct * segment_share)
    rest = distinct - segments
    kinds = ["segment_alert"] * segments + ["note"] * (rest - rest // 2) + ["custom_event"] * (rest // 2)
    rng.shuffle(kinds)
    sessions = list(data.sessions)
    rng.shuffle(sessions)
    originals: list[Delivery] = []
    for number, kind in enumerate(kinds):
        event_id = f"{kind.replace('_', '')}-load-{run_tag}-{number:05d}"
        session = sessions[number % len(sessions)]
        if kind == "note":
            body, named = _note(data, session, event_id, number), session.api_id
        elif kind == "custom_event":
            body, named = _custom(data, session, event_id, number), session.api_id
        else:
            body, named = _segment_alert(event_id, number), None
        originals.append(Delivery(number, kind, body, session_id=named))
    # Sort keys: a distinct delivery keeps its position; a replay lands later than its original.
    keyed: list[tuple[float, str, int]] = [(float(d.index), "distinct", d.index) for d in originals]
    for kind, how_many in (("replay", replays), ("resigned", resigned)):
        for original in rng.sample(range(distinct - REPLAY_DISTANCE), how_many):
            keyed.append((rng.uniform(original + REPLAY_DISTANCE, distinct), kind, original))
    keyed.sort()
    deliveries: list[Delivery] = []
    position = {}
    for index, (_, kind, original) in enumerate(keyed):
        source = originals[original]
        if kind == "distinct":
            position[original] = index
            deliveries.append(Delivery(index, source.kind, source.body, session_id=source.session_id))
        else:
            deliveries.append(Delivery(index, kind, source.body, position[original], source.session_id))
    return deliveries


# -- the client ------------------------------------------------------------------------------------


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


# -- the floor -------------------------------------------------------------------------------------


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


class _FloorServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: at concurrency 20 with a new connection per request,
    # the kernel then drops or resets connections (1 s SYN retransmits), which is not the least a
    # server must do. 128 is what werkzeug (moto's server) uses.
    request_queue_size = 128


@contextlib.contextmanager
def floor_server() -> Iterator[str]:
    server = _FloorServer(("127.0.0.1", 0), _FloorHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


# -- measuring -------------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    p50: float
    p90: float
    p99: float
    maximum: float
    mean: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency:
        return cls(
            len(samples),
            statistics.median(samples),
            percentile(samples, 90),
            percentile(samples, 99),
            max(samples),
            statistics.fmean(samples),
        )

    def line(self, label: str) -> str:
        return (
            f"  {label:24s} p50 {self.p50:9.2f} ms   p90 {self.p90:9.2f} ms   p99 {self.p99:9.2f} ms   "
            f"max {self.maximum:9.2f} ms   (n={self.count})"
        )


def latencies(answers: Sequence[Answer]) -> list[float]:
    return [a.latency_ms for a in answers if a.error is None and not math.isnan(a.latency_ms)]


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


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listen queue was full (TcpExt
    ListenOverflows, host-wide), or None where /proc/net/netstat is not there."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(fields["ListenOverflows"]) if "ListenOverflows" in fields else None
    return None


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
    if isinstance(server, _FloorServer):  # its module is __main__ under `python -m bench.load`
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


def rtdone_durations(log_file: Path, skip: int = 0) -> list[float]:
    """The emulator's `INVOKE RTDONE ... duration: X ms` lines (the function's own time), from line
    number `skip` of the durations on."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return []
    found = [float(m.group(2)) for m in _RTDONE.finditer(text)]
    return found[skip:]


def _settled_rtdone(log_file: Path, skip: int, expected: int) -> list[float]:
    """The emulator's log is copied by a reader thread: wait (briefly) for the expected lines."""
    deadline = time.monotonic() + 3.0
    found = rtdone_durations(log_file, skip)
    while len(found) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        found = rtdone_durations(log_file, skip)
    return found


# -- draining and counting -------------------------------------------------------------------------


@dataclass(slots=True)
class Drain:
    seconds: float  # from the last answer until drained (or the cap)
    finished: bool
    reports_seconds: float | None  # from the last answer until every accepted request had a report
    progress: list[tuple[float, int]] = field(default_factory=list)  # (seconds, reports)


class Depth:
    """Queue depth (visible + in flight + delayed) with one cached SQS client. `LocalStack.queue_depth`
    builds a new boto3 session and client on every call (measured here: 66 ms and ~90 ms of this
    process's CPU per call, against 5 ms cached), which a loop polling twice a second would add to
    this process's load."""

    ATTRIBUTES = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )

    def __init__(self, stack: LocalStack) -> None:
        self._sqs = stack.client("sqs")

    def __call__(self, queue_url: str) -> int:
        answer = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(self.ATTRIBUTES))
        return sum(int(value) for value in answer["Attributes"].values())


def drain(stack: LocalStack, wanted: set[str], cap: float, say: Callable[[str], None]) -> Drain:
    started = time.monotonic()
    deadline = started + cap
    result = Drain(0.0, False, None)
    depth = Depth(stack)
    next_note = started + 30
    while True:
        now = time.monotonic()
        got = {str(r.detail.get("request_id")) for r in stack.reports} & wanted
        if len(got) == len(wanted) and result.reports_seconds is None:
            result.reports_seconds = now - started
        if len(got) == len(wanted) and depth(stack.queue_url) == 0:
            result.finished = True
            break
        if now >= deadline:
            break
        if now >= next_note:
            result.progress.append((now - started, len(got)))
            say(f"  ... draining: {len(got)} of {len(wanted)} requests reported after {now - started:.0f} s")
            next_note += 30
        time.sleep(0.5)
    result.seconds = time.monotonic() - started
    # Reports travel EventBridge -> capture queue -> collector: let late (duplicate) ones arrive.
    assert stack.resources is not None
    capture = stack.resources.capture_queue_url
    settle_until = time.monotonic() + SETTLE_SECONDS
    while depth(capture) and time.monotonic() < settle_until:
        time.sleep(0.2)
    time.sleep(1.0)
    return result


def dead_letters(stack: LocalStack) -> Counter[str]:
    """Request IDs in the DLQ (read, not deleted; bounded)."""
    sqs = stack.client("sqs")
    found: Counter[str] = Counter()
    seen: set[str] = set()
    for _ in range(200):
        messages = (
            sqs.receive_message(
                QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
            ).get("Messages")
            or []
        )
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                found[str(json.loads(message["Body"]).get("request_id"))] += 1
            except (ValueError, AttributeError):
                found["<not a request>"] += 1
    return found


@dataclass(slots=True)
class InvestigatorLog:
    finished: Counter[str] = field(default_factory=Counter)  # "investigation finished", per request_id
    duplicates: int = 0  # idempotency answered from its record
    requeued: int = 0  # export still pending: re-queued with a delay
    retried: Counter[str] = field(default_factory=Counter)  # "will be retried", per reason
    problems: Counter[str] = field(default_factory=Counter)  # other WARNING/ERROR lines, by message


def investigator_log(log_dir: Path) -> InvestigatorLog:
    result = InvestigatorLog()
    for path in sorted(log_dir.glob(f"{INVESTIGATOR}*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = str(entry.get("message", ""))
            if message == "investigation finished":
                result.finished[str(entry.get("request_id"))] += 1
            elif message == "duplicate request; already investigated":
                result.duplicates += 1
            elif message == "segment export still pending; re-queued":
                result.requeued += 1
            elif message.startswith("investigation will be retried"):
                result.retried[message.rsplit(":", 1)[-1].strip()] += 1
            elif entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                result.problems[f"{entry.get('level')}: {message[:100]}"] += 1
    return result


# -- the run ---------------------------------------------------------------------------------------


def stack_config(work: Path, args: argparse.Namespace) -> LocalConfig:
    investigator_env = {"MAX_SESSIONS_PER_INVESTIGATION": "1", "EXPORT_POLL_DELAY_SECONDS": "0"}
    if args.fullstory_rate is not None:
        investigator_env["FULLSTORY_RATE_PER_SECOND"] = f"{args.fullstory_rate:g}"
    return LocalConfig(
        port=0,
        reports_dir=work / "reports",
        log_dir=work / "logs",
        visibility_timeout=VISIBILITY_TIMEOUT_SECONDS,
        function_env={INVESTIGATOR: investigator_env},
        investigator_concurrency=args.investigators,
    )


@dataclass(slots=True)
class Phase:
    """One pass of the client over a list of deliveries."""

    answers: list[Answer]
    wall: float
    overflows: int | None  # TcpExt ListenOverflows during the pass (host-wide)
    cpu: Cpu | None = None

    @property
    def latency(self) -> Latency:
        return Latency.of(latencies(self.answers))

    @property
    def slow_connects(self) -> int:
        """Connects that took a second or more: a SYN retransmitted after a full listen queue."""
        return sum(1 for a in self.answers if a.connect_ms >= 1000)

    @property
    def errors(self) -> Counter[str]:
        return Counter(a.error for a in self.answers if a.error)

    def transport(self) -> str:
        overflows = "n/a" if self.overflows is None else str(self.overflows)
        errors = dict(self.errors) or "none"
        return f"connects >= 1 s: {self.slow_connects}; listen-queue overflows: {overflows}; errors: {errors}"


def send(
    url: str,
    deliveries: Sequence[Delivery],
    config: LocalConfig,
    *,
    concurrency: int,
    keep_alive: bool,
    stack: LocalStack | None = None,
    between: Callable[[], None] | None = None,
) -> Phase:
    overflows = listen_overflows()
    cpu = Cpu.now(stack) if stack is not None else None
    sender = Sender(
        url,
        deliveries,
        secret=config.signing_secret,
        org_id=config.org_id,
        keep_alive=keep_alive,
        between=between,
    )
    wall = sender.run(concurrency)
    after = listen_overflows()
    return Phase(
        sender.answers,
        wall,
        None if overflows is None or after is None else after - overflows,
        Cpu.now(stack).since(cpu) if stack is not None and cpu is not None else None,
    )


def profile_notes(data: SandboxData, count: int, tag: str) -> list[Delivery]:
    return [
        Delivery(i, "note", _note(data, data.sessions[-1 - i % len(data.sessions)], f"note-{tag}-{i}", i))
        for i in range(count)
    ]


def _timed(into: list[float], call: Callable[..., Any], **arguments: Any) -> None:
    started = time.perf_counter()
    call(**arguments)
    into.append((time.perf_counter() - started) * 1000)


def moto_call_ms(stack: LocalStack, rounds: int = 40) -> dict[str, float]:
    """This process -> moto, one call at a time, on scratch resources of our own (not the stack's):
    the webhook's three calls per delivery."""
    sqs, dynamodb = stack.client("sqs"), stack.client("dynamodb")
    queue = sqs.create_queue(QueueName="bench-load-scratch")["QueueUrl"]
    table = "bench-load-scratch"
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    put: list[float] = []
    send_message: list[float] = []
    update: list[float] = []
    for number in range(rounds):
        key = {"k": {"S": f"delivery-{number}"}}
        _timed(
            put,
            dynamodb.put_item,
            TableName=table,
            Item={**key, "state": {"S": "pending"}},
            ConditionExpression="attribute_not_exists(k)",
        )
        _timed(send_message, sqs.send_message, QueueUrl=queue, MessageBody="x" * 1500)
        _timed(
            update,
            dynamodb.update_item,
            TableName=table,
            Key=key,
            UpdateExpression="SET #s = :q",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":q": {"S": "queued"}},
        )
    series = {"PutItem (conditional)": put, "SendMessage": send_message, "UpdateItem": update}
    return {name: statistics.median(values[5:]) for name, values in series.items()}


def quiet(stack: LocalStack) -> Callable[[], None]:
    """Wait (at most QUIET_WAIT_SECONDS) until the queue is empty: what the last delivery queued has
    been investigated, so the next one does not share the machine with its investigation."""

    depth = Depth(stack)

    def wait() -> None:
        deadline = time.monotonic() + QUIET_WAIT_SECONDS
        while depth(stack.queue_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.05)

    return wait


def profile(stack: LocalStack, config: LocalConfig, floor_url: str, rounds: int) -> None:
    """One delivery at a time, after the counting: where an ack's time goes. "paced": each delivery
    waits until the previous one's investigation is done, so nothing else runs; "back to back": the
    next delivery goes as soon as the answer is in (its investigation runs meanwhile). The notes are
    queued for real; nothing counts them."""
    assert stack.sandbox is not None
    webhook_log = config.log_dir / f"{WEBHOOK}.log" if config.log_dir else None
    print(f"  where an ack's time goes, one delivery at a time (medians of {rounds} real notes each):")
    for paced, keep_alive in ((True, False), (True, True), (False, False), (False, True)):
        label = f"{'paced' if paced else 'back to back'}, {'keep-alive' if keep_alive else 'new conn.'}"
        notes = profile_notes(stack.sandbox.data, rounds, f"profile-{time.time_ns()}")
        between = quiet(stack) if paced else None
        quiet(stack)()
        floor = send(floor_url, notes, config, concurrency=1, keep_alive=keep_alive)
        before = len(rtdone_durations(webhook_log)) if webhook_log else 0
        gateway = send(
            stack.webhook_url, notes, config, concurrency=1, keep_alive=keep_alive, between=between
        )
        own = _settled_rtdone(webhook_log, before, len(notes)) if webhook_log else []
        own_ms = statistics.median(own) if own else math.nan
        rest = statistics.median(
            a.latency_ms - o for a, o in zip(gateway.answers, own, strict=False) if a.error is None
        )
        statuses = dict(Counter(a.status for a in gateway.answers))
        print(
            f"    {label:26s} floor {floor.latency.p50:6.2f} ms   gateway {gateway.latency.p50:6.2f} ms = "
            f"webhook's own (emulator RTDONE) {own_ms:6.2f} ms + the rest (gateway, emulator API, TCP) "
            f"{rest:6.2f} ms   answers {statuses}"
        )
    quiet(stack)()
    moto = moto_call_ms(stack)
    print(
        "    moto, from this process, one call at a time (median): "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in moto.items())
        + f"; the three: {sum(moto.values()):.2f} ms"
    )


# -- counting --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    accepted: set[str]  # request_ids answered 202 queued
    distinct_sent: int
    not_accepted: Counter[tuple[int, str]]
    investigated: set[str]
    lost: set[str]
    duplicated: set[str]
    dead: set[str]
    dlq_messages: int
    statuses: Counter[str]
    wrong_subject: int  # note/custom reports that do not name the delivery's session first
    replays: dict[str, Counter[tuple[int, str]]]
    same_request_id: int  # replays answered with their original's request_id


def _key(answer: Answer) -> tuple[int, str]:
    return answer.status, answer.outcome or answer.error or ""


def tally(
    deliveries: Sequence[Delivery],
    answers: Sequence[Answer],
    *,
    warm_ids: set[str],
    reports: Sequence[CollectedReport],
    dlq: Counter[str],
    logs: InvestigatorLog,
) -> Tally:
    pairs = list(zip(deliveries, answers, strict=True))
    accepted = {a.request_id for _, a in pairs if a.status == 202 and a.outcome == "queued" and a.request_id}
    distinct = [a for d, a in pairs if d.replay_of is None]
    reported: Counter[str] = Counter(str(r.detail.get("request_id")) for r in reports)
    named = {a.request_id: d.session_id for d, a in pairs if a.request_id and d.session_id}
    wrong = 0
    seen: set[str] = set()
    for report in reports:
        request_id = str(report.detail.get("request_id"))
        if request_id in named and request_id not in seen:
            seen.add(request_id)
            sessions = report.load().get("sessions") or [{}]
            wrong += sessions[0].get("session_id") != named[request_id]
    return Tally(
        accepted=accepted,
        distinct_sent=len(distinct),
        not_accepted=Counter(_key(a) for a in distinct if not (a.status == 202 and a.request_id)),
        investigated={rid for rid in accepted if reported[rid]},
        lost={rid for rid in accepted if not reported[rid] and not dlq[rid]},
        duplicated={rid for rid in accepted | warm_ids if reported[rid] > 1 or logs.finished[rid] > 1},
        dead={rid for rid in accepted if dlq[rid]},
        dlq_messages=sum(dlq.values()),
        statuses=Counter(r.status for r in reports if r.detail.get("request_id") in accepted),
        wrong_subject=wrong,
        replays={
            kind: Counter(_key(a) for d, a in pairs if d.kind == kind) for kind in ("replay", "resigned")
        },
        same_request_id=sum(
            1 for d, a in pairs if d.replay_of is not None and a.request_id == answers[d.replay_of].request_id
        ),
    )


# -- the benchmark ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--keep-alive", action="store_true", help="one persistent connection per client")
    parser.add_argument(
        "--investigators", type=int, default=2, help="investigator instances (template default: 2)"
    )
    parser.add_argument("--drain-cap", type=float, default=600.0, help="seconds to wait for the reports")
    parser.add_argument("--replays", type=float, default=0.05, help="share of exact replays")
    parser.add_argument("--resigned", type=float, default=0.01, help="share of re-signed replays")
    parser.add_argument("--segment-alerts", type=float, default=0.10, help="share of the distinct ones")
    parser.add_argument(
        "--fullstory-rate",
        type=float,
        default=None,
        help="FULLSTORY_RATE_PER_SECOND for the investigator (default: its own, 8/s)",
    )
    parser.add_argument("--profile-rounds", type=int, default=30, help="0 skips the profile")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep reports and logs in this (empty) folder"
    )
    args = parser.parse_args(argv)
    if args.deliveries < 2 or args.concurrency < 1 or args.investigators < 1 or args.drain_cap <= 0:
        parser.error("need --deliveries >= 2, --concurrency >= 1, --investigators >= 1, --drain-cap > 0")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    command = " ".join(sys.orig_argv)  # exactly as run: `python -m bench load` or `-m bench.load ...`
    mode = (
        "keep-alive, one persistent connection per thread"
        if args.keep_alive
        else "a new connection per delivery (Connection: close)"
    )
    print("load: signed deliveries through the local function URL vs a bare http.server floor")
    print(f"  machine: {machine()}")
    print(f"  command: {command}")
    print(f"  client: {args.concurrency} threads (http.client), {mode}")
    started = time.monotonic()
    try:
        if args.keep is not None:
            if args.keep.exists() and any(args.keep.iterdir()):
                parser.error(f"--keep {args.keep} is not empty")
            print(f"  reports and function logs kept in {args.keep}")
            status = run(args, args.keep, say)
        else:
            with tempfile.TemporaryDirectory(prefix="fstriage-bench-load-") as scratch:
                status = run(args, Path(scratch), say)
    except LocalStackError as problem:
        print(f"  the local stack cannot run: {problem}")
        return 1
    print(f"  whole benchmark: {time.monotonic() - started:.0f} s")
    return status


def run(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> int:
    config = stack_config(work, args)
    with LocalStack(config) as stack, floor_server() as floor_url:
        assert stack.sandbox is not None and config.log_dir is not None
        rate = args.fullstory_rate if args.fullstory_rate is not None else DEFAULT_FULLSTORY_RATE
        print(
            f"  stack: started in {stack.startup_seconds:.1f} s; 1 webhook instance, {args.investigators} "
            f"investigator instances (BatchSize 2); sandbox seed 7, latency "
            f"{stack.sandbox.faults.snapshot().latency_ms} ms; investigator "
            f"MAX_SESSIONS_PER_INVESTIGATION=1, EXPORT_POLL_DELAY_SECONDS=0, "
            f"FULLSTORY_RATE_PER_SECOND={rate:g}"
            f"{'' if args.fullstory_rate is not None else ' (its default)'}; queue visibility "
            f"{VISIBILITY_TIMEOUT_SECONDS} s"
        )
        data = stack.sandbox.data
        for segment in SEGMENTS:
            if data.segment(segment) is None:
                raise SystemExit(f"the sandbox lacks the segment {segment}")
        deliveries = make_deliveries(
            data,
            args.deliveries,
            replay_share=args.replays,
            resigned_share=args.resigned,
            segment_share=args.segment_alerts,
            run_tag=str(time.time_ns()),
        )
        kinds = Counter(d.kind for d in deliveries)
        sizes = [len(d.body) for d in deliveries]
        print(
            f"  deliveries: {len(deliveries):,} = "
            + ", ".join(f"{kinds[k]} {k}" for k in KINDS)
            + f"; bodies {min(sizes)}-{max(sizes)} B (median {statistics.median(sizes):.0f} B)"
        )
        # Two real notes, one at a time: the webhook's cold start stays out of the timed run.
        warm = send(
            stack.webhook_url,
            profile_notes(data, 2, f"warmup-{time.time_ns()}"),
            config,
            concurrency=1,
            keep_alive=False,
        )
        warm_ids = {a.request_id for a in warm.answers if a.status == 202 and a.request_id}

        # The floor, just before the load: same client code, concurrency, connection mode and bodies.
        send(floor_url, deliveries[:100], config, concurrency=args.concurrency, keep_alive=args.keep_alive)
        floor = send(floor_url, deliveries, config, concurrency=args.concurrency, keep_alive=args.keep_alive)

        webhook_log = config.log_dir / f"{WEBHOOK}.log"
        rtdone_before = len(rtdone_durations(webhook_log))
        with ThreadCpu() as send_threads:
            load = send(
                stack.webhook_url,
                deliveries,
                config,
                concurrency=args.concurrency,
                keep_alive=args.keep_alive,
                stack=stack,
            )
        own = _settled_rtdone(webhook_log, rtdone_before, len(deliveries))
        accepted = {a.request_id for a in load.answers if a.status == 202 and a.request_id}
        say(f"  sent {len(deliveries)} in {load.wall:.1f} s; draining (cap {args.drain_cap:g} s) ...")

        cpu_before = Cpu.now(stack)
        invocations_before = len(stack.invocations)
        calls_before = sum(stack.sandbox.calls.values())
        with ThreadCpu() as drain_threads:
            drained = drain(stack, accepted | warm_ids, args.drain_cap, say)
        drain_cpu = Cpu.now(stack).since(cpu_before)
        fullstory_calls = sum(stack.sandbox.calls.values()) - calls_before
        invocations = list(stack.invocations)[invocations_before:]

        logs = investigator_log(config.log_dir)
        counts = tally(
            deliveries,
            load.answers,
            warm_ids=warm_ids,
            reports=stack.reports,
            dlq=dead_letters(stack),
            logs=logs,
        )
        depth = stack.queue_depth(stack.queue_url)
        warm_reported = sum(1 for r in stack.reports if r.detail.get("request_id") in warm_ids)

        print_counts(counts, logs, depth, warm_ids, warm_reported)
        ratio = print_latency(args, floor, load, own, send_threads)
        print_drain(
            args,
            drained,
            send_wall=load.wall,
            invocations=invocations,
            fullstory_calls=fullstory_calls,
            rate=rate,
            cpu=drain_cpu,
            threads=drain_threads,
        )
        if args.profile_rounds > 0:
            profile(stack, config, floor_url, args.profile_rounds)

    finished = "drained" if drained.finished else "NOT drained"
    print(
        f"  summary: accepted {len(counts.accepted)}, lost {len(counts.lost)}, duplicated "
        f"{len(counts.duplicated)}, investigated {len(counts.investigated)}, dead-lettered "
        f"{len(counts.dead)}; "
        f"ack p50 {load.latency.p50:.1f} ms, p99 {load.latency.p99:.1f} ms; floor p50 "
        f"{floor.latency.p50:.2f} ms, p99 {floor.latency.p99:.2f} ms; p50 ratio {ratio:.1f}x; "
        f"{finished} {drained.seconds:.1f} s after the last ack"
    )
    return 0 if drained.finished and not counts.lost and not counts.duplicated else 1


def print_counts(
    counts: Tally, logs: InvestigatorLog, depth: int, warm_ids: set[str], warm_reported: int
) -> None:
    print("  results (targets: 0 lost, 0 duplicated):")
    not_accepted = f"; not accepted: {dict(counts.not_accepted)}" if counts.not_accepted else ""
    print(
        f"    accepted: {len(counts.accepted)} request_ids answered 202 queued, of "
        f"{counts.distinct_sent} distinct deliveries{not_accepted}"
    )
    print(
        f"    exact replays answered {dict(counts.replays['replay'])} (expected: 200 duplicate); re-signed "
        f"replays answered {dict(counts.replays['resigned'])}; replays answered with their original's "
        f"request_id: {counts.same_request_id}"
    )
    print(
        f"    investigated: {len(counts.investigated)} accepted request_ids with a report; statuses "
        f"{dict(counts.statuses)}; notes/custom events whose report does not lead with their session: "
        f"{counts.wrong_subject}"
    )
    print(f"    lost: {len(counts.lost)}   {_verdict(not counts.lost)}")
    print(f"    duplicated: {len(counts.duplicated)}   {_verdict(not counts.duplicated)}")
    print(
        f"    dead-lettered: {len(counts.dead)} accepted request_ids ({counts.dlq_messages} DLQ messages); "
        f"main queue depth at the end: {depth}"
    )
    print(
        f"    investigator log: {sum(logs.finished.values())} 'investigation finished', {logs.duplicates} "
        f"idempotency hits (a request already done, delivered again: no second investigation), "
        f"{logs.requeued} export polls re-queued, retries {dict(logs.retried) or 0}; warm-up notes: "
        f"{len(warm_ids)} accepted, {warm_reported} reported"
    )
    if logs.problems:
        print(f"    investigator log, other warnings and errors: {dict(logs.problems.most_common(5))}")
    for label, ids in (("lost", counts.lost), ("duplicated", counts.duplicated)):
        if ids:
            print(f"    {label} request_ids (first 5): {sorted(ids)[:5]}")


def print_latency(
    args: argparse.Namespace, floor: Phase, load: Phase, own: Sequence[float], threads: ThreadCpu
) -> float:
    print(
        "  ack latency, client-side, per delivery (request start incl. connect -> last byte of the answer):"
    )
    print(floor.latency.line("floor (bare http.server)"))
    print(load.latency.line("gateway (function URL)"))
    ratio = load.latency.p50 / floor.latency.p50
    timeout_ms = FULLSTORY_TIMEOUT_SECONDS * 1000
    over = sum(1 for value in latencies(load.answers) if value >= timeout_ms)
    print(
        f"  ratio gateway p50 / floor p50: {ratio:.1f}x   "
        f"(p99s: {load.latency.p99 / floor.latency.p99:.1f}x)   "
        f"no target (recorded); acks >= Fullstory's ~{FULLSTORY_TIMEOUT_SECONDS:g} s timeout: {over}"
    )
    print(
        f"    floor:   {len(floor.answers)} in {floor.wall:.2f} s "
        f"({len(floor.answers) / floor.wall:.0f}/s); {floor.transport()}"
    )
    throughput = len(load.answers) / load.wall
    print(f"    gateway: {len(load.answers)} in {load.wall:.2f} s ({throughput:.1f}/s); {load.transport()}")
    if own:
        busy = sum(own) / 1000
        print(
            f"    the webhook's own time per delivery (emulator RTDONE, {len(own)} invocations): median "
            f"{statistics.median(own):.2f} ms, p99 {percentile(own, 99):.2f} ms; its one instance busy "
            f"{busy:.1f} s of {load.wall:.1f} s ({100 * busy / load.wall:.0f}%); Little's law: concurrency / "
            f"throughput = {1000 * args.concurrency / throughput:.0f} ms vs mean ack "
            f"{load.latency.mean:.0f} ms"
        )
    if load.cpu is not None:
        print(f"    CPU while sending: {load.cpu.line(load.wall)}")
        print(f"      {threads.line()}")
    return ratio


def print_drain(
    args: argparse.Namespace,
    drained: Drain,
    *,
    send_wall: float,
    invocations: Sequence[PolledInvocation],
    fullstory_calls: int,
    rate: float,
    cpu: Cpu,
    threads: ThreadCpu,
) -> None:
    finished = "drained" if drained.finished else f"NOT drained within the {args.drain_cap:g} s cap"
    reports_at = f"{drained.reports_seconds:.1f} s" if drained.reports_seconds is not None else "never"
    print(
        f"  drain: {finished} {drained.seconds:.1f} s after the last ack (every accepted request reported "
        f"after {reports_at}); first send -> drained {send_wall + drained.seconds:.1f} s"
    )
    if invocations:
        records = sum(len(i.message_ids) for i in invocations)
        busy: dict[str, float] = {}
        for invocation in invocations:
            busy[invocation.function] = busy.get(invocation.function, 0.0) + invocation.result.duration
        per_record = statistics.median(i.result.duration / len(i.message_ids) for i in invocations) * 1000
        errors = Counter(i.result.error for i in invocations if i.result.error)
        failed = [i for i in invocations if i.result.error]
        print(
            f"    investigator: {len(invocations)} invocations, {records} records "
            f"({records / drained.seconds:.1f}/s), median {per_record:.0f} ms per record; busy "
            + ", ".join(f"{name} {100 * b / drained.seconds:.0f}%" for name, b in sorted(busy.items()))
            + (f"; invocation errors {dict(errors)}" if errors else "")
        )
        for invocation in failed[:3]:
            payload = invocation.result.payload
            detail = payload.get("errorMessage") if isinstance(payload, dict) else payload
            print(
                f"      failed: {invocation.function}, {len(invocation.message_ids)} records, "
                f"{invocation.result.error}: {str(detail)[:300]}"
            )
    print(
        f"    Fullstory API calls (counted by the sandbox): {fullstory_calls} = "
        f"{fullstory_calls / drained.seconds:.1f}/s; the investigators' rate limiters allow {rate:g}/s "
        f"each = {rate * args.investigators:g}/s"
    )
    print(f"    CPU while draining: {cpu.line(drained.seconds)}")
    print(f"      {threads.line()}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


if __name__ == "__main__":
    raise SystemExit(main())
