"""Load through the local function URL: signed deliveries at concurrency 20, against a bare http.server.

    .venv/bin/python -m bench.load [--deliveries 1000] [--concurrency 20] [--keep-alive]
        [--investigators 2] [--drain-cap 600] [--replays 0.05] [--resigned 0.01]
        [--segment-alerts 0.10] [--fullstory-rate R] [--no-profile]

The whole stack runs in-process (`fstriage_dev.local.LocalStack`, `port=0`): the built webhook and
investigator under the Lambda runtime emulator, moto for AWS, the function URL gateway, Lambda's SQS
poller, the report collector and the Fullstory sandbox (seed 7, latency 0), reports in a temporary
folder. A pool of `--concurrency` client threads POSTs `--deliveries` deliveries through the
gateway, each signed with the stack's secret when it is sent:

- distinct deliveries, each a new business event (its own `data.id`): `note.created` and
  `recording.event.custom` naming sandbox sessions (half each), and `segment.trend.alert`s on the
  two segments the sandbox anchors for the `events/` samples (`--segment-alerts` of them);
- exact replays (`--replays`): the same bytes and `Fullstory-Signature` as a delivery sent at least
  100 deliveries earlier, as a retry of an answered delivery would be: expected `200 duplicate`;
- re-signed replays (`--resigned`): the same body signed again, in a later second.

Then it waits (at most `--drain-cap` seconds) until every accepted request has a report and the
queue is empty, and counts: accepted, lost, duplicated, investigated, dead-lettered (definitions in
bench/README.md). Ack latency is client-side, per delivery, from the request's start (connect
included) to the last byte of the answer. The floor is a bare stdlib `ThreadingHTTPServer` on
127.0.0.1 answering a fixed 202 JSON to any POST, hit by the same client code, concurrency and
bodies, just before the load; the ratio is gateway p50 / floor p50.

By default every delivery opens its own connection (`Connection: close`); `--keep-alive` gives each
client thread one persistent connection. Only 127.0.0.1 is contacted; every wait is bounded.
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
from fstriage_dev.events import CHECKOUT_ERRORS_ALERT, CUSTOM_EVENT, NOTE_CREATED, PAYMENT_DECLINES_ALERT
from fstriage_dev.local import LocalConfig, LocalStack, LocalStackError
from fstriage_dev.local.rie import session_members
from fstriage_dev.sandbox.data import SandboxData, SandboxSession, isoformat

SEED = 20261123
REPLAY_DISTANCE = 100  # a replay follows its original by at least this many deliveries
REPLAY_WAIT_SECONDS = 60.0  # a replay waits (at most this long) until its original was answered
REQUEST_TIMEOUT_SECONDS = 30.0
VISIBILITY_TIMEOUT_SECONDS = 60  # the template's 720 s would retry a failed delivery after the cap
SETTLE_SECONDS = 15.0  # after draining: wait this long at most for the capture queue to empty
FULLSTORY_TIMEOUT_SECONDS = 5.0  # Fullstory gives up on a webhook delivery after about 5 s
FLOOR_ANSWER = b'{"status":"queued","request_id":"req_' + b"0" * 32 + b'"}'
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


def _note(data: SandboxData, session: SandboxSession, event_id: str, number: int) -> bytes:
    document = copy.deepcopy(NOTE_CREATED)
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
    document = copy.deepcopy(CUSTOM_EVENT)
    document["data"].update(
        id=event_id,
        sessionUrl=_session_url(data, session),
        timestamp=isoformat(session.created + timedelta(minutes=2)),
    )
    document["data"]["properties"]["amount_real"] = round(20 + number * 0.37, 2)
    return _encode(document)


def _segment_alert(event_id: str, number: int) -> bytes:
    document = copy.deepcopy(CHECKOUT_ERRORS_ALERT if number % 2 == 0 else PAYMENT_DECLINES_ALERT)
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
    cpu_seconds: float = 0.0  # client thread CPU for this delivery
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
    ) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self.deliveries = list(deliveries)
        self._secret, self._org_id = secret, org_id
        self.keep_alive = keep_alive
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
            else:
                answer.signature = sign(self._secret, delivery.body, self._org_id)
            headers = {"Content-Type": "application/json", "Fullstory-Signature": answer.signature}
            if not self.keep_alive:
                headers["Connection"] = "close"
            cpu = time.thread_time()
            started = time.perf_counter()
            status, payload = self._post(delivery.body, headers)
            answer.latency_ms = (time.perf_counter() - started) * 1000
            answer.cpu_seconds = time.thread_time() - cpu
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

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None or not self.keep_alive:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=REQUEST_TIMEOUT_SECONDS)
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
        return response.status, payload


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


def drain(stack: LocalStack, wanted: set[str], cap: float, say: Callable[[str], None]) -> Drain:
    started = time.monotonic()
    deadline = started + cap
    result = Drain(0.0, False, None)
    next_note = started + 30
    while True:
        now = time.monotonic()
        got = {str(r.detail.get("request_id")) for r in stack.reports} & wanted
        if len(got) == len(wanted) and result.reports_seconds is None:
            result.reports_seconds = now - started
        if len(got) == len(wanted) and stack.queue_depth(stack.queue_url) == 0:
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
    while stack.queue_depth(capture) and time.monotonic() < settle_until:
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


def warm_up(stack: LocalStack, config: LocalConfig, count: int) -> list[Answer]:
    """`count` real notes, one at a time: the webhook's cold start and first clients stay out of
    the timed run. They are queued and investigated like the others (and counted apart)."""
    assert stack.sandbox is not None
    data = stack.sandbox.data
    deliveries = [
        Delivery(i, "note", _note(data, data.sessions[-1 - i], f"note-warmup-{time.time_ns()}-{i}", i))
        for i in range(count)
    ]
    sender = Sender(
        stack.webhook_url, deliveries, secret=config.signing_secret, org_id=config.org_id, keep_alive=False
    )
    sender.run(1)
    return sender.answers


def sequential_ms(
    url: str, deliveries: Sequence[Delivery], config: LocalConfig, *, keep_alive: bool
) -> float:
    sender = Sender(
        url, deliveries, secret=config.signing_secret, org_id=config.org_id, keep_alive=keep_alive
    )
    sender.run(1)
    return statistics.median(latencies(sender.answers))


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
    samples: dict[str, list[float]] = {"PutItem (conditional)": [], "SendMessage": [], "UpdateItem": []}
    for number in range(rounds):
        key = {"k": {"S": f"delivery-{number}"}}
        calls: list[tuple[str, Callable[[], Any]]] = [
            (
                "PutItem (conditional)",
                lambda: dynamodb.put_item(
                    TableName=table, Item={**key, "state": {"S": "pending"}},
                    ConditionExpression="attribute_not_exists(k)",
                ),
            ),
            ("SendMessage", lambda: sqs.send_message(QueueUrl=queue, MessageBody="x" * 1500)),
            (
                "UpdateItem",
                lambda: dynamodb.update_item(
                    TableName=table, Key=key, UpdateExpression="SET #s = :q",
                    ExpressionAttributeNames={"#s": "state"},
                    ExpressionAttributeValues={":q": {"S": "queued"}},
                ),
            ),
        ]  # fmt: skip
        for name, call in calls:
            started = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values[5:]) for name, values in samples.items()}


def profile(
    stack: LocalStack,
    config: LocalConfig,
    floor_url: str,
    log_dir: Path,
    rounds: int,
    say: Callable[[str], None],
) -> None:
    """One delivery at a time, after the counting: where an ack's time goes. The notes it sends are
    queued for real (and investigated while it runs); nothing counts them."""
    assert stack.sandbox is not None
    data = stack.sandbox.data
    tag = f"profile-{time.time_ns()}"
    batches = {
        mode: [
            Delivery(
                i, "note", _note(data, data.sessions[i % len(data.sessions)], f"note-{tag}-{mode}-{i}", i)
            )
            for i in range(rounds)
        ]
        for mode in ("close", "keep-alive")
    }
    print("  where an ack's time goes, one delivery at a time (after the drain; real notes, queued):")
    for mode, deliveries in batches.items():
        keep = mode == "keep-alive"
        floor_ms = sequential_ms(floor_url, deliveries, config, keep_alive=keep)
        before = len(rtdone_durations(log_dir / f"{WEBHOOK}.log"))
        sender = Sender(
            stack.webhook_url, deliveries, secret=config.signing_secret, org_id=config.org_id, keep_alive=keep
        )
        sender.run(1)
        gateway_ms = statistics.median(latencies(sender.answers))
        own = _settled_rtdone(log_dir / f"{WEBHOOK}.log", before, len(deliveries))
        own_ms = statistics.median(own) if own else math.nan
        print(
            f"    {mode:10s}: floor {floor_ms:6.2f} ms   gateway {gateway_ms:6.2f} ms   of which the "
            f"webhook's own time (emulator RTDONE) {own_ms:6.2f} ms -> gateway + emulator + HTTP "
            f"{gateway_ms - own_ms:6.2f} ms"
        )
        statuses = Counter(a.status for a in sender.answers)
        if set(statuses) != {202}:
            say(f"  warning: profile answers {dict(statuses)}")
    moto = moto_call_ms(stack)
    print(
        "    moto, from this process, one call at a time (median): "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in moto.items())
        + f"; the three: {sum(moto.values()):.2f} ms"
    )


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0915 -- one linear script
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
        help="FULLSTORY_RATE_PER_SECOND for the investigator (default: the investigator's own, 8/s)",
    )
    parser.add_argument("--profile-rounds", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    command = " ".join([".venv/bin/python -m bench.load", *(sys.argv[1:] if argv is None else argv)])
    mode = (
        "keep-alive (one persistent connection per client thread)"
        if args.keep_alive
        else ("a new connection per delivery (Connection: close)")
    )
    print("load: signed deliveries through the local function URL vs a bare http.server floor")
    print(f"  machine: {machine()}")
    print(f"  command: {command}")
    print(f"  client: {args.concurrency} threads (http.client), {mode}")
    try:
        with tempfile.TemporaryDirectory(prefix="fstriage-bench-load-") as scratch:
            return run(args, Path(scratch), say)
    except LocalStackError as problem:
        print(f"  the local stack cannot run: {problem}")
        return 1


def run(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> int:  # noqa: PLR0915
    config = stack_config(work, args)
    log_dir = work / "logs"
    with LocalStack(config) as stack, floor_server() as floor_url:
        assert stack.sandbox is not None
        latency_ms = stack.sandbox.faults.snapshot().latency_ms
        print(
            f"  stack: started in {stack.startup_seconds:.1f} s; 1 webhook instance, "
            f"{args.investigators} investigator instances (BatchSize 2); sandbox seed 7, latency "
            f"{latency_ms} ms; investigator MAX_SESSIONS_PER_INVESTIGATION=1, EXPORT_POLL_DELAY_SECONDS=0, "
            f"FULLSTORY_RATE_PER_SECOND={args.fullstory_rate if args.fullstory_rate else 'default (8)'}; "
            f"queue visibility {VISIBILITY_TIMEOUT_SECONDS} s"
        )
        data = stack.sandbox.data
        for segment in ("checkout-errors-seg", "payment-declines-seg"):
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
            + ", ".join(
                f"{kinds[k]} {k}" for k in ("note", "custom_event", "segment_alert", "replay", "resigned")
            )
            + f"; bodies {min(sizes)}-{max(sizes)} B (median {statistics.median(sizes):.0f})"
        )
        warm = warm_up(stack, config, 2)

        # The floor, just before the load, same client code, concurrency and bodies.
        floor_sender = Sender(
            floor_url,
            deliveries,
            secret=config.signing_secret,
            org_id=config.org_id,
            keep_alive=args.keep_alive,
        )
        Sender(
            floor_url, deliveries[:100], secret=config.signing_secret, org_id=config.org_id,
            keep_alive=args.keep_alive,
        ).run(args.concurrency)  # fmt: skip
        floor_wall = floor_sender.run(args.concurrency)
        floor = Latency.of(latencies(floor_sender.answers))

        # The load.
        webhook_log = log_dir / f"{WEBHOOK}.log"
        rtdone_before = len(rtdone_durations(webhook_log))
        cpu_before = Cpu.now(stack)
        sender = Sender(
            stack.webhook_url, deliveries, secret=config.signing_secret, org_id=config.org_id,
            keep_alive=args.keep_alive,
        )  # fmt: skip
        send_wall = sender.run(args.concurrency)
        send_cpu = Cpu.now(stack).since(cpu_before)
        gateway = Latency.of(latencies(sender.answers))
        answers = sender.answers

        accepted_ids = {
            a.request_id for a in answers if a.status == 202 and a.outcome == "queued" and a.request_id
        }
        warm_ids = {a.request_id for a in warm if a.status == 202 and a.request_id}
        say(f"  sent {len(deliveries)} in {send_wall:.1f} s; draining (cap {args.drain_cap:g} s)...")
        cpu_before_drain = Cpu.now(stack)
        invocations_before = len(stack.invocations)
        calls_before = sum(stack.sandbox.calls.values())
        drained = drain(stack, accepted_ids | warm_ids, args.drain_cap, say)
        drain_cpu = Cpu.now(stack).since(cpu_before_drain)
        fullstory_calls = sum(stack.sandbox.calls.values()) - calls_before
        own = _settled_rtdone(webhook_log, rtdone_before, len(deliveries))

        # -- counting ---------------------------------------------------------------------------
        reports = stack.reports
        reported: Counter[str] = Counter(str(r.detail.get("request_id")) for r in reports)
        statuses = Counter(r.status for r in reports if r.detail.get("request_id") in accepted_ids)
        dlq = dead_letters(stack)
        logs = investigator_log(log_dir)
        depth = stack.queue_depth(stack.queue_url)
        invocations = list(stack.invocations)[invocations_before:]
        if not args.no_profile:
            profile(stack, config, floor_url, log_dir, args.profile_rounds, say)

    by_kind: dict[str, list[Answer]] = {}
    for delivery, answer in zip(deliveries, answers, strict=True):
        by_kind.setdefault(delivery.kind, []).append(answer)
    distinct = [a for d, a in zip(deliveries, answers, strict=True) if d.replay_of is None]
    investigated = {rid for rid in accepted_ids if reported[rid]}
    lost = {rid for rid in accepted_ids if not reported[rid] and not dlq[rid]}
    dead = {rid for rid in accepted_ids if dlq[rid]}
    duplicated = {rid for rid in accepted_ids | warm_ids if reported[rid] > 1 or logs.finished[rid] > 1}
    not_accepted = Counter(
        (a.status, a.outcome or a.error or "") for a in distinct if not (a.status == 202 and a.request_id)
    )
    replay_answers = Counter((a.status, a.outcome or a.error or "") for a in by_kind.get("replay", []))
    resigned_answers = Counter((a.status, a.outcome or a.error or "") for a in by_kind.get("resigned", []))
    same_ids = sum(
        1
        for d, a in zip(deliveries, answers, strict=True)
        if d.replay_of is not None and a.request_id == answers[d.replay_of].request_id
    )

    print("  results:")
    print(
        f"    answers: {dict(sorted(Counter((a.status, a.outcome or a.error or '') for a in answers).items()))}"
    )
    print(
        f"    accepted (202 with a request_id, distinct deliveries): {len(accepted_ids)} of {len(distinct)}"
        + (f"; not accepted: {dict(not_accepted)}" if not_accepted else "")
    )
    print(
        f"    exact replays: {len(by_kind.get('replay', []))} sent, answered {dict(replay_answers)}; "
        f"re-signed replays: {len(by_kind.get('resigned', []))} sent, answered {dict(resigned_answers)}; "
        f"replays naming their original's request_id: {same_ids}"
    )
    print(
        f"    investigated (distinct accepted request_ids with a report): {len(investigated)}; report "
        f"statuses {dict(statuses)}"
    )
    print(f"    lost (accepted, no report, not in the DLQ): {len(lost)}   target 0   {_pass(not lost)}")
    print(
        f"    duplicated (request_ids with more than one report or 'investigation finished'): "
        f"{len(duplicated)}   target 0   {_pass(not duplicated)}"
    )
    print(
        f"    dead-lettered: {len(dead)} accepted request_ids ({sum(dlq.values())} DLQ messages); "
        f"main queue depth at the end: {depth}"
    )
    print(
        f"    investigator log: {sum(logs.finished.values())} 'investigation finished', "
        f"{logs.duplicates} idempotency hits (redelivered or re-queued requests already done: not "
        f"duplicates), {logs.requeued} export polls re-queued, retries {dict(logs.retried) or 0}; "
        f"warm-up: {len(warm_ids)} accepted, {sum(1 for r in warm_ids if reported[r])} reported"
    )
    if lost:
        print(f"    lost request_ids (first 5): {sorted(lost)[:5]}")
    if duplicated:
        print(f"    duplicated request_ids (first 5): {sorted(duplicated)[:5]}")

    print("  ack latency (client-side, request start incl. connect -> last byte of the answer):")
    print(floor.line("floor (bare http.server)"))
    print(gateway.line("gateway (function URL)"))
    ratio = gateway.p50 / floor.p50
    print(
        f"  ratio gateway p50 / floor p50: {ratio:.1f}x   (p99s {gateway.p99 / floor.p99:.1f}x)   no target: "
        f"recorded. Context: gateway p99 {'under' if gateway.p99 < FULLSTORY_TIMEOUT_SECONDS * 1000 else 'OVER'} "
        f"Fullstory's ~{FULLSTORY_TIMEOUT_SECONDS:g} s delivery timeout"
    )
    slow = sum(1 for value in latencies(answers) if value >= FULLSTORY_TIMEOUT_SECONDS * 1000)
    throughput = len(deliveries) / send_wall
    print(
        f"  send phase: gateway {send_wall:.1f} s ({throughput:.1f} deliveries/s), floor {floor_wall:.2f} s "
        f"({len(deliveries) / floor_wall:.0f}/s); {slow} acks took >= {FULLSTORY_TIMEOUT_SECONDS:g} s"
    )
    if own:
        busy = sum(own) / 1000
        print(
            f"    the webhook's own time per delivery (emulator RTDONE): median {statistics.median(own):.2f} ms, "
            f"p99 {percentile(own, 99):.2f} ms; its one instance busy {busy:.1f} s of {send_wall:.1f} s "
            f"({100 * busy / send_wall:.0f}%); Little: concurrency / throughput = "
            f"{1000 * args.concurrency / throughput:.0f} ms vs mean ack {gateway.mean:.0f} ms"
        )
    client_cpu = sum(a.cpu_seconds for a in answers)
    print(f"    CPU: {send_cpu.line(send_wall)}; of this process, the client threads {client_cpu:.1f} s")

    finished = "drained" if drained.finished else f"NOT drained within the {args.drain_cap:g} s cap"
    reports_at = f"{drained.reports_seconds:.1f} s" if drained.reports_seconds is not None else "never"
    print(
        f"  drain: {finished} {drained.seconds:.1f} s after the last answer (every accepted request "
        f"reported after {reports_at}); first send -> drained {send_wall + drained.seconds:.1f} s"
    )
    records = sum(len(i.message_ids) for i in invocations)
    if invocations:
        busy_by: Counter[str] = Counter()
        for invocation in invocations:
            busy_by[invocation.function] += invocation.result.duration
        per_record = statistics.median(i.result.duration / len(i.message_ids) for i in invocations) * 1000
        errors = Counter(i.result.error for i in invocations if i.result.error)
        print(
            f"    investigator: {len(invocations)} invocations, {records} records "
            f"({records / drained.seconds:.1f}/s), median {per_record:.0f} ms per record; busy "
            + ", ".join(
                f"{name} {100 * busy / drained.seconds:.0f}%" for name, busy in sorted(busy_by.items())
            )
            + (f"; invocation errors {dict(errors)}" if errors else "")
        )
    rate = float(args.fullstory_rate) if args.fullstory_rate else 8.0
    print(
        f"    Fullstory calls (sandbox): {fullstory_calls} in {drained.seconds:.1f} s = "
        f"{fullstory_calls / drained.seconds:.1f}/s; the investigators' rate limiters allow "
        f"{rate:g}/s each = {rate * args.investigators:g}/s"
    )
    print(f"    CPU: {drain_cpu.line(drained.seconds)}")
    ok = not lost and not duplicated and drained.finished
    print(
        f"  summary: accepted {len(accepted_ids)}, lost {len(lost)}, duplicated {len(duplicated)}, "
        f"investigated {len(investigated)}, dead-lettered {len(dead)}; ack p50 {gateway.p50:.1f} ms, "
        f"p99 {gateway.p99:.1f} ms; floor p50 {floor.p50:.2f} ms, p99 {floor.p99:.2f} ms; ratio {ratio:.1f}x; "
        f"drain {drained.seconds:.1f} s ({finished.split(' ')[0]})"
    )
    return 0 if ok else 1


def _pass(ok: bool) -> str:
    return "PASS" if ok else "MISS"


if __name__ == "__main__":
    raise SystemExit(main())
