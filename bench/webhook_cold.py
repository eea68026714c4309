"""Cold import + init of the webhook module against `import boto3; boto3.client("sqs")`.

    .venv/bin/python -m bench.webhook_cold [--rounds 15] [--importtime]

Every sample is a fresh `.venv/bin/python bench/_cold_child.py VARIANT` process that times, with
`time.perf_counter`, only the work after interpreter start-up:

- floor: `import boto3; boto3.client("sqs")`, the least a Python function that queues a message
  pays before its first request;
- import: `functions/webhook/app.py` loaded from its path as the Lambda runtime loads `app.handler`
  (module-level init included: settings, adapters, Logger, Metrics);
- import+clients: the same plus the three boto3 clients the first real request creates (the
  `fstriage.adapters.aws.client` cache), without calling them;
- first-request: import plus the first handled delivery, which creates the app's real boto3 clients
  and makes its real calls, answered in-process at botocore's before-send hook (no network; the
  scaffolding's own import is excluded). The target applies to this row: what a cold start costs
  before the first answer.

Variants run round-robin, the order reversed every other round. Byte code is compiled once into a
private cache (PYTHONPYCACHEPREFIX) by an untimed warm-up round, so every timed round runs with
.pyc files present, as the Lambda runtime's boto3 does. One extra untimed run of each variant with
an audit hook shows that nothing opens a socket.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._fixture import REPO_ROOT, bench_environ, make_deliveries
from bench._report import Summary, describe, machine, verdict

TARGET_RATIO = 1.3
VARIANTS = ("floor", "import", "import+clients", "first-request")
CHILD = REPO_ROOT / "bench" / "_cold_child.py"
PYCACHE = Path(tempfile.gettempdir()) / "fstriage-bench-pycache"


def child_env() -> dict[str, str]:
    env = bench_environ(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _write_event(directory: str, sequence: int) -> str:
    delivery = make_deliveries(1, start=sequence, now=datetime.now(tz=UTC))[0]
    path = os.path.join(directory, f"event-{sequence}.json")
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(delivery.event, stream)
    return path


def run_child(
    variant: str, event_path: str, *, audit: bool = False, extra: Sequence[str] = ()
) -> dict[str, Any]:
    command = [sys.executable, *extra, str(CHILD), variant, event_path]
    if audit:
        command.append("--audit")
    completed = subprocess.run(  # noqa: S603 (our interpreter, our script, fixed arguments)
        command, env=child_env(), cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"{variant} child failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    result["stderr"] = completed.stderr
    if variant == "first-request" and result.get("status") != 202:
        raise SystemExit(f"first request answered {result.get('status')}, expected 202")
    return result


# urllib3 checks for IPv6 at import by binding a socket to ::1 port 0, and the X-Ray SDK opens the UDP
# socket it would send segments on: local, and no packet is sent (tracing is off here).
_LOOPBACK_PROBE = ("socket.__new__(10, 1, 0)", "socket.bind(('::1', 0))", "socket.__new__(2, 2, 0)")


def check_no_network(directory: str) -> None:
    probes: set[str] = set()
    for index, variant in enumerate(VARIANTS):
        events = run_child(variant, _write_event(directory, 900_000 + index), audit=True)["network_events"]
        probes.update(event for event in events if event in _LOOPBACK_PROBE)
        if unexpected := [event for event in events if event not in _LOOPBACK_PROBE]:
            raise SystemExit(f"{variant} touched the network: {unexpected}")
    print(
        "  network: no connect, DNS lookup, send, HTTP or SSL audit event in any variant "
        f"(untimed audit-hook runs); loopback probe only: {', '.join(sorted(probes)) or 'none'}"
    )


def importtime_top(directory: str, limit: int = 10) -> list[tuple[str, float]]:
    """Self time per top-level package for the `import` variant, from `-X importtime`."""
    stderr = run_child("import", _write_event(directory, 950_000), extra=("-X", "importtime"))["stderr"]
    totals: Counter[str] = Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        totals[name.strip().split(".", 1)[0]] += int(self_us)
    return [(name, micros / 1000) for name, micros in totals.most_common(limit)]


def run(rounds: int) -> dict[str, Summary]:
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    extra: dict[str, list[float]] = {"first-request import": [], "first-request request": []}
    operations: list[str] = []
    with tempfile.TemporaryDirectory() as directory:
        check_no_network(directory)
        for variant in VARIANTS:  # warm-up: writes the .pyc cache and the page cache; untimed
            run_child(variant, _write_event(directory, 800_000))
        sequence = 0
        for round_index in range(rounds):
            order = VARIANTS if round_index % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                sequence += 1
                result = run_child(variant, _write_event(directory, sequence))
                samples[variant].append(float(result["ms"]))
                if variant == "first-request":
                    operations = result["aws_operations"]
                    extra["first-request import"].append(float(result["import_ms"]))
                    extra["first-request request"].append(float(result["request_ms"]))
    summaries = {name: Summary.of(values) for name, values in samples.items()}
    summaries.update({name: Summary.of(values) for name, values in extra.items()})
    print(f"  the first delivery's AWS calls: {', '.join(operations)}")
    return summaries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_cold", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--importtime", action="store_true", help="also list the top import costs")
    args = parser.parse_args(argv)

    print('webhook_cold: import+init of functions/webhook/app.py vs `import boto3; boto3.client("sqs")`')
    print(f"  machine: {machine()}")
    print(
        f"  interpreter: {sys.executable}; {args.rounds} rounds of fresh processes, alternating order; "
        f".pyc present (cache {PYCACHE})"
    )
    summaries = run(args.rounds)
    floor = summaries["floor"].median
    for name, summary in summaries.items():
        note = ""
        if name in VARIANTS and name != "floor":
            note = f"   {summary.median / floor:5.2f}x floor"
        print(describe(name, summary, "ms") + note)
    ratio = summaries["first-request"].median / floor
    print(
        f"  ratio first-request/floor (medians) {ratio:.2f}x   "
        f"target <= {TARGET_RATIO:g}x   {verdict(ratio, TARGET_RATIO)}"
    )
    if args.importtime or ratio > TARGET_RATIO:
        with tempfile.TemporaryDirectory() as directory:
            top = importtime_top(directory)
        print("  -X importtime, self time by top-level package (one run of `import`):")
        for name, millis in top:
            print(f"    {name:32s} {millis:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
