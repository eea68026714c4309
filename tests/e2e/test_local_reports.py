"""`fstriage reports` against the local stack: the bucket in its moto_server (through AWS_ENDPOINT_URL,
as against AWS) and the `--reports-dir` it collects, after two signed deliveries became reports.

Without the local stack's tools (`make setup`) the module is skipped, unless FSTRIAGE_E2E_REQUIRED is
set (as `make test-e2e` does): then it fails.
"""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator

import pytest

from fstriage_cli import reports
from fstriage_cli.local import CollectedReport, LocalStack
from fstriage_cli.reports.command import Io
from tests.support.local_stack import fresh_alert, fresh_note, queued, started_stack

pytestmark = pytest.mark.e2e

REPORT_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with started_stack(tmp_path_factory, "local-reports") as running:
        yield running


@pytest.fixture(scope="module")
def collected(stack: LocalStack) -> list[CollectedReport]:
    """A segment alert's and a note's reports, newest first."""
    wanted = {queued(stack, fresh_alert()), queued(stack, fresh_note())}
    found = stack.wait_for_investigations(wanted, REPORT_TIMEOUT)
    assert set(found) == wanted, stack.reports
    return sorted(found.values(), key=lambda r: (r.load()["generated_at"], r.investigation_id), reverse=True)


def run(*argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = reports.main(list(argv), io=Io(env=env, stdout=out, stderr=err, open_url=lambda _: False))
    return code, out.getvalue(), err.getvalue()


def test_the_stacks_bucket_lists_shows_and_links_its_reports(
    stack: LocalStack, collected: list[CollectedReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto_endpoint)
    env = {"FSTRIAGE_REPORTS_BUCKET": str(collected[0].detail["report"]["bucket"])}

    code, out, err = run("list", "--json", env=env)

    assert code == 0, err
    rows = json.loads(out)["reports"]
    assert [row["report_id"] for row in rows] == [r.investigation_id for r in collected]
    assert {row["trigger_kind"] for row in rows} == {"segment_alert", "note"}
    assert all(row["status"] == r.status for row, r in zip(rows, collected, strict=True))
    alert = next(r for r in collected if r.load()["trigger"]["kind"] == "segment_alert")
    note = next(r for r in collected if r is not alert)
    [only] = json.loads(run("list", "--kind", "note", "--json", env=env)[1])["reports"]
    assert only["report_id"] == note.investigation_id
    code, shown, _ = run("show", alert.investigation_id, "--json", env=env)
    assert code == 0 and json.loads(shown) == alert.load()
    assert run("show", alert.investigation_id, env=env)[1] == alert.markdown_path.read_text()
    code, link, _ = run("open", alert.investigation_id, "--print", env=env)
    assert code == 0 and link.startswith(stack.moto_endpoint)
    with urllib.request.urlopen(link.strip(), timeout=10) as page:  # noqa: S310 (the local moto server)
        assert alert.investigation_id in page.read().decode()


def test_the_collected_reports_dir_lists_the_same_rows(
    stack: LocalStack, collected: list[CollectedReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto_endpoint)
    bucket = str(collected[0].detail["report"]["bucket"])
    keep = ("report_id", "generated_at", "status", "trigger_kind", "subject", "sessions", "error_groups")

    from_dir = json.loads(run("list", "--reports-dir", str(stack.reports_dir), "--json", env={})[1])[
        "reports"
    ]
    from_bucket = json.loads(run("list", "--bucket", bucket, "--json", env={})[1])["reports"]

    assert [{k: row[k] for k in keep} for row in from_dir] == [
        {k: row[k] for k in keep} for row in from_bucket
    ]
    code, out, err = run(
        "open", collected[-1].investigation_id, "--reports-dir", str(stack.reports_dir), env={}
    )
    assert (
        code == 1 and out.strip().endswith(f"{collected[-1].investigation_id}.html") and "no browser" in err
    )
