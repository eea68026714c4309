"""`fstriage mcp`: an MCP server over stdio that gives AI agents fstriage's digested evidence.

Tools: investigate_session / investigate_user / investigate_segment and explain_session (they spend
Fullstory Activations, as their descriptions say), list_reports / get_report (stored reports) and
test_connection. `--read-only` (or FSTRIAGE_MCP_READ_ONLY=1) offers only the last three.
"""

from __future__ import annotations

from fstriage_cli.mcp_server.server import build_server, main

__all__ = ["build_server", "main"]
