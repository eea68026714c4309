"""Wait until the load benchmark's accepted requests are reported and its queues are empty.

After the last answer, `drain` polls (bounded by a cap) until every accepted request_id has a report
and the main queue is empty, then lets the EventBridge capture queue empty so late duplicate reports
still arrive. `dead_letters` reads the dead-letter queue without deleting.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from fstriage_cli.local import LocalStack

SETTLE_SECONDS = 15.0  # after draining: wait this long at most for the capture queue to empty


@dataclass(slots=True)
class Drain:
    seconds: float  # from the last answer until drained (or the cap)
    finished: bool
    reports_seconds: float | None  # from the last answer until every accepted request had a report
    progress: list[tuple[float, int]] = field(default_factory=list)  # (seconds, reports)


def drain(stack: LocalStack, wanted: set[str], cap: float, say: Callable[[str], None]) -> Drain:
    started = time.monotonic()
    deadline = started + cap
    result = Drain(0.0, False, None)
    next_note = started + 30
    while True:
        now = time.monotonic()
        got = {str(r.detail.get("request_id")) for r in stack.reports} & wanted
        if len(got) == len(wanted) and result.reports_seconds is None:
            result.reports_seconds = now - started
        if len(got) == len(wanted) and stack.queue_depth(stack.queue_url) == 0:
            result.finished = True
            break
        if now >= deadline:
            break
        if now >= next_note:
            result.progress.append((now - started, len(got)))
            say(f"  ... draining: {len(got)} of {len(wanted)} requests reported after {now - started:.0f} s")
            next_note += 30
        time.sleep(0.5)
    result.seconds = time.monotonic() - started
    # Reports travel EventBridge -> capture queue -> collector: let late (duplicate) ones arrive.
    assert stack.resources is not None
    capture = stack.resources.capture_queue_url
    settle_until = time.monotonic() + SETTLE_SECONDS
    while stack.queue_depth(capture) and time.monotonic() < settle_until:
        time.sleep(0.2)
    time.sleep(1.0)
    return result


def dead_letters(stack: LocalStack) -> Counter[str]:
    """Request IDs in the DLQ (read, not deleted; bounded)."""
    sqs = stack.client("sqs")
    found: Counter[str] = Counter()
    seen: set[str] = set()
    for _ in range(200):
        messages = (
            sqs.receive_message(
                QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
            ).get("Messages")
            or []
        )
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                found[str(json.loads(message["Body"]).get("request_id"))] += 1
            except (ValueError, AttributeError):
                found["<not a request>"] += 1
    return found
