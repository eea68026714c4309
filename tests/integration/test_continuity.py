"""Continuity end to end: three alerts for one segment, each report compared with the one before it
through the state table (moto DynamoDB), against the Fullstory sandbox over HTTP.

The sandbox holds one user with a payment-gateway failure three hours before the anchor and a chunk
load error thirty minutes before it, and a segment of both sessions. An alert an hour before the
anchor sees the first only; one at the anchor sees both (the chunk error is new); one ten minutes
later sees nothing new.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from fstriage.adapters.continuity_store import DynamoContinuityStore
from fstriage.core.continuity import ReportPointer, StoredPointer
from fstriage_cli.samples import payloads
from fstriage_cli.sandbox import Anchors, AnchorSegment, AnchorSession, AnchorUser, FullstorySandbox
from tests.integration.test_investigator_handler import ANCHOR, COMPLETED, SEED, Rig, webhook
from tests.support.aws import investigator_stack

SEGMENT = "continuity-seg"
DEVICE = "7100000000000001"


@pytest.fixture(scope="module")
def watched() -> Iterator[FullstorySandbox]:
    user = AnchorUser(
        uid="continuity-user",
        email="continuity@example.test",
        display_name="Continuity",
        device_id=DEVICE,
        sessions=(
            AnchorSession("7100000000000101", ANCHOR - timedelta(hours=3), ("payment_gateway",)),
            AnchorSession("7100000000000102", ANCHOR - timedelta(minutes=30), ("chunk_error",)),
        ),
    )
    segment = AnchorSegment(
        SEGMENT,
        "Continuity watch",
        session_ids=(f"{DEVICE}:7100000000000101", f"{DEVICE}:7100000000000102"),
        with_errors=False,
    )
    anchors = Anchors(users=(user,), segments=(segment,))
    with FullstorySandbox(seed=SEED, now=ANCHOR + timedelta(minutes=15), anchors=anchors) as running:
        running.faults.update(export_pending_polls=0)
        yield running


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch, watched: FullstorySandbox) -> Iterator[Rig]:
    with investigator_stack(monkeypatch) as stack:
        yield Rig(stack, watched, monkeypatch)


def alert_at(sandbox: FullstorySandbox, minutes: int, number: int) -> dict[str, Any]:
    segment = sandbox.data.segment(SEGMENT)
    assert segment is not None
    document = payloads.segment_alert(
        id=f"continuity-alert-{number}", timestamp=(ANCHOR + timedelta(minutes=minutes)).isoformat()
    )
    document["data"]["alertConfig"].update(segmentUrl=f"{segment.url}/people/0", segmentName=segment.name)
    return document


def investigate(rig: Rig, document: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    before = {report["investigation_id"] for report, _ in rig.reports()}
    rig.queue(webhook(document, rig.sandbox))
    rig.deliver(rig.handler())
    [(report, markdown)] = [(r, m) for r, m in rig.reports() if r["investigation_id"] not in before]
    [event] = [
        e["detail"]
        for e in rig.stack.events(COMPLETED)
        if e["detail"]["investigation_id"] == report["investigation_id"]
    ]
    return report, markdown, event


def test_a_new_error_leads_the_second_report_and_nothing_new_the_third(rig: Rig) -> None:
    first, _, first_event = investigate(rig, alert_at(rig.sandbox, -60, 1))
    second, markdown, second_event = investigate(rig, alert_at(rig.sandbox, 0, 2))
    third, _, third_event = investigate(rig, alert_at(rig.sandbox, 10, 3))

    assert first["continuity"]["subject_key"] == f"segment:{SEGMENT}"
    assert first["continuity"]["previous"] is None
    assert {g["state"] for g in first["error_groups"]} == {"new"}
    first_signatures = {g["signature"] for g in first["error_groups"]}

    new = [g for g in second["error_groups"] if g["state"] == "new"]
    assert new and not {g["signature"] for g in new} & first_signatures
    assert {g["signature"] for g in second["error_groups"] if g["state"] == "ongoing"} == first_signatures
    assert second["continuity"]["previous"]["investigation_id"] == first["investigation_id"]
    assert second["headline"].startswith('Segment alert "Continuity watch": new since the last report: ')
    assert any(g["signature"] in second["headline"] for g in new)
    assert [g["signature"] for g in second_event["new_error_groups"]] == [g["signature"] for g in new]
    assert second_event["continuity"]["previous_investigation_id"] == first["investigation_id"]
    assert "**new** · " in markdown

    assert {g["state"] for g in third["error_groups"]} == {"ongoing"}
    assert third["continuity"]["new"] == [] and third_event["new_error_groups"] == []
    assert "nothing new since the last report" in third["headline"]
    ongoing = {g["signature"]: g["ongoing_since"] for g in third["error_groups"]}
    assert all(since for since in ongoing.values())
    assert first_event["new_error_groups"]  # a first report's groups are all new


def test_a_redelivered_alert_compares_with_the_report_before_it_not_with_itself(rig: Rig) -> None:
    first, _, _ = investigate(rig, alert_at(rig.sandbox, -60, 11))
    second, _, _ = investigate(rig, alert_at(rig.sandbox, 0, 12))
    # The same alert again: the report is answered from the idempotency record, nothing is rewritten.
    rig.queue(webhook(alert_at(rig.sandbox, 0, 12), rig.sandbox))
    rig.deliver(rig.handler())

    again = [r for r, _ in rig.reports() if r["investigation_id"] == second["investigation_id"]]
    assert (
        len(again) == 1
        and again[0]["continuity"]["previous"]["investigation_id"] == first["investigation_id"]
    )


def test_an_older_report_never_replaces_a_newer_pointer(rig: Rig) -> None:
    store = DynamoContinuityStore(rig.stack.env["STATE_TABLE_NAME"])
    newer = ReportPointer("inv_" + "2" * 32, "2026-11-01T01:00:00.000Z", "reports/b.json")
    older = ReportPointer("inv_" + "1" * 32, "2026-11-01T00:00:00.000Z", "reports/a.json")

    assert store.latest("segment:x") is None
    assert store.remember("segment:x", StoredPointer(newer), expires_at=1_800_000_000)
    assert not store.remember("segment:x", StoredPointer(older), expires_at=1_800_000_000)

    stored = store.latest("segment:x")
    assert stored is not None and stored.latest == newer
    assert store.remember("segment:x", StoredPointer(newer, older), expires_at=1_800_000_000)  # a retry
    again = store.latest("segment:x")
    assert again is not None and again.prior == older
