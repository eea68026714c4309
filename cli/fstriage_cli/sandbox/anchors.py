"""Anchors: users, sessions and segments with given IDs and times, added on top of the seeded data.

They leave the seeded data exactly as it was (they draw from their own random stream), so that
payloads naming real-looking IDs (the `events/` samples, see `fstriage_cli.sandbox.samples`) find
data.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fstriage_cli.sandbox.model import SandboxSegment, SandboxSession, SandboxUser, isoformat
from fstriage_cli.sandbox.scenarios import SCENARIOS, Ids, build_session


@dataclass(frozen=True, slots=True)
class AnchorSession:
    """A session with a fixed ID and start time; `scenarios` are names from `SCENARIOS` ([] is clean)."""

    session_id: str  # the session part of `device:session`
    created: datetime
    scenarios: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AnchorUser:
    uid: str
    email: str
    display_name: str
    device_id: str  # the device part of each session's `device:session`
    sessions: tuple[AnchorSession, ...]
    device: str = "desktop"


@dataclass(frozen=True, slots=True)
class AnchorSegment:
    """A segment with a fixed ID: the listed sessions (`device:session`), plus, with `with_errors`,
    every session that has errors (like the seeded "Checkout errors")."""

    id: str
    name: str
    session_ids: tuple[str, ...] = ()
    with_errors: bool = True


@dataclass(frozen=True, slots=True)
class Anchors:
    """What to add; checked on creation (known scenarios, no repeated IDs, segments name anchored
    sessions)."""

    users: tuple[AnchorUser, ...] = ()
    segments: tuple[AnchorSegment, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(
            {name for u in self.users for s in u.sessions for name in s.scenarios} - set(SCENARIOS)
        )
        if unknown:
            raise ValueError(f"unknown scenario(s): {', '.join(unknown)}")
        api_ids = [f"{u.device_id}:{s.session_id}" for u in self.users for s in u.sessions]
        for what, values in (
            ("uid", [u.uid for u in self.users]),
            ("session", api_ids),
            ("segment", [s.id for s in self.segments]),
        ):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"anchor {what} IDs repeat: {', '.join(repeated)}")
        missing = sorted({i for seg in self.segments for i in seg.session_ids} - set(api_ids))
        if missing:
            raise ValueError(f"anchor segments name unknown sessions: {', '.join(missing)}")


def with_anchors(
    anchors: Anchors,
    seed: int,
    *,
    people: list[SandboxUser],
    sessions: list[SandboxSession],
    segments: tuple[SandboxSegment, ...],
    anchor: datetime,
    org_id: str,
    app_url: str,
) -> tuple[list[SandboxUser], list[SandboxSession], tuple[SandboxSegment, ...]]:
    """The seeded data plus the anchors, built from their own random stream (the seeded part is kept)."""
    taken_uids = {u.uid for u in people} & {u.uid for u in anchors.users}
    if taken_uids:
        raise ValueError(f"anchor uids clash with seeded users: {', '.join(sorted(taken_uids))}")
    rng = random.Random(f"anchors-{seed}")  # noqa: S311 - synthetic data: repeatability is the point
    ids = Ids(rng)
    ids.reserve(s.session_id for s in sessions)
    people, sessions = list(people), list(sessions)
    for spec in anchors.users:
        user = SandboxUser(spec.uid, spec.email, spec.display_name, spec.device_id, spec.device)
        people.append(user)
        for planned in spec.sessions:
            start = planned.created.astimezone(UTC).replace(microsecond=0)
            built = build_session(
                rng,
                ids,
                user,
                start,
                scenarios=planned.scenarios,
                unreadable=None,
                session_id=planned.session_id,
            )
            if built.api_id in {s.api_id for s in sessions}:
                raise ValueError(f"anchor session {built.api_id} clashes with a seeded one")
            sessions.append(built)
    sessions.sort(key=lambda s: (s.created, s.session_id))

    def member_of(spec: AnchorSegment) -> Callable[[SandboxSession], bool]:
        listed = frozenset(spec.session_ids)
        return lambda s: s.api_id in listed or (spec.with_errors and s.has_errors)

    clashing = sorted({s.id for s in segments} & {spec.id for spec in anchors.segments})
    if clashing:
        raise ValueError(f"anchor segment IDs clash with seeded ones: {', '.join(clashing)}")
    extra = tuple(
        SandboxSegment(
            id=spec.id,
            name=spec.name,
            creator="analyst@example.test",
            created=isoformat(anchor - timedelta(days=60)),
            url=f"{app_url}/ui/{org_id}/segments/{spec.id}",
            member=member_of(spec),
        )
        for spec in anchors.segments
    )
    return people, sessions, segments + extra
