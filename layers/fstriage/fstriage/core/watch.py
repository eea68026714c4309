"""Watched segments: investigated on a schedule, between alerts (pure).

One EventBridge Scheduler schedule sends a small tick to the investigation queue at the top of every
hour (`{"schema_version": 1, "tick": "watch", "scheduled_at": ...}`, the time it was scheduled for).
The investigator turns a tick into one `scheduled` request per watched segment that is due: a segment
watched every P is due when a period boundary (a multiple of P since the Unix epoch, in UTC) falls in
the hour the tick closes, and its request covers the period that just ended. So each segment runs once
per period, and its request ID derives from the segment and the period: a redelivered tick queues the
same requests, which the investigator's idempotency absorbs.

`WATCHED_SEGMENTS` (the `WatchedSegments` parameter) lists them: `seg-a,seg-b@6h,seg-c@7d`; a period
is whole hours (`h`) or days (`d`), 24h when left out. Daily periods end at 00:00 UTC; a period longer
than a day is aligned to the epoch (7d: Thursdays 00:00 UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fstriage.core.errors import ConfigurationError, PayloadError
from fstriage.core.request import (
    SCHEMA_VERSION,
    Alert,
    InvestigationRequest,
    Origin,
    Subject,
    Trigger,
    Window,
    build_request,
    isoformat,
    parse_isoformat,
)

TICK = "watch"
# The schedule's rate: a boundary is due when it falls in (scheduled_at - TICK_INTERVAL, scheduled_at].
TICK_INTERVAL = timedelta(hours=1)
DEFAULT_PERIOD = timedelta(hours=24)
EVENT_NAME = "watch.scheduled"
# The longest period a schedule may have: Fullstory's segment exports cover a bounded range.
MAX_PERIOD = timedelta(days=30)
_ENTRY = re.compile(r"(?P<segment>[A-Za-z0-9_-]{1,128})(?:@(?P<count>[0-9]{1,4})(?P<unit>[hd]))?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WatchedSegment:
    segment_id: str
    period: timedelta = DEFAULT_PERIOD

    @property
    def period_text(self) -> str:
        hours = int(self.period.total_seconds()) // 3600
        return f"{hours // 24}d" if hours % 24 == 0 and hours > 24 else f"{hours}h"


def parse_watched_segments(text: str, *, setting: str = "WATCHED_SEGMENTS") -> tuple[WatchedSegment, ...]:
    """`seg-a,seg-b@6h` -> the watched segments; empty text: none. A segment listed twice is refused."""
    watched: list[WatchedSegment] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        match = _ENTRY.fullmatch(entry)
        if match is None:
            raise ConfigurationError(
                f"setting {setting} must list segment IDs, each optionally with @<hours>h or @<days>d "
                "(e.g. seg-a,seg-b@6h)"
            )
        period = DEFAULT_PERIOD
        if match["count"]:
            count = int(match["count"])
            period = timedelta(hours=count) if match["unit"] == "h" else timedelta(days=count)
        if not TICK_INTERVAL <= period <= MAX_PERIOD:
            raise ConfigurationError(f"setting {setting}: a period must be from 1h to {MAX_PERIOD.days}d")
        if any(w.segment_id == match["segment"] for w in watched):
            raise ConfigurationError(f"setting {setting} lists a segment twice")
        watched.append(WatchedSegment(match["segment"], period))
    return tuple(watched)


@dataclass(frozen=True, slots=True)
class Tick:
    scheduled_at: datetime


def is_tick(message: Any) -> bool:
    """Whether a queued message is a schedule tick (not an investigation request)."""
    return isinstance(message, dict) and "tick" in message


def read_tick(message: Any) -> Tick:
    """A tick's time; PayloadError (in our words, never quoting it) when it is not a readable tick."""
    if not is_tick(message):
        raise PayloadError("not a tick")
    if message.get("schema_version") != SCHEMA_VERSION:
        raise PayloadError("unsupported tick schema_version")
    if message.get("tick") != TICK:
        raise PayloadError("unknown tick")
    scheduled = message.get("scheduled_at")
    try:
        moment = parse_isoformat(scheduled) if isinstance(scheduled, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise PayloadError("tick.scheduled_at is not an ISO 8601 time")
    return Tick(moment.astimezone(UTC))


def tick_message(scheduled_at: datetime) -> dict[str, Any]:
    """What the schedule sends (the template writes it with Scheduler's `<aws.scheduler.scheduled-time>`)."""
    return {"schema_version": SCHEMA_VERSION, "tick": TICK, "scheduled_at": isoformat(scheduled_at)}


def period_end(scheduled_at: datetime, period: timedelta) -> datetime:
    """The latest period boundary at or before `scheduled_at` (boundaries are multiples of `period`
    since the Unix epoch)."""
    elapsed = scheduled_at.astimezone(UTC) - _EPOCH
    return _EPOCH + (elapsed // period) * period


def due(watched: tuple[WatchedSegment, ...], scheduled_at: datetime) -> list[tuple[WatchedSegment, datetime]]:
    """The segments whose period ended in the hour the tick closes, with that period's end."""
    found = []
    for segment in watched:
        end = period_end(scheduled_at, segment.period)
        if scheduled_at - end < TICK_INTERVAL:
            found.append((segment, end))
    return found


def scheduled_requests(
    watched: tuple[WatchedSegment, ...], tick: Tick, *, org_id: str, received_at: datetime
) -> list[InvestigationRequest]:
    """One `scheduled` request per due segment, covering its period that just ended."""
    return [
        scheduled_request(segment, end, org_id=org_id, received_at=received_at)
        for segment, end in due(watched, tick.scheduled_at)
    ]


def scheduled_request(
    segment: WatchedSegment, end: datetime, *, org_id: str, received_at: datetime
) -> InvestigationRequest:
    start = end - segment.period
    ended = isoformat(end)
    trigger = Trigger(
        kind="scheduled",
        source="schedule",
        event_name=EVENT_NAME,
        # The segment and its period: the request ID derives from it, so a redelivered tick queues
        # the same request.
        event_id=f"{segment.segment_id}@{segment.period_text}/{ended}",
        occurred_at=ended,
        alert=Alert(segment_id=segment.segment_id, duration=segment.period_text),
    )
    return build_request(
        trigger=trigger,
        subject=Subject(),
        window=Window(start=isoformat(start), end=ended),
        origin=Origin(
            org_id=org_id,
            delivery_key=f"watch:{segment.segment_id}:{ended}",
            received_at=isoformat(received_at),
        ),
    )
