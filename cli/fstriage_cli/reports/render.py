"""How `fstriage reports` prints: the listing as a table or JSON, and one report as Markdown or JSON.

Pure: strings in, strings out. Emails are already masked in a summary's subject and headline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Any, Final

from fstriage.core.request import parse_isoformat
from fstriage_cli.reports.model import ReportSummary
from fstriage_cli.wording import format_table, plural

HEADLINE_CHARS: Final = 72
COLUMNS: Final = ("GENERATED (UTC)", "STATUS", "KIND", "SESSIONS", "GROUPS", "ID", "SUBJECT", "HEADLINE")


def table(rows: Sequence[ReportSummary]) -> str:
    """One line per report under a header, columns aligned; the headline is cut to stay readable."""
    return format_table([_cells(row) for row in rows], COLUMNS)


def listing_json(rows: Sequence[ReportSummary], *, source: str, truncated: bool) -> str:
    """The listing for machines: `{"source", "truncated", "reports": [ReportSummary as dict]}`."""
    document: dict[str, Any] = {
        "source": source,
        "truncated": truncated,
        "reports": [row.to_dict() for row in rows],
    }
    return json.dumps(document, indent=2) + "\n"


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def footer(count: int, *, source: str, truncated: bool, limit: int | None, unreadable: int) -> str:
    """The line under a listing (stderr): how many, from where, and how to see more."""
    text = f"{plural(count, 'report')} from {source}, newest first"
    if truncated and limit is not None:
        text += f"; there are more: --limit {limit * 5} (or --limit 0 for all), or narrow with --since"
    if unreadable:
        text += f"; {unreadable} unreadable (status 'unreadable': `fstriage reports show ID` says why)"
    return text


def empty(source: str, *, filtered: bool) -> str:
    if filtered:
        return f"no reports in {source} match these filters"
    return f"no reports in {source} yet"


def _cells(row: ReportSummary) -> tuple[str, ...]:
    return (
        _minute(row.sort_time),
        row.status + (" (quiet)" if row.quiet else ""),
        row.trigger_kind or "-",
        str(row.sessions) if row.readable else "-",
        str(row.error_groups) if row.readable else "-",
        row.report_id,
        row.subject or "-",
        _cut(row.headline),
    )


def _minute(value: str) -> str:
    """`2024-05-01T14:34:56.789+02:00` -> `2024-05-01 12:34`: in UTC, as the column header says, and
    without seconds (the listing never needs them). A value that is not a time is shown as it is."""
    try:
        moment = parse_isoformat(value)
    except ValueError:
        return value or "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _cut(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= HEADLINE_CHARS else line[: HEADLINE_CHARS - 1] + "…"
