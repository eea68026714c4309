"""Statistics and machine facts that every benchmark prints the same way."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Summary:
    """Order statistics of one timed series, in the series' unit."""

    count: int
    median: float
    p90: float
    minimum: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if len(samples) < 2:
            raise ValueError("need at least two samples")
        deciles = statistics.quantiles(samples, n=10, method="inclusive")
        return cls(len(samples), statistics.median(samples), deciles[8], min(samples))


def describe(label: str, summary: Summary, unit: str) -> str:
    return (
        f"  {label:22s} median {summary.median:8.2f} {unit}   p90 {summary.p90:8.2f} {unit}   "
        f"min {summary.minimum:8.2f} {unit}"
    )


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "MISS"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.python_implementation()} {platform.python_version()} on {platform.system()} "
        f"{platform.machine()}, nproc={os.process_cpu_count()}, cpu={cpu!r}, "
        f"date={datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


@contextlib.contextmanager
def stdout_fd_to(path: str = os.devnull) -> Iterator[None]:
    """Point file descriptor 1 at `path` (default /dev/null). Powertools' JSON logs and EMF
    metrics are still formatted and written (a real write(2) per flush), just not to the terminal."""
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(null, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(null)
        os.close(saved)
