"""The monthly Activation cap: every Activation-spending call reserves one from the month's count first.

Session events and Generate Context cost one Activation per call; summaries, session listings and
segment exports are not listed among the calls that cost one (unconfirmed), so only the first two
are counted. The count lives behind a port (`adapters.activations`: one DynamoDB item
per month, each reservation a conditional atomic add), so concurrent investigations share it and the
cap is never overshot. A reservation is kept even when the call then fails: the count errs on the
side of the cap. With no cap (0) nothing is counted and nothing is asked of the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fstriage.core.errors import DependencyUnavailable

# What a session's `events_unavailable_reason` says when the cap stopped its events call.
CAP_REASON = "monthly Activation cap reached"
NOTE_TOPIC = "activation_cap"
# A month's count outlives its month by this much (the item's TTL), for whoever looks at it later.
KEEP_AFTER_MONTH = timedelta(days=40)


class ActivationCounter(Protocol):
    """The month's Activation count (implemented by `adapters.activations`)."""

    def reserve(self, month: str, *, cap: int, expires_at: int) -> int | None:
        """Add one to `month`'s count unless it has reached `cap`: the new count, or None when the cap
        is reached. Raises DependencyUnavailable when the store cannot be reached."""
        ...

    def used(self, month: str) -> int:
        """`month`'s count so far (0 when nothing was reserved)."""
        ...


def month_of(moment: datetime) -> str:
    """The count's key part: the UTC month, e.g. `2026-12`."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_expiry(moment: datetime) -> int:
    """Epoch seconds when the month's count may expire: the month's end plus `KEEP_AFTER_MONTH`."""
    utc = moment.astimezone(UTC)
    first = utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return int((next_month + KEEP_AFTER_MONTH).timestamp())


class ActivationBudget:
    """One investigation's view of the month's cap. Thread-safe: a session's reads run concurrently.

    Once the store says the cap is reached, later calls of the same investigation are refused without
    asking again."""

    def __init__(
        self,
        counter: ActivationCounter,
        cap: int,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if cap < 1:
            raise ValueError("an Activation budget needs a cap of at least 1")
        moment = now()
        self.cap = cap
        self.month = month_of(moment)
        self._expires_at = month_expiry(moment)
        self._counter = counter
        self._lock = threading.Lock()
        self.reserved = 0
        self.refused = 0
        self.count_unavailable = False  # the month's count could not be read or written
        self._count: int | None = None  # the month's count as the store last said

    def reserve(self) -> bool:
        """Reserve one Activation; False when the month's cap is reached (the call must not be made)."""
        with self._lock:
            if self.refused:
                self.refused += 1
                return False
        try:
            count = self._counter.reserve(self.month, cap=self.cap, expires_at=self._expires_at)
        except DependencyUnavailable:
            # Fail closed: an Activation that cannot be counted is not spent; the free work goes on.
            with self._lock:
                self.count_unavailable = True
                self.refused += 1
            return False
        with self._lock:
            if count is None:
                self.refused += 1
                return False
            self.reserved += 1
            self._count = count if self._count is None else max(self._count, count)
            return True

    @property
    def exhausted(self) -> bool:
        return self.refused > 0

    def used(self) -> int:
        """The month's count: the cap once it refused a call, else read from the store (other
        investigations count too), never below what this one's reservations saw."""
        with self._lock:
            known, refused, unavailable = self._count, self.refused, self.count_unavailable
        if unavailable:
            raise DependencyUnavailable("state", "the month's Activation count could not be read")
        if refused:
            return self.cap
        stored = self._counter.used(self.month)
        return stored if known is None else max(stored, known)

    def used_percent(self) -> float:
        """How much of the cap the month has used, 0-100 (more only if the cap was lowered mid-month)."""
        return round(100.0 * self.used() / self.cap, 1)

    def note(self) -> str:
        """The report's note for sessions whose events the cap stopped ({n} and {s}: `Notes` fills them)."""
        if self.count_unavailable:
            return (
                "The month's Activation count could not be read or updated (the state table did not answer), "
                "so session events were not read for {n} session{s}: with a MonthlyActivationCap set, "
                "fstriage spends no Activation it cannot count. The report keeps what is free: the trigger, "
                "the segment export's rows and the AI summaries."
            )
        return (
            f"The monthly Activation cap ({self.cap}) was reached for {self.month}, so session events were "
            "not read for {n} session{s} (each read costs one Activation). The report keeps what is free: "
            "the trigger, the segment export's rows and the AI summaries. Raise the MonthlyActivationCap "
            "parameter (MONTHLY_ACTIVATION_CAP; 0 means no cap) to read them, or wait for next month."
        )
