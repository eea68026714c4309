"""Reports in a local directory: what `fstriage local` collects (`<dir>/<investigation_id>.json`, `.md`,
`.html`), or a copy of the bucket (`aws s3 sync s3://BUCKET/reports DIR`, day folders and all)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from fstriage.core.request import isoformat
from fstriage_cli.reports.model import (
    Progress,
    ReportFilter,
    ReportNotFound,
    ReportStoreError,
    ReportSummary,
    StoredReport,
    newest_first,
    parse_report,
    unreadable,
)

_SUFFIXES: Final = frozenset({".json", ".md", ".html"})  # a report's three files
_SEPARATORS: Final = frozenset({"/", "\\", os.sep})


class DirectoryReportStore:
    """`list` and `get` over the `*.json` files under `path` (hidden and partial files left out)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def location(self) -> str:
        return str(self.path)

    def list(self, filters: ReportFilter, *, progress: Progress | None = None) -> Iterator[ReportSummary]:
        """Summaries that pass `filters`, newest first, at most `filters.limit`. Every file is read (a
        directory holds what one machine collected); one that does not parse is an unreadable row."""
        files = self._files()
        rows: list[ReportSummary] = []
        for number, file in enumerate(files, start=1):
            if progress is not None:
                progress(f"{number} of {len(files)} read")
            summary, report = self._summary(file)
            if filters.accepts(summary, report):
                rows.append(summary)
        ordered = newest_first(rows)
        yield from ordered if filters.limit is None else ordered[: max(filters.limit, 0)]

    def get(self, report_id: str, *, progress: Progress | None = None) -> StoredReport:
        """One report by ID (`inv_...`) or by the path of any of its three files, which must lie in
        the store: a bare name is only ever looked for in the store, never in the current directory."""
        file = self._file_for(report_id.strip())
        try:
            summary, report = self._summary(file)
            markdown_file = file.with_suffix(".md")
            html_file = file.with_suffix(".html")
            markdown = markdown_file.read_text(errors="replace") if markdown_file.is_file() else None
            html = str(html_file.resolve()) if html_file.is_file() else None
        except OSError as error:  # permissions, a file that turned into a directory, a dead disk
            raise ReportStoreError(
                f"could not read {file}: {error.strerror or type(error).__name__}", usage=False
            ) from None
        return StoredReport(summary, report or {}, markdown, html)

    def _files(self) -> Sequence[Path]:
        if not self.path.is_dir():
            raise ReportStoreError(
                f"no directory {self.location}: pass the --reports-dir `fstriage local` wrote to "
                "(it prints it when it starts)",
                usage=True,
            )
        return sorted(
            file
            for file in self.path.rglob("*.json")
            if file.is_file() and not any(part.startswith(".") for part in file.relative_to(self.path).parts)
        )

    def _file_for(self, report_id: str) -> Path:
        if not report_id:
            raise ReportStoreError("no report ID given: run `fstriage reports list` for the IDs", usage=True)
        if any(separator in report_id for separator in _SEPARATORS):  # a row's `where`: a path
            given = Path(report_id)
            file = given.with_suffix(".json") if given.suffix in _SUFFIXES else given
            if file.suffix == ".json" and file.is_file() and self._holds(file):
                return file
            raise ReportNotFound(report_id, self.location)
        if report_id.startswith("."):
            raise ReportNotFound(report_id, self.location)
        base, dot, suffix = report_id.rpartition(".")
        name = (base if dot and f".{suffix}" in _SUFFIXES else report_id) + ".json"
        direct = self.path / name
        if direct.is_file() and self._holds(direct):
            return direct
        for file in self._files():  # a synced bucket keeps its day folders
            if file.name == name and self._holds(file):
                return file
        raise ReportNotFound(report_id, self.location)

    def _holds(self, file: Path) -> bool:
        """Whether `file`, symlinks followed, lies in the store (so no ID reaches a file outside it)."""
        return file.resolve().is_relative_to(self.path.resolve())

    def _summary(self, file: Path) -> tuple[ReportSummary, dict[str, Any] | None]:
        where = str(file)
        try:
            stored_at = isoformat(datetime.fromtimestamp(file.stat().st_mtime, UTC))
            body = file.read_bytes()
        except FileNotFoundError:
            raise ReportNotFound(file.stem, self.location) from None
        except OSError as error:
            return unreadable(
                file.stem, where=where, stored_at=None, error=error.strerror or str(error)
            ), None
        return parse_report(body, file.stem, where=where, stored_at=stored_at)
