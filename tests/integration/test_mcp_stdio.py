"""`fstriage mcp` as an agent's client starts it: a subprocess spoken to over real stdio by the SDK's
stdio client. Any stray byte on stdout would break the protocol; logs must land on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import TextContent
from mcp_types.version import LATEST_HANDSHAKE_VERSION

from fstriage_cli.mcp_server.server import READ_ONLY_TOOLS, SPENDING_TOOLS
from fstriage_cli.sandbox import FullstorySandbox

API_KEY = "na1.mcp-stdio-key-91c0de/SANDBOX"
CONSOLE_SCRIPT = Path(sys.executable).parent / "fstriage"
MODULE = (sys.executable, "-m", "fstriage_cli.mcp_server")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=7) as running:
        yield running


def over_stdio(
    command: tuple[str, ...], env: dict[str, str], errlog: TextIO, *, tool: str | None = None
) -> tuple[set[str], str | None]:
    """The tools the server lists, and `tool`'s text when given (it must succeed)."""
    parameters = StdioServerParameters(command=command[0], args=list(command[1:]), env=env)

    async def session() -> tuple[set[str], str | None]:
        async with Client(stdio_client(parameters, errlog=errlog), mode="legacy") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            if tool is None:
                return names, None
            result = await client.call_tool(tool, {})
            content = result.content[0]
            assert isinstance(content, TextContent) and not result.is_error, content
            return names, content.text

    return anyio.run(session)


def test_the_module_serves_every_tool_over_stdio(sandbox: FullstorySandbox, tmp_path: Path) -> None:
    env = {"FULLSTORY_API_KEY": API_KEY, "FULLSTORY_API_URL": sandbox.base_url}
    with (tmp_path / "stderr.log").open("w+") as errlog:
        names, text = over_stdio(MODULE, env, errlog, tool="test_connection")
        errlog.seek(0)
        logged = errlog.read()

    assert names == set(READ_ONLY_TOOLS + SPENDING_TOOLS)
    assert text is not None and '"role": "ADMIN"' in text
    assert "serving 7 tools over stdio" in logged  # logs go to stderr, never into the protocol
    assert API_KEY not in logged and API_KEY not in text


def test_the_console_script_serves_read_only_over_stdio(tmp_path: Path) -> None:
    with (tmp_path / "stderr.log").open("w+") as errlog:
        names, text = over_stdio(
            (str(CONSOLE_SCRIPT), "mcp", "--read-only", "--reports-dir", str(tmp_path)),
            {},
            errlog,
            tool="list_reports",
        )

    assert names == set(READ_ONLY_TOOLS)
    assert text is not None and "no reports in" in text


def test_a_bad_setting_stops_the_server_with_a_usage_error() -> None:
    run = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [*MODULE, "--fullstory-api-url", "ftp://example.test"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 2
    assert run.stdout == ""
    assert "'ftp://example.test' is not an http(s) URL" in run.stderr


def test_stdout_carries_json_rpc_lines_and_nothing_else(tmp_path: Path) -> None:
    """The raw protocol, as a client writes it: each message one JSON line; each line back must be a
    JSON-RPC message (a stray print, a banner or a progress line would break every client)."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": LATEST_HANDSHAKE_VERSION,  # what an `initialize` client sends
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    server = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [*MODULE, "--read-only", "--reports-dir", str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(60, server.kill)  # a hung server fails the test, never the run
    watchdog.start()
    try:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(json.dumps(messages[0]) + "\n")
        server.stdin.flush()
        lines = [server.stdout.readline()]  # the initialize answer, before anything else is sent
        for message in messages[1:]:
            server.stdin.write(json.dumps(message) + "\n")
        server.stdin.flush()
        lines.append(server.stdout.readline())  # the tools/list answer
        server.stdin.close()  # end of input: the server stops
        lines += server.stdout.readlines()
        code = server.wait(timeout=60)
    finally:
        watchdog.cancel()
        server.kill()

    written = [line for line in lines if line]  # readline answers "" only at the end of the output
    assert written and all(line.endswith("\n") for line in written)
    parsed = [json.loads(line) for line in written]  # a blank or non-JSON line fails here
    assert all(isinstance(message, dict) and message.get("jsonrpc") == "2.0" for message in parsed)
    assert code == 0
    answers = {message["id"]: message for message in parsed if "id" in message}
    assert answers[1]["result"]["serverInfo"]["name"] == "fstriage"
    assert {tool["name"] for tool in answers[2]["result"]["tools"]} == set(READ_ONLY_TOOLS)
