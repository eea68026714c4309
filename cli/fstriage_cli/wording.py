"""How the CLI words a failure: `CliError`, its exit codes, and one actionable line per typed error.

Exit codes: 0 ok, 1 a failure on Fullstory's (or the endpoint's, or AWS's) side, 2 a usage error, 141
when the reader of stdout went away (`silence_stdout` then keeps the exit quiet). Also the plain-text
forms every command shares (`plural`, `format_table`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Final

from fstriage.core.errors import (
    DependencyUnavailable,
    FstriageError,
    FullstoryAuthError,
    FullstoryBadRequest,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
    FullstoryRateLimited,
    FullstoryServerError,
    FullstoryUnavailable,
    PayloadError,
)
from fstriage.core.session_ids import normalise_session_id

# Named in the wording when Fullstory rejects the key (`fstriage_cli.keys` reads it).
API_KEY_ENV: Final = "FULLSTORY_API_KEY"

# Exit codes of the CLI.
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # Fullstory (or the webhook endpoint, or AWS) answered with a failure
EXIT_USAGE: Final = 2  # bad arguments, missing key or secret, unreadable session ID or file
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE, what a shell reports for a command cut off by `head`


class CliError(Exception):
    """A failure the CLI reports as one line and an exit code (never with a traceback)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def explain(error: FstriageError, key_source: str = API_KEY_ENV) -> str:
    """One human line for a typed error; the messages never hold the key (the client masks it)."""
    detail = error.message
    if isinstance(error, FullstoryAuthError):
        return key_rejected(key_source)
    if isinstance(error, FullstoryForbidden):
        if error.activation_disabled:
            return (
                "Fullstory refused (403): Anywhere: Activation is not enabled for this org, and session "
                f"events, context and AI summaries need it ({detail})"
            )
        return (
            "Fullstory refused (403): the key's role cannot read this; reading sessions, events, summaries "
            f"and segments needs an Admin or Architect key ({detail})"
        )
    if isinstance(error, FullstoryNotFound):
        return (
            "not found (404): check the ID; a session may be older than the data retention, "
            f"or a summary profile may not exist ({detail})"
        )
    if isinstance(error, FullstoryRateLimited):
        wait = f"wait {error.retry_after:g}s and " if error.retry_after is not None else "wait and "
        return f"rate limited (429): {wait}try again ({detail})"
    if isinstance(error, FullstoryBadRequest):
        return f"Fullstory refused the request (400): {detail}"
    if isinstance(error, FullstoryServerError | FullstoryUnavailable):
        return (
            f"Fullstory is unavailable ({detail}): try again later, and check --fullstory-api-url "
            "and the network"
        )
    if isinstance(error, FullstoryError):
        return f"the Fullstory call failed: {detail}"
    if isinstance(error, PayloadError) and error.reason == "invalid_session_id":
        return (
            f"{detail}: give a replay URL, `device:session` or `indv:device!session` "
            "(e.g. 5557778531805533:1110765439578976)"
        )
    if isinstance(error, DependencyUnavailable):
        return f"{detail}: try again later (check AWS credentials and the network)"
    return detail


def key_rejected(key_source: str = API_KEY_ENV) -> str:
    """What to say when Fullstory rejects the key (401), naming where it came from, never the key."""
    return f"the key was rejected (401): check {key_source}; it must be a valid, unrevoked API key"


def exit_code_for(error: FstriageError) -> int:
    """1 when a remote side failed (Fullstory, AWS); 2 for what the operator must fix in the call."""
    if isinstance(error, FullstoryError | DependencyUnavailable):
        return EXIT_FAILED
    return EXIT_USAGE


def session_id(value: str) -> str:
    """Any accepted session form as the API's `device:session`; a CliError (exit 2) otherwise."""
    try:
        return normalise_session_id(value)
    except PayloadError as error:
        raise CliError(f"{value!r} is {explain(error)}") from None


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (e.g. captured in tests): nothing will flush to a pipe


def plural(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """`rows` under `header`, columns two spaces apart, each line ending in a newline. The last column is
    left ragged: padding it would only add trailing spaces."""
    lines = [[str(cell) for cell in line] for line in [header, *rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)), line[-1]]
        ).rstrip()
        + "\n"
        for line in lines
    )
