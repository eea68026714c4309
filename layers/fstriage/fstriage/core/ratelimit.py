"""A token bucket (pure: clock and sleep are injected) and the limiter every Fullstory call goes through.

Fullstory publishes no numbers, only that per-second and burst limiters exist; we throttle ourselves
so a thread pool of investigations does not turn into a stream of 429s.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate_per_second` tokens refill continuously up to `burst`; each call takes one.

    `reserve()` never sleeps: it books the next free slot and says how long to wait for it. Tokens
    may go negative, so concurrent callers queue up in order instead of all waking at once.
    """

    def __init__(
        self, rate_per_second: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate_per_second > 0 or not math.isfinite(rate_per_second):
            raise ValueError("rate_per_second must be a positive number")
        if not burst >= 1 or not math.isfinite(burst):
            raise ValueError("burst must be at least 1")
        self._rate = float(rate_per_second)
        self._burst = float(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    @property
    def rate_per_second(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def reserve(self, *, max_wait: float = math.inf) -> float | None:
        """Take a token; return the seconds to wait before using it (0.0 = now).

        None (and nothing taken) when the wait would exceed `max_wait`, so a caller near its
        deadline can give up without spending a slot others could use.
        """
        with self._lock:
            self._refill()
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate
            if wait > max_wait:
                return None
            self._tokens -= 1
            return wait

    def available(self) -> float:
        """Tokens available now (negative while reservations are queued)."""
        with self._lock:
            self._refill()
            return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        # A clock that steps backwards must neither drain nor overfill the bucket.
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._updated = max(now, self._updated)


class RateLimiter:
    """A blocking limiter shared by every thread of a client: reserve a slot, then sleep until it."""

    def __init__(
        self,
        rate_per_second: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._bucket = TokenBucket(rate_per_second, burst, clock=clock)
        self._sleep = sleep

    @property
    def bucket(self) -> TokenBucket:
        return self._bucket

    def acquire(self, *, max_wait: float = math.inf) -> float | None:
        """Block until a slot is ours; return the seconds waited, or None if it would exceed `max_wait`."""
        wait = self._bucket.reserve(max_wait=max_wait)
        if wait is None:
            return None
        if wait > 0:
            self._sleep(wait)
        return wait
