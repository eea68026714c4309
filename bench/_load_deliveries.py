"""Build the load benchmark's deliveries: webhook bodies in sending order, replays after their originals.

Distinct deliveries are new business events (their own `data.id`) built from the `events/` samples:
`note.created` and `recording.event.custom` naming the sandbox's sessions (in the replay-URL form
webhooks use), and `segment.trend.alert`s on the two segments the sandbox anchors for those samples.
Exact and re-signed replays repeat an earlier body; the client decides how each is signed.
"""

from __future__ import annotations

import copy
import hashlib
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fstriage_cli.samples.payloads import (
    CHECKOUT_ERRORS_ALERT,
    CUSTOM_EVENT,
    NOTE_CREATED,
    PAYMENT_DECLINES_ALERT,
    body_of,
)
from fstriage_cli.sandbox.model import SandboxData, SandboxSession, isoformat

SEED = 20261123
REPLAY_DISTANCE = 100  # a replay follows its original by at least this many deliveries
SEGMENTS = ("checkout-errors-seg", "payment-declines-seg")  # anchored for the events/ samples
KINDS = ("note", "custom_event", "segment_alert", "replay", "resigned")


@dataclass(frozen=True, slots=True)
class Delivery:
    index: int
    kind: str  # note | custom_event | segment_alert | replay | resigned
    body: bytes
    replay_of: int | None = None
    session_id: str | None = None  # the session a note or custom event names (API form)


def _digits(text: str) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:16]


def _session_url(data: SandboxData, session: SandboxSession) -> str:
    """As a webhook payload writes it: `.../session/<indv>:<device>!<session>`."""
    return (
        f"{data.app_url}/ui/{data.org_id}/session/"
        f"{_digits(session.user.uid)}:{session.device_id}!{session.session_id}"
    )


def _copy(sample: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(sample)


def _note(data: SandboxData, session: SandboxSession, event_id: str, number: int) -> bytes:
    document = _copy(NOTE_CREATED)
    noted = session.created + timedelta(minutes=3)
    url = _session_url(data, session)
    document["data"].update(
        id=event_id,
        created=isoformat(noted + timedelta(seconds=20)),
        notedTime=isoformat(noted),
        text=f"Customer says 'Place order' did nothing (ticket #{5000 + number}).",
        sessionUrl=url,
        shareLink=f"{url}?share={event_id}",
        userUrl=f"{data.app_url}/ui/{data.org_id}/user/{_digits(session.user.uid)}",
    )
    return body_of(document)


def _custom(data: SandboxData, session: SandboxSession, event_id: str, number: int) -> bytes:
    document = _copy(CUSTOM_EVENT)
    document["data"].update(
        id=event_id,
        sessionUrl=_session_url(data, session),
        timestamp=isoformat(session.created + timedelta(minutes=2)),
    )
    document["data"]["properties"]["amount_real"] = round(20 + number * 0.37, 2)
    return body_of(document)


def _segment_alert(event_id: str, number: int) -> bytes:
    document = _copy(CHECKOUT_ERRORS_ALERT if number % 2 == 0 else PAYMENT_DECLINES_ALERT)
    document["data"].update(id=event_id, value=30 + number % 40)
    return body_of(document)


def make_deliveries(
    data: SandboxData,
    count: int,
    *,
    replay_share: float,
    resigned_share: float,
    segment_share: float,
    run_tag: str,
    seed: int = SEED,
) -> list[Delivery]:
    """`count` deliveries in sending order; replays come after their originals (>= REPLAY_DISTANCE)."""
    rng = random.Random(seed)
    replays, resigned = round(count * replay_share), round(count * resigned_share)
    distinct = count - replays - resigned
    if distinct <= REPLAY_DISTANCE and replays + resigned:
        raise SystemExit(f"replays need more than {REPLAY_DISTANCE} distinct deliveries")
    segments = round(distinct * segment_share)
    rest = distinct - segments
    kinds = ["segment_alert"] * segments + ["note"] * (rest - rest // 2) + ["custom_event"] * (rest // 2)
    rng.shuffle(kinds)
    sessions = list(data.sessions)
    rng.shuffle(sessions)
    originals: list[Delivery] = []
    for number, kind in enumerate(kinds):
        event_id = f"{kind.replace('_', '')}-load-{run_tag}-{number:05d}"
        session = sessions[number % len(sessions)]
        if kind == "note":
            body, named = _note(data, session, event_id, number), session.api_id
        elif kind == "custom_event":
            body, named = _custom(data, session, event_id, number), session.api_id
        else:
            body, named = _segment_alert(event_id, number), None
        originals.append(Delivery(number, kind, body, session_id=named))
    # Sort keys: a distinct delivery keeps its position; a replay lands later than its original.
    keyed: list[tuple[float, str, int]] = [(float(d.index), "distinct", d.index) for d in originals]
    for kind, how_many in (("replay", replays), ("resigned", resigned)):
        for original in rng.sample(range(distinct - REPLAY_DISTANCE), how_many):
            keyed.append((rng.uniform(original + REPLAY_DISTANCE, distinct), kind, original))
    keyed.sort()
    deliveries: list[Delivery] = []
    position = {}
    for index, (_, kind, original) in enumerate(keyed):
        source = originals[original]
        if kind == "distinct":
            position[original] = index
            deliveries.append(Delivery(index, source.kind, source.body, session_id=source.session_id))
        else:
            deliveries.append(Delivery(index, kind, source.body, position[original], source.session_id))
    return deliveries


def profile_notes(data: SandboxData, count: int, tag: str) -> list[Delivery]:
    """`count` distinct notes on the sandbox's last sessions: the warm-up and the profile send these."""
    return [
        Delivery(i, "note", _note(data, data.sessions[-1 - i % len(data.sessions)], f"note-{tag}-{i}", i))
        for i in range(count)
    ]
