"""`fstriage reports list|show|open`: parse the command line, pick the store, print, pick the exit code.

    fstriage reports list [--status S] [--kind K] [--subject TEXT] [--since WHEN] [--limit N] [--json]
    fstriage reports show ID [--format markdown|json]
    fstriage reports open ID [--print]

Each takes the source: --bucket NAME (default $FSTRIAGE_REPORTS_BUCKET), --stack NAME (reads the
stack's ReportsBucketName output) or --reports-dir DIR (what `fstriage local` collected). Data goes to
stdout; progress and notes to stderr. Exit codes: 0 ok, 1 AWS (or the browser) failed, 2 a usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import webbrowser
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TextIO

from fstriage.core.request import TRIGGER_KINDS, parse_isoformat
from fstriage_cli.progress import Progress
from fstriage_cli.reports import render
from fstriage_cli.reports.model import (
    DEFAULT_LIMIT,
    STATUSES,
    ReportFilter,
    ReportStoreError,
    StoredReport,
)
from fstriage_cli.reports.source import BUCKET_ENV, store_for
from fstriage_cli.wording import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, silence_stdout

PROG: Final = "fstriage reports"
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EXAMPLES: Final = f"""\
examples:
  {PROG} list --bucket my-stack-reportsbucket-1a2b3c --status failed,partial --since 7d
  {PROG} list --reports-dir reports --subject checkout --json
  {PROG} show inv_0123... --format json
  {PROG} open inv_0123... --print

The bucket is the stack's ReportsBucketName output; ${BUCKET_ENV} saves passing it.
Exit codes: 0 ok, 1 AWS (or the browser) failed, 2 a usage error."""


@dataclass
class Io:
    """What the command touches outside itself, replaceable in tests."""

    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    open_url: Callable[[str], bool] = webbrowser.open
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def main(argv: Sequence[str] | None = None, *, io: Io | None = None) -> int:
    """Run `fstriage reports ...`; returns the exit code."""
    io = io or Io()
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as stop:  # --help (0) or a usage error (2): argparse printed why
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        code: int = args.handler(args, io)
        io.stdout.flush()
        return code
    except CliError as error:
        io.stderr.write(f"{PROG}: {error.message}\n")
        return error.exit_code
    except ReportStoreError as error:
        io.stderr.write(f"{PROG}: {error.message}\n")
        return EXIT_USAGE if error.usage else EXIT_FAILED
    except KeyboardInterrupt:
        io.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:  # `fstriage reports list | head`: stop quietly
        silence_stdout()
        return EXIT_BROKEN_PIPE


def build_parser() -> argparse.ArgumentParser:
    source = argparse.ArgumentParser(add_help=False)
    where = source.add_argument_group("where the reports are (one of)")
    bucket_help = f"the stack's reports bucket (default: ${BUCKET_ENV})"
    where.add_argument("--bucket", metavar="NAME", help=bucket_help)
    stack_help = "a deployed stack's name: its ReportsBucketName output is read"
    where.add_argument("--stack", metavar="NAME", help=stack_help)
    where.add_argument(
        "--reports-dir", type=Path, metavar="DIR", help="a directory of reports (`fstriage local` writes one)"
    )
    where.add_argument(
        "--prefix", default="reports/", help="the key prefix in the bucket (default: reports/)"
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="List, show and open investigation reports, from the stack's bucket or a directory.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,show,open}")

    listing = commands.add_parser("list", parents=[source], help="reports, newest first")
    listing.add_argument(
        "--status", action="append", default=[], help=f"one of {', '.join(STATUSES)} (repeatable)"
    )
    listing.add_argument(
        "--kind", action="append", default=[], help=f"trigger kind: {', '.join(TRIGGER_KINDS)}"
    )
    listing.add_argument("--subject", help="a session ID, uid, email or segment (or part of one)")
    listing.add_argument(
        "--since", help="an ISO date or time (UTC unless it says), or an age: 30m, 24h, 7d, 2w"
    )
    listing.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"at most this many (default {DEFAULT_LIMIT}; 0: all)",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", parents=[source], help="one report, as Markdown or JSON")
    show.add_argument("report_id", metavar="ID", help="an investigation ID (inv_...), or a row's `where`")
    show.add_argument("--format", choices=("markdown", "json"), default="markdown")
    show.add_argument("--json", action="store_true", help="the same as --format json")
    show.set_defaults(handler=_show)

    opener = commands.add_parser("open", parents=[source], help="open the HTML report in a browser")
    opener.add_argument("report_id", metavar="ID", help="an investigation ID (inv_...), or a row's `where`")
    opener.add_argument("--print", action="store_true", help="only print the link (or path); open nothing")
    opener.set_defaults(handler=_open)
    return parser


def _list(args: argparse.Namespace, io: Io) -> int:
    store = store_for(args, io.env)
    limit = None if args.limit <= 0 else args.limit
    filters = ReportFilter(
        statuses=_choices(args.status, STATUSES, "--status"),
        kinds=_choices(args.kind, TRIGGER_KINDS, "--kind"),
        subject=args.subject or None,
        since=_since(args.since, io.now()) if args.since else None,
        # One more than shown, to say whether there are more.
        limit=None if limit is None else limit + 1,
    )
    with _progress("listing reports", io.stderr) as progress:
        rows = list(store.list(filters, progress=progress))
    truncated = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    if args.json:
        io.stdout.write(render.listing_json(rows, source=store.location, truncated=truncated))
        return EXIT_OK
    if not rows:
        filtered = bool(filters.statuses or filters.kinds or filters.subject or filters.since)
        io.stderr.write(render.empty(store.location, filtered=filtered) + "\n")
        return EXIT_OK
    io.stdout.write(render.table(rows))
    unreadable = sum(1 for row in rows if not row.readable)
    note = render.footer(
        len(rows), source=store.location, truncated=truncated, limit=limit, unreadable=unreadable
    )
    io.stderr.write(note + "\n")
    return EXIT_OK


def _show(args: argparse.Namespace, io: Io) -> int:
    stored = _get(args, io)
    if args.json or args.format == "json":
        _require_readable(stored)
        io.stdout.write(render.report_json(stored.report))
        return EXIT_OK
    if stored.markdown is None:
        _require_readable(stored)
        raise CliError(
            f"report {stored.summary.report_id} has no Markdown beside its JSON: use --format json",
            EXIT_FAILED,
        )
    io.stdout.write(stored.markdown if stored.markdown.endswith("\n") else stored.markdown + "\n")
    return EXIT_OK


def _open(args: argparse.Namespace, io: Io) -> int:
    stored = _get(args, io)
    location = stored.html_location
    if location is None:
        raise CliError(
            f"report {stored.summary.report_id} has no HTML page (it predates them): "
            f"`{PROG} show {stored.summary.report_id}` prints it",
            EXIT_FAILED,
        )
    io.stdout.write(location + "\n")
    if args.print:
        return EXIT_OK
    io.stdout.flush()
    url = location if "://" in location else Path(location).as_uri()
    if not io.open_url(url):
        raise CliError("no browser could be started here: open the link printed above", EXIT_FAILED)
    return EXIT_OK


def _get(args: argparse.Namespace, io: Io) -> StoredReport:
    store = store_for(args, io.env)
    with _progress(f"looking for {args.report_id}", io.stderr) as progress:
        return store.get(args.report_id, progress=progress)


def _require_readable(stored: StoredReport) -> None:
    summary = stored.summary
    if not summary.readable:
        raise CliError(
            f"report {summary.report_id} is unreadable ({summary.error}): {summary.where}", EXIT_FAILED
        )


def _choices(values: Sequence[str], allowed: Sequence[str], option: str) -> frozenset[str]:
    """Repeated or comma-separated values, each checked against `allowed`."""
    chosen = frozenset(part.strip() for value in values for part in value.split(",") if part.strip())
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise CliError(f"{option} {', '.join(unknown)}: not one of {', '.join(allowed)}")
    return chosen


def _since(value: str, now: datetime) -> datetime:
    """`7d`, `24h`, `30m`, `2w` before now, or an ISO date or time (UTC when it names no offset)."""
    relative = _RELATIVE.match(value.strip().lower())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        return parse_isoformat(value.strip())
    except ValueError:
        raise CliError(
            f"--since {value!r}: give an ISO date or time (2024-05-01, 2024-05-01T09:30Z) or an age (24h, 7d)"
        ) from None


@contextmanager
def _progress(label: str, stream: TextIO) -> Iterator[Callable[[str], None] | None]:
    """A spinner on a terminal; nothing at all when stderr is a pipe or a file."""
    progress = Progress(label, stream=stream)  # not started until entered
    if not progress.is_tty:
        yield None
        return
    with progress:
        yield progress.update
