"""The report: JSON for machines (schemas/report.schema.json) and short Markdown for people and LLMs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from fstriage.core.continuity import Continuity, ongoing_for
from fstriage.core.digest import ErrorGroup, SessionDigest, group_errors
from fstriage.core.digest.text import clip
from fstriage.core.fullstory_models import FullstoryUsage
from fstriage.core.investigation import Evidence, SessionFindings
from fstriage.core.redact import mask_email
from fstriage.core.republish import typed_properties
from fstriage.core.request import SEGMENT_KINDS, InvestigationRequest, isoformat

REPORT_SCHEMA_VERSION = 1
MAX_ERROR_GROUPS = 25
MAX_SIGNALS_PER_SESSION = 20
MARKDOWN_GROUPS = 5
MARKDOWN_SUMMARY_CHARS = 240
MARKDOWN_EXAMPLE_CHARS = 120
HEADLINE_CHARS = 300


def investigation_id_for(request_id: str) -> str:
    """Stable per request, so a redelivered request overwrites its report instead of adding one."""
    return "inv_" + request_id.removeprefix("req_")


def build_report(
    evidence: Evidence,
    usage: FullstoryUsage,
    generated_at: datetime,
    *,
    previous: Callable[[list[dict[str, Any]]], Continuity | None] | None = None,
) -> dict[str, Any]:
    """The report JSON. `previous` classifies its error groups against the last report on the same
    subject (`core.continuity`); without it the report has no `continuity` and its groups no state."""
    request = evidence.request
    fallback = {digest.session_id: digest for digest in evidence.fallback_digests}
    digests = [f.digest for f in evidence.sessions if f.digest] + list(fallback.values())
    groups = group_errors(digests, limit=MAX_ERROR_GROUPS)
    group_dicts = [group.to_dict() | {"hits": _hits(group, digests)} for group in groups]
    continuity = previous(group_dicts) if previous else None
    if continuity is not None:
        for group in group_dicts:
            state = continuity.states.get(group["signature"])
            group["state"] = state
            group["ongoing_since"] = continuity.since.get(group["signature"]) if state == "ongoing" else None
    sessions = [_session(finding, fallback.get(finding.session_id)) for finding in evidence.sessions]
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "investigation_id": investigation_id_for(request.request_id),
        "request_id": request.request_id,
        "status": evidence.status,
        "generated_at": isoformat(generated_at),
        "headline": _headline(evidence, groups, continuity),
        "trigger": _trigger(request, evidence),
        "window": {"start": request.window.start, "end": request.window.end},
        "sessions": sessions,
        "error_groups": group_dicts,
        # What is new since the last report on the same subject; absent when it could not be known.
        **({"continuity": continuity.to_dict()} if continuity else {}),
        # Error-bearing events no convention could read (key names only); absent when there were none.
        **({"unread_events": evidence.unread.to_dict()} if evidence.unread else {}),
        # The user's sessions, when all of them lie outside the window (so it can be widened).
        **({"outside_window": evidence.outside_window.to_dict()} if evidence.outside_window else {}),
        # Notes may quote a metric or segment name, and error details: people read them (Markdown, Slack).
        "notes": [mask_email(note) for note in evidence.notes.sentences()],
        # Writes are server events Fullstory accepted (write-back); their calls are in fullstory_calls too.
        "cost": {
            "fullstory_calls": usage.calls,
            "activations": usage.activations,
            "fullstory_writes": usage.writes,
        },
    }
    report["quiet"] = is_quiet(report)
    return report


def is_quiet(report: dict[str, Any]) -> bool:
    """Nothing new to tell: no error groups, or every group `ongoing` (continuity's `state`; a group
    without one counts as new). Never when a silence could hide a problem: a failed report, unreadable
    error-bearing events, an alert's report that read no session, or a session whose events were read
    neither from Fullstory nor from the export's rows. Quiet reports are stored and announced, not
    posted to Slack unless SLACK_QUIET_REPORTS says so."""
    if report["status"] == "failed" or report.get("unread_events"):
        return False
    if any(s["signal_source"] is None for s in report["sessions"]):
        return False
    if not report["sessions"] and (report.get("trigger") or {}).get("kind") != "scheduled":
        # An alert or event whose report read no session (an unmapped metric, a user with none in the
        # window) still tells someone something; only a watched segment's empty period is quiet.
        return False
    return all(group.get("state") == "ongoing" for group in report["error_groups"])


def _hits(group: ErrorGroup, digests: list[SessionDigest]) -> list[dict[str, Any]]:
    """When the group hit each of its sessions (the HTML timeline): the session's own first and last
    occurrence and count, which a session's `signals` may not keep (they are capped per session)."""
    hits: list[dict[str, Any]] = []
    seen: set[str] = set()
    for digest in digests:
        if digest.session_id not in group.sessions or digest.session_id in seen:
            continue
        for signal in digest.signals:
            if signal.signature == group.signature:
                hits.append(
                    {
                        "session_id": digest.session_id,
                        "first_seen": signal.first_seen,
                        "last_seen": signal.last_seen,
                        "count": signal.count,
                    }
                )
                seen.add(digest.session_id)
                break
    return hits


def _session(finding: SessionFindings, fallback: SessionDigest | None) -> dict[str, Any]:
    digest = finding.digest or fallback
    return {
        "session_id": finding.session_id,
        "replay_url": finding.replay_url,
        "created_at": finding.created_at,
        "user": {"uid": finding.uid, "email": finding.email, "display_name": finding.display_name},
        "summary": {
            "available": finding.summary_text is not None or finding.summary_response is not None,
            "text": finding.summary_text,
            "unavailable_reason": finding.summary_unavailable,
            # The profile's structured answer, kept whole: a machine reads it, not only the text.
            **({"response": finding.summary_response} if finding.summary_response is not None else {}),
        },
        "signals": [signal.to_dict() for signal in digest.signals[:MAX_SIGNALS_PER_SESSION]]
        if digest
        else [],
        "signal_source": digest.source if digest else None,
        "unclassified": dict(digest.unclassified) if digest else {},
        "unread_keys": {kind: list(keys) for kind, keys in digest.unread_keys.items()} if digest else {},
        "event_count": digest.event_count if digest else 0,
        "error_signal_count": digest.error_signal_count if digest else 0,
        "events_available": finding.digest is not None,
        "events_unavailable_reason": finding.events_unavailable,
    }


def _trigger(request: InvestigationRequest, evidence: Evidence) -> dict[str, Any]:
    trigger = request.trigger
    alert = trigger.alert
    segment = evidence.segment
    properties = typed_properties(trigger.properties)
    return {
        "kind": trigger.kind,
        "event_name": trigger.event_name,
        "occurred_at": trigger.occurred_at,
        "text": trigger.text,
        # A custom event's properties typed by their Fullstory suffixes; a Stream's context fields.
        "properties": properties.values,
        "untyped_properties": properties.untyped,
        "page_url": trigger.page_url,
        "alert": asdict(alert) if alert else None,
        "segment": {
            "id": (segment.id if segment else None) or (alert.segment_id if alert else None),
            "name": (segment.name if segment else None) or (alert.segment_name if alert else None),
            "url": (alert.segment_url if alert else None) or (segment.url if segment else None),
        }
        if trigger.kind in SEGMENT_KINDS
        else None,
        "subject": {
            "session_ids": list(request.subject.session_ids),
            "uid": request.subject.uid,
            "email": request.subject.email,
            # Which identity listed the user's sessions: "email" when the uid listed none (or back).
            "matched_by": evidence.matched_by,
        },
    }


def _label(request: InvestigationRequest) -> str:
    trigger = request.trigger
    alert = trigger.alert
    if trigger.kind == "segment_alert":
        name = (alert and (alert.segment_name or alert.name)) or "unnamed"
        # `fstriage investigate --segment` runs the same flow without an alert.
        return f'Segment "{name}"' if trigger.source == "cli" else f'Segment alert "{name}"'
    if trigger.kind == "scheduled":
        # A watched segment's periodic run (`core.watch`): the segment's name when known, else its ID.
        name = (alert and (alert.segment_name or alert.segment_id)) or "unnamed"
        return f'Watched segment "{name}"'
    if trigger.kind == "metric_alert":
        return f'Metric alert "{(alert and (alert.name or alert.metric_name)) or "unnamed"}"'
    if trigger.kind == "note":
        return "Note on a session"
    if trigger.kind == "custom_event":
        return f'Custom event "{trigger.text}"'
    if trigger.kind == "manual":
        return "Manual investigation"
    return f'Stream "{trigger.text}"' if trigger.text else "Stream event"


def _headline(evidence: Evidence, groups: list[ErrorGroup], continuity: Continuity | None = None) -> str:
    label = _label(evidence.request)
    text = _headline_text(evidence, groups, label)
    news = continuity.headline_words() if continuity and not evidence.fatal else None
    if news:
        text = text.replace(f"{label}: ", f"{label}: {news}; ", 1)  # what is new leads
    # The label quotes alert, metric, custom-event and stream names, which anyone may have typed an
    # email into; the headline goes to the Markdown, Slack and EventBridge.
    return clip(mask_email(text), HEADLINE_CHARS)


def _headline_text(evidence: Evidence, groups: list[ErrorGroup], label: str) -> str:
    sessions = evidence.sessions
    if evidence.fatal:
        text = f"{label}: could not be investigated; see notes"
    elif not sessions and evidence.outside_window is not None:
        outside = evidence.outside_window
        many = f"{'at least ' if outside.at_least else ''}{outside.count}"
        newest = f", the newest at {outside.newest}" if outside.newest else ""
        text = f"{label}: no sessions in the window; {many} outside it{newest}; see notes"
    elif not sessions:
        text = f"{label}: no sessions to investigate in the window"
    elif groups:
        hit = sum(1 for f in sessions if (f.digest and f.digest.error_signal_count))
        top = groups[0]
        text = (
            f"{label}: errors in {max(hit, len(top.sessions))} of {len(sessions)} sessions; "
            f"top: {top.signature} ({len(top.sessions)} sessions)"
        )
        if evidence.unread is not None:
            text += f"; {_unread_words(evidence.unread.count)} could not be read"
    else:
        # "No errors" only speaks for sessions whose events (or export rows) were read.
        fallback = {digest.session_id for digest in evidence.fallback_digests}
        read = sum(1 for f in sessions if f.digest is not None or f.session_id in fallback)
        if read == 0:
            text = f"{label}: events unavailable for all {len(sessions)} sessions; see notes"
        elif evidence.unread is not None:
            # Unreadable events may be the errors: never call that "no errors found".
            plural = "" if read == 1 else "s"
            scope = (
                f"{read} session{plural}"
                if read == len(sessions)
                else f"the {read} of {len(sessions)} sessions"
            )
            text = (
                f"{label}: no errors read in {scope}: {_unread_words(evidence.unread.count)} of "
                "error-bearing types could not be read; see notes"
            )
        elif read < len(sessions):
            text = (
                f"{label}: no errors found in the {read} of {len(sessions)} sessions whose events were read"
            )
        else:
            text = f"{label}: no errors found in {len(sessions)} sessions"
    return text


def _unread_words(count: int) -> str:
    return f"{count} event{'' if count == 1 else 's'}"


def render_markdown(report: dict[str, Any]) -> str:
    """The low-token view: headline, top error groups, one line per session, notes."""
    cost = report["cost"]
    trigger = report["trigger"]
    lines = [
        f"# {mask_email(report['headline'])}",
        "",
        f"**Status:** {report['status']} · "
        f"**Trigger:** `{trigger['event_name']}` at {trigger['occurred_at']} · "
        f"**Window:** {report['window']['start']} → {report['window']['end']}",
        f"**Fullstory:** {cost['fullstory_calls']} API calls, {cost['activations']} Activations"
        + (f", {cost['fullstory_writes']} events written" if cost.get("fullstory_writes") else "")
        + " · "
        f"**Investigation:** `{report['investigation_id']}`",
    ]
    if trigger.get("text"):
        lines += ["", f"> {mask_email(clip(trigger['text'], MARKDOWN_SUMMARY_CHARS))}"]
    context = _trigger_context(trigger)
    if context:
        lines += ["", *context]
    groups = report["error_groups"]
    if groups:
        shown = groups[:MARKDOWN_GROUPS]
        lines += ["", f"## Error groups (top {len(shown)} of {len(groups)})"]
        for rank, group in enumerate(shown, start=1):
            sessions = len(group["sessions"])
            plural = "s" if sessions != 1 else ""
            lines.append(
                f"{rank}. {_state_mark(group, report['generated_at'])}**{group['kind']}** "
                f"`{group['signature']}`: {sessions} session{plural}, "
                f"{group['count']}x, last {group['last_seen'] or 'unknown'}"
            )
            if group["example"]:
                lines.append(f"   e.g. `{mask_email(clip(group['example'], MARKDOWN_EXAMPLE_CHARS))}`")
    lines += _continuity_lines(report.get("continuity"))
    if report["sessions"]:
        lines += ["", f"## Sessions ({len(report['sessions'])})"]
        lines += [line for session in report["sessions"] for line in _session_lines(session)]
    if report["notes"]:
        lines += ["", "## Notes"]
        lines += [f"- {mask_email(note)}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def _state_mark(group: dict[str, Any], generated_at: str) -> str:
    if group.get("state") == "new":
        return "**new** · "
    if group.get("state") == "ongoing":
        since = group.get("ongoing_since")
        lasted = ongoing_for(since, generated_at) if since else None
        return f"ongoing{f' for {_duration(lasted)}' if lasted is not None else ''} · "
    return ""


def _continuity_lines(continuity: dict[str, Any] | None) -> list[str]:
    """The previous report on the subject, and the groups it had that are gone now."""
    if not continuity:
        return []
    previous = continuity.get("previous")
    if not previous:
        return [
            "",
            f"First report on `{mask_email(continuity['subject_key'])}` "
            f"in {continuity['horizon_days']} days: every group is new.",
        ]
    lines = [
        "",
        f"**Since the last report** (`{previous['investigation_id']}`, {previous['generated_at']}): "
        f"{len(continuity['new'])} new, {len(continuity['gone'])} gone.",
    ]
    lines += [f"- gone: **{g['kind']}** `{g['signature']}`" for g in continuity["gone"][:MARKDOWN_GROUPS]]
    return lines


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _trigger_context(trigger: dict[str, Any]) -> list[str]:
    """A custom event's properties and page, a Stream's context fields: one clipped line each."""
    lines = []
    properties = trigger.get("properties") or {}
    if properties:
        shown = " · ".join(
            f"`{name}` {json.dumps(value, ensure_ascii=False)}" for name, value in properties.items()
        )
        untyped = trigger.get("untyped_properties") or []
        if untyped:
            shown += f" (not of their suffix's type: {', '.join(untyped)})"
        lines.append(f"**Properties:** {mask_email(clip(shown, MARKDOWN_SUMMARY_CHARS))}")
    if trigger.get("page_url"):
        lines.append(f"**Page:** {mask_email(clip(trigger['page_url'], MARKDOWN_EXAMPLE_CHARS))}")
    return lines


def signals_text(session: Mapping[str, Any]) -> str:
    """A report session's signals in one line, for the Markdown and the HTML: occurrences per kind, most
    first, what the list leaves out, and why events are missing."""
    counts: dict[str, int] = {}
    for signal in session.get("signals") or []:
        if isinstance(signal, Mapping):
            kind = str(signal.get("kind"))
            counts[kind] = counts.get(kind, 0) + int(signal.get("count") or 0)
    ranked = sorted(counts.items(), key=lambda kind_count: -kind_count[1])
    text = ", ".join(f"{kind} x{count}" for kind, count in ranked)
    # The JSON keeps a session's first signals only; say how many occurrences are not counted above.
    unlisted = int(session.get("error_signal_count") or 0) - sum(counts.values())
    if text and unlisted > 0:
        text += f", +{unlisted} more"
    if session.get("events_available") is False:
        reason = session.get("events_unavailable_reason")
        text = (text + " (from the segment export)") if text else f"events unavailable ({reason})"
    return text or "no error signals"


def _session_lines(session: dict[str, Any]) -> list[str]:
    user = session["user"]
    who = mask_email(user["uid"] or user["email"] or "unidentified user")  # a uid is often an email
    lines = [f"- [{session['session_id']}]({session['replay_url']}) · {who} · {signals_text(session)}"]
    summary = session["summary"]
    if summary["text"]:
        lines.append(
            f"  - AI summary: {mask_email(clip(' '.join(summary['text'].split()), MARKDOWN_SUMMARY_CHARS))}"
        )
    return lines
