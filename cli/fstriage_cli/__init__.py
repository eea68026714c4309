"""The `fstriage` command: the operator CLI, `reports`, the MCP server, and (with the `[local]` extra) the
local stack and the Fullstory sandbox.

Shipped in the `fstriage` wheel with the library, never to AWS: the Lambda layer holds only `fstriage`.
`package_version()` is the version `fstriage --version` prints and the MCP server announces.
"""

from __future__ import annotations

from typing import Final

DISTRIBUTION: Final = "fstriage"


def package_version(missing: str = "unknown") -> str:
    """The installed distribution's version; `missing` when its metadata is missing (a bare checkout)."""
    import importlib.metadata  # noqa: PLC0415 - ~30 ms, paid only by its callers, not every command

    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return missing
