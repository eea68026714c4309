"""Where `fstriage local` finds the stack it runs: a checkout (functions built by `sam build`), or with
no checkout the copy the installed package carries (functions as packaged, the layer from this
environment, the runtime emulator from the SAM CLI the `[local]` extra installs)."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from fstriage_cli.local.config import LocalStackError, Toolchain, find_project_dir
from fstriage_cli.local.extra import INSTALL_HINT
from fstriage_cli.samples import sample_events_dir

_PACKAGE = Path(__file__).resolve().parents[1]  # fstriage_cli
# Where the wheel puts template.yaml, samconfig.toml and functions/ (pyproject's force-include).
PACKAGED_STACK = _PACKAGE / "stack"
# The emulator the SAM CLI bundles for each machine; with no build, the functions run natively.
_RIE_BY_MACHINE = {
    "x86_64": "aws-lambda-rie-x86_64",
    "amd64": "aws-lambda-rie-x86_64",
    "aarch64": "aws-lambda-rie-arm64",
    "arm64": "aws-lambda-rie-arm64",
}


@dataclass(frozen=True, slots=True)
class StackSource:
    root: Path  # holds template.yaml; the template's CodeUri paths are relative to it
    installed: bool  # True: the package's own copy (no checkout, no build)

    @property
    def events_dir(self) -> Path:
        return sample_events_dir() if self.installed else self.root / "events"

    @property
    def default_log_dir(self) -> Path:
        if not self.installed:
            return self.root / ".local" / "logs"
        # Never inside site-packages: the user's state directory.
        state = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
        return Path(state) / "fstriage" / "logs"


def find_stack(project_dir: Path | None) -> StackSource:
    """The checkout given, else the one this package is in or the current directory is, else the
    installed package's stack."""
    if project_dir is not None:
        return StackSource(project_dir.resolve(), installed=False)
    try:
        return StackSource(find_project_dir().resolve(), installed=False)
    except LocalStackError:
        if (PACKAGED_STACK / "template.yaml").is_file():
            return StackSource(PACKAGED_STACK, installed=True)
        raise


def installed_toolchain() -> Toolchain:
    """This interpreter runs the functions (its environment has awslambdaric, boto3 and the layer's
    package); the emulator is the SAM CLI's. A missing piece names the extra to install."""
    if sys.platform != "linux":
        # The SAM CLI bundles the emulator as a Linux executable only; elsewhere it cannot start at all.
        raise LocalStackError(
            f"`fstriage local` without a checkout runs on Linux only (this is {sys.platform}): the Lambda "
            "Runtime Interface Emulator it uses is a Linux program; run it on Linux or in a Linux container"
        )
    problems: list[str] = []
    rie = bundled_rie()
    if rie is None:
        wanted = _RIE_BY_MACHINE.get(platform.machine().lower(), f"none for {platform.machine()}")
        problems.append(f"the Lambda Runtime Interface Emulator is missing (the SAM CLI's {wanted})")
    for module in ("awslambdaric", "boto3"):
        if find_spec(module) is None:
            problems.append(f"the Lambda runtime's {module} is missing")
    if problems or rie is None:
        raise LocalStackError("; ".join(problems) + f": {INSTALL_HINT}")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    # sys.executable as is (not resolved): a venv's python finds the venv's packages.
    return Toolchain(
        sam=None, rie=rie, runtime_python=Path(sys.executable), python313=None, runtime_versions=(version,)
    )


def bundled_rie() -> Path | None:
    """samcli/local/rapid/aws-lambda-rie-<arch> of the SAM CLI installed in this environment."""
    name = _RIE_BY_MACHINE.get(platform.machine().lower())
    spec = find_spec("samcli")
    if name is None or spec is None:
        return None
    for location in spec.submodule_search_locations or []:
        candidate = Path(location) / "local" / "rapid" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None
