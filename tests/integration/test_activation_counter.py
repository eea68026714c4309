"""The month's Activation count under racing reservations: the conditional ADD never passes the cap.

DynamoDB makes that atomic; in-process moto does only through `fstriage_cli.local.moto_atomic`, which
the test-wide conftest applies. A tiny thread switch interval makes a race between the condition
check and the update likely (without the lock, most rounds overshoot)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
from moto.dynamodb.models import DynamoDBBackend

from fstriage.adapters import aws
from fstriage.adapters.activations import DynamoActivationCounter, item_id
from fstriage_cli.local.moto_atomic import make_dynamodb_items_atomic
from fstriage_cli.samples.values import STATE_TABLE_NAME
from tests.support.aws import investigator_stack

MONTH = "2026-12"
CAP = 10
ROUNDS = 40
RACERS = 6


@pytest.fixture
def state_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The investigator's resources under moto, its state table among them."""
    with investigator_stack(monkeypatch):
        yield


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def race(counter: DynamoActivationCounter) -> list[int | None]:
    answers: list[int | None] = []
    answers_lock = threading.Lock()
    start = threading.Barrier(RACERS)

    def reserve() -> None:
        start.wait()
        answer = counter.reserve(MONTH, cap=CAP, expires_at=2_000_000_000)
        with answers_lock:
            answers.append(answer)

    racers = [threading.Thread(target=reserve) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    return answers


@pytest.mark.usefixtures("state_table", "eager_thread_switches")
def test_racing_reservations_take_exactly_what_the_cap_leaves() -> None:
    dynamodb = aws.client("dynamodb")
    counter = DynamoActivationCounter(STATE_TABLE_NAME)
    for _ in range(ROUNDS):
        dynamodb.put_item(TableName=STATE_TABLE_NAME, Item={"id": {"S": item_id(MONTH)}, "used": {"N": "8"}})

        answers = race(counter)

        assert sorted(a for a in answers if a is not None) == [9, 10]
        assert answers.count(None) == RACERS - 2
        assert counter.used(MONTH) == CAP


def test_making_moto_atomic_twice_wraps_once() -> None:
    make_dynamodb_items_atomic()
    wrapped = DynamoDBBackend.update_item

    make_dynamodb_items_atomic()

    assert DynamoDBBackend.update_item is wrapped


def test_a_moto_without_an_item_operation_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(DynamoDBBackend, "transact_write_items")

    with pytest.raises(RuntimeError, match="no transact_write_items"):
        make_dynamodb_items_atomic()
