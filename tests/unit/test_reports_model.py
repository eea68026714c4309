"""`fstriage reports`' pure parts: a report's summary row, the filters, newest-first order, and printing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from fstriage_cli.reports import render
from fstriage_cli.reports.model import (
    UNREADABLE,
    ReportFilter,
    describe_subject,
    newest_first,
    summarise,
    unreadable,
)

ID_A = "inv_" + "a" * 32
ID_B = "inv_" + "b" * 32


def report(
    *,
    investigation_id: str = ID_A,
    status: str = "complete",
    generated_at: str = "2026-11-01T10:00:00.000Z",
    kind: str = "custom_event",
    segment: dict[str, Any] | None = None,
    alert: dict[str, Any] | None = None,
    subject: dict[str, Any] | None = None,
    sessions: list[dict[str, Any]] | None = None,
    groups: int = 0,
) -> dict[str, Any]:
    """A report shaped like the schema's (only the fields a summary reads)."""
    return {
        "schema_version": 1,
        "investigation_id": investigation_id,
        "request_id": "req_" + investigation_id.removeprefix("inv_"),
        "status": status,
        "generated_at": generated_at,
        "headline": "Checkout failed for jane.doe@example.com: 2 error groups",
        "quiet": False,
        "trigger": {
            "kind": kind,
            "event_name": "x",
            "occurred_at": generated_at,
            "alert": alert,
            "segment": segment,
            "subject": subject or {"session_ids": [], "uid": None, "email": None},
        },
        "sessions": sessions or [],
        "error_groups": [{"kind": "exception", "signature": f"E{i}"} for i in range(groups)],
        "notes": [],
        "cost": {"fullstory_calls": 3, "activations": 2},
    }


def row(data: dict[str, Any]) -> Any:
    return summarise(data, where="s3://b/k.json", stored_at="2026-11-01T10:00:01.000Z")


# ---------------------------------------------------------------------------------------------
# The summary row


def test_a_summary_counts_sessions_and_groups_and_masks_emails() -> None:
    sessions = [{"session_id": "d:1", "user": {"email": "jane.doe@example.com"}}]
    summary = row(
        report(status="partial", sessions=sessions, groups=3, subject={"email": "jane.doe@example.com"})
    )

    assert (summary.report_id, summary.status, summary.trigger_kind) == (ID_A, "partial", "custom_event")
    assert (summary.sessions, summary.error_groups, summary.activations) == (1, 3, 2)
    assert summary.subject == "user j***@example.com"
    assert "jane.doe" not in summary.headline and "j***@example.com" in summary.headline
    assert summary.readable and summary.error is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"kind": "segment_alert", "segment": {"id": "seg1", "name": "Checkout errors"}},
            'segment "Checkout errors"',
        ),
        ({"kind": "scheduled", "segment": {"id": "seg1", "name": None}}, 'segment "seg1"'),
        (
            {"kind": "metric_alert", "alert": {"name": "Drop", "metric_name": "Conversion"}},
            'metric "Conversion"',
        ),
        ({"subject": {"uid": "user-7", "email": "a.b@example.com"}}, "user user-7"),
        ({"subject": {"uid": "jane.doe@example.com"}}, "user j***@example.com"),  # a uid is often an email
        ({"subject": {"session_ids": ["d:1", "d:2", "d:3"]}}, "session d:1 (+2 more)"),
        ({"subject": {"session_ids": ["d:1"]}}, "session d:1"),
        ({}, ""),
    ],
)
def test_the_subject_names_what_the_report_is_about(fields: dict[str, Any], expected: str) -> None:
    assert describe_subject(report(**fields)) == expected


def test_a_report_missing_fields_still_summarises() -> None:
    summary = summarise({"investigation_id": ID_A, "status": "failed"}, where="w", stored_at=None)

    assert (summary.status, summary.sessions, summary.error_groups, summary.activations) == (
        "failed",
        0,
        0,
        0,
    )
    assert summary.generated_at is None and summary.subject == ""


def test_a_report_without_a_status_is_unreadable_and_says_why() -> None:
    summary = summarise({"investigation_id": ID_A}, where="w", stored_at=None)

    assert summary.status == UNREADABLE and not summary.readable
    assert summary.error == "no status field"


# ---------------------------------------------------------------------------------------------
# Filters


def test_filters_by_status_kind_and_since() -> None:
    partial = report(status="partial", kind="segment_alert", generated_at="2026-11-02T00:00:00.000Z")
    since = datetime(2026, 11, 1, 12, tzinfo=UTC)

    assert ReportFilter(statuses=frozenset({"partial", "failed"})).accepts(row(partial), partial)
    assert not ReportFilter(statuses=frozenset({"complete"})).accepts(row(partial), partial)
    assert ReportFilter(kinds=frozenset({"segment_alert"})).accepts(row(partial), partial)
    assert not ReportFilter(kinds=frozenset({"note"})).accepts(row(partial), partial)
    assert ReportFilter(since=since).accepts(row(partial), partial)
    older = report(generated_at="2026-11-01T11:59:59.999Z")
    assert not ReportFilter(since=since).accepts(row(older), older)


@pytest.mark.parametrize(
    "needle", ["CHECKOUT", "seg-42", "device:sess", "user-9", "jane.doe@example", "segment:seg-42"]
)
def test_the_subject_filter_matches_any_identity_case_insensitively(needle: str) -> None:
    data = report(
        kind="segment_alert",
        segment={"id": "seg-42", "name": "Checkout errors"},
        sessions=[{"session_id": "device:sess", "user": {"uid": "user-9", "email": "jane.doe@example.com"}}],
    )
    data["continuity"] = {"subject_key": "segment:seg-42"}

    assert ReportFilter(subject=needle).accepts(row(data), data)
    assert not ReportFilter(subject="somebody-else").accepts(row(data), data)


def test_an_unreadable_row_passes_what_cannot_judge_it_and_only_status_leaves_it_out() -> None:
    broken = unreadable("inv_x", where="w", stored_at="2026-11-01T00:00:00.000Z", error="not JSON")

    assert broken.status == UNREADABLE and not broken.readable
    assert ReportFilter(kinds=frozenset({"note"}), subject="anyone").accepts(broken, None)
    assert ReportFilter(statuses=frozenset({UNREADABLE})).accepts(broken, None)
    assert not ReportFilter(statuses=frozenset({"failed"})).accepts(broken, None)
    # Its stored time stands in for the report's own time.
    assert not ReportFilter(since=datetime(2026, 11, 2, tzinfo=UTC)).accepts(broken, None)


def test_newest_first_compares_times_not_strings() -> None:
    early = row(report(investigation_id=ID_A, generated_at="2026-11-01T10:00:00+02:00"))  # 08:00 UTC
    late = row(report(investigation_id=ID_B, generated_at="2026-11-01T09:00:00.000Z"))
    broken = unreadable("inv_c", where="w", stored_at="2026-11-01T08:30:00.000Z", error="x")

    assert [s.report_id for s in newest_first([early, broken, late])] == [ID_B, "inv_c", ID_A]


# ---------------------------------------------------------------------------------------------
# Printing


def test_the_table_aligns_columns_and_shows_unreadable_rows() -> None:
    good = row(report(kind="segment_alert", segment={"id": "s", "name": "Checkout"}, groups=2))
    broken = unreadable("inv_broken", where="w", stored_at="2026-11-01T09:00:00.000Z", error="not JSON")

    lines = render.table([good, broken]).splitlines()

    assert lines[0].startswith("GENERATED (UTC)")
    assert lines[1].startswith("2026-11-01 10:00  complete")
    assert lines[2].startswith("2026-11-01 09:00  unreadable")
    assert "unreadable: not JSON" in lines[2] and "inv_broken" in lines[2]
    # Every column but the last starts at the same place on every line.
    assert len({line.index("inv_") for line in lines[1:]}) == 1
    assert lines[0].index("ID") == lines[1].index("inv_")


def test_the_time_column_is_in_utc_whatever_the_reports_offset() -> None:
    east = row(report(generated_at="2026-11-01T01:30:00+02:00"))  # 23:30 the day before, in UTC
    odd = unreadable("inv_odd", where="w", stored_at="yesterday", error="x")

    lines = render.table([east, odd]).splitlines()

    assert lines[1].startswith("2026-10-31 23:30  complete")
    assert lines[2].startswith("yesterday")


def test_long_headlines_are_cut() -> None:
    data = report()
    data["headline"] = "x" * 300
    line = render.table([row(data)]).splitlines()[1]

    assert line.endswith("…") and len(line.split()[-1]) == render.HEADLINE_CHARS


def test_the_json_listing_carries_every_field() -> None:
    summary = row(report(groups=1))
    document = json.loads(render.listing_json([summary], source="s3://b/reports/", truncated=True))

    assert document["source"] == "s3://b/reports/" and document["truncated"] is True
    [only] = document["reports"]
    assert only["report_id"] == ID_A and only["error_groups"] == 1 and only["where"] == "s3://b/k.json"
    assert set(only) >= {
        "generated_at",
        "stored_at",
        "status",
        "trigger_kind",
        "subject",
        "sessions",
        "error",
    }


def test_the_footer_says_how_to_see_more() -> None:
    text = render.footer(20, source="s3://b/reports/", truncated=True, limit=20, unreadable=1)

    assert text.startswith("20 reports from s3://b/reports/, newest first")
    assert "--limit 100" in text and "--limit 0" in text and "1 unreadable" in text
    assert "more" not in render.footer(1, source="d", truncated=False, limit=20, unreadable=0)
