"""`fstriage local`: run the whole stack on this machine until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from fstriage_cli.local.config import (
    DEFAULT_PORT,
    DEFAULT_REPORTS_DIR,
    FME_PARAMETER,
    WRITE_BACK_PARAMETER,
    LocalConfig,
    LocalStackError,
)
from fstriage_cli.local.extra import INSTALL_HINT, missing_packages, wheel_name
from fstriage_cli.samples.values import (
    FULLSTORY_STREAM_IP,
    TEST_ORG_ID,
    TEST_SIGNING_SECRET,
    TEST_STREAM_TOKEN,
)

if TYPE_CHECKING:
    from fstriage_cli.local.stack import LocalStack


DESCRIPTION = """\
Run fstriage on this machine, with no AWS account and no Docker: the functions (in a checkout, as
`sam build` built them for samconfig.toml's `local` environment, x86_64; with no checkout, as the
installed package carries them, on this Python) under the Lambda Runtime Interface Emulator,
SQS / DynamoDB / Secrets Manager / S3 / EventBridge in moto (created from template.yaml's own
settings), a function URL in front of the webhook, Lambda's SQS poller (batch size, partial batch
failures, visibility timeout, redrive to the dead-letter queue) in front of the investigator, and,
unless --fullstory-api-url is given, a local Fullstory API (the sandbox) whose data includes every
user, session and segment the events/ samples name. Each report is copied to --reports-dir.
Against the sandbox, write-back into Fullstory is on (each investigated session gets an
"fstriage Investigation" server event, kept by the sandbox); --no-write-back turns it off.
"""

EPILOG = f"""\
defaults:
  The signing secret, stream token and org are the published test values ({TEST_SIGNING_SECRET},
  {TEST_STREAM_TOKEN}, {TEST_ORG_ID}): anyone can sign with them. Fine on 127.0.0.1; never deploy them.

streams:
  POST {{webhook URL}}streams/<stream token>. The webhook only accepts Streams from Fullstory's
  published source ranges, and the gateway passes your own address (127.0.0.1) as the source IP, so
  a local Stream gets 403 source_not_allowed unless you pretend to be Fullstory:
    --source-ip {FULLSTORY_STREAM_IP}     (inside Fullstory's US range), or
    --parameter StreamSourceAllowList=127.0.0.1/32

examples:
  fstriage local
  fstriage local --port 3001 --reports-dir /tmp/reports --visibility-timeout 5
  fstriage local --parameter SignatureToleranceSeconds=631152000   # accept events/ as signed
  FULLSTORY_API_KEY=na1.... fstriage local --fullstory-api-url https://api.fullstory.com

Function logs go to .local/logs/ in the checkout, else ~/.local/state/fstriage/logs/ (--echo-logs
also prints them). Stop with Ctrl-C: every emulator process and server stops with it.

Needs the [local] extra, from fstriage's wheel (built by `make dist`; fstriage is not on PyPI):
  pipx install --force --python python3.13 '/path/to/{wheel_name()}[local]'
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fstriage local",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="function URL port on 127.0.0.1 (default %(default)s; 0 picks one)",
    )
    p.add_argument(
        "--fullstory-api-url",
        metavar="URL",
        help="a real Fullstory API (needs FULLSTORY_API_KEY) instead of the local sandbox",
    )
    p.add_argument(
        "--signing-secret",
        metavar="S",
        default=TEST_SIGNING_SECRET,
        help="webhook signing secret (default: the published test value)",
    )
    p.add_argument(
        "--org-id",
        metavar="ORG",
        default=TEST_ORG_ID,
        help="Fullstory org ID the webhook accepts (default %(default)s)",
    )
    p.add_argument(
        "--stream-token",
        metavar="T",
        default=TEST_STREAM_TOKEN,
        help="Streams path token (default: the published test value)",
    )
    p.add_argument(
        "--reports-dir",
        metavar="DIR",
        type=Path,
        default=DEFAULT_REPORTS_DIR,
        help="where reports are copied (default ./%(default)s)",
    )
    p.add_argument(
        "--source-ip",
        metavar="IP",
        help="the sourceIp every request gets (default: the client's address); e.g. "
        f"{FULLSTORY_STREAM_IP} to send Streams as Fullstory does",
    )
    p.add_argument(
        "--visibility-timeout",
        metavar="SECONDS",
        type=int,
        help="the investigation queue's visibility timeout instead of the template's "
        "(so retries, and the dead-letter queue, come sooner)",
    )
    p.add_argument(
        "--parameter",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="override a template parameter (repeatable), e.g. LogLevel=DEBUG",
    )
    p.add_argument(
        "--function-env",
        metavar="FUNCTION:NAME=VALUE",
        action="append",
        default=[],
        help="an extra environment variable for one function (repeatable), e.g. "
        "InvestigatorFunction:EXPORT_POLL_DELAY_SECONDS=5",
    )
    p.add_argument(
        "--investigator-concurrency",
        metavar="N",
        type=int,
        help="investigator instances (default: the event source's MaximumConcurrency)",
    )
    p.add_argument(
        "--sandbox-seed",
        metavar="N",
        type=int,
        default=7,
        help="seed of the sandbox's data (default %(default)s)",
    )
    p.add_argument(
        "--no-sample-anchors", action="store_true", help="do not add the events/ samples' IDs to the sandbox"
    )
    p.add_argument(
        "--no-write-back",
        action="store_true",
        help=f"do not write investigation events into Fullstory ({WRITE_BACK_PARAMETER}=false); it is on by "
        "default against the sandbox, and off against --fullstory-api-url unless "
        f"--parameter {WRITE_BACK_PARAMETER}=true",
    )
    p.add_argument(
        "--fme",
        action="store_true",
        help="turn the Harness FME forwarder on (FmeForwarder=enabled), posting to a local FME stand-in "
        "that records the events it gets (GET <its URL>/__fme/events)",
    )
    p.add_argument(
        "--no-build", action="store_true", help="run the existing build; never call sam build (checkout only)"
    )
    p.add_argument("--echo-logs", action="store_true", help="also print the functions' logs here")
    p.add_argument("--log-dir", metavar="DIR", type=Path, help="function logs (default: see below)")
    p.add_argument(
        "--project-dir",
        metavar="DIR",
        type=Path,
        help="the fstriage checkout (default: found; with none, the installed package's stack)",
    )
    return p


def config_from(args: argparse.Namespace) -> LocalConfig:
    p = parser()
    parameters: dict[str, str] = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            p.error(f"--parameter wants NAME=VALUE, not {item!r}")
        parameters[name.strip()] = value
    function_env: dict[str, dict[str, str]] = {}
    for item in args.function_env:
        function, sep, assignment = item.partition(":")
        name, eq, value = assignment.partition("=")
        if not sep or not eq or not function or not name:
            p.error(f"--function-env wants FUNCTION:NAME=VALUE, not {item!r}")
        function_env.setdefault(function, {})[name] = value
    if args.no_write_back:
        if parameters.get(WRITE_BACK_PARAMETER, "false") != "false":
            p.error(f"--no-write-back contradicts --parameter {WRITE_BACK_PARAMETER}=true")
        parameters[WRITE_BACK_PARAMETER] = "false"
    elif args.fullstory_api_url is None:
        parameters.setdefault(WRITE_BACK_PARAMETER, "true")  # the sandbox: show it
    if args.fme:
        parameters[FME_PARAMETER] = "enabled"
    if args.port < 0 or args.port > 65535:
        p.error("--port must be between 0 and 65535")
    if args.visibility_timeout is not None and not 0 <= args.visibility_timeout <= 43200:
        p.error("--visibility-timeout must be between 0 and 43200")
    if args.investigator_concurrency is not None and args.investigator_concurrency < 1:
        p.error("--investigator-concurrency must be at least 1")
    return LocalConfig(
        port=args.port,
        fullstory_api_url=args.fullstory_api_url,
        signing_secret=args.signing_secret,
        stream_token=args.stream_token,
        org_id=args.org_id,
        reports_dir=args.reports_dir,
        visibility_timeout=args.visibility_timeout,
        source_ip=args.source_ip,
        parameters=parameters,
        function_env=function_env,
        investigator_concurrency=args.investigator_concurrency,
        build=not args.no_build,
        sandbox_seed=args.sandbox_seed,
        sample_anchors=not args.no_sample_anchors,
        project_dir=args.project_dir,
        log_dir=args.log_dir,
        echo_logs=args.echo_logs,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        config = config_from(args)
    except SystemExit as stop:  # --help (0) or a usage error (2): argparse said why
        return stop.code if isinstance(stop.code, int) else 2
    missing = missing_packages()
    if missing:
        print(
            f"fstriage local: error: {', '.join(missing)} not installed: {INSTALL_HINT}",
            file=sys.stderr,
            flush=True,
        )
        return 2
    from fstriage_cli.local.stack import LocalStack  # noqa: PLC0415 -- needs the extra, checked above

    say = _printer()
    stack = LocalStack(config, log=say)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        stack.start()
        _announce(stack, say)
        while True:
            threading.Event().wait(3600)
    except KeyboardInterrupt:
        say("Stopping ...")
        return 0
    except LocalStackError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        if main_thread:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stack.stop()
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _printer() -> Callable[[str], None]:
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            print(line, flush=True)

    return say


def _announce(stack: LocalStack, say: Callable[[str], None]) -> None:
    if stack.sandbox is not None:
        data = stack.sandbox.data
        named = (
            f"; with the IDs {len(stack.samples.samples)} events/ samples name"
            if stack.samples and stack.samples.samples
            else ""
        )
        say(
            f"Fullstory sandbox: {stack.sandbox.base_url} (seed {data.seed}: {len(data.users)} users, "
            f"{len(data.sessions)} sessions, {len(data.segments)} segments{named})"
        )
    else:
        say(f"Fullstory API: {stack.fullstory_api_url}")
    say(f"AWS (moto): {stack.moto_endpoint}")
    say(f"Investigation queue: {stack.queue_url}")
    say(f"Dead-letter queue: {stack.dlq_url}")
    say(f"Reports: {stack.reports_dir}")
    if stack.fme is not None:
        say(f"FME events stand-in: {stack.fme.events_url} (what it got: {stack.fme.base_url}/__fme/events)")
    say(f"Function logs: {stack.log_dir}")
    say(
        f"Streams URL: {stack.streams_url_pattern}"
        + ("" if stack.config.source_ip else " (see --source-ip in --help)")
    )
    say(f"Ready in {stack.startup_seconds:.1f} s. Ctrl-C stops everything.")
    say(f"Webhook URL: {stack.webhook_url}")
