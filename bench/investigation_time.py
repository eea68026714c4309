"""Investigation wall time against the ideal critical path, on the local Fullstory sandbox.

    .venv/bin/python -m bench.investigation_time [--rounds 5] [--limiter-rounds 3] [--latency-ms 50]
        [--sessions 20]

The real `Investigation` core and the real `FullstoryClient` (the code the investigator Lambda
runs) investigate a `manual` request whose subject names the 20 newest sessions of the sandbox
(seed 7), with `max_sessions=20`, against the real sandbox HTTP server on 127.0.0.1 answering
every call `latency_ms` late. The calls made are counted twice: by the client (`usage.calls`) and
by the sandbox (`calls`). The ideal is the critical path at the configured concurrency,
`ceil(calls / concurrency) x latency`; the result is wall time / ideal, for concurrency 1, 4 (the
default) and 8, each with two rate limiters:

- sized: `RateLimiter(2 x concurrency / latency per s, burst = concurrency)`, which cannot hold
  a call back at that concurrency (the benchmark prints how many calls it held back: 0);
- default: `RateLimiter(8/s, burst 8)`, the client's default and the investigator's
  (`FULLSTORY_RATE_PER_SECOND=8`), a deliberate production guard; these runs show how far it
  caps an investigation and are compared with the limiter's own floor as well.

Every timed run starts like a warm container: pooled keep-alive connections (one parallel `/me`
per worker first) and a full token bucket.

The sandbox sets TCP_NODELAY on its sockets (it answers in two writes, which with Nagle on cost
each keep-alive call about 40 ms); the benchmark prints what one keep-alive call costs at latency 0.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import statistics
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._report import Summary, describe, machine, verdict
from fstriage.adapters.fullstory import FullstoryClient
from fstriage.core import investigation as investigation_module
from fstriage.core.digest import digest_events
from fstriage.core.fullstory_models import FullstoryUsage
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings
from fstriage.core.ratelimit import RateLimiter
from fstriage.core.report import build_report, render_markdown
from fstriage.core.request import (
    InvestigationRequest,
    Origin,
    Subject,
    Trigger,
    Window,
    build_request,
    isoformat,
)
from fstriage_cli.sandbox import FullstorySandbox, SandboxSession

TARGET_RATIO = 1.3
API_KEY = "na1.bench-sandbox-key"
SEED = 7
CONCURRENCIES = (1, 4, 8)
DEFAULT_RATE, DEFAULT_BURST = 8.0, 8  # FullstoryClient's default limiter; the investigator's too


class WatchedLimiter(RateLimiter):
    """The real limiter, also adding up how long callers were told to sleep (summed over threads)."""

    def __init__(self, rate_per_second: float, burst: float) -> None:
        super().__init__(rate_per_second, burst)
        self._watch = threading.Lock()
        self.slept = 0.0
        self.held_back = 0

    def acquire(self, *, max_wait: float = math.inf) -> float | None:
        wait = super().acquire(max_wait=max_wait)
        if wait:
            with self._watch:
                self.slept += wait
                self.held_back += 1
        return wait

    def reset_watch(self) -> None:
        with self._watch:
            self.slept, self.held_back = 0.0, 0

    def refill(self) -> None:
        """Sleep until the bucket is full again, as after a quiet spell in a warm container."""
        bucket = self.bucket
        missing = bucket.burst - bucket.available()
        if missing > 0:
            time.sleep(missing / bucket.rate_per_second + 0.002)


@dataclass(frozen=True, slots=True)
class Config:
    concurrency: int
    limiter: str  # "sized" | "default" | "unbounded"

    def make_limiter(self, latency: float) -> WatchedLimiter:
        if self.limiter == "default":
            return WatchedLimiter(DEFAULT_RATE, DEFAULT_BURST)
        if self.limiter == "unbounded":
            return WatchedLimiter(1e9, 1e9)
        return WatchedLimiter(2 * self.concurrency / latency, self.concurrency)

    def label(self, latency: float) -> str:
        limiter = self.make_limiter(latency).bucket
        return (
            f"concurrency {self.concurrency}, {self.limiter} limiter "
            f"({limiter.rate_per_second:g}/s, burst {limiter.burst:g})"
        )


@dataclass(frozen=True, slots=True)
class Run:
    wall: float
    calls: int
    routes: Counter[str]
    slept: float
    held_back: int
    usage: FullstoryUsage


def manual_request(sessions: Sequence[SandboxSession], org_id: str) -> InvestigationRequest:
    now = datetime.now(UTC)
    return build_request(
        trigger=Trigger(
            kind="manual", source="cli", event_name="manual", event_id=None, occurred_at=isoformat(now)
        ),
        subject=Subject(session_ids=tuple(session.api_id for session in sessions)),
        window=Window(start=isoformat(now - timedelta(days=8)), end=isoformat(now)),
        origin=Origin(org_id=org_id, delivery_key="bench-investigation-time", received_at=isoformat(now)),
    )


def warm(client: FullstoryClient, limiter: WatchedLimiter, concurrency: int) -> None:
    """Open one pooled connection per worker, then wait for a full bucket."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda _: client.me(), range(concurrency)))
    limiter.refill()
    limiter.reset_watch()


def investigate(
    sandbox: FullstorySandbox,
    client: FullstoryClient,
    limiter: WatchedLimiter,
    request: InvestigationRequest,
    concurrency: int,
) -> tuple[Run, Finished]:
    warm(client, limiter, concurrency)
    sandbox.reset_records()
    view = client.with_deadline(None)  # what the investigator does per request: own usage counters
    settings = InvestigationSettings(
        org_id=sandbox.data.org_id, max_sessions=len(request.subject.session_ids), concurrency=concurrency
    )
    investigation = Investigation(view, settings)
    started = time.perf_counter()
    outcome = investigation.run(request)
    wall = time.perf_counter() - started
    if not isinstance(outcome, Finished):
        raise SystemExit(f"expected a finished investigation, got {outcome!r}")
    _check(outcome, request)
    usage = view.usage
    run = Run(wall, usage.calls, sandbox.calls, limiter.slept, limiter.held_back, usage)
    if sum(run.routes.values()) != run.calls:
        raise SystemExit(f"client counted {run.calls} calls, the sandbox {sum(run.routes.values())}")
    return run, outcome


def _check(outcome: Finished, request: InvestigationRequest) -> None:
    """The run must be a real, complete investigation: every session summarised and digested."""
    evidence = outcome.evidence
    wanted = list(request.subject.session_ids)
    got = [finding.session_id for finding in evidence.sessions]
    if evidence.status != "complete" or got != wanted:
        raise SystemExit(f"investigation {evidence.status}: {evidence.notes.sentences()}")
    if any(f.digest is None or f.summary_text is None for f in evidence.sessions):
        raise SystemExit("a session is missing its summary or its digest")


def ideal(calls: int, concurrency: int, latency: float) -> float:
    return math.ceil(calls / concurrency) * latency


def limiter_floor(calls: int, concurrency: int, latency: float, rate: float, burst: float) -> float:
    """The least time a full bucket allows: the last call may start (calls - burst) / rate in."""
    return max(ideal(calls, concurrency, latency), max(0.0, calls - burst) / rate + latency)


def keepalive_call_ms(sandbox: FullstorySandbox, session_id: str, count: int = 20) -> float:
    """Median time of one `summary` call on a reused connection, sandbox latency 0."""
    with FullstoryClient(API_KEY, base_url=sandbox.base_url, rate_limiter=RateLimiter(1e6, 1e6)) as client:
        client.summary(session_id)
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            client.summary(session_id)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def profile(
    sandbox: FullstorySandbox,
    sessions: Sequence[SandboxSession],
    request: InvestigationRequest,
    latency: float,
    rounds: int,
) -> None:
    """Where the time goes apart from the injected latency (sandbox latency 0, no rate limit)."""
    print("  where the time goes besides the injected latency (sandbox latency 0, limiter 1e9/s):")
    call_ms = keepalive_call_ms(sandbox, sessions[0].api_id)
    print(f"    one keep-alive call, client + sandbox: median {call_ms:.2f} ms")
    for concurrency in CONCURRENCIES:
        limiter = Config(concurrency, "unbounded").make_limiter(latency)
        with FullstoryClient(
            API_KEY, base_url=sandbox.base_url, rate_limiter=limiter, pool_size=max(4, concurrency)
        ) as client:
            walls = [
                investigate(sandbox, client, limiter, request, concurrency)[0].wall * 1000
                for _ in range(rounds)
            ]
        median = statistics.median(walls)
        print(f"    the whole investigation, concurrency {concurrency}: median {median:.1f} ms")
    digest_ms = []
    for _ in range(rounds):
        started = time.perf_counter()
        for session in sessions:
            digest_events(session.api_id, list(session.events))
        digest_ms.append((time.perf_counter() - started) * 1000)
    events = sum(len(session.events) for session in sessions)
    print(
        f"    digest_events of the {len(sessions)} sessions ({events} events), one thread: "
        f"median {statistics.median(digest_ms):.2f} ms"
    )
    pool_us = []
    for _ in range(rounds * 4):
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(str, range(2 * len(sessions))))
        pool_us.append((time.perf_counter() - started) * 1e6)
    print(
        f"    ThreadPoolExecutor(8) start + {2 * len(sessions)} trivial tasks + shutdown: "
        f"median {statistics.median(pool_us):.0f} us"
    )


def report(runs: dict[Config, list[Run]], latency: float) -> None:
    summary: list[str] = []
    for config, series in runs.items():
        calls = {run.calls for run in series}
        if len(calls) != 1:
            raise SystemExit(f"{config}: the number of calls changed between runs: {sorted(calls)}")
        count = calls.pop()
        routes = ", ".join(f"{route} x{n}" for route, n in sorted(series[0].routes.items()))
        best = ideal(count, config.concurrency, latency)
        walls = Summary.of([run.wall * 1000 for run in series])
        ratio = walls.median / (best * 1000)
        slept = statistics.median(run.slept for run in series) * 1000
        held = statistics.median(run.held_back for run in series)
        print(f"  {config.label(latency)}: {count} calls, client usage.calls = sandbox records ({routes})")
        print(describe("wall", walls, "ms"))
        line = (
            f"    ideal {best * 1000:.0f} ms   ratio {ratio:.2f}x (p90 {walls.p90 / (best * 1000):.2f}x)   "
            f"limiter held back {held:g} calls, slept {slept:.0f} ms (summed over threads)"
        )
        if config.limiter == "sized":
            if held:
                line += "   WARNING: the sized limiter held calls back"
            line += f"   target <= {TARGET_RATIO:g}x   {verdict(ratio, TARGET_RATIO)}"
            summary.append(f"c={config.concurrency} {ratio:.2f}x {verdict(ratio, TARGET_RATIO)}")
        else:
            floor = limiter_floor(count, config.concurrency, latency, DEFAULT_RATE, DEFAULT_BURST)
            line += f"   limiter floor {floor * 1000:.0f} ms, wall / it {walls.median / (floor * 1000):.2f}x"
            summary.append(f"c={config.concurrency} default limiter {ratio:.2f}x")
        print(line)
    print("  summary (wall median / ideal): " + "; ".join(summary))


def measure(
    sandbox: FullstorySandbox,
    request: InvestigationRequest,
    configs: Sequence[Config],
    wanted: dict[str, int],
    latency: float,
) -> tuple[dict[Config, list[Run]], tuple[Run, Finished] | None]:
    """Timed runs, configs round-robin (order reversed every other round), so drift falls on all."""
    clients: dict[Config, tuple[FullstoryClient, WatchedLimiter]] = {}
    for config in configs:
        limiter = config.make_limiter(latency)
        # As the investigator builds it: one client per container, pool_size max(4, concurrency).
        pool_size = max(4, config.concurrency)
        client = FullstoryClient(
            API_KEY, base_url=sandbox.base_url, rate_limiter=limiter, pool_size=pool_size
        )
        clients[config] = (client, limiter)
    runs: dict[Config, list[Run]] = {config: [] for config in configs}
    last: tuple[Run, Finished] | None = None
    try:
        for index in range(max(wanted.values())):
            for config in configs if index % 2 == 0 else configs[::-1]:
                if len(runs[config]) < wanted[config.limiter]:
                    client, limiter = clients[config]
                    last = investigate(sandbox, client, limiter, request, config.concurrency)
                    runs[config].append(last[0])
    finally:
        for client, _ in clients.values():
            client.close()
    return runs, last


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.investigation_time", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per config, sized limiter")
    parser.add_argument(
        "--limiter-rounds", type=int, default=3, help="timed runs per config, default limiter (0 skips)"
    )
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args(argv)
    if args.rounds < 2 or args.limiter_rounds == 1:
        parser.error("need at least 2 rounds (--limiter-rounds may be 0)")
    latency = args.latency_ms / 1000

    print(
        f"investigation_time: {args.sessions} sessions, {args.latency_ms} ms per Fullstory call, real "
        "Investigation + FullstoryClient vs ideal ceil(calls / concurrency) x latency"
    )
    print(f"  machine: {machine()}")
    # The core changes under active development: tie the numbers to the code that produced them.
    source = Path(investigation_module.__file__).read_bytes()
    print(f"  code: fstriage/core/investigation.py sha256 {hashlib.sha256(source).hexdigest()[:12]}")
    with FullstorySandbox(seed=SEED) as sandbox:
        sessions = sorted(sandbox.data.sessions, key=lambda s: s.created, reverse=True)[: args.sessions]
        if len(sessions) < args.sessions:
            raise SystemExit(f"the sandbox has only {len(sessions)} sessions")
        request = manual_request(sessions, sandbox.data.org_id)
        errors = sum(session.has_errors for session in sessions)
        events = sum(len(session.events) for session in sessions)
        print(
            f"  sandbox: seed {SEED}, the {len(sessions)} newest of {len(sandbox.data.sessions)} sessions "
            f"({errors} with errors, {events} events)"
        )
        call_ms = keepalive_call_ms(sandbox, sessions[0].api_id)
        print(f"  one keep-alive call at latency 0: median {call_ms:.2f} ms (client + sandbox)")
        sandbox.faults.update(latency_ms=args.latency_ms)

        configs = [Config(c, "sized") for c in CONCURRENCIES]
        if args.limiter_rounds:
            configs += [Config(c, "default") for c in CONCURRENCIES]
        wanted = {"sized": args.rounds, "default": args.limiter_rounds}
        runs, last = measure(sandbox, request, configs, wanted, latency)
        report(runs, latency)
        if last is not None:
            # What the investigator does next, for context: the report and its Markdown.
            started = time.perf_counter()
            markdown = render_markdown(build_report(last[1].evidence, last[0].usage, datetime.now(UTC)))
            took = (time.perf_counter() - started) * 1000
            print(f"  then build_report + render_markdown (not in the wall times): {took:.2f} ms")
            if len(markdown) < 100:
                raise SystemExit("the report came out empty")
        sandbox.faults.update(latency_ms=0)
        profile(sandbox, sessions, request, latency, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
