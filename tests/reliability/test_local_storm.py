"""Fullstory storm, through the local stack: the sandbox answers 30% of API calls with 429 (with
Retry-After) or a 5xx, from a seeded RNG. Nothing is lost: every request ends as a report (`complete`,
or `partial` with a note; `failed` only with the `retries_exhausted` note of its last receive) or in
the dead-letter queue, where the DlqDepthAlarm's metric (ApproximateNumberOfMessagesVisible) counts it.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from fstriage_cli.samples.payloads import CHECKOUT_ERRORS_ALERT
from tests.reliability.conftest import VISIBILITY_TIMEOUT, Driver, record, size

pytestmark = pytest.mark.e2e

ALERTS = size(3, 20)
STORM_RATE = 0.30
RATE_LIMITED = 0.15  # of all calls; the 5xx rate below is of the calls not rate-limited
SEED = 20261201


def fresh_alert() -> dict[str, Any]:
    alert = copy.deepcopy(CHECKOUT_ERRORS_ALERT)
    alert["data"]["id"] = f"segalert-storm-{uuid.uuid4().hex[:12]}"
    return alert


def dead_lettered(driver: Driver) -> dict[str, int]:
    """request_id -> messages of it in the dead-letter queue (peeked, then made visible again)."""
    sqs = driver.stack.client("sqs")
    found: Counter[str] = Counter()
    handles = []
    for _ in range(10):
        answer = sqs.receive_message(
            QueueUrl=driver.stack.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0
        )
        messages = answer.get("Messages") or []
        if not messages:
            break
        for message in messages:
            handles.append(message["ReceiptHandle"])
            try:
                found[str(json.loads(message["Body"]).get("request_id"))] += 1
            except ValueError:
                found["(not a request)"] += 1
    for handle in handles:
        sqs.change_message_visibility(
            QueueUrl=driver.stack.dlq_url, ReceiptHandle=handle, VisibilityTimeout=0
        )
    return dict(found)


# CloudWatch's SQS metric -> the queue attribute it reports.
_METRIC_ATTRIBUTES = {"ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages"}


def dlq_alarm_metric(driver: Driver) -> int:
    """The value of the metric the template's DLQ alarm watches, read from moto's queue attributes."""
    template = driver.stack.template
    assert template is not None
    alarm = template.properties("DlqDepthAlarm")
    attribute = _METRIC_ATTRIBUTES[str(alarm["MetricName"])]
    attributes = driver.stack.client("sqs").get_queue_attributes(
        QueueUrl=driver.stack.dlq_url, AttributeNames=[attribute]
    )["Attributes"]
    return int(attributes[attribute])


def test_a_30_percent_storm_loses_nothing(driver: Driver) -> None:
    stack = driver.stack
    sandbox = stack.sandbox
    assert sandbox is not None
    driver.wait_idle()
    dlq_before = dead_lettered(driver)
    calls_before = len(sandbox.requests)
    injected_before = sandbox.faults.injected()
    sandbox.faults.reseed(SEED)
    sandbox.faults.update(
        rate_limit_rate=RATE_LIMITED,
        server_error_rate=(STORM_RATE - RATE_LIMITED) / (1 - RATE_LIMITED),
        server_error_status=503,
        retry_after=0.5,
    )
    try:
        answers = [driver.post(fresh_alert()) for _ in range(ALERTS)]
        assert [(a.status, a.outcome) for a in answers] == [(202, "queued")] * ALERTS
        request_ids = [a.request_id for a in answers]
        # Up to maxReceiveCount (5) visibility timeouts for the unluckiest request.
        deadline = time.monotonic() + VISIBILITY_TIMEOUT * 6 + 60
        reported: set[str] = set()
        dead: set[str] = set()
        while time.monotonic() < deadline:
            reported = {r for r in request_ids if driver.reports_of(r)}
            in_dlq = dead_lettered(driver)
            dead = {r for r in request_ids if in_dlq.get(r, 0) > dlq_before.get(r, 0)}
            if reported | dead == set(request_ids) and not stack.queue_depth(stack.queue_url):
                break
            time.sleep(1)
    finally:
        sandbox.faults.reset()
    calls = sandbox.requests[calls_before:]
    injected = {
        str(status): count - injected_before.get(status, 0)
        for status, count in sandbox.faults.injected().items()
    }

    lost = set(request_ids) - reported - dead
    assert lost == set(), f"lost in the storm: {sorted(lost)}"
    statuses: Counter[str] = Counter()
    for request_id in reported:
        (report,) = [r.load() for r in driver.reports_of(request_id)]
        statuses[report["status"]] += 1
        assert report["status"] in ("complete", "partial", "failed"), (request_id, report["status"])
        if report["status"] == "partial":
            assert report["notes"], request_id
        if report["status"] == "failed":  # only as the last receive's answer, which says so
            assert any("failed on each of its" in note for note in report["notes"]), report["notes"]
    dlq_metric = dlq_alarm_metric(driver)
    assert dlq_metric == sum(dead_lettered(driver).values())
    record(
        "storm",
        alerts=ALERTS,
        storm_rate=STORM_RATE,
        sandbox_calls=len(calls),
        injected_errors=injected,
        reports=dict(statuses),
        dead_lettered=len(dead),
        dlq_alarm_metric=dlq_metric,
        lost=len(lost),
    )
