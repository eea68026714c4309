"""The CLI tests' fixtures: one Fullstory sandbox for the package, and a clean slate per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fstriage_cli.sandbox import FullstorySandbox
from tests.integration.cli.harness import API_KEY, ENV_NAMES


@pytest.fixture(scope="package")
def sandbox() -> Iterator[FullstorySandbox]:
    with FullstorySandbox(seed=7) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(sandbox: FullstorySandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.reset()
    sandbox.reset_records()
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FULLSTORY_API_KEY", API_KEY)
