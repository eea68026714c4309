"""The investigation core with an in-memory Fullstory (no HTTP): what it asks, what it gathers, and
what the report will say about gaps (notes, statuses, caps, windows, deadlines, fallbacks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fstriage.core.digest import rank_export_sessions
from fstriage.core.errors import (
    DependencyUnavailable,
    FullstoryAuthError,
    FullstoryForbidden,
    FullstoryNotFound,
    FullstoryServerError,
    FullstoryUnavailable,
)
from fstriage.core.fullstory_models import SessionRef
from fstriage.core.investigation import (
    Evidence,
    Finished,
    Investigation,
    InvestigationSettings,
    Notes,
    Requeue,
)
from fstriage.core.request import InvestigationRequest, isoformat, parse_isoformat
from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import MemoryFullstory
from fstriage_cli.sandbox import SandboxSession, views
from fstriage_cli.sandbox.generator import CHECKOUT_ERRORS, generate
from fstriage_cli.sandbox.model import SandboxSegment

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
DATA = generate(6, now=ANCHOR)  # user-001: 4 sessions in the last 7 days, 2 in the last 24 h
WEEK = timedelta(days=7)
FORBIDDEN = FullstoryForbidden(
    "session_events: HTTP 403: insufficient permissions", status=403, code="forbidden"
)


def settings(**overrides: Any) -> InvestigationSettings:
    values: dict[str, Any] = {"org_id": DATA.org_id, "concurrency": 1}
    values.update(overrides)
    return InvestigationSettings(**values)


def run(
    fake: MemoryFullstory,
    request: InvestigationRequest,
    *,
    deadline: float | None = None,
    **overrides: Any,
) -> Evidence:
    investigation = Investigation(
        fake, settings(**overrides), deadline=(lambda: deadline) if deadline is not None else lambda: 1e9
    )
    outcome = investigation.run(request)
    assert isinstance(outcome, Finished), outcome
    return outcome.evidence


def user_stream(uid: str = "user-001", *, lookback: timedelta = timedelta(hours=24)) -> InvestigationRequest:
    return payloads.request_for(
        payloads.stream_user(user_id=uid), received_at=ANCHOR, lookback=lookback, stream=True
    )


def custom_event_on(session: SandboxSession, *, lookback: timedelta = WEEK) -> InvestigationRequest:
    document = payloads.custom_event()
    document["data"].update(sessionUrl=DATA.replay_url(session), timestamp=ANCHOR.isoformat())
    return payloads.request_for(document, received_at=ANCHOR, lookback=lookback)


def segment_alert(segment: SandboxSegment | None = None, **config: Any) -> InvestigationRequest:
    chosen = segment or DATA.segment_named(CHECKOUT_ERRORS)
    document = payloads.segment_alert(timestamp=ANCHOR.isoformat())
    document["data"]["alertConfig"].update(
        segmentUrl=f"{chosen.url}/people/0", segmentName=chosen.name, duration="WEEKLY"
    )
    document["data"]["alertConfig"].update(config)
    document["data"]["alertConfig"] = {k: v for k, v in document["data"]["alertConfig"].items() if v}
    return payloads.request_for(document, received_at=ANCHOR)


def export_ranking(request: InvestigationRequest, segment_id: str) -> list[str]:
    rows = views.export_rows(
        DATA,
        segment_id,
        start=parse_isoformat(request.window.start),
        end=parse_isoformat(request.window.end),
        fields=[],
    )
    return [impacted.session_id for impacted in rank_export_sessions(rows).sessions]


def user_sessions(uid: str, *, within: timedelta) -> list[str]:
    return [s.api_id for s in DATA.sessions_of(uid=uid) if ANCHOR - within <= s.created <= ANCHOR]


# ---------------------------------------------------------------------------------------------
# Notes and statuses


def test_notes_merge_by_topic_and_count_their_sessions() -> None:
    notes = Notes()
    for session_id in ("a:1", "b:2", "c:3"):
        notes.add("events_missing", "No events for {n} session{s}.", degrades=True, session_id=session_id)
    notes.add("summary_missing", "No summary for {n} session{s}.", degrades=True, session_id="a:1")
    notes.add("capped", "Only some sessions were read.", degrades=False)

    assert notes.sentences() == [
        "No events for 3 sessions.",
        "No summary for 1 session.",
        "Only some sessions were read.",
    ]
    assert notes.topics() == {"events_missing", "summary_missing", "capped"}
    assert notes.degraded


def test_a_note_that_does_not_degrade_leaves_the_investigation_complete() -> None:
    notes = Notes()
    notes.add("capped", "Only some sessions were read.", degrades=False)
    assert not notes.degraded
    notes.add("capped", "Only some sessions were read.", degrades=True)
    assert notes.degraded  # once degrading, a topic stays so


def test_a_gap_in_three_sessions_is_one_sentence_for_3_sessions() -> None:
    every = user_sessions("user-001", within=WEEK)
    assert len(every) == 4
    fake = MemoryFullstory(DATA, role="USER", fail={f"session_events:{sid}": FORBIDDEN for sid in every[1:]})

    evidence = run(fake, user_stream(lookback=WEEK))

    assert evidence.status == "partial"
    assert evidence.notes.sentences() == [
        "Session events were unavailable for 3 sessions (Fullstory answered 403: session_events: HTTP 403: "
        "insufficient permissions). Session events need an Admin or Architect API key; this key's role is "
        "USER (Standard), which cannot read them. Console errors, exceptions, failed requests and frustrated "
        "clicks are missing there."
    ]
    assert fake.calls["me"] == 1  # the role is asked once per container, not once per refusal
    assert [f.session_id for f in evidence.sessions if f.digest is not None] == every[:1]


def test_status_is_complete_partial_or_failed() -> None:
    crash = DATA.sessions_of(uid="user-001")[0]
    clean = run(MemoryFullstory(DATA), custom_event_on(crash))
    assert (clean.status, clean.notes.sentences()) == ("complete", [])

    gap = run(MemoryFullstory(DATA, fail={"summary": FORBIDDEN}), custom_event_on(crash))
    assert gap.status == "partial"

    fake = MemoryFullstory(DATA, export_state="FAILED", export_error_details="quota exceeded")
    failed = run(fake, segment_alert())
    assert failed.status == "failed"
    assert failed.fatal == "export_failed"
    assert failed.notes.sentences() == [
        "Fullstory could not export the segment (quota exceeded); the report covers the alert only."
    ]


def test_fullstory_text_with_braces_does_not_break_the_notes() -> None:
    """Error pages carry CSS and export errors carry JSON; neither is a format string."""
    page = "summary: HTTP 502: body { color: red } 502 Bad Gateway {n}"
    fake = MemoryFullstory(DATA, fail={"summary": FullstoryServerError(page, status=502)})
    evidence = run(fake, custom_event_on(DATA.sessions_of(uid="user-003")[0]))
    summaries, unread = evidence.notes.sentences()
    assert summaries == (
        "AI summaries failed for 1 session after retries (Fullstory answered 502: summary: HTTP 502: "
        "body { color: red } 502 Bad Gateway 1)."
    )
    # user-003's newest session holds an unreadable exception: said too, with its key names.
    assert unread.startswith("1 event of error-bearing types could not be read in 1 session: exception x1")

    details = '{"code": "INTERNAL", "detail": "shard {3} unavailable"}'
    fake = MemoryFullstory(DATA, export_state="FAILED", export_error_details=details)
    [sentence] = run(fake, segment_alert()).notes.sentences()
    assert details in sentence


# ---------------------------------------------------------------------------------------------
# Which sessions: caps and windows


def test_the_session_cap_keeps_the_newest_user_sessions_and_says_so() -> None:
    fake = MemoryFullstory(DATA)

    evidence = run(fake, user_stream(lookback=WEEK), max_sessions=2)

    assert [f.session_id for f in evidence.sessions] == user_sessions("user-001", within=WEEK)[:2]
    assert evidence.matched_sessions == 4
    assert evidence.status == "complete"  # a cap is a choice, not a gap
    assert evidence.notes.sentences() == [
        "4 sessions matched; the 2 with the most error signals (or the most recent) were investigated. "
        "Raise the cap (the MaxSessionsPerInvestigation parameter; `--max-sessions` for "
        "`fstriage investigate`; `max_sessions` for the MCP tools) to see more; each session costs "
        "Activations."
    ]
    assert fake.calls["session_events"] == 2
    assert fake.activations == 2


def test_the_session_cap_keeps_the_segment_sessions_with_the_most_error_signals() -> None:
    request = segment_alert()
    segment = DATA.segment_named(CHECKOUT_ERRORS)
    ranked = export_ranking(request, segment.id)
    assert len(ranked) > 3

    evidence = run(MemoryFullstory(DATA), request, max_sessions=3)

    assert [f.session_id for f in evidence.sessions] == ranked[:3]
    assert evidence.matched_sessions == len(ranked)
    assert evidence.notes.topics() == {"capped"}


def test_only_the_users_sessions_inside_the_window_are_read() -> None:
    """Newest first; a session without a created time is kept (it cannot be ruled out)."""
    request = user_stream()  # the 24 h before ANCHOR
    pool = DATA.sessions_of(uid="user-004")[:1] + DATA.sessions_of(uid="user-005")[:1]
    pool += DATA.sessions_of(uid="user-006")[:1] + DATA.sessions_of(uid="user-007")[:1]
    times = [ANCHOR - timedelta(hours=2), ANCHOR - timedelta(hours=30), ANCHOR + timedelta(hours=1), None]
    refs = [
        SessionRef(s.device_id, s.session_id, None, created, DATA.replay_url(s))
        for s, created in zip(pool, times, strict=True)
    ]
    fake = MemoryFullstory(DATA, listed={"user-001": [refs[3], refs[1], refs[0], refs[2]]})

    evidence = run(fake, request)

    assert [f.session_id for f in evidence.sessions] == [pool[0].api_id, pool[3].api_id]
    assert evidence.sessions[0].created_at == "2026-10-31T22:00:00.000Z"
    assert evidence.sessions[1].created_at is None
    assert fake.calls["session_events"] == 2


def test_a_session_trigger_reads_that_session_first_then_the_users_others_in_the_window() -> None:
    crash = DATA.sessions_of(uid="user-001")[0]
    request = custom_event_on(crash, lookback=timedelta(hours=24))
    fake = MemoryFullstory(DATA)

    evidence = run(fake, request, event_source="context")  # the context names the user

    assert [f.session_id for f in evidence.sessions] == user_sessions("user-001", within=timedelta(hours=24))
    assert evidence.sessions[0].session_id == crash.api_id
    assert {f.uid for f in evidence.sessions} == {"user-001"}
    assert fake.calls["session_context"] == 2 and fake.calls["session_events"] == 0


# ---------------------------------------------------------------------------------------------
# Who the user is: identify events


def identify(at: str, uid: str, email: str, name: str) -> dict[str, Any]:
    return {
        "event_time": at,
        "event_type": "identify",
        "event_properties": {"user_id": uid, "user_email": email, "user_display_name": name},
    }


def test_the_sessions_last_identify_event_names_its_user() -> None:
    session = DATA.sessions_of(uid="user-002")[0]
    user = DATA.user("user-002")
    fake = MemoryFullstory(
        DATA,
        extra_events={
            session.api_id: [
                identify("2026-10-28T17:07:30.000Z", "guest-1", "guest@example.test", "Guest"),
                {"event_type": "identify", "event_properties": "not an object"},
                identify("2026-10-28T17:09:00.000Z", user.uid, user.email, user.display_name),
            ]
        },
    )

    evidence = run(fake, custom_event_on(session))

    noted = evidence.sessions[0]
    assert (noted.uid, noted.email, noted.display_name) == (user.uid, user.email, user.display_name)
    # ...and that user's other sessions in the window are read too, looked up by uid.
    assert [f.session_id for f in evidence.sessions] == user_sessions("user-002", within=WEEK)
    assert fake.calls["sessions"] == 1
    assert all(f.uid == user.uid for f in evidence.sessions)


def test_without_an_identify_event_only_the_session_itself_is_read() -> None:
    session = DATA.sessions_of(uid="user-002")[0]
    fake = MemoryFullstory(DATA, without_event_types=frozenset({"identify"}))

    evidence = run(fake, custom_event_on(session))

    assert [f.session_id for f in evidence.sessions] == [session.api_id]
    assert evidence.sessions[0].uid is None
    assert fake.calls["sessions"] == 0


# ---------------------------------------------------------------------------------------------
# Segment exports


def test_a_pending_export_is_requeued_with_its_continuation_and_finished_later() -> None:
    request = segment_alert()
    segment = DATA.segment_named(CHECKOUT_ERRORS)
    fake = MemoryFullstory(DATA, pending_polls=1)
    investigation = Investigation(
        fake, settings(export_poll_delay_seconds=45), now=lambda: ANCHOR + timedelta(minutes=1)
    )

    first = investigation.run(request)

    assert isinstance(first, Requeue)
    assert first.delay_seconds == 45
    assert first.request.request_id == request.request_id
    continuation = first.request.continuation
    assert continuation is not None
    assert (continuation.segment_id, continuation.operation_id, continuation.polls) == (segment.id, "op-1", 1)
    assert continuation.started_at == "2026-11-01T00:01:00.000Z"

    second = investigation.run(first.request)

    assert isinstance(second, Finished)
    assert [f.session_id for f in second.evidence.sessions] == export_ranking(request, segment.id)[:10]
    assert (fake.calls["export_start"], fake.calls["operation"], fake.calls["export_results"]) == (1, 2, 1)


def test_an_export_still_pending_at_the_last_poll_ends_the_investigation() -> None:
    fake = MemoryFullstory(DATA, pending_polls=100)
    investigation = Investigation(fake, settings(export_max_polls=2))

    first = investigation.run(segment_alert())
    assert isinstance(first, Requeue)
    second = investigation.run(first.request)

    assert isinstance(second, Finished)
    assert second.evidence.fatal == "export_timeout"
    assert second.evidence.notes.sentences()[0].startswith(
        "The segment export was still being prepared after 2 checks"
    )


def test_events_forbidden_fall_back_to_the_export_rows() -> None:
    request = segment_alert()
    fake = MemoryFullstory(DATA, fail={"session_events": FORBIDDEN})

    evidence = run(fake, request)

    assert evidence.status == "partial"
    read = [f.session_id for f in evidence.sessions]
    assert read == export_ranking(request, DATA.segment_named(CHECKOUT_ERRORS).id)[:10]
    assert all(f.digest is None and f.events_unavailable == "403 forbidden" for f in evidence.sessions)
    assert sorted(d.session_id for d in evidence.fallback_digests) == sorted(read)
    assert all(d.source == "export" and d.error_signal_count > 0 for d in evidence.fallback_digests)
    assert fake.activations == 0


def test_only_sessions_without_events_get_an_export_fallback() -> None:
    request = segment_alert()
    ranked = export_ranking(request, DATA.segment_named(CHECKOUT_ERRORS).id)
    fake = MemoryFullstory(DATA, fail={f"session_events:{ranked[1]}": FORBIDDEN})

    evidence = run(fake, request)

    assert [d.session_id for d in evidence.fallback_digests] == [ranked[1]]


def test_a_segment_named_without_a_url_is_found_by_name() -> None:
    segment = DATA.segment_named("Frustrated clicks")
    request = segment_alert(segment, segmentUrl=None)
    assert request.trigger.alert is not None and request.trigger.alert.segment_id is None
    fake = MemoryFullstory(DATA)

    evidence = run(fake, request)

    assert evidence.segment is not None and evidence.segment.id == segment.id
    assert {f.session_id for f in evidence.sessions} == set(export_ranking(request, segment.id)[:10])
    assert fake.calls["segments"] == 1


def test_an_unknown_segment_id_in_the_url_falls_back_to_the_segment_name() -> None:
    segment = DATA.segment_named("Frustrated clicks")
    request = segment_alert(
        segment, segmentUrl="https://app.fullstory.com/ui/o-SANDBOX-na1/segments/recreated/people/0"
    )
    fake = MemoryFullstory(DATA)

    evidence = run(fake, request)

    assert evidence.fatal is None
    assert evidence.segment is not None and evidence.segment.id == segment.id
    assert fake.calls["export_start"] == 2  # the URL's ID (404), then the named segment's
    assert {f.session_id for f in evidence.sessions} == set(export_ranking(request, segment.id)[:10])


@pytest.mark.parametrize("how", ["unknown id in the URL and unknown name", "unknown name"])
def test_a_segment_fullstory_does_not_know_is_reported_not_retried(how: str) -> None:
    if how == "unknown id in the URL and unknown name":
        request = segment_alert(
            segmentUrl="https://app.fullstory.com/ui/o-SANDBOX-na1/segments/gone/people/0",
            segmentName="Deleted segment",
        )
    else:
        request = segment_alert(segmentUrl=None, segmentName="Deleted segment")

    evidence = run(MemoryFullstory(DATA), request)

    assert (evidence.status, evidence.fatal) == ("failed", "segment_not_found")
    assert evidence.notes.sentences() == [
        "The alert's segment could not be found in Fullstory (by URL or by name); check that it still "
        "exists and that the API key can read segments."
    ]


def test_a_mapped_metric_alert_exports_its_segment() -> None:
    document = payloads.metric_alert()
    document["data"]["timestamp"] = ANCHOR.isoformat()
    request = payloads.request_for(document, received_at=ANCHOR, lookback=WEEK)
    segment = DATA.segment_named(CHECKOUT_ERRORS)

    unmapped = run(MemoryFullstory(DATA), request)
    mapped = run(MemoryFullstory(DATA), request, metric_segments={"Checkout conversion": segment.id})

    assert (unmapped.status, unmapped.sessions, unmapped.notes.topics()) == (
        "complete",
        [],
        {"metric_unmapped"},
    )
    assert [f.session_id for f in mapped.sessions] == export_ranking(request, segment.id)[:10]


# ---------------------------------------------------------------------------------------------
# Refusals, outages and time


def test_an_unknown_session_is_not_blamed_on_the_summary_profile() -> None:
    request = custom_event_on(DATA.sessions_of(uid="user-002")[0])
    unknown = request.subject.session_ids[0].split(":")[0] + ":1111111111111111"
    request = InvestigationRequest.from_json(
        request.to_json().replace(request.subject.session_ids[0], unknown)
    )

    evidence = run(MemoryFullstory(DATA), request)

    assert evidence.status == "partial"
    assert evidence.notes.topics() == {"summary_missing", "events_missing"}


def test_a_summary_404_for_a_known_session_points_at_the_profile() -> None:
    missing = FullstoryNotFound("summary: HTTP 404: Requested resource does not exist", status=404)
    fake = MemoryFullstory(DATA, fail={"summary": missing})

    evidence = run(fake, custom_event_on(DATA.sessions_of(uid="user-002")[0]))

    assert evidence.notes.topics() == {"summary_profile"}
    assert "Set SUMMARY_PROFILE_ID" in evidence.notes.sentences()[0]


def test_a_refusal_a_retry_cannot_change_fails_the_report() -> None:
    refused = FullstoryForbidden("segments: HTTP 403: insufficient permissions", status=403)
    request = segment_alert(segmentUrl=None)

    evidence = run(MemoryFullstory(DATA, fail={"segments": refused}), request)

    assert (evidence.status, evidence.fatal) == ("failed", "fullstory_refused")
    assert evidence.notes.sentences() == [
        "Fullstory refused a call the investigation needs (Fullstory answered 403: segments: HTTP 403: "
        "insufficient permissions); a retry would get the same answer, so the report stops here."
    ]


def test_an_outage_during_discovery_is_raised_for_redelivery() -> None:
    outage = FullstoryUnavailable("sessions: gave up after 4 attempts", status=503, attempts=4)
    with pytest.raises(FullstoryUnavailable):
        Investigation(MemoryFullstory(DATA, fail={"sessions": outage}), settings()).run(user_stream())


def test_a_user_whose_sessions_cannot_be_listed_fails_the_report() -> None:
    refused = FullstoryForbidden("sessions: HTTP 403: insufficient permissions", status=403)

    evidence = run(MemoryFullstory(DATA, fail={"sessions": refused}), user_stream())

    assert (evidence.status, evidence.fatal) == ("failed", "user_sessions_unavailable")
    assert evidence.notes.topics() == {"user_sessions_unavailable"}


def test_too_little_time_left_stops_before_any_call() -> None:
    fake = MemoryFullstory(DATA)
    investigation = Investigation(fake, settings(), deadline=lambda: 4.9)  # the margin is 5 s

    with pytest.raises(DependencyUnavailable) as raised:
        investigation.run(user_stream())

    assert raised.value.dependency == "time"
    assert sum(fake.calls.values()) == 0


def test_time_running_out_between_phases_stops_the_investigation() -> None:
    clock = {"left": 6.5}  # each call below takes a second; 5 s must stay free

    def spend(_: str) -> None:
        clock["left"] -= 1.0

    fake = MemoryFullstory(DATA, before_call=spend)
    investigation = Investigation(fake, settings(event_source="context"), deadline=lambda: clock["left"])
    crash = DATA.sessions_of(uid="user-001")[0]

    with pytest.raises(DependencyUnavailable):
        investigation.run(custom_event_on(crash))

    assert (fake.calls["summary"], fake.calls["session_context"]) == (1, 1)  # the noted session was read
    assert fake.calls["sessions"] == 0  # listing the user's other sessions did not start


def test_a_rejected_key_fails_the_investigation_at_once() -> None:
    rejected = FullstoryAuthError("summary: HTTP 401: access is unauthorized", status=401)

    evidence = run(MemoryFullstory(DATA, fail={"summary": rejected}), user_stream())

    assert (evidence.status, evidence.fatal) == ("failed", "auth")
    assert evidence.notes.topics() == {"auth"}


# ---------------------------------------------------------------------------------------------
# Why a 403: from the key's role, not from Fullstory's wording

BARE_403 = FullstoryForbidden("session_events: HTTP 403: Forbidden", status=403, code="forbidden")
WORDED_403 = FullstoryForbidden(
    "session_events: HTTP 403: Anywhere: Activation is not enabled for this organization",
    status=403,
    code="forbidden",
)
ACTIVATION_FIX = "Session events are part of Anywhere: Activation, which is off for this org"
TIER_FIX = "Session events need an Admin or Architect API key"


def events_note(fake: MemoryFullstory) -> str:
    session = DATA.sessions_of(uid="user-001")[0]
    evidence = run(fake, custom_event_on(session))
    [note] = [n for n in evidence.notes.sentences() if n.startswith("Session events were unavailable")]
    assert evidence.status == "partial"
    return note


@pytest.mark.parametrize(
    ("role", "cause", "not_cause"),
    [
        ("ADMIN", ACTIVATION_FIX, TIER_FIX),
        ("ARCHITECT", ACTIVATION_FIX, TIER_FIX),
        ("USER", f"{TIER_FIX}; this key's role is USER (Standard), which cannot read them", ACTIVATION_FIX),
        ("VIEW_ONLY", f"{TIER_FIX}; this key's role is VIEW_ONLY", ACTIVATION_FIX),
    ],
)
def test_the_cause_of_an_events_403_comes_from_the_keys_role(role: str, cause: str, not_cause: str) -> None:
    # The same bare 403, whatever the role: only the role can tell the two causes apart.
    fake = MemoryFullstory(DATA, role=role, fail={"session_events": BARE_403})

    note = events_note(fake)

    assert cause in note
    assert not_cause not in note
    assert fake.calls["me"] == 1


def test_a_role_beats_fullstorys_wording() -> None:
    fake = MemoryFullstory(DATA, role="USER", fail={"session_events": WORDED_403})

    note = events_note(fake)

    assert TIER_FIX in note and ACTIVATION_FIX not in note


def test_when_me_is_refused_fullstorys_wording_is_the_hint() -> None:
    me_refused = FullstoryForbidden("me: HTTP 403: Forbidden", status=403, code="forbidden")
    worded = MemoryFullstory(DATA, fail={"me": me_refused, "session_events": WORDED_403})
    bare = MemoryFullstory(DATA, fail={"me": me_refused, "session_events": BARE_403})

    hinted, unknown = events_note(worded), events_note(bare)

    assert "The key's role could not be read (GET /me), but Fullstory's message names it." in hinted
    assert ACTIVATION_FIX in hinted and TIER_FIX not in hinted
    # No role and no wording: both causes, never a wrong certainty.
    assert "The key's role could not be read (GET /me). Either the key's tier is too low" in unknown
    assert "or Anywhere: Activation is off for this org" in unknown


def test_an_unknown_role_names_both_causes() -> None:
    note = events_note(MemoryFullstory(DATA, role="UNKNOWN", fail={"session_events": BARE_403}))

    assert "The key's role is UNKNOWN, which fstriage does not know. Either the key's tier is too low" in note
    assert "or Anywhere: Activation is off for this org" in note


def test_the_role_is_not_asked_when_nothing_was_refused() -> None:
    fake = MemoryFullstory(DATA)

    run(fake, user_stream(lookback=WEEK))

    assert fake.calls["me"] == 0


def test_a_summary_profiles_structured_response_is_kept() -> None:
    session = DATA.sessions_of(uid="user-001")[0]
    fake = MemoryFullstory(DATA)

    evidence = run(fake, custom_event_on(session), summary_profile="triage")

    finding = evidence.sessions[0]
    _, expected = views.summary(session)
    assert finding.summary_response == expected
    assert finding.summary_text


# ---------------------------------------------------------------------------------------------
# Who the user is: uid or email, and sessions outside the window


def user_by(
    *, uid: str | None = None, email: str | None = None, lookback: timedelta = WEEK
) -> InvestigationRequest:
    return payloads.request_for(
        payloads.stream_user(user_id=uid, user_email=email),
        received_at=ANCHOR,
        lookback=lookback,
        stream=True,
    )


def test_a_uid_that_lists_nothing_falls_back_to_the_email_and_says_so() -> None:
    email = DATA.user("user-001").email
    fake = MemoryFullstory(DATA)

    evidence = run(fake, user_by(uid="not-the-identify-uid", email=email))

    assert [f.session_id for f in evidence.sessions] == user_sessions("user-001", within=WEEK)
    assert evidence.matched_by == "email"
    assert fake.calls["sessions"] == 2
    assert evidence.notes.sentences() == [
        "Fullstory listed no sessions for the user's uid; their email matched 4 sessions, which this "
        "report reads."
    ]
    assert evidence.status == "complete"


def test_the_uid_is_tried_first_when_the_request_names_both() -> None:
    fake = MemoryFullstory(DATA, listed={"stale@example.test": []})

    evidence = run(fake, user_by(uid="user-001", email="stale@example.test"))

    assert evidence.matched_by == "uid"
    assert fake.calls["sessions"] == 1
    assert "matched_by" not in evidence.notes.topics()


def test_a_sessions_user_whose_uid_lists_nothing_is_listed_by_the_email_of_its_identify_event() -> None:
    # An event on a session: the request names no user; the session's identify event gives both.
    session = DATA.sessions_of(uid="user-001")[0]
    fake = MemoryFullstory(DATA, listed={"user-001": []})

    evidence = run(fake, custom_event_on(session))

    assert evidence.matched_by == "email"
    assert "matched_by" in evidence.notes.topics()
    assert {f.session_id for f in evidence.sessions} == set(user_sessions("user-001", within=WEEK))


def test_a_user_unknown_by_uid_and_email_is_said_plainly() -> None:
    fake = MemoryFullstory(DATA)

    evidence = run(fake, user_by(uid="nobody", email="nobody@example.test"))

    assert evidence.sessions == []
    assert evidence.matched_by is None
    assert fake.calls["sessions"] == 2
    [note] = evidence.notes.sentences()
    assert note.startswith("Fullstory listed no sessions for the user's uid or email")
    assert evidence.outside_window is None


def test_an_email_that_lists_nothing_falls_back_to_the_uid_of_its_user_record() -> None:
    user = DATA.user("user-001")
    fake = MemoryFullstory(DATA, listed={user.email: []})

    evidence = run(fake, user_by(email=user.email))

    assert evidence.matched_by == "uid"
    assert (fake.calls["sessions"], fake.calls["users"]) == (2, 1)
    assert [f.session_id for f in evidence.sessions] == user_sessions("user-001", within=WEEK)
    assert evidence.notes.sentences() == [
        "Fullstory listed no sessions for the user's email; their uid (from Fullstory's user record) "
        "matched 4 sessions, which this report reads."
    ]
    assert {f.uid for f in evidence.sessions} == {"user-001"}


def test_a_uid_that_lists_nothing_falls_back_to_the_email_of_its_user_record() -> None:
    fake = MemoryFullstory(DATA, listed={"user-001": []})

    evidence = run(fake, user_by(uid="user-001"))

    assert evidence.matched_by == "email"
    assert (fake.calls["sessions"], fake.calls["users"]) == (2, 1)
    assert [f.session_id for f in evidence.sessions] == user_sessions("user-001", within=WEEK)
    assert "their email (from Fullstory's user record) matched" in evidence.notes.sentences()[0]


def test_an_email_that_lists_sessions_needs_no_user_record() -> None:
    fake = MemoryFullstory(DATA)

    evidence = run(fake, user_by(email=DATA.user("user-001").email))

    assert evidence.matched_by == "email"
    assert (fake.calls["sessions"], fake.calls["users"]) == (1, 0)
    assert evidence.notes.sentences() == []


def test_a_refused_user_record_is_said_and_the_user_stays_unknown() -> None:
    user = DATA.user("user-001")
    fake = MemoryFullstory(DATA, listed={user.email: []}, fail={"users": FORBIDDEN})

    evidence = run(fake, user_by(email=user.email))

    assert evidence.sessions == [] and evidence.matched_by is None
    assert set(evidence.notes.topics()) == {"user_record_unavailable", "user_unknown"}
    assert any("user's uid was not tried" in sentence for sentence in evidence.notes.sentences())


def test_an_unknown_email_with_no_user_record_is_said_plainly() -> None:
    fake = MemoryFullstory(DATA)

    evidence = run(fake, user_by(email="nobody@example.test"))

    assert evidence.sessions == [] and evidence.matched_by is None
    assert (fake.calls["sessions"], fake.calls["users"]) == (1, 1)
    [note] = evidence.notes.sentences()
    assert note.startswith("Fullstory listed no sessions for the user's email:")


def test_sessions_all_outside_the_window_are_counted_with_the_newest_time() -> None:
    everything = DATA.sessions_of(uid="user-001")
    window = timedelta(hours=24)
    old = [s for s in everything if s.created < ANCHOR - window]
    assert old and len(old) < len(everything)
    refs = [
        SessionRef(s.device_id, s.session_id, str(int(s.created.timestamp())), s.created, DATA.replay_url(s))
        for s in old
    ]
    fake = MemoryFullstory(DATA, listed={"user-001": refs})

    evidence = run(fake, user_stream(lookback=window))

    assert evidence.sessions == []
    assert evidence.outside_window is not None
    newest = max(s.created for s in old)
    assert (evidence.outside_window.count, evidence.outside_window.at_least) == (len(old), False)
    assert evidence.outside_window.newest == isoformat(newest)
    assert evidence.notes.sentences() == [
        f"The user has {len(old)} sessions in Fullstory, but all lie outside the window; the newest was "
        f"created at {isoformat(newest)}. Investigate a wider window to read them."
    ]
    assert evidence.status == "complete"
    assert fake.calls["session_events"] == 0


def test_a_full_listing_outside_the_window_is_at_least_that_many() -> None:
    session = DATA.sessions_of(uid="user-001")[-1]
    long_ago = ANCHOR - timedelta(days=90)
    refs = [
        SessionRef(session.device_id, f"{n}", str(int(long_ago.timestamp())), long_ago, None)
        for n in range(50)
    ]
    fake = MemoryFullstory(DATA, listed={"user-001": refs})

    evidence = run(fake, user_stream())

    assert evidence.outside_window is not None and evidence.outside_window.at_least
    assert "The user has at least 50 sessions in Fullstory" in evidence.notes.sentences()[0]


def test_no_outside_window_note_when_some_sessions_are_inside() -> None:
    evidence = run(MemoryFullstory(DATA), user_stream())

    assert evidence.sessions
    assert evidence.outside_window is None
    assert "outside_window" not in evidence.notes.topics()
