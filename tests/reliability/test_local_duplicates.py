"""Duplicates, through the local stack: one trigger is one queued message and one report, whether it
comes back as an exact replay, a copy signed again later, or a copy racing the original. A trigger
without an id or a time of its own is one investigation inside the dedupe window, a new one after it.

The queued-message count is read at the outage proxy (every SendMessage of the webhook that moto
accepted), so the investigator's own idempotency cannot hide a second message.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from fstriage_cli.samples.payloads import CHECKOUT_ERRORS_ALERT, CUSTOM_EVENT, STREAM_SESSION
from tests.reliability.conftest import DEDUPE_WINDOW_SECONDS, Answer, Driver, record, size

pytestmark = pytest.mark.e2e

ALERTS = size(3, 20)
RESIGN_AFTER_SECONDS = 2


def fresh_alert(tag: str) -> dict[str, Any]:
    alert = copy.deepcopy(CHECKOUT_ERRORS_ALERT)
    alert["data"]["id"] = f"segalert-dup-{tag}-{uuid.uuid4().hex[:10]}"
    return alert


def in_flight_of(got: list[tuple[str, Answer]]) -> int:
    return sum(1 for _, a in got if a.status == 503)


def race(driver: Driver, body: bytes, header: str) -> list[tuple[str, Answer]]:
    """The original and a concurrent copy (same bytes, same header), released together."""
    gate = threading.Barrier(2)
    raced: dict[str, Answer] = {}

    def deliver(kind: str) -> None:
        gate.wait()
        raced[kind] = driver.post(body=body, signature=header)

    threads = [threading.Thread(target=deliver, args=(kind,)) for kind in ("original", "concurrent")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(raced.items())


# A copy racing the original may have to wait for it; when the wait outlasts its own answer budget
# it answers 503 too. Either way the sender retries, and nothing is queued twice.
RACE_REFUSALS = ("in_flight", "answer_budget_exhausted")


def allowed(kind: str, answer: Answer) -> bool:
    """The only answers a duplicate may get."""
    if answer.status == 202:
        return answer.outcome == "queued" and bool(answer.request_id)
    if answer.status == 200:
        return answer.outcome == "duplicate" and bool(answer.request_id)
    refusals = RACE_REFUSALS if kind in ("original", "concurrent") else ("in_flight",)
    return answer.status == 503 and answer.outcome in refusals and answer.retry_after is not None


def test_each_alert_sent_three_ways_is_one_queued_message_and_one_report(driver: Driver) -> None:
    driver.wait_idle()
    queued_before = len(driver.queued_request_ids())
    alerts = [fresh_alert(str(n)) for n in range(ALERTS)]
    bodies = [driver.body(alert) for alert in alerts]
    started = int(time.time())
    originals: list[tuple[bytes, str]] = []
    answers: dict[int, list[tuple[str, Answer]]] = {n: [] for n in range(ALERTS)}

    # The original and a concurrent copy, released together from two threads.
    for n, body in enumerate(bodies):
        header = driver.signature(body, timestamp=started)
        originals.append((body, header))
        answers[n] += race(driver, body, header)
    # The exact replay: the same bytes and the same signature header.
    for n, (body, header) in enumerate(originals):
        answers[n].append(("replay", driver.post(body=body, signature=header)))
    # Signed again later, with a new `t`, as a sender's retry would be.
    time.sleep(max(0.0, started + RESIGN_AFTER_SECONDS - time.time()))
    for n, body in enumerate(bodies):
        resigned = driver.signature(body, timestamp=max(int(time.time()), started + RESIGN_AFTER_SECONDS))
        answers[n].append(("resigned", driver.post(body=body, signature=resigned)))
    # An in_flight answer is retried after its Retry-After, with the original's bytes and header.
    waits = [a.retry_after or 0 for got in answers.values() for _, a in got if a.status == 503]
    if waits:
        time.sleep(max(waits))
    for n, got in answers.items():
        for kind, answer in list(got):
            if answer.status == 503:
                got.append((f"{kind}-retried", driver.post(body=originals[n][0], signature=originals[n][1])))

    bad = [
        (n, [(kind, a.status, a.outcome, a.retry_after) for kind, a in got])
        for n, got in answers.items()
        if not all(allowed(kind, a) for kind, a in got)
    ]
    assert bad == []
    request_ids = []
    for n, got in answers.items():
        accepted = [a for _, a in got if a.status == 202]
        assert len(accepted) == 1, (n, [(kind, a.status, a.outcome) for kind, a in got])
        request_id = accepted[0].request_id
        request_ids.append(request_id)
        assert {a.request_id for _, a in got if a.status in (200, 202)} == {request_id}
        assert len([kind for kind, _ in got if kind.endswith("-retried")]) == in_flight_of(got)
    assert len(set(request_ids)) == ALERTS
    driver.wait_for_reports(request_ids)
    driver.wait_idle()
    queued = Counter(driver.queued_request_ids()[queued_before:])
    assert queued == Counter(request_ids), "a trigger was queued twice, or one was not queued"
    assert all(len(driver.reports_of(r)) == 1 for r in request_ids)
    statuses = Counter((kind.split("-")[0], a.status) for got in answers.values() for kind, a in got)
    record(
        "duplicates",
        alerts=ALERTS,
        deliveries=sum(len(got) for got in answers.values()),
        queued_messages=sum(queued.values()),
        reports=sum(len(driver.reports_of(r)) for r in request_ids),
        refused_races=dict(Counter(a.outcome for got in answers.values() for _, a in got if a.status == 503)),
        answers={f"{kind}:{status}": count for (kind, status), count in sorted(statuses.items())},
    )


def clone(document: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(document))
    return copied


def _custom_event_without_id_or_time() -> dict[str, Any]:
    event = clone(CUSTOM_EVENT)
    event["data"].pop("timestamp")
    event["data"].pop("id", None)
    event["data"]["name"] = f"Checkout Failed {uuid.uuid4().hex[:8]}"
    return event


def _stream_without_event_time() -> dict[str, Any]:
    stream = clone(STREAM_SESSION)
    stream.pop("event_time")
    stream["stream_name"] = f"Checkout rage clicks {uuid.uuid4().hex[:8]}"
    return stream


def test_a_custom_event_without_id_or_time_repeated_inside_the_window_is_one_investigation(
    driver: Driver,
) -> None:
    driver.wait_idle()
    queued_before = len(driver.queued_request_ids())
    event = _custom_event_without_id_or_time()

    answers = [driver.post(event) for _ in range(3)]  # each signed afresh

    assert [(a.status, a.outcome) for a in answers] == [(202, "queued")] + [(200, "duplicate")] * 2
    request_id = answers[0].request_id
    assert {a.request_id for a in answers} == {request_id}
    driver.wait_for_reports([request_id])
    driver.wait_idle()
    assert driver.queued_request_ids()[queued_before:] == [request_id]
    assert len(driver.reports_of(request_id)) == 1
    assert driver.republished(request_id) == 1
    record("duplicates-republished-custom-event", deliveries=3, republished=driver.republished(request_id))


def test_a_stream_without_event_time_is_one_investigation_inside_the_window_and_a_new_one_after(
    driver: Driver,
) -> None:
    driver.wait_idle()
    queued_before = len(driver.queued_request_ids())
    stream = _stream_without_event_time()

    inside = [driver.post_stream(stream) for _ in range(3)]
    time.sleep(DEDUPE_WINDOW_SECONDS + 1.5)
    after = [driver.post_stream(stream) for _ in range(2)]

    assert [(a.status, a.outcome) for a in inside] == [(202, "queued")] + [(200, "duplicate")] * 2
    assert [(a.status, a.outcome) for a in after] == [(202, "queued"), (200, "duplicate")]
    first, second = inside[0].request_id, after[0].request_id
    assert first != second
    assert {a.request_id for a in inside} == {first} and {a.request_id for a in after} == {second}
    driver.wait_for_reports([first, second])
    driver.wait_idle()
    assert driver.queued_request_ids()[queued_before:] == [first, second]
    assert [len(driver.reports_of(r)) for r in (first, second)] == [1, 1]
    assert [driver.republished(r) for r in (first, second)] == [1, 1]
    record(
        "duplicates-window",
        window_seconds=DEDUPE_WINDOW_SECONDS,
        stream_investigations=2,
        streams_republished=driver.republished(first) + driver.republished(second),
    )
