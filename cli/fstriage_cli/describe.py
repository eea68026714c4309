"""How the CLI shows Fullstory's raw data: one line per session event, one row per session.

Defensive, since the event property keys are undocumented; emails are masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fstriage.core.fullstory_models import SessionRef
from fstriage.core.redact import mask_email
from fstriage.core.request import isoformat

_DETAIL_CHARS = 160


def describe_event(event: Mapping[str, Any]) -> str:
    """`time  type  detail` for one raw session event; defensive, since property keys are undocumented."""
    when = _text(event.get("event_time")) or "?"
    kind = _text(event.get("event_type")) or "?"
    props = _mapping(event.get("event_properties"))
    detail = ""
    if kind == "navigate":
        url = _mapping(_mapping(event.get("source_properties")).get("url"))
        detail = _text(url.get("full_url")) or _text(url.get("path")) or ""
    elif kind in ("click", "change"):
        target = _mapping(props.get("target"))
        text = _text(target.get("text"))
        selector = _text(target.get("raw_selector"))
        flags = [name for name in ("rage", "dead", "error") if props.get(f"is_{name}_click") is True]
        detail = " ".join(
            part for part in (f'"{text}"' if text else None, f"({selector})" if selector else None) if part
        )
        if flags:
            detail += f" [{', '.join(flags)} click]"
    elif kind == "console_message":
        detail = f"{_text(props.get('level')) or 'log'}: {_text(props.get('message')) or ''}"
    elif kind == "exception":
        name, message = _text(props.get("name")), _text(props.get("message")) or ""
        detail = f"{name}: {message}" if name else message
    elif kind == "request":
        status = props.get("status_code", props.get("status"))
        detail = " ".join(
            str(part)
            for part in (_text(props.get("method")), _text(props.get("url")), status)
            if part is not None
        )
    elif kind == "custom":
        detail = _text(props.get("event_name")) or ""
    elif kind == "identify":
        detail = _text(props.get("user_id")) or _text(props.get("user_email")) or ""
    detail = mask_email(" ".join(detail.split()))
    if len(detail) > _DETAIL_CHARS:
        detail = detail[: _DETAIL_CHARS - 1] + "…"
    return f"{when}  {kind:<16} {detail}".rstrip()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    return None


def session_row(ref: SessionRef) -> dict[str, Any]:
    return {
        "session_id": ref.api_session_id,
        "user_id": ref.user_id,
        "created_at": isoformat(ref.created_at) if ref.created_at else None,
        "created_time": ref.created_time,
        "replay_url": ref.fs_url,
    }
