"""`fstriage reports` against the local stack: the bucket in its moto_server (through AWS_ENDPOINT_URL,
as against AWS) and the `--reports-dir` it collects, after two signed deliveries became reports.

Without the local stack's tools (`make setup`) the module is skipped, unless FSTRIAGE_E2E_REQUIRED is
set (as `make test-e2e` does): then it fails.
"""

from __future__ import annotations

import copy
import io
import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fstriage.core.report import investigation_id_for
from fstriage_cli import reports
from fstriage_cli.local import CollectedReport, LocalConfig, LocalStack
from fstriage_cli.reports.command import Io
from fstriage_cli.samples.payloads import CHECKOUT_ERRORS_ALERT, NOTE_CREATED
from fstriage_cli.samples.values import TEST_ORG_ID, TEST_SIGNING_SECRET
from fstriage_cli.webhook_send import send_signed
from tests.support.local_stack import require_local_stack

pytestmark = pytest.mark.e2e

REPORT_TIMEOUT = 90.0


def deliver(stack: LocalStack, document: dict[str, Any]) -> str:
    """POST a signed delivery, as Fullstory does; return the investigation ID it was queued under."""
    raw = json.dumps(document, separators=(",", ":")).encode()
    sent = send_signed(stack.webhook_url, raw, secret=TEST_SIGNING_SECRET, org_id=TEST_ORG_ID, timeout=30)
    answer = sent.to_dict()["json"] or {}
    assert (sent.status, answer.get("status")) == (202, "queued"), sent.body
    return investigation_id_for(str(answer["request_id"]))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    require_local_stack()
    work = tmp_path_factory.mktemp("local-reports")
    with LocalStack(LocalConfig(port=0, reports_dir=work / "reports", log_dir=work / "logs")) as running:
        yield running


@pytest.fixture(scope="module")
def collected(stack: LocalStack) -> list[CollectedReport]:
    """A segment alert's and a note's reports, newest first."""
    alert = copy.deepcopy(CHECKOUT_ERRORS_ALERT)
    alert["data"]["id"] = f"segalert-e2e-{uuid.uuid4().hex[:12]}"
    note = copy.deepcopy(NOTE_CREATED)
    note["data"]["id"] = f"note-e2e-{uuid.uuid4().hex[:12]}"
    wanted = {deliver(stack, alert), deliver(stack, note)}
    stack.wait_for_reports(2, REPORT_TIMEOUT)
    found = [r for r in stack.reports if r.investigation_id in wanted]
    assert {r.investigation_id for r in found} == wanted, stack.reports
    return sorted(found, key=lambda r: (r.load()["generated_at"], r.investigation_id), reverse=True)


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
