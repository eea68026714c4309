"""The sandbox's data model: users, sessions, segments and the seeded org that holds them.

A session keeps its raw events (see `scenarios` for the `event_properties` keys they use) and the
problem tags it was built with; `SandboxData` answers the look-ups the API endpoints make.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

# Problem tags a session can carry; the first four make it an "error session".
ERROR_PROBLEMS = frozenset({"exception", "console_error", "failed_request", "error_click"})
FRUSTRATION_PROBLEMS = frozenset({"rage_click", "dead_click"})
# The user agent a session reports, by `SandboxUser.device`.
AGENTS = {
    "desktop": {
        "device": "Desktop",
        "operating_system": "Windows",
        "browser": "Chrome",
        "browser_version": "126",
    },
    "mobile": {"device": "Mobile", "operating_system": "iOS", "browser": "Safari", "browser_version": "17"},
}


def isoformat(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def click_properties(text: str, selector: str, *, rage: bool, dead: bool, error: bool) -> dict[str, Any]:
    """A raw click event's `event_properties`, with Fullstory's three frustration flags."""
    return {
        "target": {"text": text, "raw_selector": selector},
        "is_rage_click": rage,
        "is_dead_click": dead,
        "is_error_click": error,
    }


def raw_event(
    *,
    device_id: str,
    session_id: str,
    view_id: str,
    time: datetime,
    event_type: str,
    properties: Any,
    agent: str,
    url: str,
) -> dict[str, Any]:
    """One raw session event as the events API returns it (the convention the digest reads first)."""
    parts = urlsplit(url)
    return {
        "device_id": device_id,
        "session_id": session_id,
        "view_id": view_id,
        "event_time": isoformat(time),
        "event_type": event_type,
        "event_properties": properties,
        "source_type": "web",
        "source_properties": {
            "user_agent": dict(AGENTS[agent]),
            "url": {"full_url": url, "host": parts.netloc, "path": parts.path or "/"},
        },
    }


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SandboxUser:
    uid: str
    email: str
    display_name: str
    device_id: str
    device: str  # "desktop" | "mobile"
    # Fullstory's ID of the person (the `indv` of a replay URL's `indv:device!session`). Derived from
    # the device ID, so it takes nothing from the seeded random stream.
    individual_id: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "individual_id", individual_id_of(self.device_id))


def individual_id_of(device_id: str) -> str:
    """A stable 16-digit ID from the device ID, never equal to it."""
    text = f"individual:{device_id}"
    while True:
        number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        found = str(10**15 + number % (9 * 10**15))
        if found != device_id:
            return found
        text += "+"


@dataclass(frozen=True, slots=True)
class SandboxSession:
    user: SandboxUser
    session_id: str
    created: datetime
    events: tuple[dict[str, Any], ...]
    problems: frozenset[str]
    scenarios: tuple[str, ...]
    completed_checkout: bool

    @property
    def device_id(self) -> str:
        return self.user.device_id

    @property
    def api_id(self) -> str:
        return f"{self.user.device_id}:{self.session_id}"

    @property
    def has_errors(self) -> bool:
        return bool(self.problems & ERROR_PROBLEMS)


@dataclass(frozen=True, slots=True)
class SandboxSegment:
    id: str
    name: str
    creator: str
    created: str
    url: str
    member: Callable[[SandboxSession], bool] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class SandboxData:
    seed: int
    now: datetime
    org_id: str
    app_url: str
    users: tuple[SandboxUser, ...]
    sessions: tuple[SandboxSession, ...]  # every session, oldest first
    segments: tuple[SandboxSegment, ...]

    def session(self, api_id: str) -> SandboxSession | None:
        return next((s for s in self.sessions if s.api_id == api_id), None)

    def sessions_of(self, *, uid: str | None = None, email: str | None = None) -> list[SandboxSession]:
        """Newest first, like the API."""
        found = [
            s
            for s in self.sessions
            if (uid is not None and s.user.uid == uid) or (email is not None and s.user.email == email)
        ]
        return sorted(found, key=lambda s: s.created, reverse=True)

    def user(self, uid: str) -> SandboxUser:
        return next(u for u in self.users if u.uid == uid)

    def segment(self, segment_id: str) -> SandboxSegment | None:
        return next((s for s in self.segments if s.id == segment_id), None)

    def segment_named(self, name: str) -> SandboxSegment:
        return next(s for s in self.segments if s.name == name)

    def segment_sessions(self, segment_id: str) -> list[SandboxSession]:
        segment = self.segment(segment_id)
        return [s for s in self.sessions if segment.member(s)] if segment else []

    @property
    def error_sessions(self) -> list[SandboxSession]:
        return [s for s in self.sessions if s.has_errors]

    def replay_url(self, session: SandboxSession) -> str:
        return f"{self.app_url}/ui/{self.org_id}/session/{session.api_id}"
