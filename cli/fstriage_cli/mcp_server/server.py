"""The MCP server itself: which tools it offers (fewer when read-only), how they are described, and stdio.

Each tool's description states what it costs in Fullstory Activations, so an agent (and the person
approving its calls) can weigh it. `build_server` is what the tests drive in-process; `main` serves it
over stdio, where stdout carries the protocol alone and every log line goes to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Final, Literal

from mcp.server import MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from fstriage_cli import package_version
from fstriage_cli.mcp_server.config import ServerConfig, parse_config
from fstriage_cli.mcp_server.fullstory_tools import FullstoryTools
from fstriage_cli.mcp_server.report_tools import ReportTools
from fstriage_cli.reports.store import ReportStore
from fstriage_cli.wording import EXIT_OK, EXIT_USAGE, CliError

NAME: Final = "fstriage"
MAX_SESSIONS: Final = 25  # a report's Markdown grows with its sessions: ~2,000 tokens for 10
MAX_WINDOW_HOURS: Final = 24 * 90
MAX_LIST: Final = 100
READ_ONLY_TOOLS: Final = ("list_reports", "get_report", "test_connection")
SPENDING_TOOLS: Final = ("investigate_session", "investigate_user", "investigate_segment", "explain_session")

INSTRUCTIONS: Final = """\
fstriage turns Fullstory sessions into evidence: the errors in them (console errors, exceptions, failed
requests, rage/dead/error clicks) grouped across sessions, whether each group is new or ongoing, and
what reading them cost. Start with list_reports/get_report (free) for investigations already run; the
investigate_* and explain_session tools read session events from Fullstory, and each session read costs
1 Activation (Fullstory's Anywhere: Activation), so keep max_sessions as small as the question allows."""

COST_NOTE: Final = (
    "Cost: each session whose events are read costs 1 Activation (Fullstory's Anywhere: Activation), so "
    "this spends up to max_sessions Activations; listing sessions costs none. The report's last lines "
    "state the API calls and Activations it spent. Nothing is stored."
)
REPORT_NOTE: Final = (
    "Returns the report as Markdown (about 2,000 tokens for 10 sessions): headline, error groups with the "
    "sessions they hit and whether each is new, per-session findings with replay links, and notes."
)

# The store's statuses and the requests' trigger kinds (reports.model.STATUSES, core.request.TRIGGER_KINDS),
# as enums in the schema.
Status = Literal["complete", "partial", "failed", "unreadable"]
Kind = Literal["segment_alert", "metric_alert", "note", "custom_event", "stream", "manual", "scheduled"]
Session = Annotated[
    str, Field(description="the session: a replay URL, `device:session` or `indv:device!session`")
]
WindowHours = Annotated[
    float, Field(gt=0, le=MAX_WINDOW_HOURS, description="the window ends now and starts this many hours ago")
]


def _max_sessions(default: int) -> object:
    return Field(
        default,
        ge=1,
        le=MAX_SESSIONS,
        description=f"sessions to read at most (each costs 1 Activation); at most {MAX_SESSIONS}",
    )


def _hints(*, spends: bool) -> ToolAnnotations:
    # Spending Activations is a cost the client may want to confirm: those tools are not marked read-only.
    return ToolAnnotations(read_only_hint=not spends, destructive_hint=False, open_world_hint=True)


def build_server(
    config: ServerConfig,
    *,
    sleep: Callable[[float], None] | None = None,
    store: ReportStore | None = None,
) -> MCPServer:
    """The server with its tools; `sleep` (export waits) and `store` (reports) are for tests."""
    fullstory = FullstoryTools(config, sleep=sleep)
    reports = ReportTools(config, store=store)
    server: MCPServer = MCPServer(NAME, instructions=INSTRUCTIONS, version=package_version())

    def list_reports(
        status: Annotated[Status | None, Field(description="only reports with this status")] = None,
        kind: Annotated[Kind | None, Field(description="only reports of this trigger kind")] = None,
        subject: Annotated[
            str | None,
            Field(description="only reports about this: part of a session ID, uid, email, segment or metric"),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="at most this many reports")] = 20,
    ) -> str:
        return reports.list_reports(status, kind, subject, limit)

    def get_report(
        report_id: Annotated[str, Field(description="the report's ID, as list_reports shows it (inv_...)")],
        format: Annotated[
            Literal["markdown", "json"],
            Field(description="markdown (compact) or json (the complete report, several times larger)"),
        ] = "markdown",
    ) -> str:
        return reports.get_report(report_id, format)

    def test_connection() -> str:
        return fullstory.test_connection()

    server.add_tool(
        list_reports,
        description="List stored fstriage investigation reports (the stack's reports bucket, or a local "
        "directory), newest first, one line each: time, status, trigger kind, sessions, error groups, ID, "
        "subject and headline. Reads stored reports only: no Fullstory call, no Activation.",
        annotations=_hints(spends=False),
        structured_output=False,
    )
    server.add_tool(
        get_report,
        description="Read one stored fstriage report by its ID (from list_reports): as Markdown (compact, "
        "about 2,000 tokens for 10 sessions) or as the complete JSON. Reads stored reports only: no "
        "Fullstory call, no Activation.",
        annotations=_hints(spends=False),
        structured_output=False,
    )
    server.add_tool(
        test_connection,
        description="Check the configured Fullstory API key: its role and tier (only Admin and Architect "
        "keys can read sessions), the org, the region, and whether a short sessions listing works. Spends "
        "no Activation (GET /me and a listing of at most 5 sessions); it does not probe Anywhere: "
        "Activation itself. Returns JSON.",
        annotations=_hints(spends=False),
        structured_output=False,
    )
    if not config.read_only:
        _add_spending_tools(server, fullstory)
    return server


def _add_spending_tools(server: MCPServer, fullstory: FullstoryTools) -> None:
    def investigate_session(
        session: Session,
        max_sessions: Annotated[int, _max_sessions(1)] = 1,
        window_hours: WindowHours = 24.0,
    ) -> str:
        return fullstory.investigate_session(session, max_sessions, window_hours)

    def investigate_user(
        user: Annotated[str, Field(description="the user's uid (the ID your app sends Fullstory) or email")],
        max_sessions: Annotated[int, _max_sessions(10)] = 10,
        window_hours: WindowHours = 24.0,
    ) -> str:
        return fullstory.investigate_user(user, max_sessions, window_hours)

    def investigate_segment(
        segment: Annotated[
            str,
            Field(description="the segment's ID, its URL, or its name (case ignored; a unique part will do)"),
        ],
        max_sessions: Annotated[int, _max_sessions(10)] = 10,
        window_hours: WindowHours = 24.0,
    ) -> str:
        return fullstory.investigate_segment(segment, max_sessions, window_hours)

    def explain_session(
        session: Session,
        format: Annotated[Literal["text", "json"], Field(description="text (compact) or json")] = "text",
    ) -> str:
        return fullstory.explain_session(session, format)

    server.add_tool(
        investigate_session,
        description="Investigate one Fullstory session, as the fstriage investigator would: read its "
        "events and AI summary, find and group the errors, and say which are new. With max_sessions 1 "
        "(the default) only this session is read; raise it to also read the same user's other sessions "
        f"in the window. {REPORT_NOTE} {COST_NOTE}",
        annotations=_hints(spends=True),
        structured_output=False,
    )
    server.add_tool(
        investigate_user,
        description="Investigate a user's sessions in the last window_hours (newest first, up to "
        f"max_sessions): the errors in them, grouped across sessions. {REPORT_NOTE} {COST_NOTE} If the "
        "user's sessions all lie outside the window, the result says which window_hours reaches them.",
        annotations=_hints(spends=True),
        structured_output=False,
    )
    server.add_tool(
        investigate_segment,
        description="Investigate a Fullstory segment the way a segment alert is: export its sessions of "
        "the last window_hours (the export costs no Activation), rank them by error signals, and read the "
        "worst, up to max_sessions. Waits while Fullstory prepares the export (up to 5 minutes). "
        f"{REPORT_NOTE} {COST_NOTE}",
        annotations=_hints(spends=True),
        structured_output=False,
    )
    server.add_tool(
        explain_session,
        description="Show what fstriage's digest made of one session's raw events, per event type: how "
        "many were read as which error signal, read and not an error, or could not be read (with their "
        "property key names, never values), then the error groups a report would show. Use it when a "
        "report looks thin. Cost: 1 Activation (reads the session's events).",
        annotations=_hints(spends=True),
        structured_output=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`fstriage mcp`: serve over stdio until the client closes it; returns the exit code."""
    try:
        config = parse_config(list(sys.argv[1:] if argv is None else argv), os.environ)
    except CliError as error:
        print(f"fstriage mcp: error: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    server = build_server(config)
    offered = READ_ONLY_TOOLS if config.read_only else READ_ONLY_TOOLS + SPENDING_TOOLS
    logging.getLogger("fstriage_cli.mcp_server").info(
        "fstriage mcp: serving %d tools over stdio%s",
        len(offered),
        " (read-only: no Activation can be spent)" if config.read_only else "",
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C in a terminal: stop quietly
        server.run("stdio")
    return EXIT_OK
