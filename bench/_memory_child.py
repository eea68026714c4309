"""One memory measurement, run as a script in a fresh interpreter by `bench.session_memory`.

    python bench/_memory_child.py floor|investigation BASE_URL SESSION_ID [SESSION_ID ...]
        [--concurrency 4]

It imports what the investigator function imports (`fstriage.investigator_app`: boto3, Powertools,
the client, the core), reads its RSS (the baseline), resets the peak (`VmHWM`, by writing 5 to
/proc/self/clear_refs) and then:

- floor: reads one session's events answer with `urllib.request` and `json.loads` it, the least
  any reader of one answer holds at once;
- investigation: runs the real `Investigation` with the real `FullstoryClient` (as the investigator
  builds it: `pool_size=max(4, concurrency)`) on a `manual` request naming the sessions, at
  `concurrency` (the investigator's FETCH_CONCURRENCY), and checks that every session was summarised
  and digested.

It prints one line, `BENCH_RESULT {json}`, with the baseline, the peak and the growth in bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

API_KEY = "na1.bench-session-memory-key"


def status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")  # VmHWM := VmRSS


def floor(base_url: str, session_id: str) -> dict[str, object]:
    url = f"{base_url}/v2/sessions/{session_id.replace(':', '%3A')}/events"
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (our own 127.0.0.1 server)
        document = json.loads(answer.read())
    return {"events": len(document["events"])}


def investigation(base_url: str, session_ids: list[str], concurrency: int) -> dict[str, object]:
    from fstriage.adapters.fullstory import FullstoryClient  # noqa: PLC0415
    from fstriage.core.investigation import Finished, Investigation, InvestigationSettings  # noqa: PLC0415
    from fstriage.core.ratelimit import RateLimiter  # noqa: PLC0415
    from fstriage.core.request import Origin, Subject, Trigger, Window, build_request, isoformat  # noqa: PLC0415

    now = datetime.now(UTC)
    request = build_request(
        trigger=Trigger(
            kind="manual", source="cli", event_name="manual", event_id=None, occurred_at=isoformat(now)
        ),
        subject=Subject(session_ids=tuple(session_ids)),
        window=Window(start=isoformat(now - timedelta(days=8)), end=isoformat(now)),
        origin=Origin(org_id="o-BENCH-na1", delivery_key="bench-session-memory", received_at=isoformat(now)),
    )
    with FullstoryClient(
        API_KEY, base_url=base_url, rate_limiter=RateLimiter(1000, 1000), pool_size=max(4, concurrency)
    ) as client:
        settings = InvestigationSettings(
            org_id="o-BENCH-na1", max_sessions=len(session_ids), concurrency=concurrency
        )
        outcome = Investigation(client.with_deadline(None), settings).run(request)
    if not isinstance(outcome, Finished):
        raise SystemExit(f"expected a finished investigation, got {outcome!r}")
    evidence = outcome.evidence
    digested = [f.session_id for f in evidence.sessions if f.digest is not None and f.summary_text]
    if evidence.status != "complete" or sorted(digested) != sorted(session_ids):
        raise SystemExit(f"investigation {evidence.status}: {evidence.notes.sentences()}")
    return {"events": sum(f.digest.event_count for f in evidence.sessions if f.digest is not None)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("floor", "investigation"))
    parser.add_argument("base_url")
    parser.add_argument("session_ids", nargs="+")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    import fstriage.investigator_app  # noqa: F401, PLC0415 (the function's imports: the baseline)

    baseline = status_kib("VmRSS") * 1024
    reset_peak()
    if args.mode == "floor":
        result = floor(args.base_url, args.session_ids[0])
    else:
        result = investigation(args.base_url, args.session_ids, args.concurrency)
    peak = status_kib("VmHWM") * 1024
    result.update(mode=args.mode, baseline=baseline, peak=peak, growth=peak - baseline)
    sys.stdout.flush()
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
