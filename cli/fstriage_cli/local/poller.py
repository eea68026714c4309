"""The SQS event source, locally: what Lambda's poller does for a function with an SQS event.

- receive up to `BatchSize` messages; with `MaximumBatchingWindowInSeconds` > 0 keep gathering
  until the batch is full or the window (counted from the first message) has passed;
- invoke the function with records shaped like Lambda's (`messageId`, `receiptHandle`, `body`,
  `attributes` with `ApproximateReceiveCount`, `messageAttributes`, `md5OfBody`, `eventSource`,
  `eventSourceARN`, `awsRegion`);
- delete the records that succeeded. With `ReportBatchItemFailures`, the ones listed in
  `batchItemFailures` stay (an unknown or empty identifier fails the whole batch, as on Lambda); when
  the invocation fails, all of them stay. What stays becomes visible again after the queue's
  visibility timeout, and SQS moves it to the dead-letter queue after `maxReceiveCount` receives.
- message delays and visibility are SQS's business: the poller never changes either.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fstriage_cli.local.rie import EmulatedFunction, Invocation
from fstriage_cli.local.template import SqsEventSource

RECEIVE_WAIT_SECONDS = 1  # short long-polls, so a stop is noticed within a second


@dataclass
class PollerStats:
    invocations: int = 0
    records: int = 0
    deleted: int = 0
    failed: int = 0  # records left on the queue for a retry
    errors: list[str] = field(default_factory=list)  # invocation errors (types)


def lambda_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda hands it to a function."""
    attributes = {str(k): str(v) for k, v in (message.get("Attributes") or {}).items()}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {
            str(name): _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [_b64(v) for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = _b64(value["BinaryValue"])
    return converted


def _b64(value: Any) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else str(value).encode()).decode()


def failed_message_ids(invocation: Invocation, message_ids: list[str], *, partial: bool) -> set[str]:
    """Which records stay on the queue after an invocation."""
    if invocation.error is not None:
        return set(message_ids)
    if not partial:
        return set()
    payload = invocation.payload
    if not isinstance(payload, dict):
        return set()
    failures = payload.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    wanted = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)  # Lambda treats an invalid identifier as a failed batch
        wanted.add(str(identifier))
    return wanted


class SqsPoller:
    """One poller per function instance (the event source's concurrency), each in its own thread."""

    def __init__(
        self,
        *,
        name: str,
        client_factory: Callable[[], Any],
        queue_url: str,
        queue_arn: str,
        region: str,
        source: SqsEventSource,
        function: EmulatedFunction,
        stop: threading.Event,
        on_invocation: Callable[[list[dict[str, Any]], Invocation, set[str]], None] | None = None,
    ) -> None:
        self.name = name
        self._client_factory = client_factory
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._source = source
        self._function = function
        self._stop = stop
        self._on_invocation = on_invocation
        self.stats = PollerStats()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        sqs = self._client_factory()
        while not self._stop.is_set():
            try:
                messages = self._collect(sqs)
                if messages:
                    self._deliver(sqs, messages)
            except Exception as error:  # moto stopping, or a transient error: SQS keeps the messages
                if self._stop.wait(0.5):
                    return
                self.stats.errors.append(f"{type(error).__name__}: {error}")

    def _collect(self, sqs: Any) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        window_ends: float | None = None
        size = self._source.batch_size
        while len(batch) < size and not self._stop.is_set():
            wait = RECEIVE_WAIT_SECONDS
            if window_ends is not None:
                left = window_ends - time.monotonic()
                if left <= 0:
                    break
                wait = max(0, min(wait, int(left)))
            answer = sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(10, size - len(batch)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = answer.get("Messages") or []
            batch.extend(received)
            if batch and self._source.batching_window <= 0:
                break
            if batch and window_ends is None:
                window_ends = time.monotonic() + self._source.batching_window
            if not received and window_ends is not None and wait == 0:
                time.sleep(0.05)
        return batch

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        records = [lambda_record(m, queue_arn=self._queue_arn, region=self._region) for m in messages]
        invocation = self._function.invoke({"Records": records})
        if self._stop.is_set() and invocation.error is not None:
            return  # the emulator was stopped under it; SQS keeps the messages
        ids = [r["messageId"] for r in records]
        failed = failed_message_ids(invocation, ids, partial=self._source.report_batch_item_failures)
        done = [
            {"Id": str(index), "ReceiptHandle": r["receiptHandle"]}
            for index, r in enumerate(records)
            if r["messageId"] not in failed
        ]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=done[start : start + 10])
        self.stats.invocations += 1
        self.stats.records += len(records)
        self.stats.deleted += len(done)
        self.stats.failed += len(failed)
        if invocation.error is not None:
            self.stats.errors.append(invocation.error)
        if self._on_invocation is not None:
            self._on_invocation(records, invocation, failed)
