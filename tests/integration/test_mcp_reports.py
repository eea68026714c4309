"""`fstriage mcp`'s list_reports and get_report, through the SDK's in-memory client, over a reports
directory and over the stack's bucket (moto S3): real reports, listed, filtered, read, and refused."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import boto3
import jsonschema
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp_types import CallToolResult, TextContent
from moto import mock_aws

from fstriage.core.redact import EMAIL_PATTERN, mask_email
from fstriage.core.report import render_markdown
from fstriage_cli.mcp_server import build_server
from fstriage_cli.mcp_server.config import parse_config
from fstriage_cli.mcp_server.masking import mask_emails
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS
from fstriage_cli.wording import CliError
from tests.support.reports import BUCKET, DATA, RECEIVED, sample_reports, write_report
from tests.support.schemas import REPORT_SCHEMA


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    """Real reports a day apart: a segment alert (newest), a custom event on user-001's session, and a
    segment alert that failed (the key was refused)."""
    return sample_reports()


def raw_emails(text: str) -> list[str]:
    """The emails in `text` that are not masked (`j***@example.com` is)."""
    return [found for found in re.findall(EMAIL_PATTERN, text) if "***@" not in found]


@pytest.fixture
def reports_dir(tmp_path: Path, reports: dict[str, dict[str, Any]]) -> Path:
    """The reports as `fstriage local` collects them: `<id>.json` and `<id>.md`."""
    for report in reports.values():
        (tmp_path / f"{report['investigation_id']}.json").write_text(json.dumps(report))
        (tmp_path / f"{report['investigation_id']}.md").write_text(render_markdown(report))
    return tmp_path


def call(server: MCPServer, tool: str, **arguments: Any) -> CallToolResult:
    async def session() -> CallToolResult:
        async with Client(server, mode="legacy") as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(session)


def text_of(result: CallToolResult, *, error: bool = False) -> str:
    assert len(result.content) == 1 and isinstance(result.content[0], TextContent)
    text = result.content[0].text
    assert result.is_error is error, text
    assert "Traceback" not in text
    return text


def directory_server(path: Path, *argv: str) -> MCPServer:
    # Read-only: what a reports-only agent runs, and it must need no Fullstory key.
    return build_server(parse_config(["--read-only", "--reports-dir", str(path), *argv], {}))


@pytest.fixture(autouse=True)
def quiet_stdout(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------------------
# A reports directory


def test_list_reports_lists_newest_first_with_ids_and_subjects(
    reports_dir: Path, reports: dict[str, dict[str, Any]]
) -> None:
    text = text_of(call(directory_server(reports_dir), "list_reports"))

    ids = [reports[name]["investigation_id"] for name in ("segment", "custom", "failed")]
    positions = [text.index(report_id) for report_id in ids]
    assert positions == sorted(positions)  # newest first
    assert f'segment "{CHECKOUT_ERRORS}"' in text
    assert "3 reports from" in text and "Read one with get_report(report_id)" in text


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"status": "failed"}, {"failed"}),
        ({"kind": "custom_event"}, {"custom"}),
        ({"subject": "CHECKOUT ERR"}, {"segment", "failed"}),
        ({"kind": "segment_alert", "status": "complete"}, {"segment"}),
    ],
)
def test_list_reports_filters(
    reports_dir: Path, reports: dict[str, dict[str, Any]], arguments: dict[str, Any], expected: set[str]
) -> None:
    text = text_of(call(directory_server(reports_dir), "list_reports", **arguments))

    listed = {name for name, report in reports.items() if report["investigation_id"] in text}
    assert listed == expected


def test_list_reports_says_when_there_are_more(reports_dir: Path) -> None:
    text = text_of(call(directory_server(reports_dir), "list_reports", limit=1))

    assert text.count("inv_") == 1
    assert "there are more: raise limit (now 1)" in text


def test_list_reports_with_no_match_says_so(reports_dir: Path) -> None:
    text = text_of(call(directory_server(reports_dir), "list_reports", subject="nobody-at-all"))

    assert "match these filters" in text


def test_get_report_as_markdown_and_as_json(reports_dir: Path, reports: dict[str, dict[str, Any]]) -> None:
    report = reports["custom"]
    server = directory_server(reports_dir)

    markdown = text_of(call(server, "get_report", report_id=report["investigation_id"]))
    document = json.loads(
        text_of(call(server, "get_report", report_id=report["investigation_id"], format="json"))
    )

    assert markdown == render_markdown(report)
    assert document == mask_emails(report)  # the complete report, emails masked
    jsonschema.validate(document, REPORT_SCHEMA)


def test_get_report_renders_the_markdown_when_only_the_json_was_stored(
    reports_dir: Path, reports: dict[str, dict[str, Any]]
) -> None:
    report = reports["segment"]
    (reports_dir / f"{report['investigation_id']}.md").unlink()

    markdown = text_of(
        call(directory_server(reports_dir), "get_report", report_id=report["investigation_id"])
    )

    assert markdown == render_markdown(report)


def test_get_report_of_an_unknown_id_points_at_list_reports(reports_dir: Path) -> None:
    message = text_of(call(directory_server(reports_dir), "get_report", report_id="inv_nope"), error=True)

    assert "no report 'inv_nope'" in message and "call list_reports" in message


@pytest.mark.parametrize("value", ["../secret", "/etc/hostname", "sub/inv_x", ".hidden", ""])
def test_get_report_takes_ids_never_paths(reports_dir: Path, value: str) -> None:
    message = text_of(call(directory_server(reports_dir), "get_report", report_id=value), error=True)

    assert "is not a report ID" in message


def test_get_report_refuses_a_file_outside_the_store_even_when_it_exists(
    tmp_path: Path, reports: dict[str, dict[str, Any]]
) -> None:
    store = tmp_path / "store"
    store.mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(reports["custom"]))

    message = text_of(call(directory_server(store), "get_report", report_id=str(outside)), error=True)

    assert "is not a report ID" in message


@pytest.mark.parametrize("value", ["leak.json", "leak.md", "leak.html", "LEAK.MD", "leak"])
def test_get_report_never_reads_a_file_from_the_current_directory(
    reports_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    reports: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # outside the store
    leaked = reports["custom"] | {"investigation_id": "leak", "headline": "LEAKED"}
    (elsewhere / "leak.json").write_text(json.dumps(leaked))
    (elsewhere / "leak.md").write_text("# LEAKED\n")
    (elsewhere / "leak.html").write_text("<h1>LEAKED</h1>")
    monkeypatch.chdir(elsewhere)

    message = text_of(call(directory_server(reports_dir), "get_report", report_id=value), error=True)

    assert "LEAKED" not in message
    assert "is not a report ID" in message or f"no report {value!r}" in message


def test_no_raw_email_reaches_the_agent(reports_dir: Path, reports: dict[str, dict[str, Any]]) -> None:
    user = DATA.sessions_of(uid="user-001")[0].user
    # A report about a user whose uid is their email, as many apps send it.
    report = reports["custom"] | {"investigation_id": "inv_" + "e" * 32}
    report["trigger"] = report["trigger"] | {"subject": report["trigger"]["subject"] | {"uid": user.email}}
    (reports_dir / f"{report['investigation_id']}.json").write_text(json.dumps(report))
    (reports_dir / f"{report['investigation_id']}.md").write_text(f"# About {user.email}\n")
    assert user.email in json.dumps(report)  # the stored report keeps it: the operator's copy
    server = directory_server(reports_dir)

    texts = [
        text_of(call(server, "list_reports")),
        text_of(call(server, "get_report", report_id=report["investigation_id"])),
        text_of(call(server, "get_report", report_id=report["investigation_id"], format="json")),
    ]

    for text in texts:
        assert user.email not in text and raw_emails(text) == []
    assert mask_email(user.email) in texts[0] and mask_email(user.email) in texts[2]


def test_an_unreadable_report_is_listed_and_its_read_fails_clearly(reports_dir: Path) -> None:
    (reports_dir / "inv_broken.json").write_text("{not json")
    server = directory_server(reports_dir)

    listing = text_of(call(server, "list_reports", status="unreadable"))
    message = text_of(call(server, "get_report", report_id="inv_broken"), error=True)

    assert "inv_broken" in listing
    assert "the report inv_broken cannot be read: not JSON" in message


def test_without_a_store_the_tools_say_how_to_configure_one() -> None:
    server = build_server(parse_config(["--read-only"], {}))

    message = text_of(call(server, "list_reports"), error=True)

    assert "FSTRIAGE_REPORTS_BUCKET" in message and "--reports-dir" in message


def test_a_missing_directory_stops_the_server_before_it_serves(tmp_path: Path) -> None:
    with pytest.raises(CliError) as raised:
        directory_server(tmp_path / "absent")

    assert f"--reports-dir {tmp_path / 'absent'}: no such directory" in raised.value.message


def test_a_directory_removed_while_serving_is_a_tool_error(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    server = directory_server(store)
    store.rmdir()

    message = text_of(call(server, "list_reports"), error=True)

    assert f"no directory {store}" in message


# ---------------------------------------------------------------------------------------------
# The stack's bucket


@pytest.fixture
def bucket(reports: dict[str, dict[str, Any]]) -> Iterator[None]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for name, report in reports.items():
            write_report(s3, report, received_at=RECEIVED[name])
        yield


@pytest.mark.usefixtures("bucket")
def test_reports_from_the_stacks_bucket(reports: dict[str, dict[str, Any]]) -> None:
    server = build_server(parse_config(["--read-only"], {"FSTRIAGE_REPORTS_BUCKET": BUCKET}))
    report = reports["custom"]

    listing = text_of(call(server, "list_reports", status="complete"))
    markdown = text_of(call(server, "get_report", report_id=report["investigation_id"]))
    missing = text_of(call(server, "get_report", report_id="inv_nope"), error=True)

    assert f"s3://{BUCKET}/reports/" in listing
    assert reports["segment"]["investigation_id"] in listing
    assert reports["failed"]["investigation_id"] not in listing
    assert markdown == render_markdown(report)
    assert f"no report 'inv_nope' in s3://{BUCKET}/reports/" in missing
