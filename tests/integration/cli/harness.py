"""What the CLI tests share: the test key and org, and a `main` run that checks the key never leaks.

Most tests run `main([...])` in-process and read what it printed; a few run the installed console script
in a subprocess. Every run checks that the API key never reaches stdout or stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fstriage_cli.cli import main
from fstriage_cli.sandbox import FullstorySandbox

REPO_ROOT = Path(__file__).resolve().parents[3]
API_KEY = "na1.cli-test-key-7f3a9c/SANDBOX"
SIGNING_SECRET = "cli-test-signing-secret"
ORG_ID = "o-CLITEST-na1"
EVENTS = "GET /v2/sessions/{id}/events"
CONSOLE_SCRIPT = Path(sys.executable).parent / "fstriage"
ENV_NAMES = (
    "FULLSTORY_API_KEY",
    "FULLSTORY_API_URL",
    "FULLSTORY_REGION",
    "FULLSTORY_ORG_ID",
    "FSTRIAGE_SIGNING_SECRET",
)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    code = main(list(args))
    captured = capsys.readouterr()
    assert API_KEY not in captured.out and API_KEY not in captured.err
    assert API_KEY.split(".", 1)[1] not in captured.out + captured.err
    return Run(code, captured.out, captured.err)


def api(sandbox: FullstorySandbox, capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    return cli(capsys, *args, "--fullstory-api-url", sandbox.base_url)


def newest_session(sandbox: FullstorySandbox, uid: str = "user-001") -> Any:
    return sandbox.data.sessions_of(uid=uid)[0]
