"""The report store API: read investigation reports from the stack's bucket or a local directory.

    store = BucketReportStore("my-reports-bucket")          # or DirectoryReportStore("./reports")
    for row in store.list(ReportFilter(statuses=frozenset({"failed"}), limit=5)):
        print(row.report_id, row.status, row.subject)   # newest first; ReportSummary rows
    report = store.get(row.report_id)                   # StoredReport: .report, .markdown, .html_location

`fstriage reports` and the MCP server's `list_reports` / `get_report` tools both use it. A report whose
JSON cannot be read is listed as a row with status "unreadable" (and `error` set), never dropped.
Failures raise ReportStoreError (one actionable line; `.usage` says whether the caller must fix the
call); an unknown ID raises its subclass ReportNotFound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from fstriage.core.request import TRIGGER_KINDS  # the kinds a request (and so a report) can have
from fstriage_cli.reports.directory import DirectoryReportStore
from fstriage_cli.reports.model import (
    DEFAULT_LIMIT,
    STATUSES,
    UNREADABLE,
    ReportFilter,
    ReportNotFound,
    ReportStoreError,
    ReportSummary,
    StoredReport,
)
from fstriage_cli.reports.s3 import BucketReportStore

__all__ = [
    "DEFAULT_LIMIT",
    "STATUSES",
    "TRIGGER_KINDS",
    "UNREADABLE",
    "BucketReportStore",
    "DirectoryReportStore",
    "ReportFilter",
    "ReportNotFound",
    "ReportStore",
    "ReportStoreError",
    "ReportSummary",
    "StoredReport",
]


class ReportStore(Protocol):
    """Where reports are read from. `progress`, when given, is called with a short status line as the
    work goes on (for a spinner; it must be cheap)."""

    @property
    def location(self) -> str:
        """Where the store reads, for messages: `s3://bucket/reports/` or a directory path."""
        ...

    def list(
        self, filters: ReportFilter, *, progress: Callable[[str], None] | None = None
    ) -> Iterator[ReportSummary]:
        """Summaries that pass `filters`, newest first, at most `filters.limit` (lazily, for S3)."""
        ...

    def get(self, report_id: str, *, progress: Callable[[str], None] | None = None) -> StoredReport:
        """One report by its ID (`inv_...`) or by the `where` of its summary row."""
        ...
