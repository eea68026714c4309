"""The package tier's fixtures: the wheel and sdist built once, and the wheel installed as the README says
(`pipx install`, once without and once with the `[local]` extra; `uvx --from`), run from outside the checkout.

pipx runs with uv as its backend (`--backend uv`), so the installs come from uv's cache rather than a
second download of every dependency through pip."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from fstriage_cli.local.config import find_python313

ROOT = Path(__file__).resolve().parents[2]
# What the subprocesses must not inherit: our venv, and any Fullstory or fstriage setting of the caller.
_DROPPED_PREFIXES = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "FULLSTORY_", "FSTRIAGE_", "UV_PROJECT")


def _user_env() -> dict[str, str]:
    """This process's environment without what a user's would not have (`_DROPPED_PREFIXES`)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path

    @property
    def version(self) -> str:
        return self.wheel.name.split("-")[1]


@dataclass(frozen=True)
class Installed:
    """pipx's venv for the wheel (holding only it and its dependencies), and a working directory with no
    checkout."""

    venv: Path
    cwd: Path

    @property
    def fstriage(self) -> Path:
        return self.venv / "bin" / "fstriage"

    def env(self, **extra: str) -> dict[str, str]:
        environment = _user_env()
        environment["PATH"] = os.pathsep.join([str(self.venv / "bin"), "/usr/local/bin:/usr/bin:/bin"])
        environment["XDG_STATE_HOME"] = str(self.cwd / "state")  # never the user's ~/.local/state
        environment.update(extra)
        return environment

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return run_tool([str(self.fstriage), *args], cwd=self.cwd, env=self.env(**env), timeout=timeout)

    def samples_dir(self) -> Path:
        """Where the installed package finds its `events/` samples."""
        return Path(
            self.python("from fstriage_cli.samples import sample_events_dir; print(sample_events_dir())")
        )

    def python(self, code: str) -> str:
        finished = subprocess.run(  # noqa: S603 -- the venv's own interpreter
            [str(self.venv / "bin" / "python"), "-c", code],
            cwd=self.cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return finished.stdout.strip()


def _missing(what: str) -> None:
    """Under `make test` (FSTRIAGE_E2E_REQUIRED) a missing tool fails the tier; elsewhere it skips."""
    if os.environ.get("FSTRIAGE_E2E_REQUIRED"):
        pytest.fail(f"the package tier cannot run: {what}")
    pytest.skip(f"the package tier cannot run: {what}")


def uv() -> Path:
    found = ROOT / ".tools" / "bin" / "uv"
    if found.is_file():
        return found
    on_path = shutil.which("uv")
    if on_path is None:
        _missing("uv is not installed (`make setup` installs it in .tools/)")
    return Path(str(on_path))


def python313() -> Path:
    """The interpreter a user's venv gets (uv must not go looking for a managed one to download)."""
    python = find_python313()
    if python is None:
        _missing("Python 3.13 is not installed (pyenv or python3.13 on PATH)")
    return Path(str(python))


def _uv_run(*args: str, cwd: Path) -> None:
    finished = run_tool([str(uv()), *args], cwd=cwd, env=_user_env())
    if finished.returncode != 0:
        pytest.fail(f"uv {' '.join(args)} failed ({finished.returncode}):\n{finished.stderr[-3000:]}")


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    _uv_run(
        "build",
        "--python",
        str(python313()),
        "--wheel",
        "--sdist",
        "--quiet",
        "-o",
        str(out),
        str(ROOT),
        cwd=ROOT,
    )
    wheels, sdists = sorted(out.glob("fstriage-*.whl")), sorted(out.glob("fstriage-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return Dist(wheels[0], sdists[0])


def run_tool(
    command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run uv, uvx, pipx or the installed `fstriage` as a user would: no stdin, output captured, the exit
    code left to the caller."""
    return subprocess.run(  # noqa: S603 -- our own uv, pipx or console script, fixed arguments
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tool_env(home: Path) -> dict[str, str]:
    """A user's environment for pipx and uvx: their homes under `home`, uv (pipx's backend) on PATH."""
    environment = _user_env()
    environment.update(
        PIPX_HOME=str(home / "pipx"),
        PIPX_BIN_DIR=str(home / "bin"),
        PIPX_MAN_DIR=str(home / "man"),
        UV_TOOL_DIR=str(home / "uv-tools"),
        UV_TOOL_BIN_DIR=str(home / "bin"),
        UV_NO_CONFIG="1",  # the checkout's [tool.uv] settings must not shape a user's install
        PATH=os.pathsep.join([str(uv().parent), "/usr/local/bin:/usr/bin:/bin"]),
    )
    return environment


def _pipx() -> Path:
    found = ROOT / ".venv" / "bin" / "pipx"
    if not found.is_file():
        _missing("pipx is not installed in .venv (`make setup` installs the dev group)")
    return found


def _install(dist: Dist, tmp_path_factory: pytest.TempPathFactory, name: str, requirement: str) -> Installed:
    """`pipx install --python <3.13> REQUIREMENT`, with pipx's homes in a temporary directory."""
    base = tmp_path_factory.mktemp(name)
    cwd = base / "home"
    cwd.mkdir()
    finished = run_tool(
        [str(_pipx()), "install", "--backend", "uv", "--python", str(python313()), requirement],
        cwd=cwd,
        env=tool_env(base),
    )
    if finished.returncode != 0:
        pytest.fail(f"pipx install {requirement} failed ({finished.returncode}):\n{finished.stderr[-3000:]}")
    venv = base / "pipx" / "venvs" / "fstriage"
    assert (base / "bin" / "fstriage").exists(), "pipx put no `fstriage` on its bin dir"
    return Installed(venv, cwd)


@pytest.fixture(scope="session")
def bare(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`pipx install fstriage-X.whl`: the CLI alone."""
    return _install(dist, tmp_path_factory, "bare", str(dist.wheel))


@pytest.fixture(scope="session")
def with_local(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`pipx install 'fstriage-X.whl[local]'`: the CLI with the local stack."""
    return _install(dist, tmp_path_factory, "local", f"{dist.wheel}[local]")
