"""Value readers shared by the three input readers: text from candidate keys, small integers, flags
and event times, each defensive, since property values come in whatever type the source sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from fstriage.core.digest.text import clip
from fstriage.core.request import isoformat, parse_isoformat

_ERROR_LEVELS: Final = frozenset({"error", "err", "fatal", "critical", "severe", "assert", "exception"})
_FALSE_TEXT: Final = frozenset({"", "0", "false", "no", "none", "null"})


def _text(props: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _int_value(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if 0 <= number <= 999 else None


def _flag_value(value: Any, *, positive: bool) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value > 0 if positive else value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text.lstrip("-").isdigit():
            return _flag_value(int(text), positive=positive)
        return text not in _FALSE_TEXT
    return False


def _time_text(value: Any) -> str | None:
    """An event time as text: ISO strings as given, epoch numbers (s or ms) converted."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return isoformat(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _iso_out(value: str | None) -> str | None:
    """Output times in one format (ms, `Z`); unparseable text is kept, clipped, rather than lost."""
    if value is None:
        return None
    if value.isdigit():
        return _time_text(int(value))
    try:
        return isoformat(parse_isoformat(value))
    except ValueError:
        return clip(value, 40)
