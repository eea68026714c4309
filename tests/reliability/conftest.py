"""The local stack for the reliability suite, started once per session, and a driver for it.

One `fstriage local` stack (sam build, moto, the runtime emulator, the Fullstory sandbox) with:
- canary values for the signing secret, the stream token and the Fullstory API key, so every test
  that runs here also feeds the canary scan (test_local_canaries.py runs last in this directory);
- the functions' AWS calls through the outage proxy (`stack.outages`), which also counts the
  messages the webhook queued;
- two webhook instances, so a "concurrent" delivery really races the original;
- a short dedupe window, so a repeat "after the window" takes seconds, not ten minutes.

Profiles: FSTRIAGE_RELIABILITY_PROFILE=full selects the issue's sizes (`size(fast, full)`). Like
tests/e2e, a missing tool fails (not skips) when FSTRIAGE_E2E_REQUIRED is set.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from fstriage.core.report import investigation_id_for
from fstriage.core.signature import sign
from fstriage_cli.local import CollectedReport, LocalStack
from fstriage_cli.samples.values import FULLSTORY_STREAM_IP, TEST_ORG_ID
from tests.support.local_stack import started_stack

PROFILE = os.environ.get("FSTRIAGE_RELIABILITY_PROFILE", "fast").strip().lower() or "fast"
FULL = PROFILE == "full"

WEBHOOK = "WebhookFunction"
INVESTIGATOR = "InvestigatorFunction"
# Distinctive values that must never show up in a log line, a report or a Slack text.
CANARY_SIGNING_SECRET = "canary-signing-secret-4b9e2d71c0"
CANARY_STREAM_TOKEN = "canary-stream-token-8c2f61a3e5"
CANARY_API_KEY = "na1.canary-api-key-3d7b0e95f1"
CANARY_EMAIL = "canary-7f3a9@example.com"
DEDUPE_WINDOW_SECONDS = 5
# Long enough that an investigation sleeping through a storm's Retry-Afters ends before its message
# reappears; short enough that a failing one reaches the dead-letter queue in minutes.
VISIBILITY_TIMEOUT = 20
EXPORT_POLL_DELAY = 1
REPORT_TIMEOUT = 90.0
BUS_CAPTURE = "reliability-bus-capture"


def size(fast: int, full: int) -> int:
    return full if FULL else fast


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]  # lower-cased names

    @property
    def outcome(self) -> str:
        """`queued`, `duplicate`, or the error reason (`in_flight`, `queue_unavailable`, ...)."""
        return str(self.body.get("status") or self.body.get("error") or "")

    @property
    def request_id(self) -> str:
        return str(self.body.get("request_id") or "")

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        return float(value) if value is not None else None


@dataclass
class Driver:
    """Sends signed deliveries to the stack and reads what it did. Remembers every signature header
    it sent, so the canary scan can look for them."""

    stack: LocalStack
    signatures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Every re-published custom event or Stream read back from the bus capture, by delivery_id.
    _republished: list[str] = field(default_factory=list)

    def body(self, document: dict[str, Any]) -> bytes:
        return json.dumps(document, separators=(",", ":")).encode()

    def signature(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        value = sign(secret or CANARY_SIGNING_SECRET, body, TEST_ORG_ID, timestamp)
        with self._lock:
            self.signatures.append(value)
        return value

    def post(
        self,
        document: dict[str, Any] | None = None,
        *,
        body: bytes | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Answer:
        """A signed system webhook. `body` + `signature` replay exact bytes and header."""
        raw = body if body is not None else self.body(document or {})
        header = signature or self.signature(raw, timestamp=timestamp, secret=secret)
        return self.send("/", raw, {"Content-Type": "application/json", "Fullstory-Signature": header})

    def post_stream(self, document: dict[str, Any], *, token: str = CANARY_STREAM_TOKEN) -> Answer:
        return self.send(f"/streams/{token}", self.body(document), {"Content-Type": "application/json"})

    def send(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        parts = urlsplit(self.stack.webhook_url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        try:
            connection.request("POST", path, body=raw, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            answer_headers = {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()
        try:
            document = json.loads(payload) if payload else {}
        except ValueError:
            document = {"error": f"not JSON: {payload[:80]!r}"}
        return Answer(response.status, document if isinstance(document, dict) else {}, answer_headers)

    # -- what the stack did -------------------------------------------------------------------------

    def queued_request_ids(self) -> list[str]:
        """The request_id of every message the webhook put on the queue (one entry per SendMessage
        moto accepted, read at the proxy): duplicates show up as repeated IDs."""
        outages = self.stack.outages
        assert outages is not None
        return [str(json.loads(body).get("request_id")) for body in outages.sent_messages(WEBHOOK)]

    def republished(self, delivery_id: str) -> int:
        """How many "Fullstory Custom Event"/"Stream Event"s the bus carried for one delivery, read
        through a rule to an SQS queue in moto, as a downstream would."""
        sqs = self.stack.client("sqs")
        url = sqs.get_queue_url(QueueName=BUS_CAPTURE)["QueueUrl"]
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                self._republished.append(str(json.loads(message["Body"])["detail"]["delivery_id"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return self._republished.count(delivery_id)

    def reports_of(self, request_id: str) -> list[CollectedReport]:
        wanted = investigation_id_for(request_id)
        return [r for r in self.stack.reports if r.investigation_id == wanted]

    def wait_for_reports(self, request_ids: list[str], timeout: float = REPORT_TIMEOUT) -> None:
        wanted = {investigation_id_for(r): r for r in request_ids}
        found = self.stack.wait_for_investigations(wanted, timeout)
        missing = {
            request_id for investigation_id, request_id in wanted.items() if investigation_id not in found
        }
        assert not missing, f"no report for {sorted(missing)} after {timeout:g} s"

    def wait_idle(self, timeout: float = REPORT_TIMEOUT) -> None:
        """Until the investigation queue is empty (every message worked off or dead-lettered)."""
        deadline = time.monotonic() + timeout
        while self.stack.queue_depth(self.stack.queue_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.stack.queue_depth(self.stack.queue_url) == 0, "the investigation queue did not drain"


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with started_stack(
        tmp_path_factory,
        "reliability-stack",
        signing_secret=CANARY_SIGNING_SECRET,
        stream_token=CANARY_STREAM_TOKEN,
        fullstory_api_key=CANARY_API_KEY,
        source_ip=FULLSTORY_STREAM_IP,  # Streams must come from Fullstory's range
        visibility_timeout=VISIBILITY_TIMEOUT,
        webhook_concurrency=2,
        aws_outages=True,
        function_env={
            WEBHOOK: {"DEDUPE_WINDOW_SECONDS": str(DEDUPE_WINDOW_SECONDS)},
            INVESTIGATOR: {"EXPORT_POLL_DELAY_SECONDS": str(EXPORT_POLL_DELAY)},
        },
    ) as running:
        _capture_bus(running)
        yield running


def _capture_bus(stack: LocalStack) -> None:
    """A rule copying every re-published event on the stack's bus to a queue the tests read."""
    sqs, events = stack.client("sqs"), stack.client("events")
    url = sqs.create_queue(QueueName=BUS_CAPTURE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["fstriage"], "detail-type": ["Fullstory Custom Event", "Fullstory Stream Event"]}
    events.put_rule(Name=BUS_CAPTURE, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=BUS_CAPTURE, Targets=[{"Id": "capture", "Arn": arn}])


@pytest.fixture
def driver(local_stack: LocalStack) -> Iterator[Driver]:
    assert local_stack.outages is not None and local_stack.sandbox is not None
    local_stack.outages.restore()
    local_stack.sandbox.faults.reset()
    yield _DRIVERS.setdefault(id(local_stack), Driver(local_stack))
    local_stack.outages.restore()
    local_stack.sandbox.faults.reset()


# One driver per stack, so the canary scan sees every signature any test sent.
_DRIVERS: dict[int, Driver] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The canary scan runs last, so it reads the logs of every flow the suite drove."""
    items.sort(key=lambda item: item.nodeid.split("::")[0].endswith("test_local_canaries.py"))


_RESULTS: list[dict[str, Any]] = []


def record(row: str, **figures: Any) -> None:
    """Keep a measured figure for docs/reliability.md; written as JSON lines to
    $FSTRIAGE_RELIABILITY_RESULTS when it is set, and printed (pytest -s shows it)."""
    entry = {"row": row, "profile": PROFILE, **figures}
    _RESULTS.append(entry)
    line = json.dumps(entry, sort_keys=True)
    print(f"reliability: {line}")
    target = os.environ.get("FSTRIAGE_RELIABILITY_RESULTS")
    if target:
        with open(target, "a", encoding="utf-8") as sink:
            sink.write(line + "\n")
