"""Print the load benchmark's results: counts and verdicts, ack latency against the floor, the drain.

Only formatting: every figure is measured elsewhere (`_load_pass`, `_load_cpu`, `_load_drain`,
`_load_tally`) and handed in.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from collections.abc import Sequence

from bench._load_cpu import Cpu, ThreadCpu
from bench._load_drain import Drain
from bench._load_logs import InvestigatorLog
from bench._load_pass import Phase, latencies, percentile
from bench._load_tally import Tally
from fstriage_cli.local import PolledInvocation

FULLSTORY_TIMEOUT_SECONDS = 5.0  # Fullstory gives up on a webhook delivery after about 5 s


def print_counts(
    counts: Tally, logs: InvestigatorLog, depth: int, warm_ids: set[str], warm_reported: int
) -> None:
    print("  results (targets: 0 lost, 0 duplicated):")
    not_accepted = f"; not accepted: {dict(counts.not_accepted)}" if counts.not_accepted else ""
    print(
        f"    accepted: {len(counts.accepted)} request_ids answered 202 queued, of "
        f"{counts.distinct_sent} distinct deliveries{not_accepted}"
    )
    print(
        f"    exact replays answered {dict(counts.replays['replay'])} (expected: 200 duplicate); re-signed "
        f"replays answered {dict(counts.replays['resigned'])}; replays answered with their original's "
        f"request_id: {counts.same_request_id}"
    )
    print(
        f"    investigated: {len(counts.investigated)} accepted request_ids with a report; statuses "
        f"{dict(counts.statuses)}; notes/custom events whose report does not lead with their session: "
        f"{counts.wrong_subject}"
    )
    print(f"    lost: {len(counts.lost)}   {_verdict(not counts.lost)}")
    print(f"    duplicated: {len(counts.duplicated)}   {_verdict(not counts.duplicated)}")
    print(
        f"    dead-lettered: {len(counts.dead)} accepted request_ids ({counts.dlq_messages} DLQ messages); "
        f"main queue depth at the end: {depth}"
    )
    print(
        f"    investigator log: {sum(logs.finished.values())} 'investigation finished', {logs.duplicates} "
        f"idempotency hits (a request already done, delivered again: no second investigation), "
        f"{logs.requeued} export polls re-queued, retries {dict(logs.retried) or 0}; warm-up notes: "
        f"{len(warm_ids)} accepted, {warm_reported} reported"
    )
    if logs.problems:
        print(f"    investigator log, other warnings and errors: {dict(logs.problems.most_common(5))}")
    for label, ids in (("lost", counts.lost), ("duplicated", counts.duplicated)):
        if ids:
            print(f"    {label} request_ids (first 5): {sorted(ids)[:5]}")


def print_latency(
    args: argparse.Namespace, floor: Phase, load: Phase, own: Sequence[float], threads: ThreadCpu
) -> float:
    print(
        "  ack latency, client-side, per delivery (request start incl. connect -> last byte of the answer):"
    )
    print(floor.latency.line("floor (bare http.server)"))
    print(load.latency.line("gateway (function URL)"))
    ratio = load.latency.p50 / floor.latency.p50
    timeout_ms = FULLSTORY_TIMEOUT_SECONDS * 1000
    over = sum(1 for value in latencies(load.answers) if value >= timeout_ms)
    print(
        f"  ratio gateway p50 / floor p50: {ratio:.1f}x   "
        f"(p99s: {load.latency.p99 / floor.latency.p99:.1f}x)   "
        f"no target (recorded); acks >= Fullstory's ~{FULLSTORY_TIMEOUT_SECONDS:g} s timeout: {over}"
    )
    print(
        f"    floor:   {len(floor.answers)} in {floor.wall:.2f} s "
        f"({len(floor.answers) / floor.wall:.0f}/s); {floor.transport()}"
    )
    throughput = len(load.answers) / load.wall
    print(f"    gateway: {len(load.answers)} in {load.wall:.2f} s ({throughput:.1f}/s); {load.transport()}")
    if own:
        busy = sum(own) / 1000
        print(
            f"    the webhook's own time per delivery (emulator RTDONE, {len(own)} invocations): median "
            f"{statistics.median(own):.2f} ms, p99 {percentile(own, 99):.2f} ms; its one instance busy "
            f"{busy:.1f} s of {load.wall:.1f} s ({100 * busy / load.wall:.0f}%); Little's law: concurrency / "
            f"throughput = {1000 * args.concurrency / throughput:.0f} ms vs mean ack "
            f"{load.latency.mean:.0f} ms"
        )
    if load.cpu is not None:
        print(f"    CPU while sending: {load.cpu.line(load.wall)}")
        print(f"      {threads.line()}")
    return ratio


def print_drain(
    args: argparse.Namespace,
    drained: Drain,
    *,
    send_wall: float,
    invocations: Sequence[PolledInvocation],
    fullstory_calls: int,
    rate: float,
    cpu: Cpu,
    threads: ThreadCpu,
) -> None:
    finished = "drained" if drained.finished else f"NOT drained within the {args.drain_cap:g} s cap"
    reports_at = f"{drained.reports_seconds:.1f} s" if drained.reports_seconds is not None else "never"
    print(
        f"  drain: {finished} {drained.seconds:.1f} s after the last ack (every accepted request reported "
        f"after {reports_at}); first send -> drained {send_wall + drained.seconds:.1f} s"
    )
    if invocations:
        records = sum(len(i.message_ids) for i in invocations)
        busy: dict[str, float] = {}
        for invocation in invocations:
            busy[invocation.function] = busy.get(invocation.function, 0.0) + invocation.result.duration
        per_record = statistics.median(i.result.duration / len(i.message_ids) for i in invocations) * 1000
        errors = Counter(i.result.error for i in invocations if i.result.error)
        failed = [i for i in invocations if i.result.error]
        print(
            f"    investigator: {len(invocations)} invocations, {records} records "
            f"({records / drained.seconds:.1f}/s), median {per_record:.0f} ms per record; busy "
            + ", ".join(f"{name} {100 * b / drained.seconds:.0f}%" for name, b in sorted(busy.items()))
            + (f"; invocation errors {dict(errors)}" if errors else "")
        )
        for invocation in failed[:3]:
            payload = invocation.result.payload
            detail = payload.get("errorMessage") if isinstance(payload, dict) else payload
            print(
                f"      failed: {invocation.function}, {len(invocation.message_ids)} records, "
                f"{invocation.result.error}: {str(detail)[:300]}"
            )
    print(
        f"    Fullstory API calls (counted by the sandbox): {fullstory_calls} = "
        f"{fullstory_calls / drained.seconds:.1f}/s; the investigators' rate limiters allow {rate:g}/s "
        f"each = {rate * args.investigators:g}/s"
    )
    print(f"    CPU while draining: {cpu.line(drained.seconds)}")
    print(f"      {threads.line()}")


def print_summary(counts: Tally, floor: Phase, load: Phase, ratio: float, drained: Drain) -> None:
    finished = "drained" if drained.finished else "NOT drained"
    print(
        f"  summary: accepted {len(counts.accepted)}, lost {len(counts.lost)}, duplicated "
        f"{len(counts.duplicated)}, investigated {len(counts.investigated)}, dead-lettered "
        f"{len(counts.dead)}; "
        f"ack p50 {load.latency.p50:.1f} ms, p99 {load.latency.p99:.1f} ms; floor p50 "
        f"{floor.latency.p50:.2f} ms, p99 {floor.latency.p99:.2f} ms; p50 ratio {ratio:.1f}x; "
        f"{finished} {drained.seconds:.1f} s after the last ack"
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
