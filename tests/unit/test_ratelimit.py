"""The token bucket and the blocking limiter, driven by a fake clock (no real time passes)."""

from __future__ import annotations

import threading

import pytest

from fstriage.core.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_full_bucket_serves_its_burst_at_once_then_queues_callers_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=2, burst=3, clock=clock)

    waits = [bucket.reserve() for _ in range(6)]

    assert waits == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]


def test_tokens_refill_with_time_up_to_the_burst_and_no_further() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=1, burst=2, clock=clock)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 0.0
    assert bucket.available() == 0.0

    clock.now += 1.5
    assert bucket.available() == pytest.approx(1.5)

    clock.now += 3600
    assert bucket.available() == 2.0


def test_a_reservation_beyond_max_wait_takes_nothing() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=1, burst=1, clock=clock)
    assert bucket.reserve() == 0.0

    assert bucket.reserve(max_wait=0.5) is None
    assert bucket.available() == 0.0  # the refused caller did not spend a slot
    assert bucket.reserve(max_wait=1.0) == 1.0


def test_a_clock_stepping_backwards_neither_drains_nor_fills() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=1, burst=2, clock=clock)
    bucket.reserve()
    clock.now -= 50

    assert bucket.available() == 1.0
    clock.now += 0.5  # still before the last update: nothing is refilled twice
    assert bucket.available() == 1.0


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0), (float("inf"), 1), (1, float("nan"))])
def test_nonsense_settings_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst, clock=FakeClock())


def test_the_limiter_sleeps_exactly_the_reserved_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, 1, clock=clock, sleep=clock.sleep)

    waited = [limiter.acquire() for _ in range(3)]

    assert waited == [0.0, 0.25, 0.25]  # each sleep lets the fake clock catch up with its slot
    assert clock.sleeps == [0.25, 0.25]


def test_the_limiter_refuses_without_sleeping_when_the_wait_exceeds_max_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 1, clock=clock, sleep=clock.sleep)
    limiter.acquire()

    assert limiter.acquire(max_wait=0.2) is None
    assert clock.sleeps == []


def test_concurrent_callers_get_distinct_slots() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=10, burst=5, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(10):
            wait = bucket.reserve()
            assert wait is not None
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # 80 reservations at a frozen clock: 5 free, then one every 0.1 s, none shared.
    assert sorted(round(w, 6) for w in waits) == [0.0] * 5 + [round(0.1 * n, 6) for n in range(1, 76)]
