"""Reports out of the stack: "Investigation Completed" events (captured from EventBridge into an SQS
queue) -> the report's S3 objects -> `<reports-dir>/<investigation_id>.json`, `.md` and `.html`."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fstriage.adapters.outputs import EVENT_DETAIL_TYPE
from fstriage.core.republish import EVENT_SOURCE
from fstriage_cli.local.poller import RECEIVE_WAIT_SECONDS


@dataclass(frozen=True, slots=True)
class CollectedReport:
    investigation_id: str
    status: str
    json_path: Path
    markdown_path: Path
    detail: dict[str, Any]  # the event's detail
    html_path: Path | None = None  # None: the event named no HTML twin

    @property
    def report_url(self) -> str | None:
        """The event's presigned link to the HTML report (locally, it points at moto's S3)."""
        url = self.detail.get("report_url")
        return url if isinstance(url, str) else None

    def load(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.json_path.read_text())
        return report


class ReportCollector:
    def __init__(
        self,
        *,
        client_factory: Callable[[str], Any],
        capture_queue_url: str,
        reports_dir: Path,
        stop: threading.Event,
        on_report: Callable[[CollectedReport], None] | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._queue_url = capture_queue_url
        self.reports_dir = reports_dir
        self._stop = stop
        self._on_report = on_report
        self._reports: list[CollectedReport] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    @property
    def reports(self) -> list[CollectedReport]:
        with self._changed:
            return list(self._reports)

    def start(self) -> None:
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, daemon=True, name="report-collector")
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[CollectedReport]:
        """Wait until at least `count` reports arrived (since the stack started); return them all.
        Raises TimeoutError with what did arrive."""
        with self._changed:
            if not self._wait_until(lambda: len(self._reports) >= count, timeout):
                raise TimeoutError(
                    f"{len(self._reports)} of {count} reports after {timeout:g} s: "
                    + ", ".join(r.investigation_id for r in self._reports)
                )
            return list(self._reports)

    def wait_for_ids(self, investigation_ids: Collection[str], timeout: float) -> dict[str, CollectedReport]:
        """Wait until a report arrived for every one of `investigation_ids`, or the timeout; return those
        that did, by ID (the first report of each, if an investigation reported more than once)."""
        wanted = set(investigation_ids)
        with self._changed:
            self._wait_until(lambda: wanted <= {r.investigation_id for r in self._reports}, timeout)
            found: dict[str, CollectedReport] = {}
            for report in self._reports:
                if report.investigation_id in wanted:
                    found.setdefault(report.investigation_id, report)
            return found

    def _wait_until(self, done: Callable[[], bool], timeout: float) -> bool:
        """With `_changed` held: wait until `done()`; False at the timeout or once the stack stops. Wakes
        at least every 0.5 s to see the stop."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                return False
            self._changed.wait(min(left, 0.5))
        return True

    def _run(self) -> None:
        sqs, s3 = self._client_factory("sqs"), self._client_factory("s3")
        while not self._stop.is_set():
            try:
                answer = sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=RECEIVE_WAIT_SECONDS
                )
                for message in answer.get("Messages") or []:
                    self._take(s3, message)
                    sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception as error:  # moto stopping, or a bad event: note it and go on
                if self._stop.wait(0.5):
                    return
                self.errors.append(f"{type(error).__name__}: {error}")

    def _take(self, s3: Any, message: dict[str, Any]) -> None:
        event = json.loads(message["Body"])
        if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
            return
        detail = event.get("detail") or {}
        stored = detail.get("report") or {}
        investigation_id = str(detail["investigation_id"])
        if not investigation_id or "/" in investigation_id or investigation_id.startswith("."):
            raise ValueError(f"unexpected investigation_id {investigation_id!r}")
        paths = {}
        for key, suffix in (("json_key", ".json"), ("markdown_key", ".md"), ("html_key", ".html")):
            if key == "html_key" and not stored.get(key):
                continue
            body = s3.get_object(Bucket=stored["bucket"], Key=stored[key])["Body"].read()
            paths[suffix] = _write(self.reports_dir / f"{investigation_id}{suffix}", body)
        report = CollectedReport(
            investigation_id=investigation_id,
            status=str(detail.get("status", "")),
            json_path=paths[".json"],
            markdown_path=paths[".md"],
            detail=detail,
            html_path=paths.get(".html"),
        )
        with self._changed:
            self._reports.append(report)
            self._changed.notify_all()
        if self._on_report is not None:
            self._on_report(report)


def _write(path: Path, body: bytes) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(body)
    os.replace(partial, path)
    return path
