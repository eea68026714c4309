"""Whether this environment has what the `[local]` extra installs, and the words that say so when not."""

from __future__ import annotations

from importlib.util import find_spec

from fstriage_cli import DISTRIBUTION, package_version

# What the local stack imports (import name -> the requirement of the extra that brings it). The SAM CLI
# (its bundled runtime emulator) is looked for only when there is no checkout: see layout.py.
_NEEDED = {
    "moto": "moto[server]",
    "flask": "moto[server]",
    "flask_cors": "moto[server]",
    "awslambdaric": "awslambdaric",
    "cfnlint": "cfn-lint",
}


def wheel_name() -> str:
    """The file `make dist` builds for the version running here (`<version>` when it is not installed)."""
    return f"{DISTRIBUTION}-{package_version(missing='<version>')}-py3-none-any.whl"


def install_hint(*, local_extra: bool) -> str:
    """How to (re)install from fstriage's wheel: the name is not on PyPI, and asking an index for it could
    install someone else's package."""
    wheel = f"/path/to/{wheel_name()}" + ("[local]" if local_extra else "")
    what = "fstriage's wheel with its [local] extra" if local_extra else "fstriage's wheel again"
    return (
        f"install {what} (built by `make dist`; fstriage is not on PyPI): "
        f"pipx install --force --python python3.13 '{wheel}' "
        f"(or uv tool install --force --python 3.13 '{wheel}'); in a checkout, run `make setup`"
    )


INSTALL_HINT = install_hint(local_extra=True)


def missing_packages() -> list[str]:
    """The extra's requirements whose modules cannot be imported here (empty: all there)."""
    return sorted({requirement for module, requirement in _NEEDED.items() if find_spec(module) is None})
