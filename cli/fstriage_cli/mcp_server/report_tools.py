"""The tools that read stored reports: list_reports and get_report (no Fullstory call, no Activation).

They read the store `fstriage reports` reads (the stack's bucket, or a local directory), through
`fstriage_cli.reports.store`. Only report IDs are accepted, never paths or file names, so an agent
cannot make the server read a file outside the store. Emails are masked in what they return, the
complete JSON included. The store is made once, under a lock: tools run on the SDK's worker threads.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Final, Literal

from mcp.server.mcpserver.exceptions import ToolError

from fstriage.core.redact import mask_email
from fstriage.core.report import render_markdown
from fstriage_cli.mcp_server.config import REPORTS_BUCKET_ENV, ServerConfig
from fstriage_cli.mcp_server.failures import tool_errors
from fstriage_cli.mcp_server.masking import mask_emails
from fstriage_cli.reports import render
from fstriage_cli.reports.store import (
    BucketReportStore,
    DirectoryReportStore,
    ReportFilter,
    ReportNotFound,
    ReportStore,
    ReportStoreError,
)
from fstriage_cli.wording import plural

log = logging.getLogger("fstriage_cli.mcp_server")

_REPORT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,200}")
# A file name, not an ID: a directory store must never be asked for one.
_FILE_SUFFIXES: Final = (".json", ".md", ".html")
NO_STORE: Final = (
    f"no reports store is configured: set {REPORTS_BUCKET_ENV} to the stack's reports bucket, or start "
    "the server with --reports-dir DIR"
)


class ReportTools:
    """list_reports and get_report over the configured store (made on first use)."""

    def __init__(self, config: ServerConfig, *, store: ReportStore | None = None) -> None:
        self._config = config
        self._store = store
        self._lock = threading.Lock()

    def list_reports(self, status: str | None, kind: str | None, subject: str | None, limit: int) -> str:
        with tool_errors(self._config.key_source, ReportStoreError):
            store = self._open()
            filters = ReportFilter(
                statuses=frozenset({status}) if status else frozenset(),
                kinds=frozenset({kind}) if kind else frozenset(),
                subject=(subject.strip() or None) if subject else None,
                limit=limit + 1,  # one more than shown tells whether there are more
            )
            rows = list(store.list(filters))
            shown, more = rows[:limit], len(rows) > limit
            log.info("list_reports: %s from %s", plural(len(shown), "report"), store.location)
            if not shown:
                return render.empty(store.location, filtered=bool(status or kind or subject)) + "\n"
            footer = f"{plural(len(shown), 'report')} from {store.location}, newest first"
            if more:
                footer += f"; there are more: raise limit (now {limit}), or filter by status, kind or subject"
            return render.table(shown) + "\n" + footer + ". Read one with get_report(report_id).\n"

    def get_report(self, report_id: str, output: Literal["markdown", "json"]) -> str:
        with tool_errors(self._config.key_source, ReportStoreError):
            wanted = report_id.strip()
            if not _REPORT_ID.fullmatch(wanted) or wanted.lower().endswith(_FILE_SUFFIXES):
                raise ToolError(
                    f"{report_id!r} is not a report ID: give the ID list_reports shows (e.g. inv_...)"
                )
            store = self._open()
            try:
                stored = store.get(wanted)
            except ReportNotFound:
                raise ToolError(
                    f"no report {wanted!r} in {store.location}: call list_reports for the IDs it holds"
                ) from None
            if not stored.summary.readable or not stored.report:
                raise ToolError(f"the report {wanted} cannot be read: {stored.summary.error or 'empty'}")
            log.info("get_report %s as %s", wanted, output)
            if output == "json":
                return render.report_json(mask_emails(stored.report))
            markdown = stored.markdown if stored.markdown is not None else render_markdown(stored.report)
            return mask_email(markdown)  # render_markdown masks; a stored file may predate it

    def _open(self) -> ReportStore:
        with self._lock:
            if self._store is None:
                if self._config.reports_dir is not None:
                    self._store = DirectoryReportStore(self._config.reports_dir)
                elif self._config.reports_bucket:
                    self._store = BucketReportStore(self._config.reports_bucket)
                else:
                    raise ToolError(NO_STORE)
            return self._store
