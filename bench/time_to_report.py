"""Alert -> report latency through the local stack when the sandbox's export is ready after E seconds.

    .venv/bin/python -m bench.time_to_report [--ready-after 0,2,10,60] [--alerts 5] [--slow-alerts 3]
        [--today 2,60] [--keep DIR]

Two runs of the whole local stack (`fstriage_cli.local.LocalStack`, `port=0`, in-process: the built
webhook and investigator under the Lambda runtime emulator, moto, the function URL gateway, Lambda's
SQS poller, the report collector and the Fullstory sandbox, seed 7), one per mode:

- *inline*: the investigator as the template configures it (`EXPORT_INLINE_WAIT_SECONDS` at its
  default: a young export is polled in-process first);
- *today*: the same with `EXPORT_INLINE_WAIT_SECONDS=0`: every pending export is re-queued with
  `EXPORT_POLL_DELAY_SECONDS` (30 s, the template's), the behaviour before in-process polling.

For each E, the sandbox's `export_ready_after_seconds=E` makes every new export ready E seconds of
wall time after it started (its `estimatePctComplete` grows linearly meanwhile). Each alert is the
`events/` "Checkout errors" segment alert as a new delivery (its own `data.id`), signed with the
stack's secret just before its clock starts, POSTed to the function URL. Latency = from just before
the POST to the moment the report collector holds its report (EventBridge "Investigation Completed"
-> the report's S3 objects -> the reports folder), polled every 20 ms. Alerts with E <= 10 are sent
one at a time (the next once the previous one's queue is empty); with E > 10 (`--slow-alerts`) they
are sent 3 s apart, so both modes' chains of 30 s delays overlap instead of adding up.

Lambda time per alert: the investigator's invocations while the alerts were handled (the SQS
poller's, `LocalStack.invocations`), summed and divided by the alerts: the poller's round trip to the
emulator (`Invocation.duration`, >= the function's own time) and the emulator's own `INVOKE RTDONE ...
duration` (what Lambda bills, before rounding up to 1 ms). Floor: E itself (no report can come
before its export is ready); target: report p50 <= E + 3 s for E <= 10, and for E > 10 no more
Lambda time per alert in *inline* than in *today* (within 3 %, the run-to-run noise of that sum).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._fixture import apply_bench_environ
from bench._load_logs import INVESTIGATOR, rtdone_durations
from bench._report import Summary, machine, verdict
from fstriage.core.report import investigation_id_for
from fstriage_cli.local import LocalConfig, LocalStack, LocalStackError
from fstriage_cli.samples.payloads import CHECKOUT_ERRORS_ALERT
from fstriage_cli.webhook_send import send_signed

TARGET_OVERHEAD_SECONDS = 3.0
# Run-to-run noise of the summed RTDONE time per alert (two same-mode runs differed by up to 3 %).
COST_NOISE = 0.03
STAGGER_SECONDS = 3.0  # between alerts of a slow export
POLL_SECONDS = 0.02
REPORT_CAP_SECONDS = 300.0  # past E, per alert
MODES = {"inline": {}, "today": {"EXPORT_INLINE_WAIT_SECONDS": "0"}}


@dataclass(frozen=True, slots=True)
class Result:
    mode: str
    ready_after: float
    latencies: list[float]
    invocations: int
    lambda_seconds: float  # the poller's round trips, summed
    billed_seconds: float  # the emulator's RTDONE durations, summed
    polling_seconds: float  # RTDONE time of the invocations that did not report (see `_measure`)

    def per_alert(self, total: float) -> float:
        return total / len(self.latencies)


def _post(url: str, secret: str, org_id: str) -> str:
    """POST a new signed "Checkout errors" alert; its investigation ID."""
    alert = copy.deepcopy(CHECKOUT_ERRORS_ALERT)
    alert["data"]["id"] = f"segalert-bench-{uuid.uuid4().hex[:12]}"
    raw = json.dumps(alert, separators=(",", ":")).encode()
    sent = send_signed(url, raw, secret=secret, org_id=org_id, timeout=30)
    answer = sent.to_dict()["json"] or {}
    if sent.status != 202 or answer.get("status") != "queued":
        raise RuntimeError(f"the alert was not queued: {sent.status} {sent.body[:200]}")
    return investigation_id_for(str(answer["request_id"]))


def _reported(stack: LocalStack, investigation_id: str) -> bool:
    return any(r.investigation_id == investigation_id for r in stack.reports)


def _wait_idle(stack: LocalStack, cap: float = 60.0) -> None:
    """Until the investigation queue is empty (the last message is deleted after its invocation)."""
    ends = time.monotonic() + cap
    while time.monotonic() < ends:
        if not stack.queue_depth(stack.queue_url):
            time.sleep(0.3)  # the poller's bookkeeping after its delete
            return
        time.sleep(0.1)
    raise RuntimeError("the investigation queue did not empty")


def _billed(log_dir: Path) -> list[float]:
    return [d for path in sorted(log_dir.glob(f"{INVESTIGATOR}*.log")) for d in rtdone_durations(path)]


def _measure(stack: LocalStack, mode: str, ready_after: float, alerts: int, log_dir: Path) -> Result:
    assert stack.sandbox is not None
    stack.sandbox.faults.update(export_ready_after_seconds=ready_after)
    config = stack.config
    _wait_idle(stack)
    first_invocation = len(stack.invocations)
    billed_before = len(_billed(log_dir))
    latencies: list[float] = []
    if ready_after <= 10:
        for _ in range(alerts):
            started = time.monotonic()
            investigation_id = _post(stack.webhook_url, config.signing_secret, config.org_id)
            while not _reported(stack, investigation_id):
                if time.monotonic() - started > ready_after + REPORT_CAP_SECONDS:
                    raise RuntimeError(f"no report for {investigation_id}")
                time.sleep(POLL_SECONDS)
            latencies.append(time.monotonic() - started)
            _wait_idle(stack)
    else:
        sent: dict[str, float] = {}
        for index in range(alerts):
            if index:
                time.sleep(STAGGER_SECONDS)
            started = time.monotonic()
            sent[_post(stack.webhook_url, config.signing_secret, config.org_id)] = started
        done: dict[str, float] = {}
        while len(done) < len(sent):
            for investigation_id, started in sent.items():
                if investigation_id not in done and _reported(stack, investigation_id):
                    done[investigation_id] = time.monotonic() - started
            if time.monotonic() - min(sent.values()) > ready_after + REPORT_CAP_SECONDS:
                raise RuntimeError("reports missing")
            time.sleep(POLL_SECONDS)
        latencies = list(done.values())
        _wait_idle(stack)
    invocations = [
        i for i in list(stack.invocations)[first_invocation:] if i.function.startswith(INVESTIGATOR)
    ]
    time.sleep(0.5)  # the emulator's log is copied by a reader thread
    billed = _billed(log_dir)[billed_before:]
    # The longest invocation of each alert is the one that read the sessions and reported (its work is
    # the same in both modes); the rest only checked the export and re-queued, or waited for it.
    reporting = sorted(billed, reverse=True)[: len(latencies)]
    return Result(
        mode=mode,
        ready_after=ready_after,
        latencies=latencies,
        invocations=len(invocations),
        lambda_seconds=sum(i.result.duration for i in invocations),
        billed_seconds=sum(billed) / 1000.0,
        polling_seconds=(sum(billed) - sum(reporting)) / 1000.0,
    )


def _summary(samples: Sequence[float]) -> Summary:
    """`Summary.of`, which needs two samples; a single alert is its own median, p90 and minimum."""
    if len(samples) < 2:
        return Summary(len(samples), samples[0], samples[0], samples[0])
    return Summary.of(samples)


def _print(result: Result) -> None:
    summary = _summary(result.latencies)
    line = (
        f"  {result.mode:6s} E={result.ready_after:4g} s  alerts={len(result.latencies)}  "
        f"report p50 {summary.median:6.2f} s  p90 {summary.p90:6.2f} s  min {summary.minimum:6.2f} s  "
        f"(p50 - E = {summary.median - result.ready_after:5.2f} s)  investigator: "
        f"{result.invocations / len(result.latencies):.1f} invocations, "
        f"{result.per_alert(result.lambda_seconds):6.2f} s (poller), "
        f"{result.per_alert(result.billed_seconds):6.2f} s (RTDONE) per alert, of which "
        f"{result.per_alert(result.polling_seconds):5.3f} s outside the reporting invocation"
    )
    print(line, flush=True)


def run_mode(mode: str, plan: list[tuple[float, int]], work: Path) -> list[Result]:
    log_dir = work / mode / "logs"
    config = LocalConfig(
        port=0,
        reports_dir=work / mode / "reports",
        log_dir=log_dir,
        function_env={INVESTIGATOR: dict(MODES[mode])},
        investigator_concurrency=1,
    )
    results = []
    with LocalStack(config) as stack:
        print(f"{mode}: local stack up in {stack.startup_seconds:.1f} s; warming up", flush=True)
        _measure(stack, mode, 0.0, 1, log_dir)  # cold starts and first clients, not counted
        for ready_after, alerts in plan:
            result = _measure(stack, mode, ready_after, alerts, log_dir)
            _print(result)
            results.append(result)
    return results


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.time_to_report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--ready-after", default="0,2,10,60", help="E values, seconds (inline mode)")
    parser.add_argument("--alerts", type=int, default=5, help="alerts per E <= 10")
    parser.add_argument("--slow-alerts", type=int, default=3, help="alerts per E > 10")
    parser.add_argument("--today", default="2,60", help="E values for the inline-wait-0 mode ('' skips it)")
    parser.add_argument("--keep", type=Path, default=None, help="keep reports and logs in this folder")
    args = parser.parse_args(argv)
    apply_bench_environ()

    def plan(values: list[float]) -> list[tuple[float, int]]:
        return [(e, args.alerts if e <= 10 else args.slow_alerts) for e in values]

    print("time_to_report: alert -> report through the local stack, export ready after E seconds")
    print(f"  {machine()}")
    with tempfile.TemporaryDirectory(prefix="fstriage-ttr-") as scratch:
        work = args.keep or Path(scratch)
        try:
            results = run_mode("inline", plan(_floats(args.ready_after)), work)
            today = _floats(args.today)
            results += run_mode("today", plan(today), work) if today else []
        except LocalStackError as error:
            print(f"the local stack could not run: {error}", file=sys.stderr)
            return 2
    print("\nsummary (floor = E: no report before its export is ready)")
    status = 0
    for result in results:
        _print(result)
        if result.mode == "inline" and 0 < result.ready_after <= 10:
            target = verdict(_summary(result.latencies).median, result.ready_after + TARGET_OVERHEAD_SECONDS)
            status = status or (target == "MISS")
            print(f"    target p50 <= E + {TARGET_OVERHEAD_SECONDS:g} s: {target}")
    by_key = {(r.mode, r.ready_after): r for r in results}
    for ready_after in sorted({r.ready_after for r in results}):
        inline, before = by_key.get(("inline", ready_after)), by_key.get(("today", ready_after))
        if inline is None or before is None:
            continue
        ratio = inline.per_alert(inline.billed_seconds) / before.per_alert(before.billed_seconds)
        cost = verdict(ratio, 1.0 + COST_NOISE)
        print(
            f"  E={ready_after:g} s: investigator RTDONE time per alert inline / today = {ratio:.3f}"
            + (f" (target <= 1 + {COST_NOISE:g} noise: {cost})" if ready_after > 10 else "")
        )
        if ready_after > 10:
            status = status or (cost == "MISS")
    return int(status)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
