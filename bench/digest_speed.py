"""Digest speed against a `json.loads` floor, and digest memory against the size of the input.

    .venv/bin/python -m bench.digest_speed [--events 100000] [--rounds 9] [--seed 20261123]
        [--convention current|warehouse|camel_nested]

The input is one long session of `--events` raw events in the sandbox's shapes, about 20 %
error-bearing, with varied IDs (see `_raw_events.py`), serialised as the events endpoint answers
(`{"events": [...]}`, compact JSON). Speed: `json.loads(body)` (the floor: what reading the answer
costs anyway) and `digest_events(session_id, events)` on an already-parsed list, alternating
which goes first. Before each call `gc.collect()`, and during it the cyclic collector is off
(`--gc on` keeps it on): with two parsed copies alive in this process, full collections inside
`json.loads` would walk the other copy and inflate the floor.

Memory, in a fresh child process so that the numbers are about this input only: the `tracemalloc`
peak above the baseline during each call, and the peak RSS growth during each call, each divided
by the body's size. Peak RSS is read as `VmHWM` from /proc/self/status, reset before each call by
writing 5 to /proc/self/clear_refs: `getrusage().ru_maxrss` is not usable in a child, since Linux
carries the parent's high-water mark across fork and exec (the child prints it, for the record).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

from bench._fixture import REPO_ROOT
from bench._raw_events import generate
from bench._report import Summary, describe, machine, verdict
from fstriage.core.digest import MAX_SIGNALS, SessionDigest, digest_events
from fstriage_cli.sandbox.conventions import EVENT_CONVENTIONS, render

TARGET_RATIO = 1.5
SESSION_ID = "7311046581204357:8123996410233371"


def serialise(events: list[dict[str, Any]]) -> bytes:
    """As the sandbox answers `GET /v2/sessions/{id}/events`."""
    return json.dumps({"events": events}, separators=(",", ":")).encode()


def parsed_events(body: bytes) -> list[Any]:
    events = json.loads(body)["events"]
    if not isinstance(events, list):
        raise SystemExit("the body holds no event list")
    return events


def check(digest: SessionDigest, count: int, errors: int, unreadable: int) -> None:
    """The digest must have seen every event and counted every error-bearing one."""
    missed = sum(digest.unclassified.values())
    if (digest.event_count, digest.error_signal_count, missed) != (count, errors, unreadable):
        raise SystemExit(
            f"digest saw {digest.event_count} events, {digest.error_signal_count} error occurrences, "
            f"{missed} unclassified; expected {count}, {errors}, {unreadable}"
        )


def timed_ms(call: Callable[[], object], *, collector: bool) -> float:
    gc.collect()
    if not collector:
        gc.disable()
    try:
        started = time.perf_counter_ns()
        call()
        return (time.perf_counter_ns() - started) / 1e6
    finally:
        gc.enable()


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _rss_growth(call: Callable[[], object]) -> int:
    """Peak RSS during `call` minus RSS before it, in bytes (peak reset first)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")  # resets VmHWM to the current RSS
    before = _status_kib("VmRSS")
    call()
    return (_status_kib("VmHWM") - before) * 1024


def memory_child(path: str) -> None:
    """In a fresh process: peak RSS growth first (no tracing), then tracemalloc peaks."""
    inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    with open(path, "rb") as stream:
        body = stream.read()
    parsed: list[list[Any]] = []
    rss_loads = _rss_growth(lambda: parsed.append(parsed_events(body)))
    events = parsed.pop()
    rss_digest = _rss_growth(lambda: digest_events(SESSION_ID, events))

    tracemalloc.start()
    gc.collect()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    digest_events(SESSION_ID, events)
    after, digest_peak = tracemalloc.get_traced_memory()
    events.clear()  # frees the parsed tree before json.loads is traced
    gc.collect()
    base_loads, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    document = json.loads(body)
    kept, loads_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del document
    result = {
        "body_bytes": len(body),
        "ru_maxrss_at_start": inherited,
        "rss_loads_growth": rss_loads,
        "rss_digest_growth": rss_digest,
        "digest_peak": digest_peak - base,
        "digest_kept": after - base,
        "loads_peak": loads_peak - base_loads,
        "loads_kept": kept - base_loads,
    }
    print("BENCH_RESULT " + json.dumps(result))


def run_memory_child(body: bytes) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "events.json")
        with open(path, "wb") as stream:
            stream.write(body)
        command = [sys.executable, "-m", "bench.digest_speed", "--memory-child", path]
        completed = subprocess.run(  # noqa: S603 (our interpreter, our module, fixed arguments)
            command, cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"memory child failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    result: dict[str, int] = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.digest_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--gc", choices=("off", "on"), default="off", help="cyclic GC during timed calls")
    parser.add_argument(
        "--convention",
        choices=[name for name in EVENT_CONVENTIONS if name != "unknown"],
        default="current",
        help="the event_properties keys of the input (the sandbox's conventions)",
    )
    parser.add_argument("--memory-child", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    if args.rounds < 2:
        parser.error("need at least 2 rounds")

    print("digest_speed: digest_events on a parsed list vs json.loads of the same body (the floor)")
    print(f"  machine: {machine()}")
    raw = generate(args.events, seed=args.seed)
    raw.events[:] = render(raw.events, args.convention)
    body = serialise(raw.events)
    count = len(raw.events)
    del raw.events[:]  # the benchmark digests what json.loads gives back, not the generator's dicts
    events = parsed_events(body)
    print(
        f"  input: {count:,} events of one session, seed {args.seed}, {len(body):,} bytes "
        f"({len(body) / count:.0f} B/event), convention {args.convention}; "
        f"error-bearing {raw.error_events:,} ({raw.error_events / count:.1%}), "
        f"{raw.distinct_error_keys / raw.error_events:.0%} of them "
        f"distinct raw values; unreadable {raw.unreadable_events}"
    )
    digest = digest_events(SESSION_ID, events)  # warm-up, and the correctness check
    check(digest, count, raw.error_events, raw.unreadable_events)
    print(
        f"  digest: {len(digest.signals)} signals kept (cap {MAX_SIGNALS}), {digest.overflow_signals} "
        f"more in overflow, {digest.page_count:,} pages; checked: every event seen, every error counted"
    )
    collector = args.gc == "on"
    timed_ms(lambda: json.loads(body), collector=collector)

    floor_ms: list[float] = []
    digest_ms: list[float] = []
    for index in range(args.rounds):
        # Alternate which goes first, so drift and cache effects fall on both.
        steps: list[Callable[[], None]] = [
            lambda: floor_ms.append(timed_ms(lambda: json.loads(body), collector=collector)),
            lambda: digest_ms.append(
                timed_ms(lambda: digest_events(SESSION_ID, events), collector=collector)
            ),
        ]
        for step in steps if index % 2 == 0 else steps[::-1]:
            step()
    floor, digested = Summary.of(floor_ms), Summary.of(digest_ms)
    ratio = digested.median / floor.median
    print(
        f"  rounds: {args.rounds}, alternating; gc.collect() before each call, cyclic collector "
        f"{'on' if collector else 'off'} during it"
    )
    print(describe("json.loads (floor)", floor, "ms"))
    print(describe("digest_events", digested, "ms"))
    print(
        f"  ratio digest/floor (medians) {ratio:.2f}x   (p90s {digested.p90 / floor.p90:.2f}x)   "
        f"target <= {TARGET_RATIO:g}x   {verdict(ratio, TARGET_RATIO)}"
    )
    per_event = (
        f"json.loads {floor.median * 1e3 / count:.2f} us, digest {digested.median * 1e3 / count:.2f} us"
    )
    print(f"  per event: {per_event}")

    memory = run_memory_child(body)
    size = memory["body_bytes"]
    print("  memory (fresh child process; / body bytes):")
    print(
        f"    tracemalloc peak during digest_events (list already parsed): {memory['digest_peak']:,} B = "
        f"{memory['digest_peak'] / size:.4f}x   (kept after: {memory['digest_kept']:,} B)"
    )
    print(
        f"    tracemalloc peak during json.loads(body): {memory['loads_peak']:,} B = "
        f"{memory['loads_peak'] / size:.2f}x   (kept: the parsed tree, {memory['loads_kept'] / size:.2f}x)"
    )
    print(
        f"    peak RSS growth (VmHWM) during digest_events: {memory['rss_digest_growth']:,} B = "
        f"{memory['rss_digest_growth'] / size:.4f}x; during json.loads: {memory['rss_loads_growth']:,} B = "
        f"{memory['rss_loads_growth'] / size:.2f}x"
    )
    print(
        f"    (getrusage ru_maxrss in the child was already {memory['ru_maxrss_at_start'] / 2**20:.0f} MiB "
        "before it read the body: inherited from this process, so not used)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
