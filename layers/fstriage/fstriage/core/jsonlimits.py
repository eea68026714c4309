"""Strict JSON decoding for untrusted bodies: UTF-8 only, bounded nesting, and nothing that cannot be
written back as valid JSON or UTF-8 (non-finite numbers, lone surrogates) or read two ways (duplicate
keys)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fstriage.core.errors import PayloadError

# In valid UTF-8 a surrogate can only arrive as a `\uD800`-`\uDFFF` escape, so a body without one
# (almost every body) skips the walk. A surrogate *pair* also matches; the walk then finds nothing.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Any surrogate left in a str is a lone one (json.loads joins pairs): it has no UTF-8 form.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string in the document, object keys included, holds a lone surrogate."""
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if LONE_SURROGATE.search(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def valid_unicode(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so it can be written as UTF-8."""
    return LONE_SURROGATE.sub("\ufffd", text)


def json_safe(value: Any) -> Any:
    """`value` with lone surrogates replaced and non-finite numbers made null (`NaN` is not JSON): a
    report, its Markdown, event and Slack text can then always be written."""
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {json_safe(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _refuse_constant(name: str) -> Any:
    raise PayloadError(f"{name} is not a JSON number", reason="invalid_json")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: valid JSON syntax, but it would be written back as Infinity
        raise PayloadError("a JSON number is out of range", reason="invalid_json")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Refused, not "last one wins": two readers of the same signed body could see different values.
    document = dict(pairs)
    if len(document) != len(pairs):
        raise PayloadError("a JSON object repeats a key", reason="duplicate_key")
    return document


# One decoder, built once: json.loads with hooks would build a new one per call.
_DECODER = json.JSONDecoder(
    parse_float=_finite_float, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys
)


def loads_object(body: bytes, *, max_depth: int) -> dict[str, Any]:
    """Decode a JSON object body, or raise PayloadError with a short reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8", reason="invalid_encoding") from None
    try:
        document = _DECODER.decode(text)
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
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and has_lone_surrogate(document):
        raise PayloadError(
            "a JSON string holds a lone surrogate (not Unicode text)", reason="invalid_unicode"
        )
    return document
