"""What the API serves about a session, from its raw events: Generate Context, the summary, export rows.

Each follows Fullstory's documented answer shape; the classification (which raw event is a rage
click, a network error, an uncaught exception) is the sandbox's own, kept consistent across the three.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fstriage_cli.sandbox.model import AGENTS, SandboxData, SandboxSession, isoformat, parse_time

TRIAGE_PROFILE = "fstriage-triage"  # the summary profile whose structured `response` is served


def _props(event: dict[str, Any]) -> dict[str, Any]:
    value = event.get("event_properties")
    return value if isinstance(value, dict) else {}


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def context_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """Fullstory's classification of one raw event, or None when Generate Context would omit it."""
    props = _props(event)
    kind = event.get("event_type")
    url = str(event.get("source_properties", {}).get("url", {}).get("full_url", ""))
    base = {"timestamp": event.get("event_time"), "screenshot_url": None}
    if kind == "navigate":
        return base | {
            "type": "navigate",
            "description": f"Navigated to {_path(url)}",
            "content": url,
            "properties": {"url": url},
        }
    if kind == "click" and isinstance(props.get("target"), dict):
        text = str(props["target"].get("text", ""))
        selector = str(props["target"].get("raw_selector", ""))
        if props.get("is_rage_click"):
            kind_name, verb = "rage-click", "Rage clicked"
        elif props.get("is_error_click"):
            kind_name, verb = "error-click", "Clicked (followed by an error)"
        elif props.get("is_dead_click"):
            kind_name, verb = "dead-click", "Dead clicked"
        else:
            kind_name, verb = "click", "Clicked"
        return base | {
            "type": kind_name,
            "description": f"{verb} '{text}'",
            "content": text,
            "properties": {"target_text": text, "selector": selector},
        }
    if kind == "change" and isinstance(props.get("target"), dict):
        selector = str(props["target"].get("raw_selector", ""))
        return base | {
            "type": "input-change",
            "description": f"Changed {selector}",
            "content": "",
            "properties": {"selector": selector},
        }
    if kind == "request" and isinstance(props.get("status_code"), int) and props["status_code"] >= 400:
        return base | {
            "type": "network-error",
            "description": f"{props.get('method')} {_path(str(props.get('url', '')))} failed "
            f"with {props['status_code']}",
            "content": str(props.get("url", "")),
            "properties": {key: props.get(key) for key in ("method", "url", "status_code", "duration_ms")},
        }
    if kind == "console_message" and props.get("level") == "error" and "message" in props:
        return base | {
            "type": "console-error",
            "description": f"Console error: {props['message']}",
            "content": str(props["message"]),
            "properties": {"level": "error", "source_url": props.get("source_url")},
        }
    if kind == "exception" and "message" in props:
        name = str(props.get("name") or "Error")
        return base | {
            "type": "console-error",
            "description": f"Uncaught {name}: {props['message']}",
            "content": f"{name}: {props['message']}",
            "properties": {
                "uncaught": True,
                "name": name,
                "message": props["message"],
                "source_url": props.get("source_url"),
                "line_number": props.get("line_number"),
            },
        }
    return None


def context_data(
    data: SandboxData,
    session: SandboxSession,
    *,
    include_types: Iterable[str] | None = None,
    exclude_types: Iterable[str] | None = None,
) -> dict[str, Any]:
    include = set(include_types) if include_types else None
    exclude = set(exclude_types or ())
    pages: list[dict[str, Any]] = []
    current_view: str | None = None
    for event in session.events:
        if event.get("view_id") != current_view:
            current_view = str(event.get("view_id"))
            url = str(event["source_properties"]["url"]["full_url"])
            pages.append({"url": url, "title": _title(url), "tab": 1, "events": []})
        entry = context_event(event)
        if (
            entry is None
            or entry["type"] in exclude
            or (include is not None and entry["type"] not in include)
        ):
            continue
        pages[-1]["events"].append(entry)
    agent = AGENTS[session.user.device]
    return {
        "context": {
            "session_id": session.api_id,
            "session_url": data.replay_url(session),
            "org_context": {"org_id": data.org_id},
            "user_context": {
                "uid": session.user.uid,
                "email": session.user.email,
                "display_name": session.user.display_name,
            },
            "location_context": {"country": "United States", "region": "Oregon", "city": "Portland"},
            "device_context": {"device": agent["device"], "browser": agent["browser"]},
            "session_created_at": isoformat(session.created),
        },
        "pages": pages,
    }


def _title(url: str) -> str:
    path = _path(url).strip("/")
    return "Home" if not path else path.split("/")[0].replace("-", " ").title()


def summary(session: SandboxSession) -> tuple[str, dict[str, Any]]:
    """(deterministic summary text, structured `response` for the triage profile)."""
    paths = list(
        dict.fromkeys(
            _path(str(e["source_properties"]["url"]["full_url"]))
            for e in session.events
            if e["event_type"] == "navigate"
        )
    )
    sentences = [f"{session.user.display_name} visited {len(paths)} pages ({', '.join(paths[:6])})."]
    errors: list[str] = []
    for event in session.events:
        entry = context_event(event)
        if (
            entry
            and entry["type"] in ("network-error", "console-error")
            and entry["description"] not in errors
        ):
            errors.append(str(entry["description"]))
    rage = [e for e in session.events if e["event_type"] == "click" and _props(e).get("is_rage_click")]
    dead = [e for e in session.events if e["event_type"] == "click" and _props(e).get("is_dead_click")]
    if errors:
        sentences.append("They hit errors: " + "; ".join(errors[:4]) + ".")
    if rage:
        sentences.append(f"They rage clicked '{_props(rage[0])['target']['text']}'.")
    if dead:
        sentences.append(f"'{_props(dead[0])['target']['text']}' did not respond to their click.")
    sentences.append(
        "They completed checkout." if session.completed_checkout else "They did not complete checkout."
    )
    if not errors and not rage and not dead:
        sentences.append("No errors or frustration were observed.")
    response = {
        "outcome": "purchased" if session.completed_checkout else "abandoned",
        "frustrated": bool(rage or dead),
        "errors": errors[:10],
    }
    return " ".join(sentences), response


EXPORT_ALWAYS = ("UserId", "SessionId", "PageId", "EventType", "EventSubType", "EventStart")


def export_rows(
    data: SandboxData,
    segment_id: str,
    *,
    start: datetime | None,
    end: datetime | None,
    fields: Sequence[str],
) -> list[dict[str, Any]]:
    """TYPE_EVENT rows (PascalCase, IDs as strings) for the segment's sessions inside the window."""
    wanted = set(fields)
    rows: list[dict[str, Any]] = []
    for session in data.segment_sessions(segment_id):
        for index, event in enumerate(session.events):
            moment = parse_time(str(event["event_time"]))
            if (start and moment < start) or (end and moment >= end):
                continue
            row = _export_row(session, event, session.events[:index], session.events[index + 1 :])
            rows.append({k: v for k, v in row.items() if k in EXPORT_ALWAYS or not wanted or k in wanted})
    return rows


def _export_row(
    session: SandboxSession,
    event: dict[str, Any],
    preceding: Sequence[dict[str, Any]],
    following: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    props = _props(event)
    kind = str(event["event_type"])
    url = str(event["source_properties"]["url"]["full_url"])
    agent = AGENTS[session.user.device]
    row: dict[str, Any] = {
        "UserId": session.device_id,
        "SessionId": session.session_id,
        "PageId": str(event["view_id"]),
        "EventType": kind,
        "EventSubType": "",
        "EventStart": event["event_time"],
        "IndvId": session.device_id,
        "UserAppKey": session.user.uid,
        "UserEmail": session.user.email,
        "UserDisplayName": session.user.display_name,
        "SessionStart": isoformat(session.created),
        "PageUrl": url,
        "PageBrowser": agent["browser"],
        "PageDevice": agent["device"],
    }
    if kind == "console_message" and "message" in props:
        row |= {"EventSubType": props.get("level", ""), "EventTargetText": props["message"]}
        row["EventWebSourceFileUrl"] = props.get("source_url")
    elif kind == "exception" and "message" in props:
        row |= {
            "EventSubType": "uncaught",
            "EventTargetText": f"{props.get('name', 'Error')}: {props['message']}",
        }
        row["EventWebSourceFileUrl"] = props.get("source_url")
    elif kind == "request" and "status_code" in props:
        row |= {
            "ReqUrl": props.get("url"),
            "ReqMethod": props.get("method"),
            "ReqStatus": props["status_code"],
        }
    elif kind in ("click", "change") and isinstance(props.get("target"), dict):
        row |= {
            "EventTargetText": props["target"].get("text", ""),
            "EventTargetSelector": props["target"].get("raw_selector", ""),
        }
        if kind == "click":
            row |= {
                "EventModFrustrated": _burst_size(event, preceding) if props.get("is_rage_click") else 0,
                "EventModDead": 1 if props.get("is_dead_click") else 0,
                "EventModError": _error_kind(following) if props.get("is_error_click") else 0,
            }
    return row


def _burst_size(event: dict[str, Any], preceding: Sequence[dict[str, Any]]) -> int:
    """Only a burst's last click is flagged; the export shows the burst's running count there."""
    selector = _props(event)["target"].get("raw_selector")
    size = 1
    for earlier in reversed(preceding):
        target = _props(earlier).get("target")
        if earlier["event_type"] != "click" or not isinstance(target, dict):
            break
        if target.get("raw_selector") != selector:
            break
        size += 1
    return size


def _error_kind(following: Sequence[dict[str, Any]]) -> int:
    """EventModError: 3 uncaught exception, 2 console error, 1 other error, from what came next."""
    for event in following[:4]:
        if event["event_type"] == "exception":
            return 3
        if event["event_type"] == "console_message" and _props(event).get("level") == "error":
            return 2
    return 1
