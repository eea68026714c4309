"""Where `fstriage local` finds its stack: only fstriage's own checkout counts as one, and with no checkout
the installed stack refuses, clearly, a machine its emulator cannot run on."""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from fstriage_cli.local import config, layout
from fstriage_cli.local.config import CHECKOUT_MARKER, LocalStackError, find_project_dir
from fstriage_cli.local.extra import install_hint, wheel_name


def _package_not_in_a_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # config.py as if installed in a venv's site-packages, where no checkout surrounds it.
    fake = tmp_path / "venv" / "lib" / "python3.13" / "site-packages" / "fstriage_cli" / "local" / "config.py"
    monkeypatch.setattr(config, "__file__", str(fake))


def test_a_users_own_sam_project_in_the_current_directory_is_not_a_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _package_not_in_a_checkout(monkeypatch, tmp_path)
    project = tmp_path / "their-sam-app"
    project.mkdir()
    (project / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.chdir(project)

    with pytest.raises(LocalStackError, match="cannot find the fstriage checkout"):
        find_project_dir()


def test_a_current_directory_with_fstriages_layer_beside_its_template_is_the_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _package_not_in_a_checkout(monkeypatch, tmp_path)
    checkout = tmp_path / "fstriage"
    (checkout / CHECKOUT_MARKER).parent.mkdir(parents=True)
    (checkout / CHECKOUT_MARKER).write_text("")
    (checkout / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.chdir(checkout)

    assert find_project_dir() == checkout


def test_with_no_checkout_a_users_sam_project_leaves_the_installed_stack_in_use(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _package_not_in_a_checkout(monkeypatch, tmp_path)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    packaged = tmp_path / "packaged-stack"
    packaged.mkdir()
    (packaged / "template.yaml").write_text("Resources: {}\n")
    monkeypatch.setattr(layout, "PACKAGED_STACK", packaged)
    monkeypatch.chdir(tmp_path)

    source = layout.find_stack(None)

    assert source.installed and source.root == packaged


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_the_installed_stack_off_linux_says_it_needs_linux(
    monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    monkeypatch.setattr(sys, "platform", platform)

    with pytest.raises(LocalStackError, match=f"runs on Linux only \\(this is {platform}\\)"):
        layout.installed_toolchain()


def test_the_install_hint_names_the_wheel_never_a_package_index_name() -> None:
    hint = install_hint(local_extra=True)

    assert version("fstriage") in wheel_name()

    assert f"pipx install --force --python python3.13 '/path/to/{wheel_name()}[local]'" in hint
    assert "make setup" in hint
    assert "'fstriage[local]'" not in hint
    assert f"'/path/to/{wheel_name()}'" in install_hint(local_extra=False)
