"""`fstriage reports --reports-dir`: the files `fstriage local` collects (or a synced copy of the bucket),
listed newest first, filtered, shown and opened, with actionable errors and the CLI's exit codes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fstriage.core.html_report import render_html
from fstriage.core.report import render_markdown
from fstriage_cli import cli, reports
from fstriage_cli.reports.command import Io
from fstriage_cli.reports.store import DirectoryReportStore, ReportFilter, ReportNotFound, ReportStoreError
from tests.support.reports import sample_reports

NOW = datetime(2026, 11, 3, 18, tzinfo=UTC)


@pytest.fixture(scope="module")
def samples() -> dict[str, dict[str, Any]]:
    return sample_reports()


def collect(directory: Path, report: dict[str, Any]) -> Path:
    """Write a report as `fstriage local`'s collector does: `<dir>/<id>.json`, `.md`, `.html`."""
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / str(report["investigation_id"])
    base.with_suffix(".json").write_text(json.dumps(report, indent=2, sort_keys=True))
    base.with_suffix(".md").write_text(render_markdown(report))
    base.with_suffix(".html").write_text(render_html(report))
    return base.with_suffix(".json")


@pytest.fixture
def reports_dir(tmp_path: Path, samples: dict[str, dict[str, Any]]) -> Path:
    for report in samples.values():
        collect(tmp_path / "reports", report)
    return tmp_path / "reports"


def run(*argv: str, opened: list[str] | None = None, browser: bool = True) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()

    def open_url(url: str) -> bool:
        if opened is None:
            raise AssertionError("nothing should be opened")
        opened.append(url)
        return browser

    code = reports.main(list(argv), io=Io(env={}, stdout=out, stderr=err, open_url=open_url, now=lambda: NOW))
    return code, out.getvalue(), err.getvalue()


def ids_of(*argv: str) -> list[str]:
    code, out, err = run("list", "--json", *argv)
    assert code == 0, err
    return [row["report_id"] for row in json.loads(out)["reports"]]


def test_lists_newest_first_and_filters(reports_dir: Path, samples: dict[str, dict[str, Any]]) -> None:
    ids = {name: report["investigation_id"] for name, report in samples.items()}
    where = ("--reports-dir", str(reports_dir))

    assert ids_of(*where) == [ids["segment"], ids["custom"], ids["failed"]]
    assert ids_of(*where, "--status", "failed") == [ids["failed"]]
    assert ids_of(*where, "--kind", "custom_event") == [ids["custom"]]
    # The samples were generated at 12:03 on 1, 2 and 3 November; NOW is 3 November, 18:00.
    assert ids_of(*where, "--since", "36h") == [ids["segment"], ids["custom"]]
    assert ids_of(*where, "--limit", "1") == [ids["segment"]]
    assert ids_of(*where, "--limit", "0") == [ids["segment"], ids["custom"], ids["failed"]]


def test_the_table_goes_to_stdout_and_the_count_to_stderr(reports_dir: Path) -> None:
    code, out, err = run("list", "--reports-dir", str(reports_dir))

    assert code == 0
    assert out.splitlines()[0].startswith("GENERATED (UTC)") and len(out.splitlines()) == 4
    assert err == f"3 reports from {reports_dir}, newest first\n"


def test_a_file_that_does_not_parse_is_listed_as_unreadable(reports_dir: Path) -> None:
    (reports_dir / "inv_torn.json").write_text('{"investigation_id": ')

    code, out, err = run("list", "--reports-dir", str(reports_dir))
    rows = json.loads(run("list", "--reports-dir", str(reports_dir), "--json")[1])["reports"]

    assert code == 0 and "inv_torn" in out and "1 unreadable" in err
    [torn] = [row for row in rows if row["report_id"] == "inv_torn"]
    assert torn["status"] == "unreadable" and torn["error"].startswith("not JSON")
    assert len(rows) == 4
    code, _, err = run("show", "inv_torn", "--reports-dir", str(reports_dir))
    assert code == 1 and "inv_torn is unreadable" in err


def test_show_and_open_read_the_collected_files(
    reports_dir: Path, samples: dict[str, dict[str, Any]]
) -> None:
    report = samples["custom"]
    report_id = report["investigation_id"]
    opened: list[str] = []

    assert run("show", report_id, "--reports-dir", str(reports_dir))[1] == render_markdown(report)
    assert json.loads(run("show", report_id, "--reports-dir", str(reports_dir), "--json")[1]) == report
    code, out, _ = run("open", report_id, "--reports-dir", str(reports_dir), opened=opened)

    html = (reports_dir / f"{report_id}.html").resolve()
    assert code == 0 and out == f"{html}\n" and opened == [html.as_uri()]
    assert run("open", report_id, "--reports-dir", str(reports_dir), "--print") == (0, f"{html}\n", "")


def test_a_copy_of_the_bucket_with_day_folders_works_too(tmp_path: Path, samples: dict[str, Any]) -> None:
    report = samples["failed"]
    collect(tmp_path / "2026" / "11" / "01", report)

    assert ids_of("--reports-dir", str(tmp_path)) == [report["investigation_id"]]
    code, out, _ = run("show", report["investigation_id"], "--reports-dir", str(tmp_path))
    assert code == 0 and out == render_markdown(report)


def test_failures_say_what_to_do_with_the_cli_exit_codes(reports_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("show", "inv_" + "f" * 32, "--reports-dir", str(reports_dir))
    assert code == 2 and "no report" in err and "fstriage reports list" in err

    code, _, err = run("list", "--reports-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no directory" in err and "fstriage local" in err

    code, _, err = run("list", "--reports-dir", str(reports_dir), "--bucket", "b")
    assert code == 2 and "--reports-dir and --bucket both name where the reports are" in err

    code, _, err = run("list", "--reports-dir", str(reports_dir), "--status", "done")
    assert code == 2 and "--status done: not one of complete, partial, failed, unreadable" in err

    code, _, err = run("list", "--reports-dir", str(reports_dir), "--since", "last tuesday")
    assert code == 2 and "--since 'last tuesday'" in err

    code, _, err = run("list", "--reports-dir", str(tmp_path / "empty"))
    assert code == 2
    (tmp_path / "empty").mkdir()
    code, out, err = run("list", "--reports-dir", str(tmp_path / "empty"))
    assert (code, out) == (0, "") and "no reports in" in err


def test_open_without_a_browser_or_an_html_page_fails_clearly(
    reports_dir: Path, samples: dict[str, dict[str, Any]]
) -> None:
    report_id = samples["segment"]["investigation_id"]

    code, out, err = run("open", report_id, "--reports-dir", str(reports_dir), opened=[], browser=False)
    assert code == 1 and out.strip().endswith(".html") and "no browser" in err

    (reports_dir / f"{report_id}.html").unlink()
    code, _, err = run("open", report_id, "--reports-dir", str(reports_dir))
    assert code == 1 and "has no HTML page" in err and f"fstriage reports show {report_id}" in err


def test_help_and_a_missing_command_use_argparse_codes() -> None:
    assert run("--help")[0] == 0
    assert run()[0] == 2


def test_the_fstriage_command_delegates_to_it(reports_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["reports", "list", "--reports-dir", str(reports_dir), "--json"])

    assert code == 0 and len(json.loads(capsys.readouterr().out)["reports"]) == 3


def test_the_store_reports_progress_as_it_reads(
    reports_dir: Path, samples: dict[str, dict[str, Any]]
) -> None:
    store = DirectoryReportStore(reports_dir)
    seen: list[str] = []

    rows = list(store.list(ReportFilter(), progress=seen.append))
    store.get(samples["custom"]["investigation_id"], progress=seen.append)

    assert len(rows) == 3 and seen == ["1 of 3 read", "2 of 3 read", "3 of 3 read"]


def test_a_bare_name_is_looked_for_in_the_store_never_in_the_current_directory(
    reports_dir: Path, tmp_path: Path, samples: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    leaked = collect(elsewhere, samples["custom"] | {"investigation_id": "leak"})
    assert leaked.name == "leak.json" and (elsewhere / "leak.md").is_file()
    monkeypatch.chdir(elsewhere)
    store = DirectoryReportStore(reports_dir)

    for name in ("leak", "leak.json", "leak.md", "leak.html"):
        with pytest.raises(ReportNotFound):
            store.get(name)
    # A path is taken only when it lies in the store, symlinks followed.
    with pytest.raises(ReportNotFound):
        store.get(str(leaked))
    (reports_dir / "inv_link.json").symlink_to(leaked)
    with pytest.raises(ReportNotFound):
        store.get("inv_link")
    code, out, err = run("show", "leak.md", "--reports-dir", str(reports_dir))
    assert code == 2 and out == "" and "no report 'leak.md'" in err


def test_a_report_is_found_by_its_id_with_a_suffix_or_by_its_path(
    reports_dir: Path, samples: dict[str, dict[str, Any]]
) -> None:
    report_id = samples["custom"]["investigation_id"]
    store = DirectoryReportStore(reports_dir)

    for given in (report_id, f"{report_id}.md", str(reports_dir / f"{report_id}.html")):
        assert store.get(given).report == samples["custom"]


def test_a_file_that_cannot_be_read_is_a_store_error(
    reports_dir: Path, samples: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    report_id = samples["custom"]["investigation_id"]
    read_text = Path.read_text

    def refuse_markdown(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.suffix == ".md":
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse_markdown)

    with pytest.raises(ReportStoreError) as raised:
        DirectoryReportStore(reports_dir).get(report_id)
    code, _, err = run("show", report_id, "--reports-dir", str(reports_dir))

    assert raised.value.usage is False and "Permission denied" in raised.value.message
    assert code == 1 and f"could not read {reports_dir / report_id}.json: Permission denied" in err


def test_a_report_without_a_status_is_unreadable_and_says_why(reports_dir: Path) -> None:
    (reports_dir / "inv_nostatus.json").write_text(json.dumps({"investigation_id": "inv_nostatus"}))

    rows = json.loads(run("list", "--reports-dir", str(reports_dir), "--json")[1])["reports"]
    code, _, err = run("show", "inv_nostatus", "--reports-dir", str(reports_dir), "--json")

    [row] = [row for row in rows if row["report_id"] == "inv_nostatus"]
    assert row["status"] == "unreadable" and row["error"] == "no status field"
    assert code == 1 and "inv_nostatus is unreadable (no status field)" in err and "None" not in err
