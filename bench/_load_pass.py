"""Time one pass of the load client over a list of deliveries: latency percentiles, transport, CPU.

`send` runs the client against a URL (the floor or the gateway) and returns a `Phase`: every answer,
the wall time, the kernel's listen-queue overflows during the pass and, against the stack, its CPU.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._load_client import Answer, Sender
from bench._load_cpu import Cpu
from bench._load_deliveries import Delivery
from fstriage_cli.local import LocalConfig, LocalStack


def percentile(samples: Sequence[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    p50: float
    p90: float
    p99: float
    maximum: float
    mean: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Latency:
        return cls(
            len(samples),
            statistics.median(samples),
            percentile(samples, 90),
            percentile(samples, 99),
            max(samples),
            statistics.fmean(samples),
        )

    def line(self, label: str) -> str:
        return (
            f"  {label:24s} p50 {self.p50:9.2f} ms   p90 {self.p90:9.2f} ms   p99 {self.p99:9.2f} ms   "
            f"max {self.maximum:9.2f} ms   (n={self.count})"
        )


def latencies(answers: Sequence[Answer]) -> list[float]:
    return [a.latency_ms for a in answers if a.error is None and not math.isnan(a.latency_ms)]


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listen queue was full (TcpExt
    ListenOverflows, host-wide), or None where /proc/net/netstat is not there."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(fields["ListenOverflows"]) if "ListenOverflows" in fields else None
    return None


@dataclass(slots=True)
class Phase:
    """One pass of the client over a list of deliveries."""

    answers: list[Answer]
    wall: float
    overflows: int | None  # TcpExt ListenOverflows during the pass (host-wide)
    cpu: Cpu | None = None

    @property
    def latency(self) -> Latency:
        return Latency.of(latencies(self.answers))

    @property
    def slow_connects(self) -> int:
        """Connects that took a second or more: a SYN retransmitted after a full listen queue."""
        return sum(1 for a in self.answers if a.connect_ms >= 1000)

    @property
    def errors(self) -> Counter[str]:
        return Counter(a.error for a in self.answers if a.error)

    def transport(self) -> str:
        overflows = "n/a" if self.overflows is None else str(self.overflows)
        errors = dict(self.errors) or "none"
        return f"connects >= 1 s: {self.slow_connects}; listen-queue overflows: {overflows}; errors: {errors}"


def send(
    url: str,
    deliveries: Sequence[Delivery],
    config: LocalConfig,
    *,
    concurrency: int,
    keep_alive: bool,
    stack: LocalStack | None = None,
    between: Callable[[], None] | None = None,
) -> Phase:
    overflows = listen_overflows()
    cpu = Cpu.now(stack) if stack is not None else None
    sender = Sender(
        url,
        deliveries,
        secret=config.signing_secret,
        org_id=config.org_id,
        keep_alive=keep_alive,
        between=between,
    )
    wall = sender.run(concurrency)
    after = listen_overflows()
    return Phase(
        sender.answers,
        wall,
        None if overflows is None or after is None else after - overflows,
        Cpu.now(stack).since(cpu) if stack is not None and cpu is not None else None,
    )
