"""The read-only Fullstory commands (test-connection, sessions, segments, summary, events, explain).

Each command's options and handler; the logic is in `connection`, `describe` and `explain`.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from fstriage.core.digest import SessionDigest, digest_events
from fstriage_cli import cli_shared as shared
from fstriage_cli import connection, describe, wording
from fstriage_cli.cli_shared import KEY_HELP, PROG, Context
from fstriage_cli.explain import explain_events, render_text
from fstriage_cli.progress import Progress
from fstriage_cli.wording import EXIT_OK


def add_commands(commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    """Add the read-only commands to the top-level parser's subcommands, in their help order."""
    _add_test_connection(commands, api, json_option)
    _add_sessions(commands, api, json_option)
    _add_segments(commands, api, json_option)
    _add_summary(commands, api, json_option)
    _add_events(commands, api, json_option)
    _add_explain(commands, api, json_option)


def _add_test_connection(
    commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser
) -> None:
    parser = shared.command(
        commands,
        "test-connection",
        help="check the API key: role/tier, org, region, and what it can read",
        description="GET /me for the key's role (ADMIN/ARCHITECT can read sessions; USER = Standard cannot), "
        "org and region; list a few sessions (free) to check reads; with --probe-activation, read one "
        "session's AI summary and events to check Anywhere: Activation. Each check says available, "
        "forbidden (tier), forbidden (Activation off) or unknown.",
        epilog=f"""\
{KEY_HELP}

The probe is opt-in because reading a session's events costs 1 Activation. The probe session is
--session, else the newest session of --email/--uid, else of the key owner's email.

examples:
  {PROG} test-connection
  {PROG} test-connection --probe-activation --email someone@example.com
  {PROG} test-connection --secret-id arn:aws:secretsmanager:...:secret:fstriage/fullstory-api-key --json""",
        parents=[api, json_option],
    )
    parser.add_argument(
        "--probe-activation",
        action="store_true",
        help="read one session's summary and events to see whether Activation is on (costs 1 Activation)",
    )
    parser.add_argument("--session", metavar="ID_OR_URL", help="the session to probe")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--email", metavar="E", help="probe the newest session of this user's email")
    who.add_argument("--uid", metavar="U", help="probe the newest session of this user ID")
    parser.add_argument("--profile", metavar="ID", help="summary profile for the summary probe")
    parser.set_defaults(handler=_test_connection)


def _add_sessions(commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = shared.command(
        commands,
        "sessions",
        help="list a user's recent sessions (GET /sessions/v2)",
        description="List a user's recent sessions by email or uid, newest first, with their replay links.",
        epilog=f"""\
{KEY_HELP}

examples:
  {PROG} sessions --email someone@example.com
  {PROG} sessions --uid user-001 --limit 5 --json""",
        parents=[api, json_option],
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", metavar="E", help="the user's email")
    who.add_argument("--uid", metavar="U", help="the user ID your app sends to Fullstory")
    parser.add_argument(
        "--limit", metavar="N", type=shared.positive_int, default=20, help="at most this many (default: 20)"
    )
    parser.set_defaults(handler=_sessions)


def _add_segments(commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = shared.command(
        commands,
        "segments",
        help="list the org's segments (GET /segments/v1, every page)",
        description="List the org's segments with their IDs (for METRIC_SEGMENTS and alert mapping).",
        epilog=f"""\
{KEY_HELP}

examples:
  {PROG} segments
  {PROG} segments --creator analyst@example.com --json""",
        parents=[api, json_option],
    )
    parser.add_argument("--creator", metavar="EMAIL", help="only segments this person created")
    parser.set_defaults(handler=_segments)


def _add_summary(commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = shared.command(
        commands,
        "summary",
        help="print a session's AI summary (needs Anywhere: Activation)",
        description="Print the AI summary of one session (GET /v2/sessions/{id}/summary), and the "
        "structured response when the profile defines a schema.",
        epilog=f"""\
{KEY_HELP}

SESSION may be a replay URL, `device:session` or `indv:device!session`.

examples:
  {PROG} summary 5557778531805533:1110765439578976
  {PROG} summary 'https://app.fullstory.com/ui/o-ABC-na1/session/691:555!111' --profile my-profile""",
        parents=[api, json_option],
    )
    parser.add_argument("session", metavar="SESSION", help="the session (URL or ID)")
    parser.add_argument("--profile", metavar="ID", help="the summary profile (config_profile) to use")
    parser.set_defaults(handler=_summary)


def _add_events(commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = shared.command(
        commands,
        "events",
        help="print a session's events, or with --errors its error signals (1 Activation)",
        description="Read one session's events (GET /v2/sessions/{id}/events; costs 1 Activation) and "
        "print one line per event, or with --errors the digest's error signals (console errors, "
        "exceptions, failed requests, rage/dead/error clicks) as the investigator sees them.",
        epilog=f"""\
{KEY_HELP}

SESSION may be a replay URL, `device:session` or `indv:device!session`.

examples:
  {PROG} events 5557778531805533:1110765439578976
  {PROG} events 5557778531805533:1110765439578976 --errors
  {PROG} events 5557778531805533:1110765439578976 --json > events.json""",
        parents=[api, json_option],
    )
    parser.add_argument("session", metavar="SESSION", help="the session (URL or ID)")
    parser.add_argument(
        "--errors", action="store_true", help="print the digest's signals instead of raw events"
    )
    parser.set_defaults(handler=_events)


def _add_explain(commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = shared.command(
        commands,
        "explain",
        help="show what the digest made of one session's events, per event type (1 Activation)",
        description="Read one session's raw events (GET /v2/sessions/{id}/events; costs 1 Activation), run "
        "the investigator's digest on them and show, per event type, how many events were read as which "
        "signal, how many were read and were not errors, and how many could not be read, with their "
        "property key names (never their values); then the error groups a report would show. Run it "
        "when a report looks thin.",
        epilog=f"""\
{KEY_HELP}

SESSION may be a replay URL, `device:session` or `indv:device!session`.
Cost: reading the session's events costs 1 Activation.
Unreadable events are described by their key names only, so the output can be shared in an issue.

examples:
  {PROG} explain 5557778531805533:1110765439578976
  {PROG} explain 'https://app.fullstory.com/ui/o-ABC-na1/session/691:555!111' --json > explain.json""",
        parents=[api, json_option],
    )
    parser.add_argument("session", metavar="SESSION", help="the session (URL or ID)")
    parser.set_defaults(handler=_explain)


def _test_connection(args: argparse.Namespace, context: Context) -> int:
    probe = wording.session_id(args.session) if args.session else None
    with shared.client(args, context) as client, Progress("testing the connection") as progress:
        report = connection.check_connection(
            client,
            probe_activation=args.probe_activation,
            session=probe,
            uid=args.uid,
            email=args.email,
            profile=args.profile,
            progress=progress,
        )
    if args.json:
        shared.print_json(report.to_dict())
        return EXIT_OK
    me = report.me
    reads = {
        True: "can read sessions, events and summaries",
        False: "cannot read sessions (Standard keys can only create, update and batch)",
        None: "may not read sessions (only Admin and Architect keys are documented to)",
    }[report.can_read_sessions]
    lines = [
        ("Fullstory API", f"{report.base_url} (region {report.region}; replay links on {report.app_url})"),
        ("Key role", f"{me.role} ({report.tier} tier): {reads}"),
        ("Org", me.org_id or "(not given by /me)"),
        ("Key owner", me.email or "(none: an org-level key)"),
        ("Sessions", _check_text(report.sessions)),
        ("AI summaries", _check_text(report.summaries)),
        ("Session events", _check_text(report.events)),
    ]
    if report.probe_session:
        lines.append(("Probe session", report.probe_session))
    usage = report.usage
    spent = (
        f"{wording.plural(usage.calls, 'Fullstory call')}, {wording.plural(usage.activations, 'Activation')}"
    )
    lines.append(("Spent", spent))
    for label, text in lines:
        print(f"{label + ':':<16}{text}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    return EXIT_OK


def _check_text(check: connection.Check) -> str:
    return f"{check.status}: {check.detail}"


def _sessions(args: argparse.Namespace, context: Context) -> int:
    with shared.client(args, context) as client, Progress("listing sessions"):
        refs = client.sessions(uid=args.uid, email=args.email, limit=args.limit)
    rows = [describe.session_row(ref) for ref in refs]
    if args.json:
        shared.print_json(rows)
        return EXIT_OK
    who = f"uid {args.uid}" if args.uid else f"email {args.email}"
    if not rows:
        print(f"No sessions found for {who}.")
        return EXIT_OK
    shared.table(
        [(row["session_id"], row["created_at"] or "?", row["replay_url"] or "") for row in rows],
        ("SESSION", "CREATED (UTC)", "REPLAY"),
    )
    print(f"\n{wording.plural(len(rows), 'session')} for {who}")
    return EXIT_OK


def _segments(args: argparse.Namespace, context: Context) -> int:
    with shared.client(args, context) as client, Progress("listing segments"):
        segments = client.segments(creator=args.creator)
    if args.json:
        shared.print_json([asdict(segment) for segment in segments])
        return EXIT_OK
    if not segments:
        print("No segments.")
        return EXIT_OK
    shared.table(
        [(s.id, s.name, s.creator or "", s.created or "") for s in segments],
        ("ID", "NAME", "CREATOR", "CREATED"),
    )
    print(f"\n{wording.plural(len(segments), 'segment')}")
    return EXIT_OK


def _summary(args: argparse.Namespace, context: Context) -> int:
    session = wording.session_id(args.session)
    with shared.client(args, context) as client, Progress("reading the AI summary"):
        summary = client.summary(session, args.profile)
    if args.json:
        shared.print_json(
            {
                "session_id": session,
                "profile": args.profile,
                "summary": summary.text,
                "response": summary.response,
            }
        )
        return EXIT_OK
    print(f"AI summary of {session}" + (f" (profile {args.profile})" if args.profile else "") + ":")
    print(summary.text or "(Fullstory returned no summary text)")
    if summary.response is not None:
        print("\nStructured response:")
        shared.print_json(summary.response)
    return EXIT_OK


def _events(args: argparse.Namespace, context: Context) -> int:
    session = wording.session_id(args.session)
    with shared.client(args, context) as client:
        shared.note("reading a session's events costs 1 Activation")
        with Progress("reading session events"):
            events = client.session_events(session)
    if args.errors:
        digest = digest_events(session, events)
        if args.json:
            shared.print_json(digest.to_dict())
        else:
            _print_digest(digest)
        return EXIT_OK
    if args.json:
        shared.print_json(events)
        return EXIT_OK
    print(f"{wording.plural(len(events), 'event')} in session {session}")
    for event in events:
        print(describe.describe_event(event))
    return EXIT_OK


def _print_digest(digest: SessionDigest) -> None:
    distinct = len(digest.signals) + digest.overflow_signals
    print(
        f"Session {digest.session_id}: {digest.event_count} events on {digest.page_count} pages, "
        f"{digest.error_signal_count} error signals ({distinct} distinct)"
    )
    for signal in digest.signals:
        seen = f"{signal.first_seen or '?'} .. {signal.last_seen or '?'}"
        print(f"  {signal.kind:<14} x{signal.count:<4} {signal.signature}   ({seen})")
        if signal.example and signal.example != signal.signature:
            print(f"      e.g. {signal.example}")
    if digest.overflow_signals:
        print(f"  ... and {digest.overflow_signals} more signals ({digest.overflow_count} occurrences)")
    if digest.unclassified:
        unread = ", ".join(f"{kind} x{count}" for kind, count in sorted(digest.unclassified.items()))
        print(f"  unreadable error-bearing events: {unread}")
    if not digest.signals:
        print("  no error signals")


def _explain(args: argparse.Namespace, context: Context) -> int:
    session = wording.session_id(args.session)
    with shared.client(args, context) as client:
        shared.note("reading a session's events costs 1 Activation")
        with Progress("reading session events"):
            events = client.session_events(session)
        with Progress("digesting"):
            explanation = explain_events(session, events)
        del events  # the client holds a large answer's slot until the list is freed
    if args.json:
        shared.print_json(explanation.to_dict())
    else:
        print("\n".join(render_text(explanation)))
    return EXIT_OK
