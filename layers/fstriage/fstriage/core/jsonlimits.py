"""Strict JSON decoding for untrusted bodies: UTF-8 only, bounded nesting."""

from __future__ import annotations

import json
from typing import Any

from fstriage.core.errors import PayloadError


def json_depth(value: Any) -> int:
    """Nesting depth, computed iteratively so a hostile document cannot exhaust the stack."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in node)
    return deepest


def loads_object(body: bytes, *, max_depth: int) -> dict[str, Any]:
    """Decode a JSON object body, or raise PayloadError with a short reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8", reason="invalid_encoding") from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise PayloadError("JSON is nested too deeply", reason="too_deep") from None
    except ValueError:
        raise PayloadError("body is not JSON", reason="invalid_json") from None
    if not isinstance(document, dict):
        raise PayloadError("JSON body must be an object", reason="invalid_payload")
    # Depth can't exceed the number of opening brackets (those inside strings only over-count), so
    # the usual small webhook skips the walk after two C-speed counts.
    if text.count("{") + text.count("[") > max_depth and json_depth(document) > max_depth:
        raise PayloadError("JSON is nested too deeply", reason="too_deep")
    return document
