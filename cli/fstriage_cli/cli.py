"""`fstriage`: the command line for the local stack, webhook signing, and a real Fullstory org.

    fstriage local ...            run the whole stack on this machine (fstriage_cli.local)
    fstriage demo ...             the guided demo (fstriage_cli.demo)
    fstriage sign / send          sign a payload; POST it signed, like Fullstory's "Test Endpoint"
    fstriage test-connection      what the API key can do
    fstriage sessions / segments / summary / events
    fstriage explain              what the digest made of one session's events (when a report looks thin)
    fstriage investigate          the investigator Lambda's own Investigation, from a terminal

This module only parses, formats and picks exit codes; the logic is in `fstriage_cli.ops`.
Data goes to stdout (human text, or JSON with `--json`); progress and notes go to stderr.
Exit codes: 0 ok, 1 a failure on Fullstory's (or the endpoint's, or AWS's) side, 2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from fstriage.adapters.fullstory import FullstoryClient
from fstriage.core.digest import SessionDigest, digest_events
from fstriage.core.errors import FstriageError, FullstoryAuthError
from fstriage.core.investigation import Investigation
from fstriage.core.redact import mask_email
from fstriage.core.report import build_report, render_markdown
from fstriage.core.request import parse_isoformat
from fstriage.core.signature import HEADER_NAME, sign
from fstriage_cli import ops
from fstriage_cli.explain import explain_events, render_text
from fstriage_cli.ops import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError
from fstriage_cli.progress import Progress

PROG: Final = "fstriage"
ORG_ID_ENV: Final = "FULLSTORY_ORG_ID"
API_URL_ENV: Final = "FULLSTORY_API_URL"
REGION_ENV: Final = "FULLSTORY_REGION"
DESCRIPTION_WIDTH: Final = 79
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE, what a shell reports for a command cut off by `head`

# Commands another module owns: everything after the name goes to its own parser (`-h` included).
DELEGATED: Final[Mapping[str, tuple[str, str]]] = {
    "local": ("fstriage_cli.local", "run the whole stack on this machine (see `fstriage local --help`)"),
    "demo": ("fstriage_cli.demo", "the guided demo on the local stack (see `fstriage demo --help`)"),
}

KEY_HELP: Final = f"""\
The API key comes from {ops.API_KEY_ENV}, or from the deployed secret with --secret-id ARN (read
through Secrets Manager; the AWS region comes from the environment). It is never printed."""


@dataclass
class Context:
    env: Mapping[str, str]
    key_source: str = ops.API_KEY_ENV  # named in the message when Fullstory rejects the key


Handler = Callable[[argparse.Namespace, Context], int]


# ---------------------------------------------------------------------------------------------
# Entry point


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
    """Run one command; returns the exit code (the console script passes it to `sys.exit`)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    context = Context(env=os.environ if env is None else env)
    if args_list and args_list[0] in DELEGATED:
        return _delegate(args_list[0], args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as stop:  # --help (0) or a usage error (2): argparse already printed why
        return _exit_code(stop.code)
    handler: Handler = args.handler
    try:
        code = handler(args, context)
        sys.stdout.flush()  # a closed pipe shows up here, not in the interpreter's final flush
        return code
    except CliError as error:
        _fail(error.message)
        return error.exit_code
    except FstriageError as error:
        _fail(ops.explain(error, context.key_source))
        return ops.exit_code_for(error)
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`fstriage events ... | head`): stop quietly, like other CLI tools.
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (e.g. captured in tests): nothing will flush to a pipe


def _delegate(name: str, rest: Sequence[str]) -> int:
    module_name = DELEGATED[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            _fail(f"`{PROG} {name}` is not available in this checkout: the module {module_name} is missing")
        else:
            _fail(f"`{PROG} {name}` needs the package {missing!r}, which is not installed (run `make setup`)")
        return EXIT_USAGE
    entry = getattr(module, "main", None)
    if not callable(entry):
        _fail(f"{module_name} has no main(argv) to run")
        return EXIT_USAGE
    try:
        result = entry(list(rest))
    except SystemExit as stop:
        return _exit_code(stop.code)
    return result if isinstance(result, int) else EXIT_OK


def _exit_code(code: object) -> int:
    if code is None:
        return EXIT_OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return EXIT_FAILED


def _fail(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# The parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=textwrap.fill(
            "fstriage: turn Fullstory alerts into evidence reports. Tools for the local stack, "
            "for webhook signatures, and for a real Fullstory org.",
            DESCRIPTION_WIDTH,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""\
examples:
  {PROG} local --help
  {PROG} sign --org-id o-TEST-na1 payload.json
  {PROG} send https://abc.lambda-url.us-east-1.on.aws/ events/webhook-test.json --org-id o-TEST-na1
  FULLSTORY_API_KEY=na1.... {PROG} test-connection
  {PROG} investigate --session 'https://app.fullstory.com/ui/o-ABC-na1/session/123:456'

Data goes to stdout (add --json for machines); progress and notes go to stderr.
exit codes: 0 ok; 1 a failure on Fullstory's side (or the endpoint's, or AWS's); 2 a usage error,
a missing key or secret, or an unreadable session ID.""",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True

    for name, (_, summary) in DELEGATED.items():
        delegated = commands.add_parser(name, help=summary, add_help=False)
        delegated.add_argument("rest", nargs=argparse.REMAINDER)
        delegated.set_defaults(handler=_delegated_handler(name))

    json_option = argparse.ArgumentParser(add_help=False)
    json_option.add_argument("--json", action="store_true", help="print JSON instead of text")
    api = _api_options()
    signing = _signing_options()

    _add_sign(commands, signing, json_option)
    _add_send(commands, signing, json_option)
    _add_test_connection(commands, api, json_option)
    _add_sessions(commands, api, json_option)
    _add_segments(commands, api, json_option)
    _add_summary(commands, api, json_option)
    _add_events(commands, api, json_option)
    _add_explain(commands, api, json_option)
    _add_investigate(commands, api, json_option)
    return parser


def _command(
    commands: Any, name: str, *, help: str, description: str, epilog: str, parents: Sequence[Any]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=textwrap.fill(description, DESCRIPTION_WIDTH),
        epilog=epilog,
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _api_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("Fullstory API")
    group.add_argument(
        "--secret-id",
        metavar="ARN",
        help=f"read the API key from this Secrets Manager secret (the stack's FullstoryApiKeySecret: "
        f'plain text or {{"api_key": "..."}}) instead of {ops.API_KEY_ENV}',
    )
    group.add_argument(
        "--fullstory-api-url",
        metavar="URL",
        help=f"API base URL (default: ${API_URL_ENV}, else the region's host, e.g. https://api.fullstory.com)",
    )
    group.add_argument(
        "--region",
        choices=("na1", "eu1"),
        help=f"Fullstory region (default: ${REGION_ENV}, else the key's na1./eu1. prefix, else na1)",
    )
    return options


def _signing_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("signature")
    group.add_argument(
        "--secret",
        metavar="S",
        help=f"the endpoint's signing secret (default: ${ops.SIGNING_SECRET_ENV}, which keeps it out of "
        "shell history)",
    )
    group.add_argument(
        "--org-id", metavar="ORG", help=f"the Fullstory org ID to sign for (default: ${ORG_ID_ENV})"
    )
    return options


def _add_sign(commands: Any, signing: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = _command(
        commands,
        "sign",
        help="print the Fullstory-Signature header value for a file",
        description="Print the Fullstory-Signature header value (o:ORG,t:TIMESTAMP,v:HMAC) for FILE's exact "
        "bytes, as Fullstory would sign it. The bytes are never re-serialised.",
        epilog=f"""\
examples:
  export {ops.SIGNING_SECRET_ENV}=...      # keeps the secret out of shell history
  {PROG} sign --org-id o-TEST-na1 payload.json
  {PROG} sign --org-id o-TEST-na1 --timestamp 1793491200 payload.json
  curl -H "$({PROG} sign --org-id o-TEST-na1 --header payload.json)" --data-binary @payload.json URL
  cat payload.json | {PROG} sign --org-id o-TEST-na1 -""",
        parents=[signing, json_option],
    )
    parser.add_argument("file", metavar="FILE", help="the payload to sign ('-' reads stdin)")
    parser.add_argument(
        "--timestamp",
        metavar="T",
        type=_timestamp,
        help="the signing time in epoch seconds (or milliseconds); default: now",
    )
    parser.add_argument(
        "--header", action="store_true", help=f"print '{HEADER_NAME}: VALUE', ready for curl -H"
    )
    parser.set_defaults(handler=_sign)


def _add_send(commands: Any, signing: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = _command(
        commands,
        "send",
        help="POST a signed payload to a webhook URL (like Fullstory's Test Endpoint button)",
        description="Sign FILE now and POST it to URL with Content-Type: application/json and a "
        "Fullstory-Signature header; print the answer's status and body. If FILE is a function URL event "
        "(events/*.json: it has requestContext/isBase64Encoded), its decoded body is sent, re-signed.",
        epilog=f"""\
examples:
  export {ops.SIGNING_SECRET_ENV}=...
  {PROG} send https://abc.lambda-url.us-east-1.on.aws/ payload.json --org-id o-ABC-na1
  {PROG} send http://127.0.0.1:9000/ events/webhook-test.json --org-id o-TEST-na1

exit codes: 0 for a 2xx answer; 1 for any other answer or no answer; 2 a usage error.""",
        parents=[signing, json_option],
    )
    parser.add_argument("url", metavar="URL", help="the webhook endpoint (e.g. the stack's function URL)")
    parser.add_argument("file", metavar="FILE", help="the payload, or a function URL event ('-' reads stdin)")
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=10.0,
        help="give up after this (default: 10)",
    )
    parser.set_defaults(handler=_send)


def _add_test_connection(
    commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser
) -> None:
    parser = _command(
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
    parser = _command(
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
        "--limit", metavar="N", type=_positive_int, default=20, help="at most this many (default: 20)"
    )
    parser.set_defaults(handler=_sessions)


def _add_segments(commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser) -> None:
    parser = _command(
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
    parser = _command(
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
    parser = _command(
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
    parser = _command(
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


def _add_investigate(
    commands: Any, api: argparse.ArgumentParser, json_option: argparse.ArgumentParser
) -> None:
    parser = _command(
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
        type=_positive_int,
        default=10,
        help="sessions to read at most (default: 10)",
    )
    parser.add_argument(
        "--window-hours",
        metavar="H",
        type=_positive_float,
        default=24.0,
        help="the window ends now and starts H hours ago (default: 24)",
    )
    parser.add_argument(
        "--export-wait",
        metavar="MINUTES",
        type=_positive_float,
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
        "--concurrency", metavar="N", type=_positive_int, default=4, help="sessions read at once (default: 4)"
    )
    parser.add_argument(
        "--note", metavar="TEXT", help="context quoted in the report, e.g. a ticket reference"
    )
    parser.set_defaults(handler=_investigate)


def _delegated_handler(name: str) -> Handler:
    def handler(args: argparse.Namespace, _context: Context) -> int:
        return _delegate(name, args.rest)

    return handler


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number")
    return number


def _timestamp(value: str) -> str:
    if not (value.isascii() and value.isdigit()) or len(value) > 16:
        raise argparse.ArgumentTypeError(f"{value!r} is not epoch seconds or milliseconds")
    return value


# ---------------------------------------------------------------------------------------------
# Shared pieces


def _read_file(path: str) -> bytes:
    if path == "-":
        stream = sys.stdin
        buffer = getattr(stream, "buffer", None)
        return buffer.read() if buffer is not None else stream.read().encode()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or type(error).__name__}") from None


def _signing(args: argparse.Namespace, context: Context) -> tuple[str, str]:
    secret = args.secret or context.env.get(ops.SIGNING_SECRET_ENV, "")
    if not secret:
        raise CliError(f"no signing secret: pass --secret or set {ops.SIGNING_SECRET_ENV}")
    org_id = args.org_id or context.env.get(ORG_ID_ENV, "").strip()
    if not org_id:
        raise CliError(f"no org ID: pass --org-id or set {ORG_ID_ENV}")
    return secret, org_id


def _client(args: argparse.Namespace, context: Context) -> FullstoryClient:
    key = ops.load_api_key(context.env, args.secret_id)
    context.key_source = key.source
    base_url = args.fullstory_api_url or context.env.get(API_URL_ENV, "").strip() or None
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CliError(f"{base_url!r} is not an http(s) URL (--fullstory-api-url or ${API_URL_ENV})")
    region = args.region or context.env.get(REGION_ENV, "").strip().lower() or None
    if region is not None and region not in ("na1", "eu1"):
        raise CliError(f"{REGION_ENV}={region!r} is not a region (na1 or eu1)")
    return ops.open_client(key, region=region, base_url=base_url)


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# ---------------------------------------------------------------------------------------------
# sign, send


def _sign(args: argparse.Namespace, context: Context) -> int:
    secret, org_id = _signing(args, context)
    body = _read_file(args.file)
    value = sign(secret, body, org_id, args.timestamp)
    if args.json:
        timestamp = value.split(",t:", 1)[1].split(",", 1)[0]
        _print_json(
            {
                "header": HEADER_NAME,
                "value": value,
                "org_id": org_id,
                "timestamp": timestamp,
                "bytes": len(body),
            }
        )
    elif args.header:
        print(f"{HEADER_NAME}: {value}")
    else:
        print(value)
    return EXIT_OK


def _send(args: argparse.Namespace, context: Context) -> int:
    secret, org_id = _signing(args, context)
    body, note = ops.webhook_body(_read_file(args.file))
    if note:
        _note(note)
    result = ops.send_signed(args.url, body, secret=secret, org_id=org_id, timeout=args.timeout)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(f"HTTP {result.status} {result.reason}".rstrip())
        if result.body:
            print(result.body.rstrip("\n"))
    return EXIT_OK if result.ok else EXIT_FAILED


# ---------------------------------------------------------------------------------------------
# Operator commands


def _test_connection(args: argparse.Namespace, context: Context) -> int:
    probe = ops.session_id(args.session) if args.session else None
    with _client(args, context) as client, Progress("testing the connection") as progress:
        report = ops.check_connection(
            client,
            probe_activation=args.probe_activation,
            session=probe,
            uid=args.uid,
            email=args.email,
            profile=args.profile,
            progress=progress,
        )
    if args.json:
        _print_json(report.to_dict())
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
    spent = f"{ops.plural(usage.calls, 'Fullstory call')}, {ops.plural(usage.activations, 'Activation')}"
    lines.append(("Spent", spent))
    for label, text in lines:
        print(f"{label + ':':<16}{text}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    return EXIT_OK


def _check_text(check: ops.Check) -> str:
    return f"{check.status}: {check.detail}"


def _sessions(args: argparse.Namespace, context: Context) -> int:
    with _client(args, context) as client, Progress("listing sessions"):
        refs = client.sessions(uid=args.uid, email=args.email, limit=args.limit)
    rows = [ops.session_row(ref) for ref in refs]
    if args.json:
        _print_json(rows)
        return EXIT_OK
    who = f"uid {args.uid}" if args.uid else f"email {args.email}"
    if not rows:
        print(f"No sessions found for {who}.")
        return EXIT_OK
    _table(
        [(row["session_id"], row["created_at"] or "?", row["replay_url"] or "") for row in rows],
        ("SESSION", "CREATED (UTC)", "REPLAY"),
    )
    print(f"\n{ops.plural(len(rows), 'session')} for {who}")
    return EXIT_OK


def _segments(args: argparse.Namespace, context: Context) -> int:
    with _client(args, context) as client, Progress("listing segments"):
        segments = client.segments(creator=args.creator)
    if args.json:
        _print_json([asdict(segment) for segment in segments])
        return EXIT_OK
    if not segments:
        print("No segments.")
        return EXIT_OK
    _table(
        [(s.id, s.name, s.creator or "", s.created or "") for s in segments],
        ("ID", "NAME", "CREATOR", "CREATED"),
    )
    print(f"\n{ops.plural(len(segments), 'segment')}")
    return EXIT_OK


def _summary(args: argparse.Namespace, context: Context) -> int:
    session = ops.session_id(args.session)
    with _client(args, context) as client, Progress("reading the AI summary"):
        summary = client.summary(session, args.profile)
    if args.json:
        _print_json(
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
        _print_json(summary.response)
    return EXIT_OK


def _events(args: argparse.Namespace, context: Context) -> int:
    session = ops.session_id(args.session)
    with _client(args, context) as client:
        _note("reading a session's events costs 1 Activation")
        with Progress("reading session events"):
            events = client.session_events(session)
    if args.errors:
        digest = digest_events(session, events)
        if args.json:
            _print_json(digest.to_dict())
        else:
            _print_digest(digest)
        return EXIT_OK
    if args.json:
        _print_json(events)
        return EXIT_OK
    print(f"{ops.plural(len(events), 'event')} in session {session}")
    for event in events:
        print(ops.describe_event(event))
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
    session = ops.session_id(args.session)
    with _client(args, context) as client:
        _note("reading a session's events costs 1 Activation")
        with Progress("reading session events"):
            events = client.session_events(session)
        with Progress("digesting"):
            explanation = explain_events(session, events)
        del events  # the client holds a large answer's slot until the list is freed
    if args.json:
        _print_json(explanation.to_dict())
    else:
        print("\n".join(render_text(explanation)))
    return EXIT_OK


def _investigate(args: argparse.Namespace, context: Context) -> int:
    sessions = [ops.session_id(value) for value in args.session or ()]  # bad IDs fail before any call
    with _client(args, context) as client:
        org_id = args.org_id or context.env.get(ORG_ID_ENV, "").strip()
        if not org_id:
            with Progress("GET /me"):
                org_id = client.me().org_id
            if not org_id:
                raise CliError(f"Fullstory's /me named no org: pass --org-id (or set {ORG_ID_ENV})")
        if args.segment is not None:
            with Progress("listing segments"):
                segment = ops.resolve_segment(client.segments(), args.segment)
            _note(
                f"segment {mask_email(segment.name)!r} ({segment.id}): exporting its sessions of the last "
                f"{args.window_hours:g} h"
            )
            request = ops.segment_request(
                org_id=org_id,
                segment=segment,
                window_hours=args.window_hours,
                now=datetime.now(UTC),
                note=args.note,
            )
        else:
            request = ops.manual_request(
                org_id=org_id,
                session_ids=sessions,
                uid=args.uid,
                email=args.email,
                window_hours=args.window_hours,
                now=datetime.now(UTC),
                note=args.note,
            )
        settings = ops.cli_investigation_settings(
            org_id,
            max_sessions=args.max_sessions,
            concurrency=args.concurrency,
            summary_profile=args.profile,
            event_source=args.event_source,
            export_wait_minutes=args.export_wait,
        )
        _note(
            f"investigating up to {ops.plural(args.max_sessions, 'session')}; "
            "each session's events cost 1 Activation"
        )
        view = client.with_deadline(None)  # its own usage counters: the report's cost excludes /me
        with Progress("investigating") as progress:
            port = ops.ProgressPort(view, progress)
            finished = ops.run_until_finished(
                Investigation(port, settings),
                request,
                sleep=ops.pause,
                on_wait=lambda requeue: port.waiting(
                    requeue.delay_seconds,
                    checks=requeue.request.continuation.polls if requeue.request.continuation else None,
                    max_checks=settings.export_max_polls,
                ),
            )
        report = build_report(finished.evidence, view.usage, datetime.now(UTC))
    if args.json:
        _print_json(report)
    else:
        print(render_markdown(report), end="")
    if finished.evidence.fatal == "auth":
        _fail(ops.explain(FullstoryAuthError("the API key was rejected", status=401), context.key_source))
        return EXIT_FAILED
    segment_failure = SEGMENT_FAILURES.get(finished.evidence.fatal or "")
    if segment_failure is not None:
        _fail(segment_failure)
        return EXIT_FAILED
    if report["status"] == "failed" or (report["status"] == "partial" and not report["sessions"]):
        _fail("nothing could be investigated; the report's notes say why")
        return EXIT_FAILED
    hours = window_hours_to_reach(report.get("outside_window"), report["window"]["end"])
    if hours is not None:
        _note(f"the user's sessions lie outside the window: try --window-hours {hours}")
    return EXIT_OK


def window_hours_to_reach(outside: Mapping[str, Any] | None, window_end: str) -> int | None:
    """The `--window-hours` that reaches back to the newest session outside the window, rounded up."""
    if not outside or not outside.get("newest"):
        return None
    try:
        gap = parse_isoformat(window_end) - parse_isoformat(str(outside["newest"]))
    except ValueError:
        return None
    return max(1, math.ceil(gap.total_seconds() / 3600) + 1)


# What to do when a segment's export flow stops (the report's notes carry Fullstory's own words).
SEGMENT_FAILURES: Final[Mapping[str, str]] = {
    "export_timeout": "the segment export was still being prepared when fstriage stopped waiting: "
    "wait longer with --export-wait MINUTES, try again later, or use a smaller --window-hours",
    "export_failed": "Fullstory could not export the segment; the report's notes say why",
    "export_forbidden": "the segment export was refused (403): segment exports need an Admin or "
    "Architect key",
    "segment_not_found": "Fullstory no longer knows the segment: check it with `fstriage segments`",
}


if __name__ == "__main__":
    sys.exit(main())
