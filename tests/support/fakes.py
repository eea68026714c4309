"""In-memory implementations of the core's ports, with switches to make them fail."""

from __future__ import annotations

from dataclasses import dataclass, field

from fstriage.core.errors import DependencyUnavailable
from fstriage.core.ports import Claim, SigningKeys


@dataclass
class FakeKeys:
    keys: SigningKeys
    # What a forced refresh returns (None: the refresh is rate-limited).
    fresh: SigningKeys | None = None
    refreshes: int = 0
    unavailable: bool = False

    def current(self) -> SigningKeys:
        if self.unavailable:
            raise DependencyUnavailable("secrets")
        return self.keys

    def refreshed(self) -> SigningKeys | None:
        self.refreshes += 1
        if self.fresh is not None:
            self.keys = self.fresh
        return self.fresh


@dataclass
class MemoryQueue:
    messages: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    unavailable: bool = False

    def send(self, body: str, *, attributes: dict[str, str]) -> str:
        if self.unavailable:
            raise DependencyUnavailable("queue")
        self.messages.append((body, attributes))
        return f"msg-{len(self.messages)}"


@dataclass
class MemoryLedger:
    lease_seconds: int = 30
    items: dict[str, dict[str, object]] = field(default_factory=dict)
    unavailable: bool = False
    mark_fails: bool = False

    def claim(self, delivery_key: str, request_id: str, now: float) -> Claim:
        if self.unavailable:
            raise DependencyUnavailable("ledger")
        existing = self.items.get(delivery_key)
        if existing is not None:
            if existing["state"] == "queued":
                return Claim.ALREADY_QUEUED
            if float(str(existing["claimed_at"])) >= now - self.lease_seconds:
                return Claim.IN_FLIGHT
        self.items[delivery_key] = {"state": "pending", "request_id": request_id, "claimed_at": now}
        return Claim.CLAIMED

    def mark_queued(self, delivery_key: str, message_id: str) -> None:
        if self.mark_fails:
            raise DependencyUnavailable("ledger")
        self.items[delivery_key]["state"] = "queued"

    def release(self, delivery_key: str) -> None:
        if self.unavailable:
            raise DependencyUnavailable("ledger")
        self.items.pop(delivery_key, None)
