"""What tests that drive the local stack share: the check that its tools are installed, and waiting for an
investigation's report."""

from __future__ import annotations

import os

import pytest

from fstriage_cli.local import CollectedReport, LocalStack
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


def wait_for_report(stack: LocalStack, investigation_id: str, timeout: float) -> CollectedReport:
    """The investigation's first report; fails with what did arrive and what the poller saw."""
    found = stack.wait_for_investigations([investigation_id], timeout).get(investigation_id)
    if found is None:
        got = [r.investigation_id for r in stack.reports]
        polled = [(i.function, i.result.error) for i in stack.invocations]
        raise AssertionError(f"no report {investigation_id} after {timeout:g} s; got {got}; poller: {polled}")
    return found
