"""What a stored report looks like to a reader: its summary row, its filters, and the errors a store raises.

Pure: no I/O. `summarise` turns a report's JSON (layers/fstriage/fstriage/schemas/report.schema.json)
into the one row `fstriage reports list` prints (`parse_report` from a stored body, as every store
reads one); `ReportFilter.accepts` decides whether it is listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from fstriage.core.redact import mask_email
from fstriage.core.request import parse_isoformat

# A store's progress callback: one short line per step of a long listing or lookup.
Progress = Callable[[str], None]

DEFAULT_LIMIT: Final = 20
# The status of a row whose JSON could not be read or parsed: listed, never dropped.
UNREADABLE: Final = "unreadable"
STATUSES: Final = ("complete", "partial", "failed", UNREADABLE)
NO_STATUS: Final = "no status field"
_MAX_SESSIONS_NAMED: Final = 1


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """One listed report. `subject` is for display (emails masked); `where` is its JSON's location
    (`s3://bucket/key` or a file path), which `get` accepts as well as the ID."""

    report_id: str
    generated_at: str | None  # the report's own time; None for an unreadable row
    stored_at: str | None  # when the store received it (S3 LastModified, file mtime), ISO 8601 UTC
    status: str  # complete | partial | failed | unreadable
    trigger_kind: str | None
    subject: str
    headline: str
    sessions: int
    error_groups: int
    activations: int
    quiet: bool
    where: str
    error: str | None = None  # why an unreadable row could not be read

    @property
    def readable(self) -> bool:
        return self.status != UNREADABLE

    @property
    def sort_time(self) -> str:
        """What newest-first orders by: the report's time, else when it was stored."""
        return self.generated_at or self.stored_at or ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One report in full: its JSON, its Markdown (None when the store has none) and where its HTML
    twin can be opened (a presigned URL or a file path; None when it has none)."""

    summary: ReportSummary
    report: dict[str, Any]
    markdown: str | None
    html_location: str | None


@dataclass(frozen=True, slots=True)
class ReportFilter:
    """Which reports to list. Empty fields filter nothing; `limit` None lists all."""

    statuses: frozenset[str] = field(default_factory=frozenset)
    kinds: frozenset[str] = field(default_factory=frozenset)
    subject: str | None = None  # case-insensitive substring of a session ID, uid, email or segment
    since: datetime | None = None  # aware; reports generated (or stored) before it are left out
    limit: int | None = DEFAULT_LIMIT

    def accepts(self, summary: ReportSummary, report: dict[str, Any] | None) -> bool:
        """Whether `summary` (and its JSON, None when unreadable) passes. An unreadable row passes
        every filter it cannot be judged by (kind, subject): only `--status` can leave it out."""
        if self.statuses and summary.status not in self.statuses:
            return False
        if self.since is not None and not _at_or_after(summary.sort_time, self.since):
            return False
        if report is None:
            return True
        if self.kinds and summary.trigger_kind not in self.kinds:
            return False
        if self.subject:
            needle = self.subject.casefold()
            return any(needle in value.casefold() for value in subject_values(report))
        return True


class ReportStoreError(Exception):
    """A failure a store reports as one actionable line. `usage` is True when the caller must fix the
    call (an unknown ID, a missing bucket), False when the storage side failed (denied, unreachable)."""

    def __init__(self, message: str, *, usage: bool) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class ReportNotFound(ReportStoreError):
    """No report has this ID (or key, or path) in the store."""

    def __init__(self, report_id: str, where: str) -> None:
        super().__init__(
            f"no report {report_id!r} in {where}: run `fstriage reports list` for the IDs it holds",
            usage=True,
        )
        self.report_id = report_id


def summarise(report: dict[str, Any], *, where: str, stored_at: str | None) -> ReportSummary:
    """The summary row of a parsed report. Tolerant: a field missing from an older or partial report
    shows as empty rather than failing the whole listing."""
    trigger = _dict(report.get("trigger"))
    cost = _dict(report.get("cost"))
    sessions, groups = report.get("sessions"), report.get("error_groups")
    status = str(report.get("status") or "")
    return ReportSummary(
        report_id=str(report.get("investigation_id") or ""),
        generated_at=_text(report.get("generated_at")),
        stored_at=stored_at,
        status=status or UNREADABLE,
        trigger_kind=_text(trigger.get("kind")),
        subject=describe_subject(report),
        headline=mask_email(str(report.get("headline") or "")),
        sessions=len(sessions) if isinstance(sessions, list) else 0,
        error_groups=len(groups) if isinstance(groups, list) else 0,
        activations=cost["activations"] if isinstance(cost.get("activations"), int) else 0,
        quiet=bool(report.get("quiet")),
        where=where,
        # Without a status the report is unreadable, and messages must say why (never "None").
        error=None if status else NO_STATUS,
    )


def parse_report(
    body: bytes, report_id: str, *, where: str, stored_at: str | None
) -> tuple[ReportSummary, dict[str, Any] | None]:
    """The summary row of a stored report's body, and its JSON (None when unreadable). A body that is
    not a JSON object with an `investigation_id` is an unreadable row named `report_id` (its file
    or key's name), never an error: one bad report must not hide the others."""
    try:
        report = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        return unreadable(report_id, where=where, stored_at=stored_at, error=f"not JSON ({error})"), None
    if not isinstance(report, dict):
        return unreadable(report_id, where=where, stored_at=stored_at, error="not a JSON object"), None
    summary = summarise(report, where=where, stored_at=stored_at)
    if not summary.report_id:
        return unreadable(report_id, where=where, stored_at=stored_at, error="no investigation_id"), None
    return summary, report


def unreadable(report_id: str, *, where: str, stored_at: str | None, error: str) -> ReportSummary:
    """The row of a report whose JSON could not be read or parsed."""
    return ReportSummary(
        report_id=report_id,
        generated_at=None,
        stored_at=stored_at,
        status=UNREADABLE,
        trigger_kind=None,
        subject="",
        headline=f"unreadable: {error}",
        sessions=0,
        error_groups=0,
        activations=0,
        quiet=False,
        where=where,
        error=error,
    )


def describe_subject(report: dict[str, Any]) -> str:
    """Whom or what the report is about, for one column: a segment, a metric, a user or sessions."""
    trigger = _dict(report.get("trigger"))
    segment = _dict(trigger.get("segment"))
    alert = _dict(trigger.get("alert"))
    subject = _dict(trigger.get("subject"))
    if segment.get("name") or segment.get("id"):
        return f'segment "{segment.get("name") or segment.get("id")}"'
    if trigger.get("kind") == "metric_alert":
        return f'metric "{alert.get("metric_name") or alert.get("name") or "unnamed"}"'
    if subject.get("uid"):  # a uid is often an email
        return f"user {mask_email(str(subject['uid']))}"
    if subject.get("email"):
        return f"user {mask_email(str(subject['email']))}"
    session_ids = [str(s) for s in subject.get("session_ids") or []]
    if session_ids:
        more = len(session_ids) - _MAX_SESSIONS_NAMED
        return f"session {session_ids[0]}" + (f" (+{more} more)" if more > 0 else "")
    key = _dict(report.get("continuity")).get("subject_key")
    return mask_email(str(key)) if key else ""


def subject_values(report: dict[str, Any]) -> list[str]:
    """Every value `--subject` matches against: session IDs, uids, emails, segment and metric names."""
    trigger = _dict(report.get("trigger"))
    segment = _dict(trigger.get("segment"))
    alert = _dict(trigger.get("alert"))
    subject = _dict(trigger.get("subject"))
    values: list[Any] = [
        segment.get("id"),
        segment.get("name"),
        alert.get("name"),
        alert.get("metric_name"),
        alert.get("segment_id"),
        alert.get("segment_name"),
        subject.get("uid"),
        subject.get("email"),
        *(subject.get("session_ids") or []),
        _dict(report.get("continuity")).get("subject_key"),
    ]
    for session in report.get("sessions") or []:
        if isinstance(session, dict):
            user = _dict(session.get("user"))
            values += [session.get("session_id"), user.get("uid"), user.get("email")]
    return [str(value) for value in values if value]


def newest_first(summaries: list[ReportSummary]) -> list[ReportSummary]:
    """Newest first by the report's own time (stored time for unreadable rows); ties by ID."""
    return sorted(summaries, key=lambda s: (_sortable(s.sort_time), s.report_id), reverse=True)


def _sortable(value: str) -> str:
    """ISO 8601 with offsets normalised to UTC, so strings compare as times."""
    try:
        return parse_isoformat(value).astimezone(UTC).isoformat(timespec="microseconds")
    except ValueError:
        return value


def _at_or_after(value: str, since: datetime) -> bool:
    try:
        return parse_isoformat(value) >= since
    except ValueError:
        return True  # no readable time: keep it rather than hide it


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
