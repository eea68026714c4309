"""Warm webhook handler time against an HMAC-and-parse floor measured in the same run.

    .venv/bin/python -m bench.webhook_warm [--iterations 5000] [--warmup 500] [--base64-body]
        [--clients stub|botocore] [--breakdown]

Each timed iteration is a NEW signed ~2 KB `segment.trend.alert` (its own alert id, timestamp and
signature, so dedupe never short-circuits), signed before the clock starts, and sent through the
real `functions/webhook/app.py:handler` with its real Logger and Metrics. AWS is answered by
in-process stub clients (see `_fixture.py`); `--clients botocore` keeps the real boto3 clients and
answers them at botocore's `before-send` hook instead, for context. The floor is the least any
verifier must do with the same event: decode the body and the signature, HMAC-SHA256,
`hmac.compare_digest`, `json.loads`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from bench._fixture import (
    TARGET_BODY_BYTES,
    Delivery,
    InProcessAws,
    apply_bench_environ,
    install_stub_app,
    load_handler_module,
    make_deliveries,
)
from bench._report import Summary, describe, machine, stdout_fd_to, verdict
from fstriage_cli.samples.values import TEST_SIGNING_SECRET

TARGET_RATIO = 10.0
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def floor(delivery: Delivery, key: bytes) -> bool:
    """base64 decode + HMAC-SHA256 + constant-time compare + json.loads, on the event's body."""
    event = delivery.event
    body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    digest = base64.b64decode(delivery.digest_b64)
    expected = hmac.new(key, body + delivery.signed_suffix, hashlib.sha256).digest()
    matched = hmac.compare_digest(expected, digest)
    json.loads(body)
    return matched


def _time_handler(
    handler: Handler, chunk: Sequence[Delivery], samples: list[int], statuses: list[int]
) -> None:
    clock = time.perf_counter_ns
    for delivery in chunk:
        started = clock()
        response = handler(delivery.event, delivery.context)
        samples.append(clock() - started)
        statuses.append(response["statusCode"])


def _time_floor(chunk: Sequence[Delivery], key: bytes, samples: list[int], matches: list[bool]) -> None:
    clock = time.perf_counter_ns
    for delivery in chunk:
        started = clock()
        matched = floor(delivery, key)
        samples.append(clock() - started)
        matches.append(matched)


def _check_logs_and_metrics(handler: Handler, delivery: Delivery) -> None:
    """One untimed delivery with stdout captured: its metrics record must really be emitted."""
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "stdout.jsonl")
        with stdout_fd_to(path):
            response = handler(delivery.event, delivery.context)
        with open(path, encoding="utf-8") as captured:
            output = captured.read()
    if response["statusCode"] != 202:
        raise SystemExit(f"expected 202 from the handler, got {response}")
    # An accepted delivery's record is its metrics line: the metric plus the request_id as metadata.
    if '"DeliveryAccepted"' not in output or '"request_id"' not in output:
        raise SystemExit("the handler's metrics line is missing; the benchmark would be unfair")


def _check_queued(messages: list[str], expected: int) -> None:
    request_ids = {json.loads(message)["request_id"] for message in messages}
    if len(messages) != expected or len(request_ids) != expected:
        raise SystemExit(
            f"expected {expected} distinct queued requests, got {len(messages)} "
            f"messages with {len(request_ids)} request ids"
        )


def _wire(module: Any, clients: str) -> tuple[Callable[[], list[str]], Callable[[], list[str]]]:
    """Answer the handler's AWS calls in-process; return getters for the queued message bodies and for
    the AWS operations made so far (botocore clients only: stubs are not AWS calls)."""
    if clients == "stub":
        stubs = install_stub_app(module)
        return (lambda: stubs.sqs.messages), list
    aws = InProcessAws()
    aws.prime()  # the real clients of the handler's own app (fstriage.adapters.aws.client)
    return (lambda: aws.sent), (lambda: list(aws.operations))


def _calls_per_delivery(operations: list[str], deliveries: int) -> str:
    counts = Counter(operations)
    per = {name: count / deliveries for name, count in sorted(counts.items()) if name != "GetSecretValue"}
    listed = ", ".join(f"{name} {value:.2f}" for name, value in per.items())
    return (
        f"  AWS calls per accepted delivery (botocore requests counted at before-send): {listed} "
        f"(total {sum(per.values()):.2f}); GetSecretValue {counts['GetSecretValue']} in all (cold cache only)"
    )


def run(
    iterations: int, warmup: int, blocks: int, *, base64_body: bool, clients: str
) -> tuple[Summary, Summary, Any]:
    apply_bench_environ()
    module = load_handler_module()
    queued, operations = _wire(module, clients)
    handler: Handler = module.handler
    key = TEST_SIGNING_SECRET.encode()

    deliveries = make_deliveries(1 + warmup + iterations, base64_body=base64_body)
    first = deliveries[0].event
    body_bytes = len(base64.b64decode(first["body"]) if base64_body else first["body"].encode())
    check, warm, timed = deliveries[0], deliveries[1 : 1 + warmup], deliveries[1 + warmup :]
    _check_logs_and_metrics(handler, check)

    handler_ns: list[int] = []
    floor_ns: list[int] = []
    statuses: list[int] = []
    matches: list[bool] = []
    with stdout_fd_to():
        _time_handler(handler, warm, [], [])
        _time_floor(warm, key, [], [])
        size = -(-len(timed) // blocks)
        for index in range(blocks):
            chunk = timed[index * size : (index + 1) * size]
            # Alternate the order per block, so drift and cache effects fall on both sides.
            if index % 2 == 0:
                _time_floor(chunk, key, floor_ns, matches)
                _time_handler(handler, chunk, handler_ns, statuses)
            else:
                _time_handler(handler, chunk, handler_ns, statuses)
                _time_floor(chunk, key, floor_ns, matches)

    if set(statuses) != {202} or not all(matches):
        raise SystemExit(f"unexpected outcomes: statuses {sorted(set(statuses))}, all matched {all(matches)}")
    _check_queued(queued(), 1 + warmup + iterations)
    if clients == "botocore":
        print(_calls_per_delivery(operations(), 1 + warmup + iterations))
    print(
        f"  delivery: segment.trend.alert, {body_bytes:,} byte body (target {TARGET_BODY_BYTES:,}), "
        f"isBase64Encoded={base64_body}, every one new (202 queued; checked after timing)"
    )
    return Summary.of([ns / 1000 for ns in floor_ns]), Summary.of([ns / 1000 for ns in handler_ns]), module


def breakdown(module: Any, iterations: int, warmup: int, base64_body: bool) -> list[tuple[str, Summary]]:
    """Where the handler's time goes: the same timing, one layer of the handler at a time.

    Each layer gets its own fresh deliveries and its own in-process clients. The layers are
    public entry points, so the differences between them are what each layer adds.
    """
    from fstriage.core.http import request_from_function_url_event  # noqa: PLC0415

    clients = install_stub_app(module)
    intake, app, handler = clients.intake, module.app, module.handler
    key = TEST_SIGNING_SECRET.encode()

    layers: list[tuple[str, Callable[[Delivery], Any]]] = [
        ("floor", lambda d: floor(d, key)),
        ("core: Intake.handle", lambda d: intake.handle(request_from_function_url_event(d.event))),
        # No log_metrics decorator here: Powertools flushes the metric set itself every 100 values.
        ("+ log line, metric", lambda d: app.handle(d.event)),
        ("+ decorators (handler)", lambda d: handler(d.event, d.context)),
        # The same handler with the Logger at WARNING: the one INFO line per delivery is skipped.
        ("handler, INFO off", lambda d: handler(d.event, d.context)),
    ]
    start = 10_000_000  # alert ids apart from the main run's, so every delivery is new
    results: list[tuple[str, Summary]] = []
    with stdout_fd_to():
        for index, (name, call) in enumerate(layers):
            deliveries = make_deliveries(
                warmup + iterations, start=start * (index + 1), base64_body=base64_body
            )
            if name == "handler, INFO off":
                module.logger.setLevel("WARNING")
            for delivery in deliveries[:warmup]:
                call(delivery)
            samples: list[int] = []
            clock = time.perf_counter_ns
            for delivery in deliveries[warmup:]:
                started = clock()
                call(delivery)
                samples.append(clock() - started)
            module.logger.setLevel("INFO")
            results.append((name, Summary.of([ns / 1000 for ns in samples])))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_warm", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--blocks", type=int, default=10, help="alternating floor/handler blocks")
    parser.add_argument("--base64-body", action="store_true", help="deliver the body base64-encoded")
    parser.add_argument(
        "--clients",
        choices=("stub", "botocore"),
        default="stub",
        help="stub: plain in-process clients (the target's setting); botocore: the real boto3 "
        "clients, answered at botocore's before-send hook (for context)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="then time the handler layer by layer (core, logs, decorators)",
    )
    args = parser.parse_args(argv)
    if args.breakdown and args.clients != "stub":
        parser.error("--breakdown needs --clients stub")
    clients = {
        "stub": "plain in-process stubs",
        "botocore": "real boto3 clients answered at before-send (no network)",
    }[args.clients]

    print("webhook_warm: warm functions/webhook/app.py:handler vs b64+HMAC+compare+json.loads floor")
    print(f"  machine: {machine()}")
    print(
        f"  iterations: {args.iterations:,} timed (+{args.warmup:,} warm-up) in {args.blocks} blocks, "
        f"floor/handler order alternating; AWS clients: {clients}; Logger+Metrics on, stdout -> /dev/null"
    )
    floor_us, handler_us, module = run(
        args.iterations, args.warmup, args.blocks, base64_body=args.base64_body, clients=args.clients
    )
    ratio = handler_us.median / floor_us.median
    print(describe("floor", floor_us, "us"))
    print(describe("handler", handler_us, "us"))
    print(
        f"  ratio handler/floor (medians) {ratio:.2f}x   (p90s {handler_us.p90 / floor_us.p90:.2f}x)   "
        + (
            f"target <= {TARGET_RATIO:g}x   {verdict(ratio, TARGET_RATIO)}"
            if args.clients == "stub"
            else "(the target applies to --clients stub)"
        )
    )
    if args.breakdown:
        print("  breakdown (each layer in its own block of new deliveries; x = median / this floor):")
        layers = breakdown(module, args.iterations, args.warmup, args.base64_body)
        layer_floor = layers[0][1].median
        for name, summary in layers:
            print(describe(name, summary, "us") + f"   {summary.median / layer_floor:6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
