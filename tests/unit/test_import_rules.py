"""The layering rules (docs/architecture.md), checked on every module so that they hold as the code grows.

- `fstriage.core` is pure: the standard library and other `fstriage.core` modules only (no boto3,
  botocore, requests, Powertools, adapters, settings or composition roots).
- Only `fstriage.adapters` (and the composition roots that wire them) touch boto3, botocore or requests.
- The layer imports nothing from the CLI (`fstriage_cli`), the dev tooling (`fstriage_dev`), the benchmarks
  or the tests.
- The shipped CLI imports nothing from the dev tooling, the benchmarks or the tests (none of them ships).
- The webhook's cold path does not load the investigation core (its answer budget and cold start).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "fstriage"
PACKAGE = LAYER / "fstriage"
STDLIB = sys.stdlib_module_names
AWS_AND_HTTP = {"boto3", "botocore", "requests", "urllib3", "s3transfer"}
CLI = ROOT / "cli" / "fstriage_cli"
TOOLING = {"fstriage_cli", "fstriage_dev", "bench", "tests"}
NOT_SHIPPED = {"fstriage_dev", "bench", "tests"}


def runtime_imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every module a file imports at run time (what `if TYPE_CHECKING:` guards is left out)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno


def modules(under: Path) -> list[Path]:
    found = sorted(under.rglob("*.py"))
    assert found, f"no modules under {under}"
    return found


def top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


@pytest.mark.parametrize("path", modules(PACKAGE / "core"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_imports_only_the_standard_library_and_itself(path: Path) -> None:
    outside = [
        f"{module} (line {line})"
        for module, line in runtime_imports(path)
        if not (top(module) in STDLIB or module == "fstriage.core" or module.startswith("fstriage.core."))
    ]
    assert outside == []


@pytest.mark.parametrize("path", modules(PACKAGE), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_adapters_and_composition_roots_touch_aws_or_http(path: Path) -> None:
    relative = path.relative_to(PACKAGE)
    if relative.parts[0] == "adapters" or relative.name.endswith("_app.py"):
        return
    touching = [
        f"{module} (line {line})" for module, line in runtime_imports(path) if top(module) in AWS_AND_HTTP
    ]
    assert touching == []


@pytest.mark.parametrize("path", modules(LAYER), ids=lambda p: str(p.relative_to(LAYER)))
def test_the_layer_imports_nothing_from_the_tooling_benchmarks_or_tests(path: Path) -> None:
    assert [module for module, _ in runtime_imports(path) if top(module) in TOOLING] == []


@pytest.mark.parametrize("path", modules(CLI), ids=lambda p: str(p.relative_to(CLI)))
def test_the_shipped_cli_imports_nothing_that_does_not_ship(path: Path) -> None:
    assert [module for module, _ in runtime_imports(path) if top(module) in NOT_SHIPPED] == []


def test_the_webhooks_cold_path_does_not_load_the_investigation_core() -> None:
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import fstriage.webhook_app; "
        "print(sorted(m for m in sys.modules if m.startswith(('fstriage.core.investigation', "
        "'fstriage.core.digest', 'fstriage.core.report', 'fstriage.core.watch', "
        "'fstriage.adapters.fullstory'))))"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe, str(LAYER)], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
