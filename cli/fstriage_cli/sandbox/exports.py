"""Segment exports: the operations the sandbox keeps and the endpoints that start, poll and serve them.

An export completes after `export_pending_polls` polls, or `export_ready_after_seconds` after it
started (see `faults`); its download is served without auth, like Fullstory's pre-signed URLs.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fstriage_cli.sandbox.faults import FaultSettings
from fstriage_cli.sandbox.model import isoformat, parse_time
from fstriage_cli.sandbox.protocol import Call, Reply, api_error, json_reply
from fstriage_cli.sandbox.views import export_rows


@dataclass(slots=True)
class Export:
    """One export operation: its gzip payload and how far it has got."""

    operation_id: str
    export_id: str
    created: datetime
    extension: str
    payload: bytes  # gzip
    pending_left: int
    state: str = "PENDING"
    finished: datetime | None = None
    # With `export_ready_after_seconds`: ready this many seconds after `started` (monotonic), polls aside.
    ready_after: float | None = None
    started: float = 0.0

    def progress(self) -> float:
        """`estimatePctComplete`: 100 when done; linear in time for a timed export (unrounded: its
        first check, milliseconds after the start, already tells a long export from a short one), else
        40."""
        if self.state != "PENDING":
            return 100
        if self.ready_after is None:
            return 40
        if self.ready_after <= 0:
            return 99.9
        return min(99.9, 100 * (time.monotonic() - self.started) / self.ready_after)


class ExportStore:
    """The exports started, by operation ID (thread-safe); IDs are numbered per sandbox seed."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._exports: dict[str, Export] = {}
        self._numbers = 0

    def start(self, payload: bytes, extension: str, pending: int, ready_after: float | None = None) -> Export:
        with self._lock:
            self._numbers += 1
            number = self._numbers
            export = Export(
                operation_id=f"op-{self._seed}-{number:04d}",
                export_id=f"export-{self._seed}-{number:04d}",
                created=datetime.now(UTC),
                extension=extension,
                payload=payload,
                pending_left=pending,
                ready_after=ready_after,
                started=time.monotonic(),
            )
            self._exports[export.operation_id] = export
            return export

    def poll(self, operation_id: str, settings: FaultSettings) -> Export | None:
        with self._lock:
            export = self._exports.get(operation_id)
            if export is None or export.state != "PENDING" or settings.export_never_completes:
                return export
            if export.ready_after is not None:
                if time.monotonic() - export.started < export.ready_after:
                    return export
            elif export.pending_left > 0:
                export.pending_left -= 1
                return export
            export.state = "FAILED" if settings.export_fails else "COMPLETED"
            export.finished = datetime.now(UTC)
            return export

    def by_id(self, export_id: str) -> Export | None:
        with self._lock:
            return next((e for e in self._exports.values() if e.export_id == export_id), None)


def start_export(call: Call) -> Reply:
    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        return api_error(400, "request body is not valid JSON", "invalid_argument")
    if not isinstance(body, dict):
        return api_error(400, "request body must be an object", "invalid_argument")
    segment_id = body.get("segmentId")
    if not segment_id:
        return api_error(400, "segmentId is required", "required_field")
    if call.sandbox.data.segment(str(segment_id)) is None:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    if body.get("type", "TYPE_EVENT") != "TYPE_EVENT":
        return api_error(400, "the sandbox exports TYPE_EVENT only", "invalid_argument")
    export_format = body.get("format", "FORMAT_JSON")
    if export_format not in ("FORMAT_JSON", "FORMAT_NDJSON"):
        return api_error(400, "the sandbox exports FORMAT_JSON or FORMAT_NDJSON only", "invalid_argument")
    window = body.get("timeRange") or {}
    try:
        start = parse_time(window["start"]) if window.get("start") else None
        end = parse_time(window["end"]) if window.get("end") else None
    except (TypeError, ValueError, AttributeError):
        return api_error(400, "timeRange start/end must be RFC 3339 times", "invalid_argument")
    fields = [str(name) for name in body.get("fields") or [] if isinstance(name, str)]
    rows = export_rows(call.sandbox.data, str(segment_id), start=start, end=end, fields=fields)
    if export_format == "FORMAT_NDJSON":
        text, extension = "".join(json.dumps(row) + "\n" for row in rows), "ndjson"
    else:
        text, extension = json.dumps(rows), "json"
    payload = gzip.compress(text.encode(), mtime=0)
    settings = call.sandbox.faults.snapshot()
    ready_after = settings.export_ready_after_seconds if settings.export_ready_after_seconds >= 0 else None
    export = call.sandbox.exports.start(payload, extension, settings.export_pending_polls, ready_after)
    return json_reply(200, {"operationId": export.operation_id})


def operation(call: Call) -> Reply:
    export = call.sandbox.exports.poll(call.args[0], call.sandbox.faults.snapshot())
    if export is None:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    document: dict[str, Any] = {
        "id": export.operation_id,
        "type": "SEARCH_EXPORT",
        "state": export.state,
        "createdAt": isoformat(export.created),
        "estimatePctComplete": export.progress(),
    }
    if export.finished:
        document["finishedAt"] = isoformat(export.finished)
    if export.state == "COMPLETED":
        expires = export.finished + timedelta(days=1) if export.finished else export.created
        document["results"] = {"searchExportId": export.export_id, "expires": isoformat(expires)}
    if export.state == "FAILED":
        document["errorDetails"] = "export failed: the sandbox was told to fail it"
    return json_reply(200, document)


def export_results(call: Call) -> Reply:
    export = call.sandbox.exports.by_id(call.args[0])
    if export is None or export.state != "COMPLETED":
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    expires = datetime.now(UTC) + timedelta(hours=1)
    location = f"{call.sandbox.base_url}/downloads/{export.export_id}.{export.extension}.gz"
    return json_reply(200, {"location": location, "expires": isoformat(expires)})


def download(call: Call) -> Reply:
    name = call.args[0]
    export = call.sandbox.exports.by_id(name.split(".", 1)[0])
    if export is None or export.state != "COMPLETED":
        return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
    disposition = f'attachment; filename="{export.export_id}.{export.extension}.gz"'
    return Reply(200, export.payload, "application/gzip", {"Content-Disposition": disposition})
