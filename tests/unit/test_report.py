"""Evidence -> the report: JSON that matches the published schema, and a short Markdown view."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from fstriage.core.errors import FullstoryAuthError, FullstoryForbidden
from fstriage.core.investigation import Evidence, Finished, Investigation, InvestigationSettings
from fstriage.core.report import build_report, investigation_id_for, render_markdown
from fstriage.core.request import InvestigationRequest, Origin, build_request
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import MemoryFullstory
from fstriage_cli.sandbox import SandboxSession
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS, generate
from tests.support.schemas import REPORT_SCHEMA as SCHEMA

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
GENERATED = ANCHOR + timedelta(minutes=3)
DATA = generate(6, now=ANCHOR)
MARKDOWN_BUDGET = 8000  # characters: about 2,000 tokens
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{2,}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def investigate(fake: MemoryFullstory, request: InvestigationRequest, **settings: Any) -> Evidence:
    values: dict[str, Any] = {"org_id": DATA.org_id, "concurrency": 1}
    values.update(settings)
    outcome = Investigation(fake, InvestigationSettings(**values)).run(request)
    assert isinstance(outcome, Finished)
    return outcome.evidence


def report_of(evidence: Evidence, fake: MemoryFullstory) -> dict[str, Any]:
    report = build_report(evidence, fake.usage, GENERATED)
    jsonschema.validate(report, SCHEMA)
    return report


def checkout_errors_alert(lookback: str = "WEEKLY") -> InvestigationRequest:
    segment = DATA.segment_named(CHECKOUT_ERRORS)
    document = payloads.segment_alert(timestamp=ANCHOR.isoformat())
    document["data"]["alertConfig"].update(
        segmentUrl=segment.url, segmentName=segment.name, duration=lookback
    )
    return payloads.request_for(document, received_at=ANCHOR)


def custom_event_on(session: SandboxSession) -> InvestigationRequest:
    document = payloads.custom_event()
    document["data"].update(sessionUrl=DATA.replay_url(session), timestamp=ANCHOR.isoformat())
    return payloads.request_for(document, received_at=ANCHOR)


# ---------------------------------------------------------------------------------------------
# JSON


def test_a_complete_report_validates_and_carries_the_evidence() -> None:
    # An anonymous session (no identify event), so the report covers exactly this one session.
    fake = MemoryFullstory(DATA, without_event_types=frozenset({"identify"}))
    crash = DATA.sessions_of(uid="user-001")[0]

    report = report_of(investigate(fake, custom_event_on(crash)), fake)

    assert report["status"] == "complete"
    assert report["generated_at"] == "2026-11-01T00:03:00.000Z"
    assert report["investigation_id"] == investigation_id_for(report["request_id"])
    [session] = report["sessions"]
    assert session["session_id"] == crash.api_id
    assert session["summary"]["available"] and session["events_available"]
    assert session["signal_source"] == "events"
    kinds = {group["kind"] for group in report["error_groups"]}
    assert kinds == {"exception", "console_error", "network_error", "error_click", "rage_click"}
    assert report["cost"] == {"fullstory_calls": 2, "activations": 1, "fullstory_writes": 0}
    assert report["trigger"]["segment"] is None
    assert report["headline"].startswith('Custom event "Checkout Failed": errors in 1 of 1 sessions; top: ')


def test_a_partial_report_validates_and_its_sessions_say_what_is_missing() -> None:
    fake = MemoryFullstory(DATA, fail={"session_events": FullstoryForbidden("403 forbidden", status=403)})

    report = report_of(investigate(fake, checkout_errors_alert()), fake)

    assert report["status"] == "partial"
    assert report["notes"]
    for session in report["sessions"]:
        assert session["events_available"] is False
        assert session["events_unavailable_reason"] == "403 fullstory_forbidden"
        assert session["signal_source"] == "export"
    assert report["trigger"]["segment"]["name"] == CHECKOUT_ERRORS


@pytest.mark.parametrize("failure", ["auth", "export_failed", "metric_unmapped"])
def test_failed_and_empty_reports_validate(failure: str) -> None:
    if failure == "auth":
        fake = MemoryFullstory(DATA, fail={"export_start": FullstoryAuthError("401", status=401)})
        request = checkout_errors_alert()
    elif failure == "export_failed":
        fake = MemoryFullstory(DATA, export_state="FAILED")
        request = checkout_errors_alert()
    else:
        fake = MemoryFullstory(DATA)
        request = payloads.request_for(payloads.metric_alert(), received_at=ANCHOR)

    report = report_of(investigate(fake, request), fake)

    assert report["sessions"] == [] and report["error_groups"] == []
    if failure == "metric_unmapped":
        assert report["status"] == "complete"
        assert report["headline"] == (
            'Metric alert "Checkout conversion dropped": no sessions to investigate in the window'
        )
    else:
        assert report["status"] == "failed"
        assert report["headline"].endswith(": could not be investigated; see notes")


def test_the_headline_does_not_claim_no_errors_when_no_events_were_read() -> None:
    refused = FullstoryForbidden("session_events: HTTP 403: insufficient permissions", status=403)
    fake = MemoryFullstory(DATA, fail={"session_events": refused})
    clean = DATA.sessions_of(uid="user-002")[0]

    report = report_of(investigate(fake, custom_event_on(clean)), fake)

    assert (
        report["headline"]
        == 'Custom event "Checkout Failed": events unavailable for all 1 sessions; see notes'
    )

    fake = MemoryFullstory(DATA)
    report = report_of(investigate(fake, custom_event_on(clean)), fake)
    assert report["headline"] == 'Custom event "Checkout Failed": no errors found in 1 sessions'
    assert report["status"] == "complete"
    assert "unread_events" not in report

    # Events of error-bearing types that could not be read may be the errors: never "no errors found".
    unreadable = {
        "event_type": "exception",
        "event_time": "2026-10-31T23:00:00Z",
        "event_properties": {"blob": "AAEC", "meta": {"v": 2}},
    }
    fake = MemoryFullstory(
        DATA, extra_events={clean.api_id: [unreadable, {**unreadable, "event_type": "request"}]}
    )
    report = report_of(investigate(fake, custom_event_on(clean)), fake)
    assert report["status"] == "partial"
    assert report["headline"] == (
        'Custom event "Checkout Failed": no errors read in 1 session: 2 events of error-bearing types could '
        "not be read; see notes"
    )
    note = (
        "2 events of error-bearing types could not be read in 1 session: exception x1 (keys: blob, meta.v); "
        "request x1 (keys: blob, meta.v). Errors among them are missing from this report."
    )
    assert any(n.startswith(note) for n in report["notes"])
    assert report["unread_events"]["note"] in report["notes"]
    assert "AAEC" not in json.dumps(report["unread_events"])
    markdown = render_markdown(report)
    assert f"- {report['unread_events']['note']}" in markdown
    assert "**Status:** partial" in markdown


def test_investigation_id_is_stable_per_request() -> None:
    crash = DATA.sessions_of(uid="user-001")[0]
    first = custom_event_on(crash)
    redelivered = build_request(
        trigger=first.trigger,
        subject=first.subject,
        window=first.window,
        origin=Origin(
            org_id=first.origin.org_id, delivery_key="sig:" + "f" * 64, received_at="2026-11-02T00:00:00Z"
        ),
    )
    other = custom_event_on(DATA.sessions_of(uid="user-002")[0])

    assert investigation_id_for(first.request_id) == investigation_id_for(first.request_id)
    assert investigation_id_for(redelivered.request_id) == investigation_id_for(first.request_id)
    assert investigation_id_for(other.request_id) != investigation_id_for(first.request_id)
    assert re.fullmatch(r"inv_[0-9a-f]{32}", investigation_id_for(first.request_id))
    assert investigation_id_for(first.request_id) == "inv_" + first.request_id.removeprefix("req_")


# ---------------------------------------------------------------------------------------------
# Markdown


def noisy(session: SandboxSession, errors: int) -> list[dict[str, Any]]:
    """`errors` distinct console errors and failed requests on top of a session's own events."""
    base = session.events[-1]
    extra = []
    for index in range(errors):
        at = f"2026-10-31T23:{index % 60:02d}:00.000Z"
        extra.append(
            dict(
                base,
                event_time=at,
                event_type="console_message",
                event_properties={
                    "level": "error",
                    "message": f"Widget{index} failed for {session.user.email}: code {index}",
                    "source_url": f"https://shop.example.test/static/js/widget{index}.js",
                },
            )
        )
        extra.append(
            dict(
                base,
                event_time=at,
                event_type="request",
                event_properties={
                    "method": "GET",
                    "url": f"https://shop.example.test/api/v1/widget{index}/{index * 7}",
                    "status_code": 500 + index % 4,
                    "duration_ms": 120,
                },
            )
        )
    return extra


def ten_noisy_sessions() -> tuple[dict[str, Any], MemoryFullstory]:
    request = checkout_errors_alert()
    sessions = [s for s in DATA.sessions if s.has_errors]
    fake = MemoryFullstory(DATA, extra_events={s.api_id: noisy(s, 40) for s in sessions})
    evidence = investigate(fake, request, max_sessions=10)
    evidence.notes.add(
        "events_missing",
        "Fullstory found no events for {n} session{s} (404).",
        degrades=True,
        session_id="1:2",
    )
    return report_of(evidence, fake), fake


def test_markdown_for_ten_sessions_with_many_errors_stays_within_budget() -> None:
    report, _ = ten_noisy_sessions()
    assert len(report["sessions"]) == 10
    assert len(report["error_groups"]) == 25  # the cap; there are far more signatures
    assert sum(s["error_signal_count"] for s in report["sessions"]) > 800

    markdown = render_markdown(report)

    assert len(markdown) < MARKDOWN_BUDGET, len(markdown)
    assert markdown.startswith(f"# {report['headline']}\n")
    assert "## Error groups (top 5 of 25)" in markdown
    assert "## Sessions (10)" in markdown
    for session in report["sessions"]:
        [line] = [ln for ln in markdown.splitlines() if ln.startswith(f"- [{session['session_id']}](")]
        shown = sum(int(count) for count in re.findall(r" x(\d+)", line))
        # Only the first signals are kept per session; the line still accounts for every occurrence.
        assert line.endswith(f", +{session['error_signal_count'] - shown} more")
    assert "## Notes" in markdown
    for note in report["notes"]:
        assert f"- {note}" in markdown
    assert f"`{report['investigation_id']}`" in markdown


def test_markdown_masks_emails_everywhere_it_quotes_users() -> None:
    report, _ = ten_noisy_sessions()
    report["trigger"]["text"] = "Reported by jane.doe@example.com: Pay now does nothing"
    first = report["sessions"][0]
    first["user"] = {"uid": None, "email": "ada.lovelace@example.com", "display_name": "Ada"}
    first["summary"]["text"] = "The user (ada.lovelace@example.com) could not pay."
    emails = {s.user.email for s in DATA.sessions} | {"jane.doe@example.com", "ada.lovelace@example.com"}
    assert any(email in json.dumps(report) for email in emails)  # the JSON keeps them: it is the evidence

    markdown = render_markdown(report)

    assert EMAIL.findall(markdown) == [], EMAIL.findall(markdown)
    assert "> Reported by j***@example.com: Pay now does nothing" in markdown
    assert "a***@example.com" in markdown


def test_markdown_names_unavailable_events_and_export_fallbacks() -> None:
    refused = FullstoryForbidden("session_events: HTTP 403: Anywhere: Activation is off", status=403)
    fake = MemoryFullstory(DATA, fail={"session_events": refused})
    report = report_of(investigate(fake, checkout_errors_alert()), fake)
    report["sessions"].append(
        dict(report["sessions"][0], session_id="1:2", signals=[], events_unavailable_reason="404 not found")
    )

    markdown = render_markdown(report)

    assert "(from the segment export)" in markdown
    assert "events unavailable (404 not found)" in markdown
    assert "Anywhere: Activation is off" in markdown


@pytest.mark.parametrize("kind", ["segment", "metric", "custom_event", "stream"])
def test_names_people_typed_are_masked_in_the_headline_notes_and_markdown(kind: str) -> None:
    """Alert, metric, custom-event and stream names reach the headline (Markdown, Slack, EventBridge)
    and the notes; a name with an email in it must not carry the address there."""
    typed = "Pay fails for ada.lovelace@example.com"
    fake = MemoryFullstory(DATA)
    if kind == "segment":
        document = payloads.segment_alert(timestamp=ANCHOR.isoformat())
        document["data"]["alertConfig"].update(segmentName=typed, segmentUrl=None)
        request = payloads.request_for(document, received_at=ANCHOR)
    elif kind == "metric":
        document = payloads.metric_alert()
        document["data"]["alertConfig"].update(alertName=typed, metricName=typed)
        request = payloads.request_for(document, received_at=ANCHOR)  # unmapped: the note quotes the name
    elif kind == "custom_event":
        session = DATA.sessions_of(uid="user-002")[0]
        document = payloads.custom_event()
        document["data"].update(sessionUrl=DATA.replay_url(session), timestamp=ANCHOR.isoformat(), name=typed)
        request = payloads.request_for(document, received_at=ANCHOR)
    else:
        session = DATA.sessions_of(uid="user-002")[0]
        document = payloads.stream_session(DATA.replay_url(session), stream_name=typed)
        request = payloads.request_for(document, received_at=ANCHOR, stream=True)

    report = report_of(investigate(fake, request), fake)
    markdown = render_markdown(report)

    assert "ada.lovelace@example.com" not in report["headline"]
    assert "a***@example.com" in report["headline"]
    assert not any("ada.lovelace@example.com" in note for note in report["notes"])
    assert "ada.lovelace@example.com" not in markdown, markdown
    if kind == "metric":
        assert any("a***@example.com" in note for note in report["notes"])


def test_a_uid_that_is_an_email_is_masked_in_the_markdown() -> None:
    report, _ = ten_noisy_sessions()
    report["sessions"][0]["user"] = {"uid": "grace.hopper@example.com", "email": None, "display_name": None}
    report["headline"] = 'Stream "grace.hopper@example.com": no errors'
    report["notes"] = ["Map the metric 'grace.hopper@example.com' to a segment."]

    markdown = render_markdown(report)

    assert "grace.hopper@example.com" not in markdown
    assert markdown.count("g***@example.com") == 3
