"""Queue and table outage, through the local stack: SQS, DynamoDB or Secrets Manager becomes
unreachable for the webhook in the middle of a run of deliveries. Every delivery meanwhile gets 503 +
Retry-After and none gets a 2xx; after recovery, re-sending them makes exactly one investigation each.

Secrets Manager is special by design: a warm webhook holds its keys, so it keeps verifying and
accepting (202) through the outage. Only a cold container (restarted here) needs Secrets Manager, and
that is where the outage must answer 503.

The outage is the proxy's: connections reset (TCP RST) by default; the full profile also answers 503
ServiceUnavailable, and black-holes the calls (the answer budget then decides).
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from fstriage_cli.samples.payloads import CHECKOUT_ERRORS_ALERT
from tests.reliability.conftest import FULL, WEBHOOK, Answer, Driver, record, size

pytestmark = pytest.mark.e2e

BEFORE = size(2, 5)  # deliveries before the outage
DURING = size(2, 10)  # deliveries while the service is down
MODES = ["reset", "unavailable", "stall"] if FULL else ["reset"]


def fresh_alert() -> dict[str, Any]:
    alert = copy.deepcopy(CHECKOUT_ERRORS_ALERT)
    alert["data"]["id"] = f"segalert-outage-{uuid.uuid4().hex[:12]}"
    return alert


def unavailable(answer: Answer) -> bool:
    retry_after = answer.retry_after
    return answer.status == 503 and retry_after is not None and retry_after > 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", ["sqs", "dynamodb", "secretsmanager"])
def test_an_outage_mid_run_answers_503_and_a_resend_after_it_is_one_investigation(
    driver: Driver, service: str, mode: str
) -> None:
    stack = driver.stack
    outages = stack.outages
    assert outages is not None
    driver.wait_idle()
    queued_before = len(driver.queued_request_ids())

    accepted: list[Answer] = [driver.post(fresh_alert()) for _ in range(BEFORE)]
    assert [a.status for a in accepted] == [202] * BEFORE
    warm: list[Answer] = []
    held: list[tuple[bytes, str]] = []
    during: list[Answer] = []
    slowest = 0.0
    outages.fail(service, mode, function=WEBHOOK)
    try:
        if service == "secretsmanager":
            # Warm containers hold the keys: they go on verifying and accepting, by design.
            warm = [driver.post(fresh_alert()) for _ in range(2)]
            stack.restart(WEBHOOK)  # cold: the keys must come from Secrets Manager now
        for _ in range(DURING):
            body = driver.body(fresh_alert())
            header = driver.signature(body)
            started = time.monotonic()
            during.append(driver.post(body=body, signature=header))
            slowest = max(slowest, time.monotonic() - started)
            held.append((body, header))
    finally:
        outages.restore()
    refused_calls = len([c for c in outages.calls_of(function=WEBHOOK, service=service) if c.outcome == mode])

    assert [a.status for a in warm] == [202] * len(warm)
    assert [(a.status, a.body) for a in during if not unavailable(a)] == []
    assert refused_calls >= 1  # the outage really was in the way
    # The sender retries: the same bytes and signature header as the refused delivery.
    resent = [driver.post(body=body, signature=header) for body, header in held]
    again = [driver.post(body=body, signature=header) for body, header in held]

    assert [(a.status, a.outcome) for a in resent] == [(202, "queued")] * DURING
    assert [(a.status, a.outcome) for a in again] == [(200, "duplicate")] * DURING
    request_ids = [a.request_id for a in [*accepted, *warm, *resent]]
    assert len(set(request_ids)) == len(request_ids)
    driver.wait_for_reports(request_ids)
    driver.wait_idle()
    queued = Counter(driver.queued_request_ids()[queued_before:])
    assert queued == Counter(request_ids)
    assert all(len(driver.reports_of(r)) == 1 for r in request_ids)
    record(
        "outage",
        service=service,
        mode=mode,
        before=BEFORE,
        warm_accepted_during_outage=len(warm),
        refused_during_outage=len(during),
        refused_calls_at_proxy=refused_calls,
        slowest_answer_during_outage_s=round(slowest, 2),
        resent_queued=len(resent),
        queued_messages=sum(queued.values()),
        reports=len(request_ids),
    )
