"""The seeded sandbox org: `generate` makes users, sessions and segments, deterministic from a seed.

Anchors tests may rely on, whatever the seed: `user-001`'s newest session is a checkout crash
(TypeError in checkout.js, failed pay request, error and rage clicks on "Pay now"); every session
of `user-002` is clean; `user-003`'s newest session holds an unreadable event and a dead click.
Given `Anchors` (see `anchors`) come on top of the seeded data and leave it as it was.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fstriage_cli.sandbox.anchors import Anchors, with_anchors
from fstriage_cli.sandbox.model import (
    FRUSTRATION_PROBLEMS,
    SandboxData,
    SandboxSegment,
    SandboxSession,
    SandboxUser,
    isoformat,
)
from fstriage_cli.sandbox.scenarios import SCENARIOS, Ids, build_session

DEFAULT_ORG_ID = "o-SANDBOX-na1"
DEFAULT_APP_URL = "https://app.fullstory.com"
CHECKOUT_ERRORS = "Checkout errors"  # the seeded segment of every session with errors

_NAMES = (
    "ada", "grace", "alan", "linus", "margaret", "ken", "barbara", "dennis", "frances", "edsger",
    "radia", "john", "katherine", "tim", "hedy", "donald", "shafi", "leslie", "sophie", "guido",
    "annie", "niklaus", "lynn", "brian", "joan", "vint", "mary", "bjarne", "jean", "whitfield",
)  # fmt: skip
# How often each of `SCENARIOS` (in their order) is picked for an error session.
_SCENARIO_WEIGHTS = (5, 4, 3, 3, 2, 2)
ERROR_SESSION_RATE = 0.35
# Unreadable error-bearing events make a report `partial`, so only the anchor session (`user-003`'s
# newest) carries one by default; the draw below still happens, so the seeded data is otherwise the
# same. The `unknown` event convention (see `conventions`) makes every such event unreadable.
UNREADABLE_RATE = 0.0


def _pick_scenarios(rng: random.Random) -> list[str]:
    if rng.random() >= ERROR_SESSION_RATE:
        return []
    count = 1 if rng.random() < 0.75 else 2
    picked = rng.choices(list(SCENARIOS), weights=_SCENARIO_WEIGHTS, k=count)
    return list(dict.fromkeys(picked))


def generate(
    seed: int = 7,
    *,
    now: datetime | None = None,
    users: int = 30,
    days: int = 7,
    org_id: str = DEFAULT_ORG_ID,
    app_url: str = DEFAULT_APP_URL,
    anchors: Anchors | None = None,
) -> SandboxData:
    """The same seed (and `now`, and `anchors`) always gives the same data. Anchors come on top: the
    seeded users, sessions and segments are the same with or without them."""
    anchor = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)  # noqa: S311 - synthetic data: repeatability is the point
    ids = Ids(rng)
    people: list[SandboxUser] = []
    sessions: list[SandboxSession] = []
    unreadable_forms = 0
    for index in range(1, max(3, users) + 1):
        name = _NAMES[(index - 1) % len(_NAMES)]
        user = SandboxUser(
            uid=f"user-{index:03d}",
            email=f"{name}.{index:03d}@example.test",
            display_name=f"{name.title()} {index:03d}",
            device_id=ids.digits(16),
            device="mobile" if rng.random() < 0.3 else "desktop",
        )
        people.append(user)
        starts = sorted(
            anchor - timedelta(seconds=rng.randint(15 * 60, days * 86400)) for _ in range(rng.randint(1, 4))
        )
        for position, start in enumerate(starts):
            newest = position == len(starts) - 1
            scenarios = _pick_scenarios(rng)
            unreadable: int | None = None
            if rng.random() < UNREADABLE_RATE:
                unreadable = unreadable_forms
            if user.uid == "user-001" and newest:
                scenarios = ["checkout_crash"]
            elif user.uid == "user-002":
                scenarios, unreadable = [], None
            elif user.uid == "user-003" and newest:
                scenarios, unreadable = ["dead_coupon"], unreadable_forms
            if unreadable is not None:
                unreadable_forms += 1
            sessions.append(build_session(rng, ids, user, start, scenarios=scenarios, unreadable=unreadable))
    sessions.sort(key=lambda s: (s.created, s.session_id))
    repeat_users = {
        uid for uid in (s.user.uid for s in sessions) if sum(x.user.uid == uid for x in sessions) > 1
    }
    segment_specs: list[tuple[str, str, Callable[[SandboxSession], bool]]] = [
        ("everyone", "Everyone", lambda s: True),
        (_segment_id(rng), CHECKOUT_ERRORS, lambda s: s.has_errors),
        (_segment_id(rng), "Frustrated clicks", lambda s: bool(s.problems & FRUSTRATION_PROBLEMS)),
        (_segment_id(rng), "Returning customers", lambda s: s.user.uid in repeat_users),
        (_segment_id(rng), "Mobile visitors", lambda s: s.user.device == "mobile"),
        (_segment_id(rng), "Completed checkout", lambda s: s.completed_checkout),
    ]
    segments = tuple(
        SandboxSegment(
            id=segment_id,
            name=name,
            creator="analyst@example.test",
            created=isoformat(anchor - timedelta(days=30 + number)),
            url=f"{app_url}/ui/{org_id}/segments/{segment_id}",
            member=member,
        )
        for number, (segment_id, name, member) in enumerate(segment_specs)
    )
    if anchors is not None:
        people, sessions, segments = with_anchors(
            anchors,
            seed,
            people=people,
            sessions=sessions,
            segments=segments,
            anchor=anchor,
            org_id=org_id,
            app_url=app_url,
        )
    return SandboxData(
        seed=seed,
        now=anchor,
        org_id=org_id,
        app_url=app_url.rstrip("/"),
        users=tuple(people),
        sessions=tuple(sessions),
        segments=segments,
    )


def _segment_id(rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(rng.choice(alphabet) for _ in range(12))
