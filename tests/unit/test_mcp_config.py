"""`fstriage mcp`'s settings: flags over the CLI's environment variables, read-only mode, bad values."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from fstriage_cli.mcp_server.config import parse_config
from fstriage_cli.mcp_server.server import Kind, Status, main
from fstriage_cli.reports.store import STATUSES, TRIGGER_KINDS
from fstriage_cli.wording import CliError

KEY = "na1.unit-key-55aa/SECRET"


def test_settings_come_from_the_environment_like_the_cli() -> None:
    config = parse_config(
        [],
        {
            "FULLSTORY_API_KEY": KEY,
            "FULLSTORY_API_URL": "http://127.0.0.1:8123",
            "FULLSTORY_REGION": "EU1",
            "FULLSTORY_ORG_ID": "o-ENV-eu1",
            "FSTRIAGE_REPORTS_BUCKET": "stack-reports",
        },
    )

    assert config.api_url == "http://127.0.0.1:8123"
    assert config.region == "eu1"
    assert config.org_id == "o-ENV-eu1"
    assert config.reports_bucket == "stack-reports"
    assert config.reports_dir is None
    assert config.read_only is False
    assert config.key_source == "FULLSTORY_API_KEY"
    assert KEY not in repr(config)


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    config = parse_config(
        [
            "--fullstory-api-url",
            "https://api.eu1.fullstory.com",
            "--region",
            "na1",
            "--org-id",
            "o-FLAG-na1",
            "--secret-id",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:fs",
            "--reports-dir",
            str(tmp_path),
        ],
        {"FULLSTORY_API_URL": "http://ignored", "FULLSTORY_ORG_ID": "o-ENV", "FSTRIAGE_REPORTS_BUCKET": "b"},
    )

    assert config.api_url == "https://api.eu1.fullstory.com"
    assert config.region == "na1"
    assert config.org_id == "o-FLAG-na1"
    assert config.reports_dir == tmp_path
    assert config.reports_bucket is None  # a directory given on the command line wins over the bucket
    assert config.key_source == "the secret arn:aws:secretsmanager:us-east-1:123456789012:secret:fs"


@pytest.mark.parametrize(("value", "read_only"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_read_only_from_the_environment(value: str, read_only: bool) -> None:
    assert parse_config([], {"FSTRIAGE_MCP_READ_ONLY": value}).read_only is read_only
    assert parse_config(["--read-only"], {"FSTRIAGE_MCP_READ_ONLY": value}).read_only is True


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {"FSTRIAGE_MCP_READ_ONLY": "maybe"}, "FSTRIAGE_MCP_READ_ONLY='maybe' is not a yes/no value"),
        ([], {"FULLSTORY_REGION": "us9"}, "FULLSTORY_REGION='us9' is not a region"),
        (["--fullstory-api-url", "api.fullstory.com"], {}, "is not an http(s) URL"),
    ],
)
def test_bad_values_are_named(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(CliError) as raised:
        parse_config(argv, env)

    assert message in raised.value.message


def test_the_list_filters_offer_exactly_the_stores_statuses_and_kinds() -> None:
    assert get_args(Status) == STATUSES
    assert get_args(Kind) == TRIGGER_KINDS


def test_main_stops_on_a_bad_setting_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--region", "na1", "--fullstory-api-url", "localhost:9"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "fstriage mcp: error: 'localhost:9' is not an http(s) URL" in captured.err


def test_bucket_is_an_alias_of_reports_bucket() -> None:
    assert parse_config(["--bucket", "stack-reports"], {}).reports_bucket == "stack-reports"
    assert parse_config(["--reports-bucket", "stack-reports"], {}).reports_bucket == "stack-reports"


def test_a_missing_reports_dir_stops_the_server_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = tmp_path / "absent"

    with pytest.raises(CliError) as raised:
        parse_config(["--reports-dir", str(absent)], {})
    code = main(["--read-only", "--reports-dir", str(absent)])

    assert f"--reports-dir {absent}: no such directory" in raised.value.message
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert f"fstriage mcp: error: --reports-dir {absent}: no such directory" in captured.err
