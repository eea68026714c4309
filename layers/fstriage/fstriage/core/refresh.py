"""A time-based cache with a rate limit on forced refreshes (pure; the clock is injected)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fstriage.core.deadline import Deadline

STALE_RETRY_SECONDS = 30.0


class CachedValue[T]:
    """Holds `load()`'s result for `ttl_seconds`; `force()` reloads at most once per `min_refresh_seconds`.

    `load` takes the caller's deadline (None: no limit), so a slow store cannot outlast the caller.

    The limit stops a flood of forged webhooks from turning into a flood of Secrets Manager calls.
    """

    def __init__(
        self,
        load: Callable[[Deadline | None], T],
        *,
        ttl_seconds: float,
        min_refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._min_refresh = min_refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at = float("-inf")
        self._forced_at = float("-inf")

    def get(self, deadline: Deadline | None = None) -> T:
        with self._lock:
            if self._value is None:
                self._reload(deadline)
            elif self._clock() - self._loaded_at >= self._ttl:
                try:
                    self._reload(deadline)
                except Exception:  # any failure: the held value is still good
                    # Keep serving what we hold through a store outage; try again in a while.
                    self._loaded_at = self._clock() - self._ttl + min(self._ttl, STALE_RETRY_SECONDS)
            assert self._value is not None
            return self._value

    def force(self, deadline: Deadline | None = None) -> T | None:
        """Reload now, unless a forced reload happened within the limit (then None)."""
        with self._lock:
            now = self._clock()
            if now - self._forced_at < self._min_refresh:
                return None
            self._forced_at = now
            self._reload(deadline)
            assert self._value is not None
            return self._value

    def _reload(self, deadline: Deadline | None) -> None:
        value = self._load(deadline)
        self._value, self._loaded_at = value, self._clock()
