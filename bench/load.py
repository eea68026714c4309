"""Load through the local function URL: signed deliveries at concurrency 20, against a bare http.server.

    .venv/bin/python -m bench.load [--deliveries 1000] [--concurrency 20] [--keep-alive]
        [--investigators 2] [--drain-cap 600] [--replays 0.05] [--resigned 0.01]
        [--segment-alerts 0.10] [--fullstory-rate R] [--profile-rounds 30]

The whole stack runs in-process (`fstriage_cli.local.LocalStack`, `port=0`): the built webhook and
investigator under the Lambda runtime emulator, moto for AWS, the function URL gateway, Lambda's SQS
poller, the report collector and the Fullstory sandbox (seed 7, latency 0), reports in a temporary
folder. A pool of `--concurrency` client threads POSTs `--deliveries` deliveries through the
gateway, each signed with the stack's secret when it is sent:

- distinct deliveries, each a new business event (its own `data.id`): `note.created` and
  `recording.event.custom` naming sandbox sessions (half each), and `segment.trend.alert`s on the
  two segments the sandbox anchors for the `events/` samples (`--segment-alerts` of them);
- exact replays (`--replays`): the same bytes and `Fullstory-Signature` as a delivery sent at least
  100 deliveries earlier, as a retry of an answered delivery would be: expected `200 duplicate`;
- re-signed replays (`--resigned`): the same body signed again, in a later second than its original
  (so the `Fullstory-Signature` differs), as a retry signed anew would be.

Then it waits (at most `--drain-cap` seconds) until every accepted request has a report and the
queue is empty, and counts: accepted, lost, duplicated, investigated, dead-lettered (definitions in
bench/README.md). Ack latency is client-side, per delivery, from the request's start (connect
included) to the last byte of the answer. The floor is a bare stdlib `ThreadingHTTPServer` on
127.0.0.1 answering a fixed 202 JSON to any POST, hit by the same client code, concurrency and
bodies, just before the load; the ratio is gateway p50 / floor p50.

By default every delivery opens its own connection (`Connection: close`); `--keep-alive` gives each
client thread one persistent connection. Only 127.0.0.1 (and moto as localhost) is contacted; every
loop is bounded in count and time. Bottleneck profiling is printed after the results.

This module is the entry point (options, the stack's settings, the order of the run); the parts are
`bench._load_deliveries` (the generator), `_load_client` (the client), `_load_floor` (the floor
server), `_load_pass` (one timed pass), `_load_cpu` (CPU by process and thread), `_load_logs` (the
functions' logs), `_load_drain` (waiting for the reports), `_load_tally` (the counts),
`_load_profile` (one delivery at a time) and `_load_report` (the printing).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from bench._load_cpu import Cpu, ThreadCpu
from bench._load_deliveries import KINDS, SEGMENTS, make_deliveries, profile_notes
from bench._load_drain import dead_letters, drain
from bench._load_floor import floor_server
from bench._load_logs import INVESTIGATOR, WEBHOOK, investigator_log, rtdone_durations, settled_rtdone
from bench._load_pass import send
from bench._load_profile import profile
from bench._load_report import print_counts, print_drain, print_latency, print_summary
from bench._load_tally import tally
from bench._report import machine
from fstriage_cli.local import LocalConfig, LocalStack, LocalStackError

VISIBILITY_TIMEOUT_SECONDS = 60  # the template's 720 s would retry a failed delivery after the cap
DEFAULT_FULLSTORY_RATE = 8.0  # FULLSTORY_RATE_PER_SECOND's default, per investigator instance


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--keep-alive", action="store_true", help="one persistent connection per client")
    parser.add_argument(
        "--investigators", type=int, default=2, help="investigator instances (template default: 2)"
    )
    parser.add_argument("--drain-cap", type=float, default=600.0, help="seconds to wait for the reports")
    parser.add_argument("--replays", type=float, default=0.05, help="share of exact replays")
    parser.add_argument("--resigned", type=float, default=0.01, help="share of re-signed replays")
    parser.add_argument("--segment-alerts", type=float, default=0.10, help="share of the distinct ones")
    parser.add_argument(
        "--fullstory-rate",
        type=float,
        default=None,
        help="FULLSTORY_RATE_PER_SECOND for the investigator (default: its own, 8/s)",
    )
    parser.add_argument("--profile-rounds", type=int, default=30, help="0 skips the profile")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep reports and logs in this (empty) folder"
    )
    args = parser.parse_args(argv)
    if args.deliveries < 2 or args.concurrency < 1 or args.investigators < 1 or args.drain_cap <= 0:
        parser.error("need --deliveries >= 2, --concurrency >= 1, --investigators >= 1, --drain-cap > 0")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    command = " ".join(sys.orig_argv)  # exactly as run: `python -m bench load` or `-m bench.load ...`
    mode = (
        "keep-alive, one persistent connection per thread"
        if args.keep_alive
        else "a new connection per delivery (Connection: close)"
    )
    print("load: signed deliveries through the local function URL vs a bare http.server floor")
    print(f"  machine: {machine()}")
    print(f"  command: {command}")
    print(f"  client: {args.concurrency} threads (http.client), {mode}")
    started = time.monotonic()
    try:
        if args.keep is not None:
            if args.keep.exists() and any(args.keep.iterdir()):
                parser.error(f"--keep {args.keep} is not empty")
            print(f"  reports and function logs kept in {args.keep}")
            status = run(args, args.keep, say)
        else:
            with tempfile.TemporaryDirectory(prefix="fstriage-bench-load-") as scratch:
                status = run(args, Path(scratch), say)
    except LocalStackError as problem:
        print(f"  the local stack cannot run: {problem}")
        return 1
    print(f"  whole benchmark: {time.monotonic() - started:.0f} s")
    return status


def run(args: argparse.Namespace, work: Path, say: Callable[[str], None]) -> int:
    config = stack_config(work, args)
    with LocalStack(config) as stack, floor_server() as floor_url:
        assert stack.sandbox is not None and config.log_dir is not None
        rate = args.fullstory_rate if args.fullstory_rate is not None else DEFAULT_FULLSTORY_RATE
        print(
            f"  stack: started in {stack.startup_seconds:.1f} s; 1 webhook instance, {args.investigators} "
            f"investigator instances (BatchSize 2); sandbox seed 7, latency "
            f"{stack.sandbox.faults.snapshot().latency_ms} ms; investigator "
            f"MAX_SESSIONS_PER_INVESTIGATION=1, EXPORT_POLL_DELAY_SECONDS=0, "
            f"FULLSTORY_RATE_PER_SECOND={rate:g}"
            f"{'' if args.fullstory_rate is not None else ' (its default)'}; queue visibility "
            f"{VISIBILITY_TIMEOUT_SECONDS} s"
        )
        data = stack.sandbox.data
        for segment in SEGMENTS:
            if data.segment(segment) is None:
                raise SystemExit(f"the sandbox lacks the segment {segment}")
        deliveries = make_deliveries(
            data,
            args.deliveries,
            replay_share=args.replays,
            resigned_share=args.resigned,
            segment_share=args.segment_alerts,
            run_tag=str(time.time_ns()),
        )
        kinds = Counter(d.kind for d in deliveries)
        sizes = [len(d.body) for d in deliveries]
        print(
            f"  deliveries: {len(deliveries):,} = "
            + ", ".join(f"{kinds[k]} {k}" for k in KINDS)
            + f"; bodies {min(sizes)}-{max(sizes)} B (median {statistics.median(sizes):.0f} B)"
        )
        # Two real notes, one at a time: the webhook's cold start stays out of the timed run.
        warm = send(
            stack.webhook_url,
            profile_notes(data, 2, f"warmup-{time.time_ns()}"),
            config,
            concurrency=1,
            keep_alive=False,
        )
        warm_ids = {a.request_id for a in warm.answers if a.status == 202 and a.request_id}

        # The floor, just before the load: same client code, concurrency, connection mode and bodies.
        send(floor_url, deliveries[:100], config, concurrency=args.concurrency, keep_alive=args.keep_alive)
        floor = send(floor_url, deliveries, config, concurrency=args.concurrency, keep_alive=args.keep_alive)

        webhook_log = config.log_dir / f"{WEBHOOK}.log"
        rtdone_before = len(rtdone_durations(webhook_log))
        with ThreadCpu() as send_threads:
            load = send(
                stack.webhook_url,
                deliveries,
                config,
                concurrency=args.concurrency,
                keep_alive=args.keep_alive,
                stack=stack,
            )
        own = settled_rtdone(webhook_log, rtdone_before, len(deliveries))
        accepted = {a.request_id for a in load.answers if a.status == 202 and a.request_id}
        say(f"  sent {len(deliveries)} in {load.wall:.1f} s; draining (cap {args.drain_cap:g} s) ...")

        cpu_before = Cpu.now(stack)
        invocations_before = len(stack.invocations)
        calls_before = sum(stack.sandbox.calls.values())
        with ThreadCpu() as drain_threads:
            drained = drain(stack, accepted | warm_ids, args.drain_cap, say)
        drain_cpu = Cpu.now(stack).since(cpu_before)
        fullstory_calls = sum(stack.sandbox.calls.values()) - calls_before
        invocations = list(stack.invocations)[invocations_before:]

        logs = investigator_log(config.log_dir)
        counts = tally(
            deliveries,
            load.answers,
            warm_ids=warm_ids,
            reports=stack.reports,
            dlq=dead_letters(stack),
            logs=logs,
        )
        depth = stack.queue_depth(stack.queue_url)
        warm_reported = sum(1 for r in stack.reports if r.detail.get("request_id") in warm_ids)

        print_counts(counts, logs, depth, warm_ids, warm_reported)
        ratio = print_latency(args, floor, load, own, send_threads)
        print_drain(
            args,
            drained,
            send_wall=load.wall,
            invocations=invocations,
            fullstory_calls=fullstory_calls,
            rate=rate,
            cpu=drain_cpu,
            threads=drain_threads,
        )
        if args.profile_rounds > 0:
            profile(stack, config, floor_url, args.profile_rounds)

    print_summary(counts, floor, load, ratio, drained)
    return 0 if drained.finished and not counts.lost and not counts.duplicated else 1


def stack_config(work: Path, args: argparse.Namespace) -> LocalConfig:
    investigator_env = {"MAX_SESSIONS_PER_INVESTIGATION": "1", "EXPORT_POLL_DELAY_SECONDS": "0"}
    if args.fullstory_rate is not None:
        investigator_env["FULLSTORY_RATE_PER_SECOND"] = f"{args.fullstory_rate:g}"
    return LocalConfig(
        port=0,
        reports_dir=work / "reports",
        log_dir=work / "logs",
        visibility_timeout=VISIBILITY_TIMEOUT_SECONDS,
        function_env={INVESTIGATOR: investigator_env},
        investigator_concurrency=args.investigators,
    )


if __name__ == "__main__":
    raise SystemExit(main())
