"""A time budget that travels with one piece of work (pure; the clock is injected).

The webhook must answer Fullstory within a few seconds whatever AWS does, so every call it makes is
bounded by what is left of one `Deadline` rather than by fixed per-call timeouts that add up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Deadline:
    """Ends at `ends_at` on `clock`'s scale (epoch seconds by default, so it can be stored and compared
    across containers)."""

    ends_at: float
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.time) -> Deadline:
        return cls(clock() + seconds, clock)

    @classmethod
    def unbounded(cls) -> Deadline:
        return cls(float("inf"))

    def remaining(self) -> float:
        return max(0.0, self.ends_at - self.clock())

    def allows(self, seconds: float) -> bool:
        """Whether `seconds` of work still fit before the end."""
        return self.clock() + seconds <= self.ends_at

    def earlier(self, ends_at: float) -> Deadline:
        """This budget, cut short at `ends_at` if that comes first."""
        return self if ends_at >= self.ends_at else Deadline(ends_at, self.clock)
