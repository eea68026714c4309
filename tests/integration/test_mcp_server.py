"""`fstriage mcp` in-process: the SDK's own client over its in-memory transport, against the sandbox.

Every call goes through the MCP protocol (JSON-RPC over in-memory streams, `mode="legacy"`, the
handshake today's clients use). Each test checks that the API key never reaches a result and that
nothing is written to stdout, which a stdio server keeps for the protocol.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp_types import CallToolResult, TextContent

from fstriage.core.errors import FullstoryAuthError
from fstriage.core.redact import EMAIL_PATTERN
from fstriage_cli.keys import ApiKey, load_api_key
from fstriage_cli.manual import EXPORT_POLL_SECONDS
from fstriage_cli.mcp_server import build_server, fullstory_tools
from fstriage_cli.mcp_server.config import parse_config
from fstriage_cli.mcp_server.server import READ_ONLY_TOOLS, SPENDING_TOOLS
from fstriage_cli.sandbox import FullstorySandbox
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS
from fstriage_cli.wording import explain

API_KEY = "na1.mcp-test-key-4b1d2e/SANDBOX"
ORG_ID = "o-MCPTEST-na1"
EVENTS = "GET /v2/sessions/{id}/events"
TOKEN_BUDGET = 2000  # the bound for a 10-session report's Markdown


@pytest.fixture(scope="module")
def sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=7) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(sandbox: FullstorySandbox) -> None:
    sandbox.faults.reset()
    sandbox.reset_records()


def env_for(sandbox: FullstorySandbox, **extra: str) -> dict[str, str]:
    return {"FULLSTORY_API_KEY": API_KEY, "FULLSTORY_API_URL": sandbox.base_url, **extra}


def server_for(
    sandbox: FullstorySandbox, *argv: str, sleeps: list[float] | None = None, **env: str
) -> MCPServer:
    config = parse_config(list(argv), env_for(sandbox, **env))
    return build_server(config, sleep=(sleeps if sleeps is not None else []).append)


def run[T](server: MCPServer, use: Callable[[Client], Awaitable[T]]) -> T:
    async def session() -> T:
        async with Client(server, mode="legacy") as client:
            return await use(client)

    return anyio.run(session)


def call(server: MCPServer, tool: str, **arguments: Any) -> CallToolResult:
    return run(server, lambda client: client.call_tool(tool, arguments))


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1
    content = result.content[0]
    assert isinstance(content, TextContent)
    assert API_KEY not in content.text and API_KEY.split(".", 1)[1] not in content.text
    return content.text


def ok(result: CallToolResult) -> str:
    text = text_of(result)
    assert not result.is_error, text
    return text


def failed(result: CallToolResult) -> str:
    text = text_of(result)
    assert result.is_error, text
    assert "Traceback" not in text
    return text


@pytest.fixture(autouse=True)
def quiet_stdout(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout is the protocol's alone
    assert API_KEY not in captured.err and API_KEY.split(".", 1)[1] not in captured.err


# ---------------------------------------------------------------------------------------------
# The tools offered


def test_lists_every_tool_and_states_each_ones_activation_cost(sandbox: FullstorySandbox) -> None:
    tools = {tool.name: tool for tool in run(server_for(sandbox), lambda c: c.list_tools()).tools}

    assert set(tools) == set(READ_ONLY_TOOLS + SPENDING_TOOLS)
    for name in ("investigate_session", "investigate_user", "investigate_segment"):
        description = tools[name].description or ""
        assert "spends up to max_sessions Activations" in description
        assert tools[name].input_schema["properties"]["max_sessions"]["minimum"] == 1
    assert "1 Activation" in (tools["explain_session"].description or "")
    assert "the export costs no Activation" in (tools["investigate_segment"].description or "")
    for name in READ_ONLY_TOOLS:
        assert "no Activation" in (tools[name].description or "")
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint is True
    for name in SPENDING_TOOLS:
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint is False


@pytest.mark.parametrize("how", ["flag", "env"])
def test_read_only_offers_only_the_tools_that_spend_nothing(sandbox: FullstorySandbox, how: str) -> None:
    server = (
        server_for(sandbox, "--read-only")
        if how == "flag"
        else server_for(sandbox, FSTRIAGE_MCP_READ_ONLY="1")
    )
    names = {tool.name for tool in run(server, lambda c: c.list_tools()).tools}

    assert names == set(READ_ONLY_TOOLS)
    refused = failed(call(server, "investigate_user", user="user-001"))
    assert "investigate_user" in refused
    connection = json.loads(ok(call(server, "test_connection")))
    assert connection["cost"]["activations"] == 0
    assert sandbox.calls[EVENTS] == 0


# ---------------------------------------------------------------------------------------------
# Investigations


def test_investigate_session_reads_that_session_alone_by_default(sandbox: FullstorySandbox) -> None:
    session = sandbox.data.sessions_of(uid="user-001")[0]

    markdown = ok(call(server_for(sandbox), "investigate_session", session=sandbox.data.replay_url(session)))

    assert markdown.startswith("# Manual investigation: errors in")
    assert f"]({sandbox.data.replay_url(session)})" in markdown
    assert "TypeError" in markdown
    assert sandbox.calls[EVENTS] == 1  # max_sessions 1: one Activation
    assert sandbox.calls["GET /me"] == 1  # the org for replay links


@pytest.mark.parametrize("by", ["uid", "email"])
def test_investigate_user_caps_the_sessions_it_reads(sandbox: FullstorySandbox, by: str) -> None:
    user = next(u for u in sandbox.data.users if len(sandbox.data.sessions_of(uid=u.uid)) >= 3)

    markdown = ok(
        call(
            server_for(sandbox, "--org-id", ORG_ID),
            "investigate_user",
            user=user.uid if by == "uid" else user.email,
            max_sessions=2,
            window_hours=24 * 30,
        )
    )

    assert sandbox.calls[EVENTS] == 2
    assert sandbox.calls["GET /me"] == 0  # --org-id given
    assert "2 Activations" in markdown  # the report's own cost line
    assert user.email not in markdown  # emails are masked in reports


def test_investigate_user_outside_the_window_says_which_window_reaches_them(
    sandbox: FullstorySandbox,
) -> None:
    markdown = ok(call(server_for(sandbox), "investigate_user", user="user-001", window_hours=1))

    assert "call again with window_hours=" in markdown
    hours = int(markdown.rsplit("window_hours=", 1)[1].split()[0])
    wider = ok(call(server_for(sandbox), "investigate_user", user="user-001", window_hours=hours))
    assert "call again with window_hours=" not in wider


def test_investigate_segment_runs_the_export_flow_waiting_where_the_lambda_requeues(
    sandbox: FullstorySandbox,
) -> None:
    sandbox.faults.update(export_pending_polls=2)
    sleeps: list[float] = []

    markdown = ok(
        call(
            server_for(sandbox, sleeps=sleeps),
            "investigate_segment",
            segment="checkout err",
            max_sessions=2,
            window_hours=24 * 8,
        )
    )

    assert markdown.startswith(f'# Segment "{CHECKOUT_ERRORS}": errors in 2 of 2 sessions')
    assert sleeps == [5, 5]
    assert sandbox.calls["POST /segments/v1/exports"] == 1
    assert sandbox.calls[EVENTS] == 2


def test_an_export_still_pending_when_the_wait_ends_says_what_to_change(sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(export_never_completes=True)
    sleeps: list[float] = []

    message = failed(
        call(
            server_for(sandbox, sleeps=sleeps),
            "investigate_segment",
            segment=CHECKOUT_ERRORS,
            window_hours=48,
        )
    )

    assert "still being prepared when fstriage stopped waiting" in message
    assert "smaller window_hours" in message
    assert set(sleeps) == {EXPORT_POLL_SECONDS}  # recorded, never slept for real
    assert 5 * 60 - EXPORT_POLL_SECONDS <= sum(sleeps) <= 5 * 60  # the tool's five-minute wait
    assert sandbox.calls[EVENTS] == 0


def test_a_ten_session_report_fits_an_agents_context(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report's Markdown for 10 sessions stays under ~2,000 tokens.

    Tokens are estimated as characters / 4 (the usual rule of thumb for English text with an LLM
    tokenizer); words are reported too, as a second measure.
    """
    markdown = ok(
        call(
            server_for(sandbox),
            "investigate_segment",
            segment=CHECKOUT_ERRORS,
            max_sessions=10,
            window_hours=24 * 8,
        )
    )

    assert sandbox.calls[EVENTS] == 10
    assert "errors in 10 of" in markdown.splitlines()[0]
    tokens = len(markdown) / 4
    with capsys.disabled():
        print(
            f"\n10-session report: {len(markdown)} chars, ~{tokens:.0f} tokens, {len(markdown.split())} words"
        )
    assert tokens < TOKEN_BUDGET


# ---------------------------------------------------------------------------------------------
# explain_session and test_connection


def test_explain_session_shows_what_the_digest_read(sandbox: FullstorySandbox) -> None:
    session = sandbox.data.sessions_of(uid="user-001")[0]
    server = server_for(sandbox)

    text = ok(call(server, "explain_session", session=session.api_id))
    document = json.loads(ok(call(server, "explain_session", session=session.api_id, format="json")))

    assert text.startswith(f"Session {session.api_id}:")
    assert "What the digest read, per event type:" in text
    assert document["session_id"] == session.api_id
    assert document["error_groups"]
    assert sandbox.calls[EVENTS] == 2  # 1 Activation per call


def test_test_connection_reports_the_key_and_spends_nothing(sandbox: FullstorySandbox) -> None:
    text = ok(call(server_for(sandbox), "test_connection"))
    report = json.loads(text)

    assert report["key"]["role"] == "ADMIN"
    # The key owner's email (the sandbox's sandbox-admin@example.test) reaches the agent masked.
    assert report["key"]["email"] == "s***@example.test"
    assert [found for found in re.findall(EMAIL_PATTERN, text) if "***@" not in found] == []
    assert report["key"]["can_read_sessions"] is True
    assert report["api"]["base_url"] == sandbox.base_url
    assert report["cost"]["activations"] == 0
    assert sandbox.calls[EVENTS] == 0


# ---------------------------------------------------------------------------------------------
# Errors: tool errors with the CLI's wording


REJECTED = explain(FullstoryAuthError("rejected", status=401))


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("test_connection", {}),
        ("investigate_user", {"user": "user-001"}),
        ("explain_session", {"session": "5557778531805533:1110765439578976"}),
    ],
)
def test_a_rejected_key_is_a_tool_error_with_the_clis_wording(
    sandbox: FullstorySandbox, tool: str, arguments: dict[str, Any]
) -> None:
    sandbox.faults.update(unauthorized=True)

    message = failed(call(server_for(sandbox, "--org-id", ORG_ID), tool, **arguments))

    assert REJECTED in message
    assert "check FULLSTORY_API_KEY" in message


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("test_connection", {}),
        ("investigate_user", {"user": "user-001"}),
        ("explain_session", {"session": "5557778531805533:1110765439578976"}),
    ],
)
def test_a_rejected_key_is_read_again_on_the_next_call(
    sandbox: FullstorySandbox, monkeypatch: pytest.MonkeyPatch, tool: str, arguments: dict[str, Any]
) -> None:
    old = "na1.mcp-rotated-away-77e1/OLD"
    env = env_for(sandbox, FULLSTORY_API_KEY=old)
    server = build_server(parse_config(["--org-id", ORG_ID], env), sleep=lambda _seconds: None)
    loaded: list[str] = []

    def load(environ: Any, secret_id: str | None) -> ApiKey:
        key = load_api_key(environ, secret_id)
        loaded.append(key.value)
        return key

    monkeypatch.setattr(fullstory_tools, "load_api_key", load)

    ok(call(server, "test_connection"))
    ok(call(server, "test_connection"))  # the key is kept between calls
    sandbox.faults.update(unauthorized=True)  # the key was rotated: Fullstory refuses the old one
    failed(call(server, tool, **arguments))
    sandbox.faults.reset()
    env["FULLSTORY_API_KEY"] = API_KEY  # where the new key now is
    ok(call(server, "test_connection"))

    assert loaded == [old, API_KEY]


def test_a_missing_key_says_where_to_set_it(sandbox: FullstorySandbox) -> None:
    server = build_server(parse_config([], {"FULLSTORY_API_URL": sandbox.base_url}))

    message = failed(call(server, "investigate_user", user="user-001"))

    assert "no Fullstory API key: set FULLSTORY_API_KEY" in message
    assert sum(sandbox.calls.values()) == 0


def test_an_unreadable_session_id_fails_before_any_call(sandbox: FullstorySandbox) -> None:
    message = failed(call(server_for(sandbox), "investigate_session", session="not a session"))

    assert "give a replay URL, `device:session` or `indv:device!session`" in message
    assert sum(sandbox.calls.values()) == 0


def test_an_unknown_segment_lists_the_candidates(sandbox: FullstorySandbox) -> None:
    message = failed(call(server_for(sandbox), "investigate_segment", segment="no such segment at all"))

    assert "no segment matches 'no such segment at all'" in message
    assert sandbox.calls[EVENTS] == 0


def test_an_investigation_that_gathers_nothing_is_a_tool_error_with_the_report(
    sandbox: FullstorySandbox,
) -> None:
    sandbox.faults.update(role="USER")  # a Standard key: listing the user's sessions is refused

    message = failed(call(server_for(sandbox, "--org-id", ORG_ID), "investigate_user", user="user-001"))

    assert "nothing could be investigated; the report's notes say why" in message
    assert "Admin or Architect" in message  # the report's note, included


def test_arguments_outside_their_bounds_are_refused(sandbox: FullstorySandbox) -> None:
    message = failed(call(server_for(sandbox), "investigate_user", user="user-001", max_sessions=500))

    assert "max_sessions" in message
    assert sum(sandbox.calls.values()) == 0


def test_nothing_reaches_stdout_while_serving(tmp_path: Path, sandbox: FullstorySandbox) -> None:
    """Checked by the autouse fixture after every test; here over a mix of tools and a failure."""
    server = server_for(sandbox, "--reports-dir", str(tmp_path))
    ok(call(server, "test_connection"))
    ok(call(server, "list_reports"))
    failed(call(server, "get_report", report_id="inv_missing"))
