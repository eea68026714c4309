"""The MCP server's settings: its command line and the same environment variables as the CLI.

Read once at start-up. Nothing here opens a connection or reads the key: a missing key is a tool
error on the first Fullstory call, so a read-only server (reports only) needs no key at all. A
`--reports-dir` that does not exist stops the server at start-up.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from fstriage_cli.keys import API_KEY_ENV, API_URL_ENV, ORG_ID_ENV, REGION_ENV, REGIONS, endpoint, key_source
from fstriage_cli.wording import CliError

PROG: Final = "fstriage mcp"
REPORTS_BUCKET_ENV: Final = "FSTRIAGE_REPORTS_BUCKET"
READ_ONLY_ENV: Final = "FSTRIAGE_MCP_READ_ONLY"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Where the key, the Fullstory API and the reports are, and whether Activations may be spent."""

    env: Mapping[str, str] = field(repr=False)  # holds the key: never printed
    secret_id: str | None = None
    api_url: str | None = None
    region: str | None = None
    org_id: str | None = None
    reports_bucket: str | None = None
    reports_dir: Path | None = None
    read_only: bool = False

    @property
    def key_source(self) -> str:
        """What to check when Fullstory rejects the key (named in the error, never the key itself)."""
        return key_source(self.secret_id)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=textwrap.fill(
            "Serve fstriage's evidence to an AI agent over MCP (stdio): investigate a session, a user or "
            "a segment, explain a session, list and read stored reports, test the connection. The "
            "protocol alone goes to stdout; logs go to stderr.",
            79,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""\
The API key comes from {API_KEY_ENV}, or from the deployed secret with --secret-id ARN.
Reports come from the stack's bucket (${REPORTS_BUCKET_ENV}, or --reports-bucket, alias --bucket)
or --reports-dir.

Cost: investigate_* read each session's events (1 Activation each, up to max_sessions);
explain_session costs 1 Activation. With --read-only (or {READ_ONLY_ENV}=1) those tools are not
offered at all: only list_reports, get_report and test_connection, which spend no Activation.

examples:
  FULLSTORY_API_KEY=na1.... {PROG}
  {PROG} --read-only --reports-bucket my-stack-reports-bucket
  {PROG} --secret-id arn:aws:secretsmanager:...:secret:fstriage/fullstory-api-key""",
    )
    parser.add_argument("--read-only", action="store_true", help="offer only the tools that spend nothing")
    parser.add_argument(
        "--secret-id", metavar="ARN", help=f"read the API key from this secret instead of {API_KEY_ENV}"
    )
    parser.add_argument("--fullstory-api-url", metavar="URL", help=f"API base URL (default: ${API_URL_ENV})")
    parser.add_argument("--region", choices=REGIONS, help=f"Fullstory region (default: ${REGION_ENV})")
    parser.add_argument("--org-id", metavar="ORG", help=f"the org for replay links (default: ${ORG_ID_ENV})")
    stores = parser.add_mutually_exclusive_group()
    stores.add_argument(
        "--reports-bucket",
        "--bucket",  # what `fstriage reports` calls it
        dest="reports_bucket",
        metavar="BUCKET",
        help=f"the stack's reports bucket (default: ${REPORTS_BUCKET_ENV})",
    )
    stores.add_argument("--reports-dir", metavar="DIR", type=Path, help="read reports from a local directory")
    return parser


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> ServerConfig:
    """The settings from `argv` over `env`; argparse exits on bad flags, a CliError names a bad value."""
    args = build_parser().parse_args(list(argv))
    api_url, region = endpoint(env, args.fullstory_api_url, args.region)
    if args.reports_dir is not None and not args.reports_dir.is_dir():
        # Said now, where the person starting the server sees it, not on an agent's first call.
        raise CliError(
            f"--reports-dir {args.reports_dir}: no such directory (give the one `fstriage local` writes to)"
        )
    bucket = (
        None if args.reports_dir else (args.reports_bucket or env.get(REPORTS_BUCKET_ENV, "").strip() or None)
    )
    return ServerConfig(
        env=env,
        secret_id=args.secret_id or None,
        api_url=api_url,
        region=region,
        org_id=args.org_id or env.get(ORG_ID_ENV, "").strip() or None,
        reports_bucket=bucket,
        reports_dir=args.reports_dir,
        read_only=args.read_only or _flag(env.get(READ_ONLY_ENV, "")),
    )


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CliError(f"{READ_ONLY_ENV}={value!r} is not a yes/no value (1 or 0)")
