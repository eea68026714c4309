"""The report: JSON for machines (schemas/report.schema.json) and short Markdown for people and LLMs."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fstriage.core.digest import ErrorGroup, SessionDigest, group_errors
from fstriage.core.fullstory_models import FullstoryUsage
from fstriage.core.investigation import Evidence, SessionFindings
from fstriage.core.redact import mask_email
from fstriage.core.republish import typed_properties
from fstriage.core.request import InvestigationRequest, isoformat

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


def build_report(evidence: Evidence, usage: FullstoryUsage, generated_at: datetime) -> dict[str, Any]:
    request = evidence.request
    fallback = {digest.session_id: digest for digest in evidence.fallback_digests}
    digests = [f.digest for f in evidence.sessions if f.digest] + list(fallback.values())
    groups = group_errors(digests, limit=MAX_ERROR_GROUPS)
    sessions = [_session(finding, fallback.get(finding.session_id)) for finding in evidence.sessions]
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "investigation_id": investigation_id_for(request.request_id),
        "request_id": request.request_id,
        "status": evidence.status,
        "generated_at": isoformat(generated_at),
        "headline": _headline(evidence, groups),
        "trigger": _trigger(request, evidence),
        "window": {"start": request.window.start, "end": request.window.end},
        "sessions": sessions,
        "error_groups": [group.to_dict() for group in groups],
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
        if trigger.kind == "segment_alert"
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
    if trigger.kind == "metric_alert":
        return f'Metric alert "{(alert and (alert.name or alert.metric_name)) or "unnamed"}"'
    if trigger.kind == "note":
        return "Note on a session"
    if trigger.kind == "custom_event":
        return f'Custom event "{trigger.text}"'
    if trigger.kind == "manual":
        return "Manual investigation"
    return f'Stream "{trigger.text}"' if trigger.text else "Stream event"


def _headline(evidence: Evidence, groups: list[ErrorGroup]) -> str:
    label = _label(evidence.request)
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
    # The label quotes alert, metric, custom-event and stream names, which anyone may have typed an
    # email into; the headline goes to the Markdown, Slack and EventBridge.
    return _clip(mask_email(text), HEADLINE_CHARS)


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
        lines += ["", f"> {mask_email(_clip(trigger['text'], MARKDOWN_SUMMARY_CHARS))}"]
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
                f"{rank}. **{group['kind']}** `{group['signature']}`: {sessions} session{plural}, "
                f"{group['count']}x, last {group['last_seen'] or 'unknown'}"
            )
            if group["example"]:
                lines.append(f"   e.g. `{mask_email(_clip(group['example'], MARKDOWN_EXAMPLE_CHARS))}`")
    if report["sessions"]:
        lines += ["", f"## Sessions ({len(report['sessions'])})"]
        lines += [line for session in report["sessions"] for line in _session_lines(session)]
    if report["notes"]:
        lines += ["", "## Notes"]
        lines += [f"- {mask_email(note)}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


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
        lines.append(f"**Properties:** {mask_email(_clip(shown, MARKDOWN_SUMMARY_CHARS))}")
    if trigger.get("page_url"):
        lines.append(f"**Page:** {mask_email(_clip(trigger['page_url'], MARKDOWN_EXAMPLE_CHARS))}")
    return lines


def _session_lines(session: dict[str, Any]) -> list[str]:
    user = session["user"]
    who = mask_email(user["uid"] or user["email"] or "unidentified user")  # a uid is often an email
    counts: dict[str, int] = {}
    for signal in session["signals"]:
        counts[signal["kind"]] = counts.get(signal["kind"], 0) + signal["count"]
    ranked = sorted(counts.items(), key=lambda kind_count: -kind_count[1])
    signals = ", ".join(f"{kind} x{count}" for kind, count in ranked)
    # The JSON keeps a session's first signals only; say how many occurrences are not counted above.
    unlisted = session["error_signal_count"] - sum(counts.values())
    if signals and unlisted > 0:
        signals += f", +{unlisted} more"
    if not session["events_available"]:
        source = " (from the segment export)" if session["signals"] else ""
        signals = (
            (signals + source) if signals else f"events unavailable ({session['events_unavailable_reason']})"
        )
    lines = [
        f"- [{session['session_id']}]({session['replay_url']}) · {who} · {signals or 'no error signals'}"
    ]
    summary = session["summary"]
    if summary["text"]:
        lines.append(
            f"  - AI summary: {mask_email(_clip(' '.join(summary['text'].split()), MARKDOWN_SUMMARY_CHARS))}"
        )
    return lines


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
