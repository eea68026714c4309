"""Sandbox anchors for the `events/` samples, so investigating a sample finds real data.

The samples name IDs (the segment in a segment alert's `segmentUrl`, the session of a note or a
custom event, a Stream's session, email and `user_id`). This module reads every function URL event
in `events/`, interprets its payload with the library's own parser (exactly what the webhook queues)
and plans sandbox users, sessions and segments with those IDs, inside each sample's time window:

- each session a sample names exists (device and session from its ID), with errors to find;
- a session's user carries the email (and uid) a sample gives alongside it;
- a `user_id` or email named without a session gets a user with two sessions in that window;
- each segment a segment alert names exists (with its `segmentName`), with three sessions of its
  own in the alert's window, plus every session that has errors;
- each metric alert's metric gets a segment too, and `metric_segments` maps the metric to it (the
  investigator's METRIC_SEGMENTS setting), so a metric alert is investigated like a segment alert.

Nothing here is hard-coded from the samples: rename an ID in `fstriage_cli.samples.payloads`, regenerate
`events/`, and the anchors follow.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fstriage.core.errors import FstriageError
from fstriage.core.http import request_from_function_url_event
from fstriage.core.intake import STREAMS_PREFIX
from fstriage.core.payloads import Investigate, interpret_stream_event, interpret_system_event
from fstriage.core.request import parse_isoformat
from fstriage_cli.samples import sample_events_dir
from fstriage_cli.sandbox.anchors import Anchors, AnchorSegment, AnchorSession, AnchorUser

LOOKBACK = timedelta(hours=24)  # the webhook's default lookback, for payloads without a period
# What each kind of sample's sessions go through; the first scenario a session gets wins.
_SCENARIOS_BY_KIND: dict[str, tuple[str, ...]] = {
    "note": ("checkout_crash",),
    "custom_event": ("payment_gateway",),
    "stream": ("checkout_crash",),
}
_SEGMENT_MEMBER_SCENARIOS: tuple[tuple[str, ...], ...] = (
    ("checkout_crash",),
    ("payment_gateway",),
    ("cart_null",),
)
_USER_SCENARIOS: tuple[tuple[str, ...], ...] = (("missing_product",), ())


@dataclass(frozen=True, slots=True)
class SampleAnchors:
    anchors: Anchors
    metric_segments: dict[str, str] = field(default_factory=dict)  # metric name -> segment ID
    samples: tuple[str, ...] = ()  # the files that named something


@dataclass(slots=True)
class _PlannedUser:
    device_id: str
    uid: str | None = None
    email: str | None = None
    sessions: dict[str, AnchorSession] = field(default_factory=dict)


def sample_investigations(events_dir: Path | None = None) -> list[tuple[str, Investigate]]:
    """(file name, what the webhook would queue) for every sample that is investigated.

    `events_dir` defaults to the packaged samples (or the checkout's `events/`).
    """
    found: list[tuple[str, Investigate]] = []
    for path in sorted((events_dir or sample_events_dir()).glob("*.json")):
        try:
            event = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(event, dict) or "requestContext" not in event or not event.get("body"):
            continue
        decision = _interpret(event)
        if decision is not None:
            found.append((path.name, decision))
    return found


def _interpret(event: Mapping[str, Any]) -> Investigate | None:
    try:
        request = request_from_function_url_event(event)
        document = json.loads(request.body)
        if not isinstance(document, dict):
            return None
        received_at = datetime.now(UTC)
        if request.path.startswith(STREAMS_PREFIX):
            return interpret_stream_event(document, received_at=received_at, lookback=LOOKBACK)
        decision = interpret_system_event(document, received_at=received_at, lookback=LOOKBACK)
    except (FstriageError, ValueError):
        return None
    return decision if isinstance(decision, Investigate) else None


def sample_anchors(events_dir: Path | None = None) -> SampleAnchors:
    """Anchors for every ID the samples in `events_dir` name (empty when there are none)."""
    return plan_anchors(sample_investigations(events_dir))


def plan_anchors(investigations: Iterable[tuple[str, Investigate]]) -> SampleAnchors:
    users: dict[str, _PlannedUser] = {}  # by device ID
    segments: dict[str, AnchorSegment] = {}
    metric_segments: dict[str, str] = {}
    named: list[str] = []
    for name, decision in investigations:
        named.append(name)
        trigger, subject, window = decision.trigger, decision.subject, decision.window
        start, end = parse_isoformat(window.start), parse_isoformat(window.end)
        scenarios = _SCENARIOS_BY_KIND.get(trigger.kind, ("checkout_crash",))
        devices: list[str] = []
        for position, session_id in enumerate(subject.session_ids):
            device_id, _, session_part = session_id.partition(":")
            user = users.setdefault(device_id, _PlannedUser(device_id))
            user.sessions.setdefault(
                session_part,
                AnchorSession(session_part, _inside(start, end, 0.02 * (position + 1)), scenarios),
            )
            devices.append(device_id)
        for device_id in devices:
            users[device_id].uid = users[device_id].uid or subject.uid
            users[device_id].email = users[device_id].email or subject.email
        if not devices and (subject.uid or subject.email):
            owner = next(
                (
                    u
                    for u in users.values()
                    if (subject.uid and u.uid == subject.uid) or (subject.email and u.email == subject.email)
                ),
                None,
            )
            if owner is None:
                owner = _PlannedUser(_digits(f"device:{subject.uid or subject.email}"))
                owner.uid, owner.email = subject.uid, subject.email
                users[owner.device_id] = owner
            for index, planned in enumerate(_USER_SCENARIOS):
                session_part = _digits(f"session:{owner.device_id}:{trigger.occurred_at}:{index}")
                owner.sessions.setdefault(
                    session_part, AnchorSession(session_part, _inside(start, end, 0.1 * (index + 1)), planned)
                )
        alert = trigger.alert
        segment_id, segment_name = None, None
        if trigger.kind == "segment_alert" and alert is not None and alert.segment_id:
            segment_id, segment_name = alert.segment_id, alert.segment_name or alert.segment_id
        elif trigger.kind == "metric_alert" and alert is not None and (alert.metric_name or alert.name):
            metric = str(alert.metric_name or alert.name)
            segment_id = metric_segments.setdefault(metric, _slug(metric) + "-seg")
            segment_name = metric
        if segment_id is None or segment_id in segments:
            continue
        members: list[str] = []
        for index, planned in enumerate(_SEGMENT_MEMBER_SCENARIOS, start=1):
            member = _PlannedUser(_digits(f"device:{segment_id}:{index}"))
            member.uid = f"{_slug(segment_id)}-{index}"
            member.email = f"{_slug(segment_id)}.{index}@example.test"
            session_part = _digits(f"session:{segment_id}:{index}")
            member.sessions[session_part] = AnchorSession(
                session_part, _inside(start, end, 0.15 * index), planned
            )
            users[member.device_id] = member
            members.append(f"{member.device_id}:{session_part}")
        segments[segment_id] = AnchorSegment(segment_id, str(segment_name), tuple(members))
    anchor_users = tuple(_user(planned, number) for number, planned in enumerate(users.values(), start=1))
    anchors = Anchors(users=anchor_users, segments=tuple(segments.values()))
    return SampleAnchors(anchors, metric_segments, tuple(dict.fromkeys(named)))


def _user(planned: _PlannedUser, number: int) -> AnchorUser:
    uid = planned.uid or f"sample-user-{number:03d}"
    email = planned.email or f"sample.user.{number:03d}@example.test"
    local = email.split("@", 1)[0]
    display = " ".join(part.title() for part in re.split(r"[._-]+", local) if part) or uid
    return AnchorUser(
        uid=uid,
        email=email,
        display_name=display,
        device_id=planned.device_id,
        sessions=tuple(sorted(planned.sessions.values(), key=lambda s: s.created)),
    )


def _inside(start: datetime, end: datetime, back: float) -> datetime:
    """A start time `back` of the window before its end: the session's few minutes fit inside."""
    span = max(end - start, timedelta(hours=1))
    moment = end - span * back - timedelta(minutes=10)
    return max(moment, start + timedelta(minutes=1)).replace(microsecond=0)


def _digits(text: str, length: int = 16) -> str:
    """A stable digit-string ID (the API's int64-as-string IDs) from `text`."""
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return str(10 ** (length - 1) + number % (9 * 10 ** (length - 1)))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "sample"
