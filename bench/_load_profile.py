"""Profile where one webhook ack's time goes, after the load benchmark's counting.

One delivery at a time, floor then gateway, paced or back to back, new connection or keep-alive: the
gateway's ack split into the webhook's own time (the emulator's RTDONE) and the rest; then moto's
three calls per delivery, timed from this process.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench._load_deliveries import profile_notes
from bench._load_logs import WEBHOOK, rtdone_durations, settled_rtdone
from bench._load_pass import send
from fstriage_cli.local import LocalConfig, LocalStack

QUIET_WAIT_SECONDS = 10.0


def _timed(into: list[float], call: Callable[..., Any], **arguments: Any) -> None:
    started = time.perf_counter()
    call(**arguments)
    into.append((time.perf_counter() - started) * 1000)


def moto_call_ms(stack: LocalStack, rounds: int = 40) -> dict[str, float]:
    """This process -> moto, one call at a time, on scratch resources of our own (not the stack's):
    the webhook's three calls per delivery."""
    sqs, dynamodb = stack.client("sqs"), stack.client("dynamodb")
    queue = sqs.create_queue(QueueName="bench-load-scratch")["QueueUrl"]
    table = "bench-load-scratch"
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    put: list[float] = []
    send_message: list[float] = []
    update: list[float] = []
    for number in range(rounds):
        key = {"k": {"S": f"delivery-{number}"}}
        _timed(
            put,
            dynamodb.put_item,
            TableName=table,
            Item={**key, "state": {"S": "pending"}},
            ConditionExpression="attribute_not_exists(k)",
        )
        _timed(send_message, sqs.send_message, QueueUrl=queue, MessageBody="x" * 1500)
        _timed(
            update,
            dynamodb.update_item,
            TableName=table,
            Key=key,
            UpdateExpression="SET #s = :q",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":q": {"S": "queued"}},
        )
    series = {"PutItem (conditional)": put, "SendMessage": send_message, "UpdateItem": update}
    return {name: statistics.median(values[5:]) for name, values in series.items()}


def quiet(stack: LocalStack) -> Callable[[], None]:
    """Wait (at most QUIET_WAIT_SECONDS) until the queue is empty: what the last delivery queued has
    been investigated, so the next one does not share the machine with its investigation."""

    def wait() -> None:
        deadline = time.monotonic() + QUIET_WAIT_SECONDS
        while stack.queue_depth(stack.queue_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.05)

    return wait


def profile(stack: LocalStack, config: LocalConfig, floor_url: str, rounds: int) -> None:
    """One delivery at a time, after the counting: where an ack's time goes. "paced": each delivery
    waits until the previous one's investigation is done, so nothing else runs; "back to back": the
    next delivery goes as soon as the answer is in (its investigation runs meanwhile). The notes are
    queued for real; nothing counts them."""
    assert stack.sandbox is not None
    webhook_log = config.log_dir / f"{WEBHOOK}.log" if config.log_dir else None
    print(f"  where an ack's time goes, one delivery at a time (medians of {rounds} real notes each):")
    for paced, keep_alive in ((True, False), (True, True), (False, False), (False, True)):
        label = f"{'paced' if paced else 'back to back'}, {'keep-alive' if keep_alive else 'new conn.'}"
        notes = profile_notes(stack.sandbox.data, rounds, f"profile-{time.time_ns()}")
        between = quiet(stack) if paced else None
        quiet(stack)()
        floor = send(floor_url, notes, config, concurrency=1, keep_alive=keep_alive)
        before = len(rtdone_durations(webhook_log)) if webhook_log else 0
        gateway = send(
            stack.webhook_url, notes, config, concurrency=1, keep_alive=keep_alive, between=between
        )
        own = settled_rtdone(webhook_log, before, len(notes)) if webhook_log else []
        own_ms = statistics.median(own) if own else math.nan
        rest = statistics.median(
            a.latency_ms - o for a, o in zip(gateway.answers, own, strict=False) if a.error is None
        )
        statuses = dict(Counter(a.status for a in gateway.answers))
        print(
            f"    {label:26s} floor {floor.latency.p50:6.2f} ms   gateway {gateway.latency.p50:6.2f} ms = "
            f"webhook's own (emulator RTDONE) {own_ms:6.2f} ms + the rest (gateway, emulator API, TCP) "
            f"{rest:6.2f} ms   answers {statuses}"
        )
    quiet(stack)()
    moto = moto_call_ms(stack)
    print(
        "    moto, from this process, one call at a time (median): "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in moto.items())
        + f"; the three: {sum(moto.values()):.2f} ms"
    )
