from fstriage.core.deadline import Deadline
from fstriage.core.errors import DependencyUnavailable
from fstriage.core.refresh import CachedValue


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_values_are_cached_for_the_ttl_and_forced_refreshes_are_rate_limited() -> None:
    clock, loads = Clock(), []
    cache = CachedValue(
        lambda _deadline: loads.append(1) or len(loads), ttl_seconds=300, min_refresh_seconds=60, clock=clock
    )
    assert cache.get() == 1 and cache.get() == 1
    assert cache.force() == 2
    assert cache.force() is None  # within a minute of the last forced refresh
    clock.now = 61
    assert cache.force() == 3
    clock.now = 61 + 300
    assert cache.get() == 4


def test_a_store_outage_keeps_serving_the_held_value_and_retries_later() -> None:
    clock, state = Clock(), {"down": False, "loads": 0}

    def load(_deadline: Deadline | None) -> int:
        if state["down"]:
            raise DependencyUnavailable("secrets")
        state["loads"] += 1
        return state["loads"]

    cache = CachedValue(load, ttl_seconds=300, min_refresh_seconds=60, clock=clock)
    assert cache.get() == 1
    state["down"], clock.now = True, 301
    assert cache.get() == 1  # stale but valid keys beat a 503 on every delivery
    state["down"], clock.now = False, 302
    assert cache.get() == 1  # no retry storm: the next try waits a while
    clock.now = 301 + 31
    assert cache.get() == 2


def test_the_first_load_failing_is_an_error() -> None:
    def load(_deadline: Deadline | None) -> int:
        raise DependencyUnavailable("secrets")

    cache = CachedValue(load, ttl_seconds=300, min_refresh_seconds=60, clock=Clock())
    try:
        cache.get()
    except DependencyUnavailable:
        return
    raise AssertionError("expected DependencyUnavailable")


def test_the_callers_deadline_reaches_the_load() -> None:
    seen: list[Deadline | None] = []
    cache = CachedValue(lambda deadline: seen.append(deadline) or 1, ttl_seconds=300, min_refresh_seconds=60)
    budget = Deadline.after(4)
    cache.get(budget)
    cache.force(budget)
    assert seen == [budget, budget]
