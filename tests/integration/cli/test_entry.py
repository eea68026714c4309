"""`fstriage` itself: help, usage errors, --version, the delegated commands and the console script."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import types

import jsonschema
import pytest

from fstriage_cli.sandbox import FullstorySandbox
from tests.integration.cli.harness import (
    API_KEY,
    CONSOLE_SCRIPT,
    ENV_NAMES,
    api,
    cli,
    newest_session,
)
from tests.support.schemas import REPORT_SCHEMA

# ---------------------------------------------------------------------------------------------
# --help


HELP_MENTIONS = {
    "sign": ("--secret", "--org-id", "--timestamp", "--header", "--json", "FILE", "FSTRIAGE_SIGNING_SECRET"),
    "send": ("--secret", "--org-id", "--timeout", "--json", "URL", "FILE", "requestContext"),
    "test-connection": (
        "--probe-activation",
        "--session",
        "--email",
        "--uid",
        "--profile",
        "--secret-id",
        "--fullstory-api-url",
        "--region",
        "--json",
        "FULLSTORY_API_KEY",
        "1 Activation",
    ),
    "sessions": ("--email", "--uid", "--limit", "--secret-id", "--fullstory-api-url", "--region", "--json"),
    "segments": ("--creator", "--secret-id", "--fullstory-api-url", "--region", "--json"),
    "summary": ("SESSION", "--profile", "--secret-id", "--fullstory-api-url", "--region", "--json"),
    "events": ("SESSION", "--errors", "--secret-id", "--fullstory-api-url", "--region", "--json"),
    "explain": ("SESSION", "1 Activation", "key names", "--secret-id", "--fullstory-api-url", "--json"),
    "investigate": (
        "--session",
        "--email",
        "--uid",
        "--json",
        "--max-sessions",
        "--window-hours",
        "--profile",
        "--event-source",
        "--org-id",
        "--secret-id",
        "--fullstory-api-url",
        "--region",
        "--segment",
        "--export-wait",
    ),
}


@pytest.mark.parametrize("command", sorted(HELP_MENTIONS))
def test_every_subcommand_has_help_that_mentions_its_options_and_examples(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    run = cli(capsys, command, "--help")

    assert run.code == 0
    assert run.out.startswith(f"usage: fstriage {command}")
    for mention in HELP_MENTIONS[command]:
        assert mention in run.out, f"{command} --help does not mention {mention}"
    assert "examples:" in run.out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "--help")

    assert run.code == 0
    for command in ("local", "demo", *HELP_MENTIONS):
        assert command in run.out
    assert "exit codes" in run.out


# ---------------------------------------------------------------------------------------------
# Usage errors: exit 2


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["no-such-command"],
        ["sessions"],  # neither --email nor --uid
        ["sessions", "--email", "a@example.test", "--uid", "u"],
        ["sessions", "--uid", "u", "--limit", "0"],
        ["investigate"],
        ["investigate", "--session", "1:2", "--event-source", "carrier-pigeon"],
        ["investigate", "--session", "1:2", "--window-hours", "-3"],
        ["investigate", "--segment", "Checkout errors", "--uid", "u"],
        ["sign", "--org-id", "o", "--timestamp", "yesterday", "-"],
        ["test-connection", "--region", "ap1"],
    ],
)
def test_usage_errors_exit_2_before_any_call(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    run = cli(capsys, *args)

    assert run.code == 2
    assert "usage:" in run.err
    assert run.out == ""
    assert sandbox.calls == {}


def test_a_missing_key_exits_2_and_says_where_to_put_one(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FULLSTORY_API_KEY")

    run = api(sandbox, capsys, "segments")

    assert run.code == 2
    assert "FULLSTORY_API_KEY" in run.err and "--secret-id" in run.err
    assert sandbox.calls == {}


@pytest.mark.parametrize("command", ["summary", "events", "explain"])
def test_a_bad_session_id_exits_2_before_any_call(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    run = api(sandbox, capsys, command, "not a session")

    assert run.code == 2
    assert "not a recognisable Fullstory session ID" in run.err
    assert "device:session" in run.err
    assert sandbox.calls == {}


def test_investigate_rejects_a_bad_session_id_before_any_call(
    sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    run = api(sandbox, capsys, "investigate", "--session", "https://app.fullstory.com/ui/o-X/segments/1")

    assert run.code == 2
    assert sandbox.calls == {}


# ---------------------------------------------------------------------------------------------
# local, demo, reports and mcp: delegated to their own modules


@pytest.mark.parametrize(
    ("command", "module"),
    [
        ("local", "fstriage_cli.local"),
        ("demo", "fstriage_cli.demo"),
        ("reports", "fstriage_cli.reports"),
        ("mcp", "fstriage_cli.mcp_server"),
    ],
)
def test_delegated_commands_hand_everything_after_their_name_to_their_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str, module: str
) -> None:
    seen: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        seen.append(argv)
        return 3

    fake = types.ModuleType(module)
    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, fake)

    run = cli(capsys, command, "-h", "--json", "x")

    assert run.code == 3
    assert seen == [["-h", "--json", "x"]]


def test_the_help_lists_the_delegated_commands_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "--help")

    assert run.code == 0
    for command in ("local", "demo", "reports", "mcp"):
        assert f"    {command} " in run.out  # a line of the commands list
    assert "fstriage reports " in run.out and "fstriage mcp" in run.out  # the examples


def _import_failing_on(monkeypatch: pytest.MonkeyPatch, module: str, package: str) -> None:
    """Make importing `module` fail as it would when the third-party `package` is not installed."""
    real = importlib.import_module

    def import_module(name: str, package_arg: str | None = None) -> types.ModuleType:
        if name == module:
            raise ModuleNotFoundError(f"No module named {package!r}", name=package)
        return real(name, package_arg)

    monkeypatch.setattr(importlib, "import_module", import_module)


@pytest.mark.parametrize(
    ("command", "module"), [("local", "fstriage_cli.local"), ("demo", "fstriage_cli.demo")]
)
def test_a_local_command_without_the_local_extra_names_the_extra_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str, module: str
) -> None:
    _import_failing_on(monkeypatch, module, "moto")

    run = cli(capsys, command, "up")

    assert run.code == 2
    assert f"`fstriage {command}` needs the package 'moto'" in run.err
    assert "pipx install --force --python python3.13 '/path/to/fstriage-" in run.err
    assert "-py3-none-any.whl[local]'" in run.err
    assert "uv tool install --force --python 3.13 '/path/to/fstriage-" in run.err
    assert "'fstriage[local]'" not in run.err  # not on PyPI: never the bare name
    assert "make setup" in run.err


def test_a_base_command_missing_a_package_says_to_reinstall_not_to_add_the_local_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _import_failing_on(monkeypatch, "fstriage_cli.mcp_server", "mcp")

    run = cli(capsys, "mcp")

    assert run.code == 2
    assert "`fstriage mcp` needs the package 'mcp'" in run.err
    assert "install fstriage's wheel again" in run.err
    assert "pipx install --force --python python3.13 '/path/to/fstriage-" in run.err
    assert "[local]" not in run.err


def test_a_missing_delegate_module_exits_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fstriage_cli.demo", None)  # import fails as if it were absent

    run = cli(capsys, "demo", "--help")

    assert run.code == 2
    assert "fstriage demo" in run.err and "fstriage_cli.demo" in run.err and "missing" in run.err


# ---------------------------------------------------------------------------------------------
# --version


def test_version_prints_the_installed_distributions_version(capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, "--version")

    assert run.code == 0
    assert run.out == f"fstriage {importlib.metadata.version('fstriage')}\n"
    assert run.err == ""


def test_version_without_distribution_metadata_says_unknown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)

    run = cli(capsys, "--version")

    assert run.code == 0
    assert run.out == "fstriage unknown\n"


# ---------------------------------------------------------------------------------------------
# The installed console script, in a subprocess


SCRIPT = (str(CONSOLE_SCRIPT),)
MODULE = (sys.executable, "-m", "fstriage_cli.cli")


def _run_cli(entry: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess (the console script or `python -m`), with the test key and none of the
    caller's settings."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    env["FULLSTORY_API_KEY"] = API_KEY
    return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [*entry, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_the_console_script_investigates_a_session(sandbox: FullstorySandbox) -> None:
    assert CONSOLE_SCRIPT.exists(), "run `uv sync` to install the fstriage console script"
    session = newest_session(sandbox)

    done = _run_cli(
        SCRIPT, "investigate", "--session", session.api_id, "--fullstory-api-url", sandbox.base_url, "--json"
    )

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["sessions"][0]["replay_url"] == sandbox.data.replay_url(session)
    assert API_KEY not in done.stdout + done.stderr


def test_the_console_script_prints_its_version() -> None:
    done = _run_cli(SCRIPT, "--version")

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"fstriage {importlib.metadata.version('fstriage')}\n"


def test_python_dash_m_runs_the_cli_and_returns_its_exit_codes(sandbox: FullstorySandbox) -> None:
    sandbox.faults.update(unauthorized=True)

    rejected = _run_cli(MODULE, "segments", "--fullstory-api-url", sandbox.base_url)
    usage = _run_cli(MODULE, "segments", "--bogus")

    assert rejected.returncode == 1
    assert "the key was rejected (401)" in rejected.stderr
    assert usage.returncode == 2
