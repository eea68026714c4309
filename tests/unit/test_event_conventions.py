"""Every known `event_properties` convention reads the same errors, and an unknown one is never
reported as "no errors": the digest alone, then a whole investigation with an in-memory Fullstory."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from fstriage import investigator_app
from fstriage.adapters.outputs import StoredReport
from fstriage.core.digest import MAX_KEY_CHARS, MAX_UNREAD_KEYS, digest_events, group_errors
from fstriage.core.investigation import Evidence, Finished, Investigation, InvestigationSettings
from fstriage.core.report import build_report, render_markdown
from fstriage.core.request import InvestigationRequest
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import MemoryFullstory
from fstriage_cli.sandbox import SandboxSession
from fstriage_cli.sandbox.conventions import EVENT_CONVENTIONS, render
from fstriage_cli.sandbox.faults import Faults
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS, generate
from tests.support.schemas import REPORT_SCHEMA as SCHEMA

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
DATA = generate(6, now=ANCHOR)
READABLE = ("current", "warehouse", "camel_nested")
STORED = StoredReport(bucket="reports", json_key="r/x.json", markdown_key="r/x.md")


def planted(events: Sequence[dict[str, Any]]) -> Counter[str]:
    """Error occurrences per kind, read straight from the sandbox's own keys (not by the digest)."""
    kinds: Counter[str] = Counter()
    for event in events:
        props, kind = event["event_properties"], event["event_type"]
        if not isinstance(props, dict):
            continue
        if kind == "exception" and "message" in props:
            kinds["exception"] += 1
        elif kind == "console_message" and props.get("level") == "error":
            kinds["console_error"] += 1
        elif kind == "request" and props.get("status_code", 0) >= 400:
            kinds["network_error"] += 1
        elif kind == "click":
            for flag, signal in (
                ("is_rage_click", "rage_click"),
                ("is_dead_click", "dead_click"),
                ("is_error_click", "error_click"),
            ):
                kinds[signal] += bool(props.get(flag))
    return +kinds


def found(events: list[dict[str, Any]]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for signal in digest_events("d:s", events).signals:
        kinds[signal.kind] += signal.count
    return kinds


# ---------------------------------------------------------------------------------------------
# The digest alone


@pytest.mark.parametrize("convention", READABLE)
def test_every_planted_error_is_found_in_each_known_convention(convention: str) -> None:
    planted_total = 0
    for session in DATA.sessions:
        rendered = render(session.events, convention)
        assert found(rendered) == planted(session.events), (convention, session.api_id)
        planted_total += planted(session.events).total()
    assert planted_total > 0


@pytest.mark.parametrize("convention", ["warehouse", "camel_nested"])
def test_each_known_convention_groups_exactly_like_the_current_one(convention: str) -> None:
    def groups(name: str) -> list[tuple[str, int, tuple[str, ...]]]:
        digests = [digest_events(s.api_id, render(s.events, name)) for s in DATA.sessions]
        return [(g.signature, g.count, g.sessions) for g in group_errors(digests)]

    assert groups(convention) == groups("current")  # no group lost, none invented
    assert render(DATA.sessions[0].events, convention) != list(DATA.sessions[0].events)


def event(event_type: str, props: Any) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "event_time": "2026-11-01T00:00:00Z",
        "view_id": "1",
        "event_properties": props,
        "source_properties": {"url": {"full_url": "https://shop.example.test/cart"}},
    }


def test_warehouse_click_counts_are_counts_and_error_kind_marks_error_clicks() -> None:
    target = {"target_text": "Pay now", "target_raw_selector": "button.pay"}
    events = [
        event("click", {**target, "fs_rage_count": 0, "fs_dead_count": 0, "fs_error_kind": None}),
        event("click", {**target, "fs_rage_count": 5, "fs_dead_count": 0, "fs_error_kind": ""}),
        event("click", {**target, "fs_rage_count": 0, "fs_dead_count": 2, "fs_error_kind": None}),
        event("click", {**target, "fs_rage_count": 0, "fs_dead_count": 0, "fs_error_kind": "unknown"}),
        event("click", {**target, "fs_rage_count": 0, "fs_dead_count": 0, "fs_error_kind": "console"}),
        event("click", {**target, "is_click_unhandled": True, "fs_rage_count": 0}),
    ]
    digest = digest_events("d:s", events)

    # A rage count of 5 is one rage click, not five; `is_click_unhandled` alone invents nothing.
    assert {(s.kind, s.count, s.target) for s in digest.signals} == {
        ("rage_click", 1, "Pay now"),
        ("dead_click", 1, "Pay now"),
        ("error_click", 2, "Pay now"),
    }
    assert digest.unclassified == {}


@pytest.mark.parametrize(
    "props",
    [
        {
            "request_method": "POST",
            "request_url_full_url": "https://x.test/api/pay?t=1",
            "request_status": 502,
        },
        {"requestMethod": "POST", "requestUrlFullUrl": "https://x.test/api/pay", "requestStatus": "502"},
        {"request": {"method": "POST", "status": 502, "url": {"full_url": "https://x.test/api/pay"}}},
        {"request": {"method": "POST", "statusCode": 502}, "url": {"fullUrl": "https://x.test/api/pay"}},
    ],
    ids=["warehouse", "camel", "nested", "camel-nested"],
)
def test_a_failed_request_reads_the_same_in_flat_nested_and_camel_case(props: dict[str, Any]) -> None:
    digest = digest_events("d:s", [event("request", props)])

    assert [s.signature for s in digest.signals] == ["network_error: POST /api/pay 502"]
    assert digest.unclassified == {}


@pytest.mark.parametrize(
    ("kind", "props", "signature"),
    [
        (
            "console_message",
            {"message": "boom 42", "console_message_level": "error"},
            "console_error: boom {n}",
        ),
        ("console_message", {"consoleMessageLevel": "ERROR", "message": "boom"}, "console_error: boom"),
        ("console_message", {"console": {"message": "boom", "messageLevel": "error"}}, "console_error: boom"),
        ("exception", {"message": "TypeError: x is null", "exception_source_file": "a.js"}, None),
        ("exception", {"exception": {"message": "TypeError: x is null", "sourceFile": "a.js"}}, None),
        ("click", {"fsRageCount": 3, "target": {"text": "Pay", "rawSelector": "b.pay"}}, None),
    ],
)
def test_console_exceptions_and_clicks_read_in_each_variant(
    kind: str, props: dict[str, Any], signature: str | None
) -> None:
    digest = digest_events("d:s", [event(kind, props)])

    [signal] = digest.signals
    expected = {
        "exception": "exception: TypeError: x is null",
        "click": 'rage_click: "Pay" on /cart',
    }.get(kind, signature)
    assert signal.signature == expected
    assert digest.unclassified == {}


def test_quiet_console_levels_in_other_conventions_are_not_errors_nor_unreadable() -> None:
    events = [
        event("console_message", {"message": "tracked", "console_message_level": "log"}),
        event("console_message", {"console": {"message": "slow", "messageLevel": "warn"}}),
        event("request", {"request": {"status": 200, "url": {"fullUrl": "https://x.test/ok"}}}),
    ]
    digest = digest_events("d:s", events)

    assert digest.signals == ()
    assert digest.unclassified == {}


def test_an_unknown_convention_is_counted_with_key_names_only() -> None:
    session = DATA.sessions_of(uid="user-001")[0]  # the checkout crash: every kind of error
    rendered = render(session.events, "unknown")

    digest = digest_events(session.api_id, rendered)

    assert digest.signals == ()
    assert set(digest.unclassified) >= {"exception", "request", "console_message", "click"}
    # Every error-bearing event is unreadable; a plain click without a marker-like key is not.
    assert digest.unclassified["request"] == sum(e["event_type"] == "request" for e in rendered)
    assert digest.unclassified["click"] == sum(
        1 for e in session.events if e["event_type"] == "click" and planted([e])
    )
    assert "zz_status_code" in digest.unread_keys["request"]
    assert "zz_target.text" in digest.unread_keys["click"]
    text = json.dumps(digest.to_dict()["unread_keys"])
    for value in ("checkout", "Pay now", "TypeError", "https://", "500", "POST"):
        assert value not in text


def test_unread_key_names_are_bounded_sorted_and_masked() -> None:
    many = {f"k{index:02d}_level": "x" for index in range(40)}
    events = [
        event("console_message", many),
        event("console_message", {"jane.doe@example.com": 1, "x" * 100: 2, "id_1234567890": 3}),
        event("request", None),
        event("console_message", ["error", 1]),
    ]
    digest = digest_events("d:s", events)

    keys = digest.unread_keys["console_message"]
    assert len(keys) == MAX_UNREAD_KEYS
    assert list(keys) == sorted(set(keys))
    assert all(len(key) <= MAX_KEY_CHARS for key in keys)
    assert digest.unread_keys["request"] == ("(none)",)
    other = digest_events("d:s", events[1:])
    assert set(other.unread_keys["console_message"]) == {"(list)", "j***@example.com", "x" * 39 + "…", "id_#"}


# ---------------------------------------------------------------------------------------------
# A whole investigation


@dataclass
class ConventionFullstory(MemoryFullstory):
    """The in-memory Fullstory, answering raw events in another convention."""

    convention: str = "current"

    def session_events(self, session_id: str) -> list[dict[str, Any]]:
        return render(super().session_events(session_id), self.convention)


def investigate(fake: MemoryFullstory, request: InvestigationRequest) -> Evidence:
    outcome = Investigation(fake, InvestigationSettings(org_id=DATA.org_id, concurrency=1)).run(request)
    assert isinstance(outcome, Finished)
    return outcome.evidence


def checkout_errors_alert() -> InvestigationRequest:
    segment = DATA.segment_named(CHECKOUT_ERRORS)
    document = payloads.segment_alert(timestamp=ANCHOR.isoformat())
    document["data"]["alertConfig"].update(
        segmentUrl=segment.url, segmentName=segment.name, duration="WEEKLY"
    )
    return payloads.request_for(document, received_at=ANCHOR)


def user_stream(uid: str) -> InvestigationRequest:
    return payloads.request_for(
        payloads.stream_user(user_id=uid), received_at=ANCHOR, lookback=timedelta(days=7), stream=True
    )


def report_for(convention: str, request: InvestigationRequest) -> dict[str, Any]:
    fake = ConventionFullstory(DATA, convention=convention)
    report = build_report(investigate(fake, request), fake.usage, ANCHOR)
    jsonschema.validate(report, SCHEMA)
    return report


def without_example(group: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in group.items() if key != "example"}


@pytest.mark.parametrize("convention", ["warehouse", "camel_nested"])
def test_a_whole_investigation_reports_the_same_in_each_known_convention(convention: str) -> None:
    for request in (checkout_errors_alert(), user_stream("user-001")):
        expected, report = report_for("current", request), report_for(convention, request)

        assert report["error_groups"]
        # Same groups; only an exception's example differs (the warehouse has no line number).
        assert [without_example(g) for g in report["error_groups"]] == [
            without_example(g) for g in expected["error_groups"]
        ]
        assert report["status"] == expected["status"]
        assert report["headline"] == expected["headline"]
        assert report.get("unread_events") == expected.get("unread_events")


def test_an_unreadable_convention_gives_a_partial_report_that_says_what_was_not_read() -> None:
    request = user_stream("user-001")  # the checkout crash and the user's other sessions
    assert report_for("current", request)["error_groups"]

    report = report_for("unknown", request)

    assert report["status"] == "partial"
    assert report["error_groups"] == []
    unread = report["unread_events"]
    sessions = len(report["sessions"])
    assert report["headline"] == (
        f'Stream "{request.trigger.text}": no errors read in {sessions} sessions: {unread["count"]} events '
        "of error-bearing types could not be read; see notes"
    )
    assert "no errors found" not in report["headline"]
    assert unread["count"] == sum(sum(s["unclassified"].values()) for s in report["sessions"])
    assert "zz_status_code" in unread["by_type"]["request"]["keys"]
    note = unread["note"]
    assert note in report["notes"]
    assert f"{unread['count']} events of error-bearing types could not be read in {sessions} sessions" in note
    assert "request x" in note and "zz_status_code" in note
    assert note in render_markdown(report)
    slack = investigator_app.slack_text(report, STORED)
    assert "zz_status_code" in slack and "could not be read" in slack.splitlines()[0]
    # Key names only: no message, URL, target text or email of the session reaches the note.
    user = DATA.user("user-001")
    for value in (user.email, "Pay now", "TypeError", "shop.example.test", "checkout.js"):
        assert value not in note and value not in slack


def test_a_few_unreadable_events_beside_errors_still_make_the_report_partial() -> None:
    crash = DATA.sessions_of(uid="user-001")[0]
    fake = ConventionFullstory(DATA)
    fake.extra_events[crash.api_id] = [
        event("exception", {"blob": "AAEC"}),
        event("request", {"rq": {"s": 1}}),
    ]

    report = build_report(investigate(fake, _custom_event_on(crash)), fake.usage, ANCHOR)

    assert report["status"] == "partial"
    assert report["error_groups"]
    assert report["headline"].endswith("; 2 events could not be read")
    assert report["unread_events"]["by_type"] == {
        "exception": {"count": 1, "keys": ["blob"]},
        "request": {"count": 1, "keys": ["rq.s"]},
    }


def _custom_event_on(session: SandboxSession) -> InvestigationRequest:
    document = payloads.custom_event()
    document["data"].update(sessionUrl=DATA.replay_url(session), timestamp=ANCHOR.isoformat())
    return payloads.request_for(document, received_at=ANCHOR)


def test_a_clean_session_read_in_full_stays_complete_with_no_unread_field() -> None:
    clean = DATA.sessions_of(uid="user-002")[0]
    fake = ConventionFullstory(DATA, convention="warehouse")

    report = build_report(investigate(fake, _custom_event_on(clean)), fake.usage, ANCHOR)

    assert report["status"] == "complete"
    assert "unread_events" not in report
    assert "no errors found" in report["headline"]


# ---------------------------------------------------------------------------------------------
# The sandbox's switch


def test_the_sandbox_switch_accepts_each_convention_and_refuses_others() -> None:
    faults = Faults()
    assert faults.snapshot().event_convention == "current"
    for convention in EVENT_CONVENTIONS:
        assert faults.update(event_convention=convention).event_convention == convention
    with pytest.raises(ValueError, match="event_convention"):
        faults.update(event_convention="pascal")
    with pytest.raises(ValueError, match="event_convention"):
        render([], "pascal")
