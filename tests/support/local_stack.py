"""What tests that drive the local stack share: the check that its tools are installed."""

from __future__ import annotations

import os

import pytest

from fstriage_cli.local.config import LocalStackError, find_project_dir, find_toolchain


def require_local_stack() -> None:
    """Skip when the local stack's tools (SAM CLI, the runtime venv) are missing; under
    FSTRIAGE_E2E_REQUIRED (`make test`), fail instead, so a missing install step cannot pass silently."""
    try:
        find_toolchain(find_project_dir(), need_build=True)
    except LocalStackError as error:
        if os.environ.get("FSTRIAGE_E2E_REQUIRED"):
            pytest.fail(f"the local stack cannot run: {error}")
        pytest.skip(f"the local stack cannot run: {error}")
