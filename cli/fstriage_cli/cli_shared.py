"""What every `fstriage` command shares: the context, parent options, argument types and output helpers.

Data goes to stdout (human text, or JSON with `--json`); progress and notes go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fstriage.adapters.fullstory import FullstoryClient
from fstriage_cli import keys
from fstriage_cli.keys import API_URL_ENV, ORG_ID_ENV, REGION_ENV
from fstriage_cli.webhook_send import SIGNING_SECRET_ENV
from fstriage_cli.wording import CliError, format_table

PROG: Final = "fstriage"
DESCRIPTION_WIDTH: Final = 79

KEY_HELP: Final = f"""\
The API key comes from {keys.API_KEY_ENV}, or from the deployed secret with --secret-id ARN (read
through Secrets Manager; the AWS region comes from the environment). It is never printed."""


@dataclass
class Context:
    """What a handler gets besides its arguments: the environment, and where the API key came from."""

    env: Mapping[str, str]
    key_source: str = keys.API_KEY_ENV  # named in the message when Fullstory rejects the key


Handler = Callable[[argparse.Namespace, Context], int]


def fail(message: str) -> None:
    """Say on stderr why the command failed."""
    print(f"{PROG}: error: {message}", file=sys.stderr)


def note(message: str) -> None:
    """Say something on stderr that is not data (stdout holds only the data)."""
    print(f"{PROG}: {message}", file=sys.stderr)


def command(
    commands: Any, name: str, *, help: str, description: str, epilog: str, parents: Sequence[Any]
) -> argparse.ArgumentParser:
    """Add one subcommand with the shared layout: a wrapped description and a verbatim epilog."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=textwrap.fill(description, DESCRIPTION_WIDTH),
        epilog=epilog,
        parents=list(parents),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def api_options() -> argparse.ArgumentParser:
    """The parent parser of the commands that call the Fullstory API."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("Fullstory API")
    group.add_argument(
        "--secret-id",
        metavar="ARN",
        help=f"read the API key from this Secrets Manager secret (the stack's FullstoryApiKeySecret: "
        f'plain text or {{"api_key": "..."}}) instead of {keys.API_KEY_ENV}',
    )
    group.add_argument(
        "--fullstory-api-url",
        metavar="URL",
        help=f"API base URL (default: ${API_URL_ENV}, else the region's host, e.g. https://api.fullstory.com)",
    )
    group.add_argument(
        "--region",
        choices=keys.REGIONS,
        help=f"Fullstory region (default: ${REGION_ENV}, else the key's na1./eu1. prefix, else na1)",
    )
    return options


def signing_options() -> argparse.ArgumentParser:
    """The parent parser of `sign` and `send`."""
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("signature")
    group.add_argument(
        "--secret",
        metavar="S",
        help=f"the endpoint's signing secret (default: ${SIGNING_SECRET_ENV}, which keeps it out of "
        "shell history)",
    )
    group.add_argument(
        "--org-id", metavar="ORG", help=f"the Fullstory org ID to sign for (default: ${ORG_ID_ENV})"
    )
    return options


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def positive_float(value: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number")
    return number


def epoch_timestamp(value: str) -> str:
    """An argparse type: epoch seconds or milliseconds, kept as the digits given."""
    if not (value.isascii() and value.isdigit()) or len(value) > 16:
        raise argparse.ArgumentTypeError(f"{value!r} is not epoch seconds or milliseconds")
    return value


def read_file(path: str) -> bytes:
    """FILE's exact bytes (`-` reads stdin); a CliError when it cannot be read."""
    if path == "-":
        stream = sys.stdin
        buffer = getattr(stream, "buffer", None)
        return buffer.read() if buffer is not None else stream.read().encode()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or type(error).__name__}") from None


def signing(args: argparse.Namespace, context: Context) -> tuple[str, str]:
    """The signing secret and org ID from the options, else the environment."""
    secret = args.secret or context.env.get(SIGNING_SECRET_ENV, "")
    if not secret:
        raise CliError(f"no signing secret: pass --secret or set {SIGNING_SECRET_ENV}")
    org_id = args.org_id or context.env.get(ORG_ID_ENV, "").strip()
    if not org_id:
        raise CliError(f"no org ID: pass --org-id or set {ORG_ID_ENV}")
    return secret, org_id


def client(args: argparse.Namespace, context: Context) -> FullstoryClient:
    """The Fullstory client the API options and the environment describe (its key is never printed)."""
    key = keys.load_api_key(context.env, args.secret_id)
    context.key_source = key.source
    base_url, region = keys.endpoint(context.env, args.fullstory_api_url, args.region)
    return keys.open_client(key, region=region, base_url=base_url)


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, ensure_ascii=False))


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    print(format_table(rows, header), end="")
