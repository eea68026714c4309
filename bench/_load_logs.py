"""Read the load benchmark's function logs: the webhook's own time, the investigator's outcomes.

The emulator writes `INVOKE RTDONE ... duration` lines (the function's own time); the investigator's
Powertools JSON lines say which requests finished, which were idempotency hits, re-queues and retries.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

INVESTIGATOR = "InvestigatorFunction"
WEBHOOK = "WebhookFunction"
_RTDONE = re.compile(r"INVOKE RTDONE\(status: (\w+)[^)]*duration: ([\d.]+)ms\)")


def rtdone_durations(log_file: Path, skip: int = 0) -> list[float]:
    """The emulator's `INVOKE RTDONE ... duration: X ms` lines (the function's own time), from line
    number `skip` of the durations on."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return []
    found = [float(m.group(2)) for m in _RTDONE.finditer(text)]
    return found[skip:]


def settled_rtdone(log_file: Path, skip: int, expected: int) -> list[float]:
    """The emulator's log is copied by a reader thread: wait (briefly) for the expected lines."""
    deadline = time.monotonic() + 3.0
    found = rtdone_durations(log_file, skip)
    while len(found) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        found = rtdone_durations(log_file, skip)
    return found


@dataclass(slots=True)
class InvestigatorLog:
    finished: Counter[str] = field(default_factory=Counter)  # "investigation finished", per request_id
    duplicates: int = 0  # idempotency answered from its record
    requeued: int = 0  # export still pending: re-queued with a delay
    retried: Counter[str] = field(default_factory=Counter)  # "will be retried", per reason
    problems: Counter[str] = field(default_factory=Counter)  # other WARNING/ERROR lines, by message


def investigator_log(log_dir: Path) -> InvestigatorLog:
    result = InvestigatorLog()
    for path in sorted(log_dir.glob(f"{INVESTIGATOR}*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = str(entry.get("message", ""))
            if message == "investigation finished":
                result.finished[str(entry.get("request_id"))] += 1
            elif message == "duplicate request; already investigated":
                result.duplicates += 1
            elif message == "segment export still pending; re-queued":
                result.requeued += 1
            elif message.startswith("investigation will be retried"):
                result.retried[message.rsplit(":", 1)[-1].strip()] += 1
            elif entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                result.problems[f"{entry.get('level')}: {message[:100]}"] += 1
    return result
