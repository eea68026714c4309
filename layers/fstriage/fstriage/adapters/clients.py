"""One API client per container and key, so its connection pool (and rate limit) outlives invocations."""

from __future__ import annotations

import threading
from collections.abc import Callable


class ClientForKey[Client]:
    """The client `make(key)` built for the current key; a new key (a rotated secret) builds anew."""

    def __init__(self, make: Callable[[str], Client]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._current: tuple[str, Client] | None = None

    def get(self, key: str) -> Client:
        with self._lock:
            if self._current is None or self._current[0] != key:
                self._current = (key, self._make(key))
            return self._current[1]
