"""Failures as MCP tool errors: the CLI's one actionable line, never a traceback.

A tool raises `ToolError`; the SDK answers the call with `isError: true` and that text, which the agent
reads and can act on (fix an ID, widen a window, check the key). Anything not anticipated here is left
to the SDK, which answers only "Error executing tool <name>" and logs the details to stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ToolError

from fstriage.core.errors import FstriageError
from fstriage_cli.wording import CliError, explain


@contextmanager
def tool_errors(key_source: str, *more: type[Exception]) -> Iterator[None]:
    """Turn the CLI's errors (and any of `more`, by their `message`) into `ToolError`s."""
    try:
        yield
    except ToolError:
        raise
    except CliError as error:
        raise ToolError(error.message) from None
    except FstriageError as error:
        raise ToolError(explain(error, key_source)) from None
    except more as error:
        raise ToolError(str(getattr(error, "message", None) or error)) from None
