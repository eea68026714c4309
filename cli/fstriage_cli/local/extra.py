"""Whether this environment has what the `[local]` extra installs, and the words that say so when not."""

from __future__ import annotations

from importlib.util import find_spec

# What the local stack imports (import name -> the requirement of the extra that brings it). The SAM CLI
# (its bundled runtime emulator) is looked for only when there is no checkout: see layout.py.
_NEEDED = {
    "moto": "moto[server]",
    "flask": "moto[server]",
    "flask_cors": "moto[server]",
    "awslambdaric": "awslambdaric",
    "cfnlint": "cfn-lint",
}
INSTALL_HINT = (
    "install fstriage with its [local] extra: pipx install 'fstriage[local]' "
    "(or uv tool install 'fstriage[local]'); in a checkout, run `make setup`"
)


def missing_packages() -> list[str]:
    """The extra's requirements whose modules cannot be imported here (empty: all there)."""
    return sorted({requirement for module, requirement in _NEEDED.items() if find_spec(module) is None})
