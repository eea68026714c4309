"""What the core needs from the outside world. Adapters implement these; tests may too."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from fstriage.core.deadline import Deadline


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """Secret versions to try, newest first (AWSCURRENT, then AWSPREVIOUS)."""

    signing_secrets: tuple[str, ...]
    stream_tokens: tuple[str, ...]
    # When these were read from the store (epoch seconds): a delivery signed later may use a newer secret.
    loaded_at: float = 0.0


class SigningKeySource(Protocol):
    def current(self, deadline: Deadline | None = None) -> SigningKeys:
        """Cached keys; raises DependencyUnavailable or ConfigurationError."""

    def refreshed(self, deadline: Deadline | None = None) -> SigningKeys | None:
        """Keys re-read from the store, or None when a refresh happened too recently."""


class RequestQueue(Protocol):
    def send(self, body: str, *, attributes: dict[str, str], deadline: Deadline | None = None) -> str:
        """Queue a message and return its ID; raises DependencyUnavailable."""


class Claim(Enum):
    CLAIMED = "claimed"
    DUPLICATE = "duplicate"
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """What the ledger said to a claim on a trigger identity."""

    outcome: Claim
    request_id: str  # ours when CLAIMED; the first claimant's otherwise
    answer_by: float = 0.0  # when the first claimant will have queued its message or released the claim


class DeliveryLedger(Protocol):
    """Remembers triggers by identity, so a retry or replay queues nothing new. Every write is conditional."""

    def claim(
        self,
        identity: str,
        request_id: str,
        *,
        now: float,
        expires_at: float,
        answer_by: float,
        deadline: Deadline | None = None,
    ) -> ClaimResult: ...

    def lookup(
        self, identity: str, *, now: float, deadline: Deadline | None = None
    ) -> ClaimResult | None: ...

    def release(self, identity: str, request_id: str, *, deadline: Deadline | None = None) -> None: ...
