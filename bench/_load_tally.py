"""Count the load benchmark's outcomes: accepted, lost, duplicated, investigated, dead-lettered.

Definitions are in bench/README.md ("load", Counts). The inputs are the deliveries and their answers,
the collected reports, the dead-letter queue's request_ids and the investigator's log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bench._load_client import Answer
from bench._load_deliveries import Delivery
from bench._load_logs import InvestigatorLog
from fstriage_cli.local import CollectedReport


@dataclass(slots=True)
class Tally:
    accepted: set[str]  # request_ids answered 202 queued
    distinct_sent: int
    not_accepted: Counter[tuple[int, str]]
    investigated: set[str]
    lost: set[str]
    duplicated: set[str]
    dead: set[str]
    dlq_messages: int
    statuses: Counter[str]
    wrong_subject: int  # note/custom reports that do not name the delivery's session first
    replays: dict[str, Counter[tuple[int, str]]]
    same_request_id: int  # replays answered with their original's request_id


def _key(answer: Answer) -> tuple[int, str]:
    return answer.status, answer.outcome or answer.error or ""


def tally(
    deliveries: Sequence[Delivery],
    answers: Sequence[Answer],
    *,
    warm_ids: set[str],
    reports: Sequence[CollectedReport],
    dlq: Counter[str],
    logs: InvestigatorLog,
) -> Tally:
    pairs = list(zip(deliveries, answers, strict=True))
    accepted = {a.request_id for _, a in pairs if a.status == 202 and a.outcome == "queued" and a.request_id}
    distinct = [a for d, a in pairs if d.replay_of is None]
    reported: Counter[str] = Counter(str(r.detail.get("request_id")) for r in reports)
    named = {a.request_id: d.session_id for d, a in pairs if a.request_id and d.session_id}
    wrong = 0
    seen: set[str] = set()
    for report in reports:
        request_id = str(report.detail.get("request_id"))
        if request_id in named and request_id not in seen:
            seen.add(request_id)
            sessions = report.load().get("sessions") or [{}]
            wrong += sessions[0].get("session_id") != named[request_id]
    return Tally(
        accepted=accepted,
        distinct_sent=len(distinct),
        not_accepted=Counter(_key(a) for a in distinct if not (a.status == 202 and a.request_id)),
        investigated={rid for rid in accepted if reported[rid]},
        lost={rid for rid in accepted if not reported[rid] and not dlq[rid]},
        duplicated={rid for rid in accepted | warm_ids if reported[rid] > 1 or logs.finished[rid] > 1},
        dead={rid for rid in accepted if dlq[rid]},
        dlq_messages=sum(dlq.values()),
        statuses=Counter(r.status for r in reports if r.detail.get("request_id") in accepted),
        wrong_subject=wrong,
        replays={
            kind: Counter(_key(a) for d, a in pairs if d.kind == kind) for kind in ("replay", "resigned")
        },
        same_request_id=sum(
            1 for d, a in pairs if d.replay_of is not None and a.request_id == answers[d.replay_of].request_id
        ),
    )
