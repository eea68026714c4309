"""Continuity (pure): subject keys, new/ongoing/gone, the horizon, and a retry never compared with itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fstriage.core.continuity import (
    ReportPointer,
    StoredPointer,
    classify,
    pointer_from_report,
    previous_for,
    store_id,
    subject_key,
)
from fstriage.core.request import Alert
from fstriage_cli.samples import payloads

RECEIVED = datetime(2026, 11, 1, tzinfo=UTC)


def group(
    signature: str, kind: str = "console_error", first_seen: str = "2026-11-01T00:00:00.000Z"
) -> dict[str, Any]:
    return {
        "kind": kind,
        "signature": signature,
        "first_seen": first_seen,
        "last_seen": first_seen,
        "sessions": ["a:b"],
    }


def report(investigation_id: str, generated_at: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {"investigation_id": investigation_id, "generated_at": generated_at, "error_groups": groups}


def test_a_first_report_calls_every_group_new_and_names_nothing_before_it() -> None:
    continuity = classify(
        "segment:s", [group("A"), group("B")], None, generated_at="2026-11-01T01:00:00.000Z"
    )

    assert continuity.states == {"A": "new", "B": "new"}
    assert continuity.new == ("A", "B") and continuity.gone == ()
    assert continuity.headline_words() is None
    assert continuity.to_dict()["previous"] is None


def test_the_second_report_names_the_new_group_and_the_one_that_is_gone() -> None:
    first = classify("segment:s", [group("A"), group("B")], None, generated_at="2026-11-01T00:00:00.000Z")
    earlier = pointer_from_report(
        report(
            "inv_1",
            "2026-11-01T00:00:00.000Z",
            [g | {"state": first.states[g["signature"]]} for g in [group("A"), group("B")]],
        ),
        "reports/2026/11/01/inv_1.json",
    )

    second = classify("segment:s", [group("A"), group("C")], earlier, generated_at="2026-11-01T01:00:00.000Z")

    assert second.states == {"A": "ongoing", "C": "new"}
    assert second.since["A"] == "2026-11-01T00:00:00.000Z"
    assert [g.signature for g in second.gone] == ["B"]
    assert second.headline_words() == "new since the last report: C"
    assert second.to_dict()["previous"] == {
        "investigation_id": "inv_1",
        "generated_at": "2026-11-01T00:00:00.000Z",
        "json_key": "reports/2026/11/01/inv_1.json",
    }


def test_ongoing_keeps_when_it_was_first_reported_across_reports() -> None:
    first = pointer_from_report(
        report("inv_1", "2026-11-01T00:00:00.000Z", [group("A") | {"state": "new"}]), None
    )
    second_groups = [
        group("A", first_seen="2026-11-01T00:50:00.000Z")
        | {"state": "ongoing", "ongoing_since": "2026-11-01T00:00:00.000Z"}
    ]
    second = pointer_from_report(report("inv_2", "2026-11-01T01:00:00.000Z", second_groups), None)

    third = classify("segment:s", [group("A")], second, generated_at="2026-11-01T02:00:00.000Z")

    assert first.groups[0].since == "2026-11-01T00:00:00.000Z"
    assert third.states == {"A": "ongoing"} and third.since["A"] == "2026-11-01T00:00:00.000Z"
    assert third.headline_words() == "nothing new since the last report (1 ongoing)"


def test_a_previous_report_past_the_horizon_is_not_compared_with() -> None:
    old = ReportPointer("inv_1", "2026-10-01T00:00:00.000Z", None, ())

    continuity = classify(
        "segment:s", [group("A")], old, generated_at="2026-11-01T00:00:00.000Z", horizon_days=7
    )

    assert continuity.previous is None and continuity.states == {"A": "new"}


def test_a_retry_compares_with_the_report_before_its_own_pointer() -> None:
    own = ReportPointer("inv_2", "2026-11-01T01:00:00.000Z", None, ())
    before = ReportPointer("inv_1", "2026-11-01T00:00:00.000Z", None, ())

    assert previous_for(StoredPointer(own, before), "inv_2") is before
    assert previous_for(StoredPointer(own, before), "inv_3") is own
    assert previous_for(None, "inv_3") is None


def request_of(document: dict[str, Any], **kwargs: Any) -> Any:
    return payloads.request_for(document, received_at=RECEIVED, **kwargs)


def test_subject_keys_name_the_segment_the_metric_or_the_user() -> None:
    alert = request_of(payloads.segment_alert())
    assert (
        subject_key(alert, segment_id="checkout-errors-seg", uid=None, email=None)
        == "segment:checkout-errors-seg"
    )
    metric = request_of(payloads.metric_alert())
    assert subject_key(metric, segment_id=None, uid=None, email=None) == "metric:Checkout conversion"
    assert (
        subject_key(metric, segment_id=None, uid=None, email=None, mapped_segment="seg-9")
        == "metric:Checkout conversion|segment:seg-9"
    )
    note = request_of(payloads.note_created())
    assert subject_key(note, segment_id=None, uid="user-1", email="a@b.test") == "user:user-1"
    assert subject_key(note, segment_id=None, uid=None, email="A@B.test") == "email:a@b.test"
    assert subject_key(note, segment_id=None, uid=None, email=None) == f"session:{payloads.API_SESSION_ID}"


def test_a_segment_alert_with_only_a_name_is_keyed_by_it() -> None:
    request = request_of(payloads.segment_alert())
    named = request.trigger.alert
    assert isinstance(named, Alert)
    unnamed = type(request.trigger)(
        **{
            **{f: getattr(request.trigger, f) for f in request.trigger.__slots__},
            "alert": Alert(segment_name="Checkout errors"),
        }
    )
    keyed = type(request)(
        **{**{f: getattr(request, f) for f in request.__dataclass_fields__}, "trigger": unnamed}
    )
    assert subject_key(keyed, segment_id=None, uid=None, email=None) == "segment-name:Checkout errors"


def test_the_stored_id_holds_no_uid_or_email() -> None:
    assert "a@b.test" not in store_id("email:a@b.test")
    assert store_id("email:a@b.test") == store_id("email:a@b.test") != store_id("email:c@b.test")


def test_a_late_retry_of_a_report_that_was_followed_compares_with_nothing() -> None:
    own = ReportPointer("inv_1", "2026-11-01T00:00:00.000Z", None, ())
    newer = ReportPointer("inv_2", "2026-11-01T01:00:00.000Z", None, ())

    assert previous_for(StoredPointer(newer, own), "inv_1") is None
