"""Settings of the local stack, and where its tools are on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fstriage_cli.samples.values import (
    ACCOUNT_ID,
    REGION,
    TEST_ORG_ID,
    TEST_SIGNING_SECRET,
    TEST_STREAM_TOKEN,
)

# ACCOUNT_ID and REGION (moto's defaults): the local stack's modules import them from here.
__all__ = ["ACCOUNT_ID", "REGION", "LocalConfig", "LocalStackError"]

DEFAULT_PORT = 3000
DEFAULT_REPORTS_DIR = Path("reports")
# Any non-empty key works against the sandbox (Basic auth with anything); `na1.` picks the region.
SANDBOX_API_KEY = "na1.local-sandbox-key"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
SETUP_HINT = "run `make setup` first"
# The template parameter that switches write-back into Fullstory (`fstriage.core.writeback`). The local
# stack turns it on against the sandbox, so local runs and `make demo` show it; never by default against
# a real Fullstory API, where the events would land in an org's analytics.
WRITE_BACK_PARAMETER = "WriteBackToFullstory"
# The template parameter that adds the optional Harness FME forwarder (`fstriage local --fme`).
FME_PARAMETER = "FmeForwarder"


class LocalStackError(RuntimeError):
    """A problem the user can fix (a busy port, a missing tool, a failed build): no traceback."""


@dataclass(slots=True)
class LocalConfig:
    port: int = DEFAULT_PORT  # the function URL gateway; 0 picks a free port
    fullstory_api_url: str | None = None  # None: run the Fullstory sandbox in-process
    fullstory_api_key: str | None = None  # None: $FULLSTORY_API_KEY (required with an API URL)
    signing_secret: str = TEST_SIGNING_SECRET
    stream_token: str = TEST_STREAM_TOKEN
    org_id: str = TEST_ORG_ID
    reports_dir: Path = DEFAULT_REPORTS_DIR
    visibility_timeout: int | None = None  # None: the template's
    source_ip: str | None = None  # None: the client's address
    parameters: dict[str, str] = field(default_factory=dict)  # template parameter overrides
    function_env: dict[str, dict[str, str]] = field(default_factory=dict)  # extra env per function
    investigator_concurrency: int | None = None  # None: the template's MaximumConcurrency
    webhook_concurrency: int = 1  # webhook instances behind the function URL (concurrent deliveries)
    aws_outages: bool = False  # route the functions' AWS calls through a switchable proxy (outage.py)
    build: bool = True
    sandbox_seed: int = 7
    sample_anchors: bool = True  # give the sandbox the IDs events/ names
    stack_name: str = "fstriage"
    project_dir: Path | None = None  # None: the checkout this file is in, else the installed package's stack
    log_dir: Path | None = None  # function logs; None: <project>/.local/logs (layout.StackSource)
    echo_logs: bool = False  # also copy function logs to stderr
    startup_timeout: float = 30.0


# What, beside template.yaml, makes a directory fstriage's checkout (not a user's own SAM project).
CHECKOUT_MARKER = Path("layers") / "fstriage" / "fstriage" / "__init__.py"


def is_checkout(directory: Path) -> bool:
    return (directory / "template.yaml").is_file() and (directory / CHECKOUT_MARKER).is_file()


def find_project_dir() -> Path:
    """The checkout this package is in, else the current directory when it is one."""
    for candidate in (Path(__file__).resolve().parents[3], Path.cwd()):
        if is_checkout(candidate):
            return candidate
    raise LocalStackError(
        f"cannot find the fstriage checkout (template.yaml beside {CHECKOUT_MARKER}); pass --project-dir"
    )


@dataclass(frozen=True, slots=True)
class Toolchain:
    sam: Path | None  # None: no build (the installed package's stack)
    rie: Path
    runtime_python: Path
    python313: Path | None  # for `sam build` (None: skip building)
    runtime_versions: tuple[str, ...] = ()  # the runtime's Python, e.g. ("python3.13",)


def find_toolchain(root: Path, *, need_build: bool) -> Toolchain:
    problems: list[str] = []
    sam = root / ".venv-sam" / "bin" / "sam"
    rie = next(
        iter(
            sorted(root.glob(".venv-sam/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64"))
        ),
        None,
    )
    if need_build and not sam.is_file():
        problems.append(f"SAM CLI is missing ({sam.relative_to(root)})")
    if rie is None:
        problems.append(
            "the Lambda Runtime Interface Emulator is missing (aws-lambda-rie-x86_64 inside .venv-sam)"
        )
    runtime_python = root / ".venv-runtime" / "bin" / "python"
    has_ric = any(root.glob(".venv-runtime/lib/python3*/site-packages/awslambdaric"))
    if not runtime_python.exists() or not has_ric:
        problems.append("the Lambda runtime venv is missing (.venv-runtime with awslambdaric and boto3)")
    python313 = find_python313() if need_build else None
    if need_build and python313 is None:
        problems.append("Python 3.13 (the functions' runtime) is not installed (pyenv or python3.13 on PATH)")
    if problems:
        raise LocalStackError("; ".join(problems) + f": {SETUP_HINT}")
    assert rie is not None
    versions = tuple(sorted(path.name for path in root.glob(".venv-runtime/lib/python3*")))
    return Toolchain(
        sam=sam, rie=rie, runtime_python=runtime_python, python313=python313, runtime_versions=versions
    )


def find_python313() -> Path | None:
    """The Makefile's choice: $PYTHON313, else pyenv's newest 3.13, else python3.13 on PATH."""
    explicit = os.environ.get("PYTHON313")
    if explicit and Path(explicit).exists():
        return Path(explicit)
    pyenv_root = os.environ.get("PYENV_ROOT")
    pyenv = shutil.which("pyenv")
    if not pyenv_root and pyenv:
        try:
            pyenv_root = subprocess.run(  # noqa: S603 -- fixed arguments
                [pyenv, "root"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pyenv_root = None
    root = Path(pyenv_root) if pyenv_root else Path.home() / ".pyenv"
    candidates = sorted(
        root.glob("versions/3.13.*/bin/python"),
        key=lambda p: tuple(int(x) if x.isdigit() else 0 for x in p.parts[-3].split(".")),
    )
    if candidates:
        return candidates[-1]
    found = shutil.which("python3.13")
    return Path(found) if found else None
