"""`fstriage reports` against S3 (moto, in-process): reports the real builder made, stored the way the
investigator stores them, listed newest first day by day, filtered, shown, opened, and failing clearly."""

from __future__ import annotations

import copy
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from fstriage.core.report import investigation_id_for, render_markdown
from fstriage.core.request import isoformat
from fstriage_cli import reports
from fstriage_cli.reports import command
from fstriage_cli.reports.command import Io
from fstriage_cli.reports.s3 import first_day
from fstriage_cli.reports.store import BucketReportStore, ReportFilter, ReportStoreError
from tests.support.reports import ANCHOR, BUCKET, RECEIVED, sample_reports, write_report


def clone(report: dict[str, Any], generated: datetime) -> dict[str, Any]:
    """The same evidence under a new request ID and time (for volume)."""
    copied = copy.deepcopy(report)
    copied["request_id"] = "req_" + uuid.uuid4().hex
    copied["investigation_id"] = investigation_id_for(copied["request_id"])
    copied["generated_at"] = isoformat(generated)
    return copied


def store_clone(
    s3: Any, report: dict[str, Any], at: datetime, *, received_at: datetime | None = None
) -> dict[str, Any]:
    """A clone of `report` generated `at`, stored as received `received_at` (default: `at` too)."""
    return write_report(s3, clone(report, at), received_at=received_at or at)


@pytest.fixture(scope="module")
def samples() -> dict[str, dict[str, Any]]:
    return sample_reports()


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def stored(s3: Any, samples: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: write_report(s3, report, received_at=RECEIVED[name]) for name, report in samples.items()}


def run(
    *argv: str, env: dict[str, str] | None = None, opened: list[str] | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()

    def open_url(url: str) -> bool:
        if opened is None:
            raise AssertionError("nothing should be opened")
        opened.append(url)
        return True

    code = reports.main(list(argv), io=Io(env=env or {}, stdout=out, stderr=err, open_url=open_url))
    return code, out.getvalue(), err.getvalue()


def listed(*argv: str, **options: Any) -> list[dict[str, Any]]:
    code, out, err = run("list", "--bucket", BUCKET, "--json", *argv, **options)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)["reports"]
    return rows


# ---------------------------------------------------------------------------------------------
# Listing


def test_lists_the_bucket_newest_first_with_a_row_per_report(stored: dict[str, dict[str, Any]]) -> None:
    code, out, err = run("list", env={"FSTRIAGE_REPORTS_BUCKET": BUCKET})

    assert code == 0, err
    lines = out.splitlines()
    ids = [stored[name]["investigation_id"] for name in ("segment", "custom", "failed")]
    assert [next(i for i in ids if i in line) for line in lines[1:]] == ids
    assert "segment_alert" in lines[1] and "Checkout" in lines[1]
    assert "custom_event" in lines[2] and lines[3].split()[2] == "failed"
    assert f"3 reports from s3://{BUCKET}/reports/, newest first" in err


def test_json_rows_carry_status_kind_subject_counts_and_location(stored: dict[str, dict[str, Any]]) -> None:
    rows = {row["report_id"]: row for row in listed()}
    custom = stored["custom"]

    row = rows[custom["investigation_id"]]
    assert row["status"] == custom["status"] and row["trigger_kind"] == "custom_event"
    assert row["sessions"] == len(custom["sessions"]) and row["error_groups"] == len(custom["error_groups"])
    assert row["where"] == f"s3://{BUCKET}/{custom['artifacts']['json_key']}"
    assert row["generated_at"] == custom["generated_at"] and row["stored_at"]
    assert "@" not in row["subject"] or "***@" in row["subject"]


def test_filters_narrow_the_listing(stored: dict[str, dict[str, Any]]) -> None:
    ids = {name: report["investigation_id"] for name, report in stored.items()}
    session_id = stored["custom"]["sessions"][0]["session_id"]

    assert [r["report_id"] for r in listed("--status", "failed")] == [ids["failed"]]
    assert [r["report_id"] for r in listed("--kind", "segment_alert")] == [ids["segment"], ids["failed"]]
    by_session = [r["report_id"] for r in listed("--subject", session_id.upper())]
    assert ids["custom"] in by_session and ids["failed"] not in by_session
    assert [r["report_id"] for r in listed("--subject", "checkout ERRORS")] == [ids["segment"], ids["failed"]]
    assert [r["report_id"] for r in listed("--since", "2026-11-02")] == [ids["segment"], ids["custom"]]
    assert [r["report_id"] for r in listed("--status", "complete,partial", "--kind", "note")] == []


def test_a_small_limit_reads_only_the_newest_days(s3: Any, samples: dict[str, dict[str, Any]]) -> None:
    # 60 reports over 30 days; the newest are on the last day.
    made = [
        store_clone(s3, samples["custom"], ANCHOR + timedelta(days=d, hours=h))
        for d in range(30)
        for h in (1, 2)
    ]
    calls: Counter[str] = Counter()
    s3.meta.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))
    reader = BucketReportStore(BUCKET, client=s3)

    rows = list(reader.list(ReportFilter(limit=3)))

    newest = sorted(made, key=lambda r: r["generated_at"], reverse=True)[:3]
    assert [r.report_id for r in rows] == [r["investigation_id"] for r in newest]
    # The newest two days (a day's reports stored in the same second are read together).
    assert 3 <= calls["GetObject"] <= 4
    # Years, months, then days newest first: a handful of listings, not one per day.
    assert calls["ListObjectsV2"] <= 6


def test_since_prunes_older_days_without_reading_them(s3: Any, samples: dict[str, dict[str, Any]]) -> None:
    for day in range(40):
        store_clone(s3, samples["failed"], ANCHOR + timedelta(days=day))
    calls: Counter[str] = Counter()
    s3.meta.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))

    rows = list(
        BucketReportStore(BUCKET, client=s3).list(ReportFilter(since=ANCHOR + timedelta(days=35), limit=None))
    )

    # The 5 days from `since` on, and the day before it (the slack for a request received before midnight).
    assert len(rows) == 5 and calls["GetObject"] == 6


def test_a_report_received_before_midnight_and_generated_after_it_is_listed_since_midnight(
    s3: Any, samples: dict[str, dict[str, Any]]
) -> None:
    midnight = ANCHOR + timedelta(days=5)
    late = store_clone(
        s3, samples["custom"], midnight + timedelta(minutes=3), received_at=midnight - timedelta(minutes=2)
    )
    store_clone(s3, samples["failed"], midnight - timedelta(days=3))  # older: pruned

    since_midnight = [r["report_id"] for r in listed("--since", midnight.date().isoformat())]

    # Its day folder is the day before `--since`: the investigator names it after the received day.
    assert late["artifacts"]["json_key"].startswith("reports/2026/11/05/")
    assert since_midnight == [late["investigation_id"]]


def test_since_with_an_offset_prunes_by_its_utc_day(s3: Any, samples: dict[str, dict[str, Any]]) -> None:
    # 02:00 on 7 November at +14:00 is 12:00 on 6 November UTC.
    since = datetime.fromisoformat("2026-11-07T02:00:00+14:00")
    kept = store_clone(s3, samples["custom"], ANCHOR + timedelta(days=5, hours=13))

    assert first_day(since) == date(2026, 11, 5)  # its UTC day, less a day of slack
    assert first_day(datetime(2026, 11, 6, 23, 30, tzinfo=UTC)) == date(2026, 11, 5)
    assert [r["report_id"] for r in listed("--since", since.isoformat())] == [kept["investigation_id"]]


def test_the_listing_says_when_there_are_more(stored: dict[str, dict[str, Any]]) -> None:
    code, out, err = run("list", "--bucket", BUCKET, "--limit", "2", "--json")

    assert code == 0 and json.loads(out)["truncated"] is True and len(json.loads(out)["reports"]) == 2
    code, _, err = run("list", "--bucket", BUCKET, "--limit", "2")
    assert "there are more: --limit 10" in err


def test_an_unparsable_report_is_an_unreadable_row_never_dropped(s3: Any, stored: dict[str, Any]) -> None:
    key = "reports/2026/11/04/inv_broken.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"investigation_id": "inv_bro')

    rows = listed()
    code, out, err = run("show", "inv_broken", "--bucket", BUCKET, "--format", "json")

    assert rows[0]["report_id"] == "inv_broken" and rows[0]["status"] == "unreadable"
    assert rows[0]["error"].startswith("not JSON") and rows[0]["where"] == f"s3://{BUCKET}/{key}"
    assert len(rows) == 4
    assert [r["report_id"] for r in listed("--status", "unreadable")] == ["inv_broken"]
    assert code == 1 and "inv_broken is unreadable (not JSON" in err and out == ""


# ---------------------------------------------------------------------------------------------
# Show and open


def test_show_prints_the_stored_markdown_or_json(stored: dict[str, dict[str, Any]]) -> None:
    report = stored["segment"]

    code, markdown, _ = run("show", report["investigation_id"], "--bucket", BUCKET)
    assert code == 0 and markdown == render_markdown(report).rstrip("\n") + "\n"
    code, text, _ = run("show", report["investigation_id"], "--bucket", BUCKET, "--json")
    assert code == 0 and json.loads(text) == report
    # A row's `where` works as well as the ID.
    code, text, _ = run("show", f"s3://{BUCKET}/{report['artifacts']['markdown_key']}", "--bucket", BUCKET)
    assert code == 0 and text == markdown


def test_open_prints_a_presigned_link_to_the_html_and_opens_it(s3: Any, stored: dict[str, Any]) -> None:
    report = stored["custom"]
    opened: list[str] = []

    code, out, _ = run("open", report["investigation_id"], "--bucket", BUCKET, opened=opened)

    assert code == 0 and opened == [out.strip()]
    assert report["artifacts"]["html_key"] in out and "Signature" in out
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in out  # SigV4: S3 refuses SigV2 links in newer regions
    code, printed, _ = run("open", report["investigation_id"], "--bucket", BUCKET, "--print")
    assert code == 0 and report["artifacts"]["html_key"] in printed


# ---------------------------------------------------------------------------------------------
# Failures


def test_an_unknown_id_is_a_usage_error_that_says_what_to_do(stored: dict[str, Any]) -> None:
    code, out, err = run("show", "inv_" + "0" * 32, "--bucket", BUCKET)

    assert code == 2 and out == ""
    assert f"no report 'inv_{'0' * 32}' in s3://{BUCKET}/reports/" in err and "reports list" in err


def test_a_missing_bucket_or_no_bucket_at_all_is_a_usage_error(s3: Any) -> None:
    code, _, err = run("list", "--bucket", "no-such-bucket")
    assert code == 2 and "the bucket 'no-such-bucket' does not exist" in err and "ReportsBucketName" in err

    code, _, err = run("list")
    assert code == 2 and "--bucket" in err and "FSTRIAGE_REPORTS_BUCKET" in err and "--reports-dir" in err


def test_access_denied_is_a_failure_that_names_the_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(client)
    for _ in range(2):
        stubber.add_client_error("list_objects_v2", service_error_code="AccessDenied", http_status_code=403)
    denied = BucketReportStore(BUCKET, client=client)
    monkeypatch.setattr(command, "store_for", lambda args, env: denied)

    with stubber:
        code, _, err = run("list", "--bucket", BUCKET)
        with pytest.raises(ReportStoreError) as raised:
            list(denied.list(ReportFilter()))

    assert code == 1 and f"access denied to s3://{BUCKET}/reports/" in err and "s3:ListBucket" in err
    assert raised.value.usage is False


def test_the_stack_option_reads_the_bucket_from_the_stack_outputs(stored: dict[str, Any]) -> None:
    template = {
        "Resources": {"Reports": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "other-bucket"}}},
        "Outputs": {"ReportsBucketName": {"Value": BUCKET}},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="fstriage", TemplateBody=json.dumps(template)
    )

    code, out, err = run("list", "--stack", "fstriage", "--json")
    assert code == 0, err and len(json.loads(out)["reports"]) == 3
    code, _, err = run("list", "--stack", "missing")
    assert code == 2 and "no stack 'missing'" in err
    code, _, err = run("list", "--stack", "fstriage", "--bucket", BUCKET)
    assert code == 2 and "pass one" in err


def test_the_store_reports_progress_as_it_reads(stored: dict[str, dict[str, Any]], s3: Any) -> None:
    reader = BucketReportStore(BUCKET, client=s3)
    seen: list[str] = []

    list(reader.list(ReportFilter(), progress=seen.append))
    reader.get(stored["failed"]["investigation_id"], progress=seen.append)

    assert seen[:3] == [
        "1 read, 0 listed (2026/11/03)",
        "2 read, 1 listed (2026/11/02)",
        "3 read, 2 listed (2026/11/01)",
    ]
    assert seen[3:] == [
        "looked in 1 day (2026/11/03)",
        "looked in 2 days (2026/11/02)",
        "looked in 3 days (2026/11/01)",
    ]
