"""What the Fullstory Server API answers, as the investigation sees it (filled in by the adapter)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

OperationState = Literal["PENDING", "COMPLETED", "FAILED", "UNKNOWN"]
# Roles whose keys may read sessions, events and summaries.
READ_ROLES = frozenset({"ADMIN", "ARCHITECT"})


@dataclass(frozen=True, slots=True)
class Me:
    email: str
    org_id: str
    role: str  # ADMIN | ARCHITECT | USER (= Standard) | ... ; reads need ADMIN or ARCHITECT


@dataclass(frozen=True, slots=True)
class FullstoryUser:
    """A user record from `/v2/users`: `id` is Fullstory's ID of the person, `uid` yours."""

    id: str
    uid: str | None
    email: str | None
    display_name: str | None


@dataclass(frozen=True, slots=True)
class SessionRef:
    user_id: str  # Fullstory's "UserId": the device part of the API session ID
    session_id: str
    created_time: str | None  # as sent (epoch seconds in the docs' example)
    created_at: datetime | None
    fs_url: str | None

    @property
    def api_session_id(self) -> str:
        return f"{self.user_id}:{self.session_id}"


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    name: str
    creator: str | None
    created: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class Summary:
    text: str | None
    response: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Operation:
    id: str
    state: OperationState
    search_export_id: str | None
    error_details: str | None
    estimate_pct_complete: float | None

    @property
    def done(self) -> bool:
        return self.state in ("COMPLETED", "FAILED")


@dataclass(frozen=True, slots=True)
class ExportLocation:
    location: str
    expires: str | None


@dataclass(frozen=True, slots=True)
class FullstoryUsage:
    """What an investigation spent, for its report."""

    calls: int  # HTTP requests sent to the API, retries included
    retries: int
    activations: int  # successful events/context calls: 1 Activation each
    downloads: int  # export files fetched (not API calls)
    by_operation: Mapping[str, int] = field(default_factory=dict)
    writes: int = 0  # server events Fullstory accepted (`POST /v2/events`; also counted in `calls`)

    def plus(self, other: FullstoryUsage) -> FullstoryUsage:
        """Both together: an investigation's reads and the write-back's writes (two client views)."""
        by_operation = dict(self.by_operation)
        for operation, count in other.by_operation.items():
            by_operation[operation] = by_operation.get(operation, 0) + count
        return FullstoryUsage(
            calls=self.calls + other.calls,
            retries=self.retries + other.retries,
            activations=self.activations + other.activations,
            downloads=self.downloads + other.downloads,
            by_operation=by_operation,
            writes=self.writes + other.writes,
        )
