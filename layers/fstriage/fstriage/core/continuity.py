"""Continuity: what is new since the last report on the same subject (pure).

Each report names its **subject key**: the segment of a segment alert or watched segment
(`segment:<id>`, or `segment-name:<name>` when an alert names its segment only by name), the metric
of a metric alert (`metric:<name>`, plus `|segment:<id>` when the metric is mapped to one), and the
user of a note, custom event, Stream or manual run (`user:<uid>`, else `email:<email>`, else
`session:<id>` when the user is unknown).

The previous report for that key, when there is one inside the horizon, is read from a pointer
(`ContinuityStore`, DynamoDB in production). Each error group of the new report is then, by its
normalised signature, `new` (not in the previous report) or `ongoing` (in it; `ongoing_since` is
when it was first reported, carried from report to report), and the previous report's groups that
are not seen now are `gone`. A first report has no previous one: every group is `new`.

The pointer holds the previous report's groups, so no old report is read from S3. It also keeps the
report before that (`prior`), so a retry of an investigation whose pointer was already written still
compares with the report before it rather than with itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from fstriage.core.request import SEGMENT_KINDS, InvestigationRequest, parse_isoformat

GroupState = Literal["new", "ongoing"]
DEFAULT_HORIZON_DAYS = 7
# A pointer keeps at most this many groups: DynamoDB items are bounded (400 KB), reports keep 25.
MAX_REMEMBERED_GROUPS = 100


@dataclass(frozen=True, slots=True)
class RememberedGroup:
    kind: str
    signature: str
    since: str  # when it was first reported for this subject
    last_seen: str | None


@dataclass(frozen=True, slots=True)
class ReportPointer:
    """What a later report needs of an earlier one on the same subject."""

    investigation_id: str
    generated_at: str
    json_key: str | None
    groups: tuple[RememberedGroup, ...] = ()

    def to_item(self) -> dict[str, Any]:
        return {
            "investigation_id": self.investigation_id,
            "generated_at": self.generated_at,
            "json_key": self.json_key,
            "groups": [
                {"kind": g.kind, "signature": g.signature, "since": g.since, "last_seen": g.last_seen}
                for g in self.groups
            ],
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ReportPointer | None:
        """A stored pointer, or None when it is not one (an older or foreign item)."""
        investigation_id, generated_at = item.get("investigation_id"), item.get("generated_at")
        if not (isinstance(investigation_id, str) and isinstance(generated_at, str)):
            return None
        groups = []
        for raw in item.get("groups") or []:
            if isinstance(raw, Mapping) and isinstance(raw.get("signature"), str):
                groups.append(
                    RememberedGroup(
                        kind=str(raw.get("kind") or ""),
                        signature=str(raw["signature"]),
                        since=str(raw.get("since") or generated_at),
                        last_seen=raw.get("last_seen") if isinstance(raw.get("last_seen"), str) else None,
                    )
                )
        json_key = item.get("json_key")
        return cls(
            investigation_id, generated_at, json_key if isinstance(json_key, str) else None, tuple(groups)
        )


@dataclass(frozen=True, slots=True)
class StoredPointer:
    """The latest report on a subject, and the one before it."""

    latest: ReportPointer
    prior: ReportPointer | None = None


class ContinuityStore(Protocol):
    def latest(self, subject_key: str) -> StoredPointer | None:
        """The pointer for a subject; None when there is none. Raises DependencyUnavailable."""

    def remember(self, subject_key: str, pointer: StoredPointer, *, expires_at: int) -> bool:
        """Store `pointer` unless a newer report on the subject is already stored (a conditional
        write); returns whether it was stored. Raises DependencyUnavailable."""


@dataclass(frozen=True, slots=True)
class Continuity:
    subject_key: str
    horizon_days: int
    previous: ReportPointer | None
    states: dict[str, GroupState]  # signature -> state, for this report's groups
    since: dict[str, str]  # signature -> when it was first reported
    gone: tuple[RememberedGroup, ...] = ()
    new: tuple[str, ...] = field(default_factory=tuple)  # signatures, in the report's order

    def to_dict(self) -> dict[str, Any]:
        previous = self.previous
        return {
            "subject_key": self.subject_key,
            "previous": {
                "investigation_id": previous.investigation_id,
                "generated_at": previous.generated_at,
                "json_key": previous.json_key,
            }
            if previous
            else None,
            "horizon_days": self.horizon_days,
            "new": list(self.new),
            "gone": [{"kind": g.kind, "signature": g.signature, "last_seen": g.last_seen} for g in self.gone],
        }

    def headline_words(self) -> str | None:
        """What leads the headline: the new groups, or that nothing is new; None for a first report."""
        if self.previous is None:
            return None
        if self.new:
            more = f" (+{len(self.new) - 1} more)" if len(self.new) > 1 else ""
            return f"new since the last report: {self.new[0]}{more}"
        ongoing = sum(1 for state in self.states.values() if state == "ongoing")
        if ongoing:
            return f"nothing new since the last report ({ongoing} ongoing)"
        return "nothing new since the last report"


def subject_key(
    request: InvestigationRequest,
    *,
    segment_id: str | None,
    uid: str | None,
    email: str | None,
    mapped_segment: str | None = None,
) -> str | None:
    """The key reports on the same subject share; None when the request names nothing stable."""
    trigger, alert = request.trigger, request.trigger.alert
    if trigger.kind in SEGMENT_KINDS:
        segment = segment_id or (alert.segment_id if alert else None)
        if segment:
            return f"segment:{segment}"
        name = alert.segment_name if alert else None
        return f"segment-name:{name}" if name else None
    if trigger.kind == "metric_alert":
        metric = alert and (alert.metric_name or alert.name)
        if not metric:
            return None
        return f"metric:{metric}" + (f"|segment:{mapped_segment}" if mapped_segment else "")
    if uid:
        return f"user:{uid}"
    if email:
        return f"email:{email.strip().lower()}"
    sessions = request.subject.session_ids
    return f"session:{sessions[0]}" if sessions else None


def store_id(key: str) -> str:
    """The pointer's item id: a hash, so the table holds no uid or email."""
    return "subject#" + hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()


def followed(stored: StoredPointer | None, investigation_id: str) -> bool:
    """Whether this investigation is a late retry of a report that a newer one already follows: it
    compares with nothing known and must never replace that newer pointer."""
    return bool(stored and stored.prior and stored.prior.investigation_id == investigation_id)


def previous_for(stored: StoredPointer | None, investigation_id: str) -> ReportPointer | None:
    """The report to compare with: the latest, unless it is this investigation's own (a retry)."""
    if stored is None or followed(stored, investigation_id):
        return None
    if stored.latest.investigation_id == investigation_id:
        return stored.prior  # a retry of the latest report
    return stored.latest


def classify(
    key: str,
    groups: Sequence[Mapping[str, Any]],
    previous: ReportPointer | None,
    *,
    generated_at: str,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> Continuity:
    """States for `groups` (the report's `error_groups`) against `previous`, when it is inside the horizon."""
    if previous is not None and _older_than(previous.generated_at, generated_at, horizon_days):
        previous = None
    before = {g.signature: g for g in previous.groups} if previous else {}
    states: dict[str, GroupState] = {}
    since: dict[str, str] = {}
    for group in groups:
        signature = str(group["signature"])
        remembered = before.get(signature)
        states[signature] = "ongoing" if remembered else "new"
        since[signature] = remembered.since if remembered else str(group.get("first_seen") or generated_at)
    gone = tuple(g for g in before.values() if g.signature not in states)
    new = tuple(signature for signature, state in states.items() if state == "new")
    return Continuity(key, horizon_days, previous, states, since, gone, new)


def pointer_from_report(report: Mapping[str, Any], json_key: str | None) -> ReportPointer:
    """What the next report on the subject compares with: this report's groups, each with when it
    was first reported (carried over for `ongoing` ones)."""
    generated_at = str(report["generated_at"])
    remembered = tuple(
        RememberedGroup(
            kind=str(group["kind"]),
            signature=str(group["signature"]),
            since=str(
                (group.get("ongoing_since") if group.get("state") == "ongoing" else None)
                or group.get("first_seen")
                or generated_at
            ),
            last_seen=group.get("last_seen") if isinstance(group.get("last_seen"), str) else None,
        )
        for group in list(report.get("error_groups") or [])[:MAX_REMEMBERED_GROUPS]
    )
    return ReportPointer(str(report["investigation_id"]), generated_at, json_key, remembered)


def expiry(generated_at: str, horizon_days: int) -> int:
    """When a pointer may go (epoch seconds): after the horizon it is never compared with again."""
    return int((parse_isoformat(generated_at) + timedelta(days=horizon_days + 1)).timestamp())


def _older_than(earlier: str, now: str, days: int) -> bool:
    try:
        return parse_isoformat(now) - parse_isoformat(earlier) > timedelta(days=days)
    except ValueError:
        return True


def ongoing_for(since: str, now: str) -> timedelta | None:
    try:
        return max(parse_isoformat(now) - parse_isoformat(since), timedelta(0))
    except ValueError:
        return None
