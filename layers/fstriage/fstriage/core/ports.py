"""What the core needs from the outside world. Adapters implement these; tests may too."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """Secret versions to try, newest first (AWSCURRENT, then AWSPREVIOUS)."""

    signing_secrets: tuple[str, ...]
    stream_tokens: tuple[str, ...]


class SigningKeySource(Protocol):
    def current(self) -> SigningKeys:
        """Cached keys; raises DependencyUnavailable or ConfigurationError."""

    def refreshed(self) -> SigningKeys | None:
        """Keys re-read from the store, or None when a refresh happened too recently."""


class RequestQueue(Protocol):
    def send(self, body: str, *, attributes: dict[str, str]) -> str:
        """Queue a message and return its ID; raises DependencyUnavailable."""


class Claim(Enum):
    CLAIMED = "claimed"
    ALREADY_QUEUED = "already_queued"
    IN_FLIGHT = "in_flight"


class DeliveryLedger(Protocol):
    """Remembers deliveries so a retry or replay queues nothing new. Every write is conditional."""

    def claim(self, delivery_key: str, request_id: str, now: float) -> Claim: ...

    def mark_queued(self, delivery_key: str, message_id: str) -> None: ...

    def release(self, delivery_key: str) -> None: ...
