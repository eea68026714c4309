"""`fstriage investigate`: its options, its handler, and how its outcome becomes an exit code.

The investigation itself is `fstriage_cli.manual` driving the library's `Investigation`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from fstriage.core.redact import mask_email
from fstriage.core.report import render_markdown
from fstriage_cli import cli_shared as shared
from fstriage_cli import manual, wording
from fstriage_cli.cli_shared import KEY_HELP, PROG, Context
from fstriage_cli.keys import ORG_ID_ENV
from fstriage_cli.progress import Progress
from fstriage_cli.wording import EXIT_FAILED, EXIT_OK, CliError


def add_command(commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = shared.command(
        commands,
        "investigate",
        help="run the investigator's Investigation on a session, user or segment; print the report",
        description="Run the same Investigation the investigator Lambda runs, for a request from the CLI "
        "whose window ends now, and print the report as Markdown (or its JSON with --json). Nothing is "
        "queued or stored. With --segment it runs a segment alert's flow: export the segment's sessions "
        "in the window, wait while Fullstory prepares the export (checking every 5 s, for up to "
        "--export-wait minutes), then investigate the sessions with the most error signals.",
        epilog=f"""\
{KEY_HELP}
The org ID (for replay links) comes from --org-id, else ${ORG_ID_ENV}, else GET /me.

Cost: each investigated session's events (or context) read costs 1 Activation; --max-sessions caps it.
With --session, the user's other sessions in the window are investigated too, up to --max-sessions.
--segment takes a segment ID, its URL, or its name (case ignored; a unique part of a name will do);
the segment export itself costs no Activation.

examples:
  {PROG} investigate --session 'https://app.fullstory.com/ui/o-ABC-na1/session/691:555!111'
  {PROG} investigate --email someone@example.com --window-hours 72 --max-sessions 5
  {PROG} investigate --segment 'Checkout errors' --window-hours 6
  {PROG} investigate --segment 'https://app.fullstory.com/ui/o-ABC-na1/segments/abc123' --json
  {PROG} investigate --uid user-001 --json > report.json""",
        parents=[api, json_option],
    )
    subject = parser.add_mutually_exclusive_group(required=True)
    subject.add_argument(
        "--session",
        metavar="ID_OR_URL",
        action="append",
        help="a session to investigate (URL or ID; repeat for several)",
    )
    subject.add_argument("--email", metavar="E", help="investigate this user's sessions in the window")
    subject.add_argument("--uid", metavar="U", help="investigate this user ID's sessions in the window")
    subject.add_argument(
        "--segment",
        metavar="ID_NAME_OR_URL",
        help="export this segment's sessions in the window and investigate the worst (like a segment alert)",
    )
    parser.add_argument(
        "--max-sessions",
        metavar="N",
        type=shared.positive_int,
        default=10,
        help="sessions to read at most (default: 10)",
    )
    parser.add_argument(
        "--window-hours",
        metavar="H",
        type=shared.positive_float,
        default=24.0,
        help="the window ends now and starts H hours ago (default: 24)",
    )
    parser.add_argument(
        "--export-wait",
        metavar="MINUTES",
        type=shared.positive_float,
        default=5.0,
        help="with --segment: how long to wait for Fullstory to prepare the export (default: 5)",
    )
    parser.add_argument("--profile", metavar="ID", help="summary profile for the AI summaries")
    parser.add_argument(
        "--event-source",
        choices=("events", "context"),
        default="events",
        help="raw events (default) or Fullstory's Generate Context; both cost 1 Activation per session",
    )
    parser.add_argument(
        "--org-id", metavar="ORG", help=f"the org for replay links (default: ${ORG_ID_ENV}, else GET /me)"
    )
    parser.add_argument(
        "--concurrency",
        metavar="N",
        type=shared.positive_int,
        default=4,
        help="sessions read at once (default: 4)",
    )
    parser.add_argument(
        "--note", metavar="TEXT", help="context quoted in the report, e.g. a ticket reference"
    )
    parser.set_defaults(handler=_investigate)


def _investigate(args: argparse.Namespace, context: Context) -> int:
    sessions = [wording.session_id(value) for value in args.session or ()]  # bad IDs fail before any call
    with shared.client(args, context) as client:
        org_id = args.org_id or context.env.get(ORG_ID_ENV, "").strip()
        if not org_id:
            with Progress("GET /me"):
                org_id = client.me().org_id
            if not org_id:
                raise CliError(f"Fullstory's /me named no org: pass --org-id (or set {ORG_ID_ENV})")
        if args.segment is not None:
            with Progress("listing segments"):
                segment = manual.resolve_segment(client.segments(), args.segment)
            shared.note(
                f"segment {mask_email(segment.name)!r} ({segment.id}): exporting its sessions of the last "
                f"{args.window_hours:g} h"
            )
            request = manual.segment_request(
                org_id=org_id,
                segment=segment,
                window_hours=args.window_hours,
                now=datetime.now(UTC),
                note=args.note,
            )
        else:
            request = manual.manual_request(
                org_id=org_id,
                session_ids=sessions,
                uid=args.uid,
                email=args.email,
                window_hours=args.window_hours,
                now=datetime.now(UTC),
                note=args.note,
            )
        settings = manual.cli_investigation_settings(
            org_id,
            max_sessions=args.max_sessions,
            concurrency=args.concurrency,
            summary_profile=args.profile,
            event_source=args.event_source,
            export_wait_minutes=args.export_wait,
        )
        shared.note(
            f"investigating up to {wording.plural(args.max_sessions, 'session')}; "
            "each session's events cost 1 Activation"
        )
        with Progress("investigating") as progress:
            finished, report = manual.investigate(client, request, settings, progress=progress)
    if args.json:
        shared.print_json(report)
    else:
        print(render_markdown(report), end="")
    problem = manual.problem_of(finished, report)
    if problem == "auth":
        shared.fail(wording.key_rejected(context.key_source))
        return EXIT_FAILED
    if problem is not None:
        shared.fail(SEGMENT_FAILURES.get(problem, manual.NOTHING_GATHERED))
        return EXIT_FAILED
    hours = manual.window_hours_to_reach(report.get("outside_window"), report["window"]["end"])
    if hours is not None:
        shared.note(f"the user's sessions lie outside the window: try --window-hours {hours}")
    return EXIT_OK


# What to do when a segment's export flow stops (`manual.SEGMENT_STOPS`; the report's notes carry
# Fullstory's own words).
SEGMENT_FAILURES: Final[Mapping[str, str]] = {
    "export_timeout": "the segment export was still being prepared when fstriage stopped waiting: "
    "wait longer with --export-wait MINUTES, try again later, or use a smaller --window-hours",
    "export_failed": "Fullstory could not export the segment; the report's notes say why",
    "export_forbidden": "the segment export was refused (403): segment exports need an Admin or "
    "Architect key",
    "segment_not_found": "Fullstory no longer knows the segment: check it with `fstriage segments`",
}
