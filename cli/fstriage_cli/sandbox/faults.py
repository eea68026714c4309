"""Runtime switches for the sandbox: injected faults, plus the key's role. Thread-safe.

Change them in-process (`sandbox.faults.update(rate_limit_count=2)`) or out of process with
`POST /__sandbox/faults` and a JSON object of the same names (`{"reset": true}` first restores the
defaults). Counters (`rate_limit_count`, `server_error_count`) are consumed one per API call. Rates
(`rate_limit_rate`, `server_error_rate`) roll a seeded RNG per API call, 429 first: a storm of 30% is
e.g. `rate_limit_rate=0.15, server_error_rate=0.15 / 0.85`. `reseed(n)` makes a storm repeatable.
`export_ready_after_seconds` makes an export ready after E seconds of wall time instead of after N polls.
`event_convention` is a shape switch, not a fault: the `event_properties` keys the events endpoint
answers with (see `conventions`). `user_ids` is one too: which IDs `GET /v2/users/{id}` answers for
(Fullstory does not document whether it takes the individual's or the device's).
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass
from typing import Any

from fstriage_cli.sandbox.conventions import EVENT_CONVENTIONS

ERROR_BODIES = ("json", "html", "echo")
ROLES = ("ADMIN", "ARCHITECT", "USER", "VIEW_ONLY", "UMBRELLA_MANAGER", "UNKNOWN")
USER_ID_FORMS = ("either", "individual", "device")


@dataclass(frozen=True, slots=True)
class FaultSettings:
    latency_ms: int = 0  # added before answering (every route but the control route)
    rate_limit_count: int = 0  # the next N API calls answer 429
    rate_limit_rate: float = 0.0  # ...and this fraction of the others (seeded, so repeatable)
    retry_after: float = 1.0  # the Retry-After header of those 429s, in seconds
    server_error_count: int = 0  # the next N API calls answer `server_error_status`
    server_error_rate: float = 0.0  # ...and this fraction of the others (seeded, so repeatable)
    server_error_status: int = 503
    error_body: str = "json"  # injected errors: "json" | "html" (non-JSON) | "echo" (echoes the headers)
    unauthorized: bool = False  # every API call answers 401
    forbidden_tier: bool = False  # read endpoints answer 403 "insufficient permissions"; /me says USER
    activation_off: bool = False  # events/context/summary answer 403 (Anywhere: Activation off)
    role: str = "ADMIN"  # what /me reports; USER (= Standard) also makes read endpoints 403
    me_refused: bool = False  # /me answers 403, so a client cannot learn the key's role
    # False: every 403 says only "Forbidden", as nothing promises Fullstory names the cause.
    forbidden_wording: bool = True
    export_pending_polls: int = 1  # PENDING answers before an export completes
    # >= 0: an export completes this many seconds after it started, however often it is polled
    # (`export_pending_polls` is then ignored), and its `estimatePctComplete` grows linearly with time.
    export_ready_after_seconds: float = -1.0
    export_never_completes: bool = False
    export_fails: bool = False  # the export ends FAILED instead of COMPLETED
    drip_delay_ms: int = 0  # > 0: the body is sent in small chunks with this pause between them
    drip_chunk_bytes: int = 16
    repeat_page_token: bool = False  # /segments/v1 always answers the same next page token
    path_filter: str = ""  # when set, latency/429/5xx/drip apply only to paths containing it
    event_convention: str = "current"  # current | warehouse | camel_nested | unknown (see `conventions`)
    events_forbidden: bool = False  # POST /v2/events answers 403: a key that may not create events
    events_not_found: bool = False  # POST /v2/events answers 404: an org without server events
    user_ids: str = "either"  # GET /v2/users/{id} answers for: either | individual | device (404 otherwise)

    def __post_init__(self) -> None:
        if self.error_body not in ERROR_BODIES:
            raise ValueError(f"error_body must be one of {ERROR_BODIES}")
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        if self.user_ids not in USER_ID_FORMS:
            raise ValueError(f"user_ids must be one of {USER_ID_FORMS}")
        if self.event_convention not in EVENT_CONVENTIONS:
            raise ValueError(f"event_convention must be one of {EVENT_CONVENTIONS}")
        for rate in ("server_error_rate", "rate_limit_rate"):
            if not 0 <= getattr(self, rate) <= 1:
                raise ValueError(f"{rate} must be between 0 and 1")
        if not 500 <= self.server_error_status <= 599:
            raise ValueError("server_error_status must be a 5xx status")
        for name in ("latency_ms", "rate_limit_count", "server_error_count", "export_pending_polls"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.drip_delay_ms < 0 or self.drip_chunk_bytes < 1 or self.retry_after < 0:
            raise ValueError("drip_delay_ms and retry_after must be >= 0, drip_chunk_bytes >= 1")

    def applies_to(self, path: str) -> bool:
        return not self.path_filter or self.path_filter in path


_TYPES = {f.name: f.type for f in dataclasses.fields(FaultSettings)}


def _coerce(name: str, value: Any) -> Any:
    kind = _TYPES[name]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ValueError(f"{name} must be an integer")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value.upper() if name == "role" else value


class Faults:
    """The current `FaultSettings`, swapped atomically; counters are consumed under the lock."""

    def __init__(self, *, seed: int = 0, **initial: Any) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)  # noqa: S311 - seeded so a fault rate repeats run to run
        self._defaults = self._validated(FaultSettings(), initial)
        self._current = self._defaults
        self._injected: dict[int, int] = {}  # status -> injected answers so far (never reset)

    def snapshot(self) -> FaultSettings:
        with self._lock:
            return self._current

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.snapshot())

    def update(self, **changes: Any) -> FaultSettings:
        """Change some switches; unknown names or bad values raise ValueError and change nothing."""
        with self._lock:
            self._current = self._validated(self._current, changes)
            return self._current

    def reset(self) -> FaultSettings:
        with self._lock:
            self._current = self._defaults
            return self._current

    def take(self, counter: str) -> bool:
        """Consume one unit of `rate_limit_count` or `server_error_count`; False when it is at 0."""
        with self._lock:
            left = getattr(self._current, counter)
            if left <= 0:
                return False
            self._current = dataclasses.replace(self._current, **{counter: left - 1})
            return True

    def count(self, status: int) -> None:
        with self._lock:
            self._injected[status] = self._injected.get(status, 0) + 1

    def injected(self) -> dict[int, int]:
        """How many 429 / 5xx answers were injected, by status, since the sandbox started."""
        with self._lock:
            return dict(self._injected)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng.seed(seed)

    def roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._rng.random() < rate

    @staticmethod
    def _validated(base: FaultSettings, changes: dict[str, Any]) -> FaultSettings:
        unknown = sorted(set(changes) - set(_TYPES))
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(unknown)}")
        coerced = {name: _coerce(name, value) for name, value in changes.items()}
        return dataclasses.replace(base, **coerced)
