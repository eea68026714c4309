"""`sam build --config-env local` (x86_64, into samconfig's local build_dir), skipped when up to date.

Up to date means: the build directory holds a stamp with the digest of every input (template,
samconfig, functions/, layers/) from the last successful build, and that digest has not changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tomllib
from pathlib import Path

from fstriage_cli.local.config import FAKE_CREDENTIALS, REGION, LocalStackError, Toolchain

CONFIG_ENV = "local"
STAMP = ".fstriage-local-inputs"
_INPUT_DIRS = ("functions", "layers")
_INPUT_FILES = ("template.yaml", "samconfig.toml")
_SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache"}


def build_dir(root: Path) -> Path:
    """samconfig.toml's `[local.build.parameters] build_dir` (where `--config-env local` builds)."""
    try:
        config = tomllib.loads((root / "samconfig.toml").read_text())
        configured = config[CONFIG_ENV]["build"]["parameters"]["build_dir"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        raise LocalStackError(
            f"samconfig.toml has no [{CONFIG_ENV}.build.parameters] build_dir; the local stack needs "
            "the x86_64 build environment"
        ) from None
    return (root / str(configured)).resolve()


def inputs_digest(root: Path) -> str:
    digest = hashlib.sha256()
    files = [root / name for name in _INPUT_FILES]
    for directory in _INPUT_DIRS:
        files += [
            path
            for path in (root / directory).rglob("*")
            if path.is_file() and not _SKIPPED_PARTS & set(path.parts) and path.suffix != ".pyc"
        ]
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


def is_up_to_date(root: Path, functions: list[str]) -> bool:
    target = build_dir(root)
    stamp = target / STAMP
    if not stamp.is_file() or not (target / "template.yaml").is_file():
        return False
    if not all((target / name).is_dir() for name in functions):
        return False
    return stamp.read_text().strip() == inputs_digest(root)


def sam_build(root: Path, toolchain: Toolchain, functions: list[str], *, force: bool = False) -> bool:
    """Build unless up to date; True when it built. A failed build raises with sam's last lines.
    Two stacks starting at once (a test run and a CLI) take turns: the second finds the build done."""
    target = build_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".fstriage-local-build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_up_to_date(root, functions):
            return False
        _run_sam_build(root, toolchain)
    return True


def _run_sam_build(root: Path, toolchain: Toolchain) -> None:
    digest = inputs_digest(root)
    if toolchain.python313 is None or toolchain.sam is None:
        raise LocalStackError("the SAM CLI and Python 3.13 are needed to build; run `make setup` first")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(FAKE_CREDENTIALS)
    environment.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "SAM_CLI_TELEMETRY": "0",
            # sam build needs a python3.13 with pip on PATH (uv venvs have none): the interpreter's own.
            "PATH": os.pathsep.join([str(toolchain.python313.parent), environment.get("PATH", "")]),
        }
    )
    try:
        finished = subprocess.run(  # noqa: S603 -- our own sam, fixed arguments
            [str(toolchain.sam), "build", "--config-env", CONFIG_ENV],
            cwd=root,
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LocalStackError(f"sam build could not run: {error}") from None
    if finished.returncode != 0:
        tail = "\n".join((finished.stdout + finished.stderr).strip().splitlines()[-25:])
        raise LocalStackError(
            f"sam build --config-env {CONFIG_ENV} failed (exit {finished.returncode}):\n{tail}"
        )
    (build_dir(root) / STAMP).write_text(digest + "\n")
