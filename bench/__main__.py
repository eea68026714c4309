"""Run every default benchmark, or the ones named: `.venv/bin/python -m bench [NAME ...]`.

Each benchmark is a module with `main(argv) -> int` that prints its own floor, result and ratio.
Add new ones to BENCHMARKS. The ones in OPT_IN run only when named (`python -m bench load`): they
take minutes and need the local stack's toolchain (`make setup`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from bench import (
    digest_speed,
    investigation_time,
    load,
    session_memory,
    time_to_report,
    webhook_cold,
    webhook_warm,
)

BENCHMARKS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "webhook_warm": webhook_warm.main,
    "webhook_cold": webhook_cold.main,
    "investigation_time": investigation_time.main,
    "digest_speed": digest_speed.main,
    "session_memory": session_memory.main,
    "load": load.main,
    "time_to_report": time_to_report.main,
}
# Heavier: the whole local stack (runtime emulator, moto, SQS poller) for ~4 (load) to ~10 minutes.
OPT_IN = frozenset({"load", "time_to_report"})


def main(argv: Sequence[str]) -> int:
    names = list(argv) or [name for name in BENCHMARKS if name not in OPT_IN]
    if unknown := [name for name in names if name not in BENCHMARKS]:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    status = 0
    for index, name in enumerate(names):
        if index:
            print()
        status = max(status, BENCHMARKS[name]([]))
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
