"""Hostile input: generated requests against the real webhook handler (moto in-process).

N requests drawn by Hypothesis from `tests.support.hostile` (1,000; 10,000 with
FSTRIAGE_RELIABILITY_PROFILE=full), after one valid baseline delivery of each payload kind:
every signature mangling, replays, bodies that are not payloads, every field of every payload kind
with another type, Streams, wrong methods, paths and content types. Each must be answered from the
documented table, never with a 5xx (but the documented 503 `secret_refresh_limited`, with
Retry-After), and none may be queued. `pytest -s` prints the status/reason histogram.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from fstriage_cli.samples import payloads
from fstriage_cli.samples.fakes import FakeLambdaContext
from fstriage_cli.samples.values import TEST_SIGNING_SECRET, TEST_STREAM_TOKEN
from tests.support import hostile
from tests.support.aws import WEBHOOK_SERVICE, webhook_stack

PROFILE = os.environ.get("FSTRIAGE_RELIABILITY_PROFILE", "fast").strip().lower() or "fast"
EXAMPLES = 10_000 if PROFILE == "full" else 1_000
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _queue_depth(stack: Any) -> int:
    """Every message on the queue, visible or not (moto counts exactly)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    names.append("ApproximateNumberOfMessagesDelayed")
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=names)
    return sum(int(value) for value in attributes["Attributes"].values())


def _record(**figures: Any) -> None:
    """The row's figures for docs/reliability.md: printed, and appended as a JSON line to
    $FSTRIAGE_RELIABILITY_RESULTS when it is set."""
    line = json.dumps({"row": "hostile_input", "profile": PROFILE, **figures}, sort_keys=True)
    print(f"reliability: {line}")
    target = os.environ.get("FSTRIAGE_RELIABILITY_RESULTS")
    if target:
        with open(target, "a", encoding="utf-8") as sink:
            sink.write(line + "\n")


def test_hostile_requests_are_answered_from_the_table_and_never_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with webhook_stack(monkeypatch) as stack:
        module = stack.load_webhook_handler()
        handler: Handler = module.handler
        # The handler's log lines and EMF metric lines, kept to scan rather than printed.
        output = io.StringIO()
        for log_handler in logging.getLogger(WEBHOOK_SERVICE).handlers:
            if isinstance(log_handler, logging.StreamHandler):
                log_handler.stream = output

        def call(event: dict[str, Any]) -> dict[str, Any]:
            with contextlib.redirect_stdout(output):
                response: dict[str, Any] = handler(event, FakeLambdaContext())
            return response

        # The baselines: one valid delivery of each kind, accepted once, so replays mean something.
        hostile.ACCEPTED.clear()
        for name, document in hostile.baseline_documents().items():
            event = hostile.signed_event(payloads.body_of(document))
            assert hostile.answer_key(call(event)) == hostile.QUEUED, name
            hostile.ACCEPTED[name] = event
        stream = hostile.stream_event(hostile.render(hostile.baseline_stream()))
        assert hostile.answer_key(call(stream)) == hostile.QUEUED
        baselines = _queue_depth(stack)
        assert baselines == len(hostile.ACCEPTED) + 1

        answers: Counter[tuple[int, str]] = Counter()
        families: Counter[str] = Counter()
        lenient_queued: list[str] = []
        violations: list[str] = []

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=hostile.hostile_cases())
        def send(case: hostile.Case) -> None:
            families[case.family] += 1
            try:
                response = call(case.event)
            except Exception as error:  # a raise is a 500 (502 at the function URL)
                violations.append(f"{case.label}: the handler raised {type(error).__name__}")
                answers[(500, "<raised>")] += 1
                return
            key = hostile.answer_key(response)
            answers[key] += 1
            if key == hostile.QUEUED:
                if case.may_queue:
                    lenient_queued.append(case.label)
                else:
                    violations.append(f"{case.label}: queued")
            elif key not in hostile.ALLOWED:
                violations.append(f"{case.label}: {key} is not in the documented table")
            elif key[0] == 503 and "retry-after" not in {name.lower() for name in response["headers"]}:
                violations.append(f"{case.label}: 503 without Retry-After")

        started = time.perf_counter()
        send()
        elapsed = time.perf_counter() - started

        queued = _queue_depth(stack) - baselines
        log_lines = output.getvalue().splitlines()
        histogram = {f"{status} {reason}": count for (status, reason), count in sorted(answers.items())}
        _record(
            requests=sum(answers.values()),
            seconds=round(elapsed, 1),
            queued_by_hostile=queued - len(lenient_queued),
            lenient_stream_context_queued=len(lenient_queued),
            answers_5xx=sum(count for (status, _), count in answers.items() if status >= 500),
            families=dict(sorted(families.items())),
            histogram=histogram,
            longest_log_line=max((len(line) for line in log_lines), default=0),
        )

        assert sum(answers.values()) == EXAMPLES
        assert not violations, f"{len(violations)} violations, e.g. {violations[:20]}"
        assert queued == len(lenient_queued), "the queue holds messages no accepted answer accounts for"
        # Nothing a log or metric line says may carry the signing secret or the stream token.
        for secret in (TEST_SIGNING_SECRET, TEST_STREAM_TOKEN):
            assert not [line for line in log_lines if secret in line]
