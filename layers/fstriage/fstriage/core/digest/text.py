"""Text normalisation, masking and signatures.

A signature must read the same for the same bug in every session, so the variable parts of a message,
path or click target (URLs, emails, timestamps, UUIDs, hex and opaque IDs, numbers, quoted data) are
masked to placeholders (`{email}`, `{n}`...). Examples keep the text as seen, with emails masked by
`redact.mask_email` and queries dropped. Every reader of the digest builds its signals from these.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from fstriage.core.redact import EMAIL_PATTERN, mask_email

MAX_EXAMPLE_CHARS: Final = 300
MAX_FIELD_CHARS: Final = 300
# The normalised text inside a signature; long enough to tell bugs apart, short enough to read.
MAX_SIGNATURE_TEXT: Final = 200
MAX_TARGET_CHARS: Final = 100
# Bounds the regex work on a pathological message before it is masked and clipped.
_MAX_RAW_SCAN: Final = 500
# A property key name as recorded in `unread_keys`.
MAX_KEY_CHARS: Final = 40

_HEX_ID = r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"
_UUID = r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
_TIMESTAMP = r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
# A number not glued to a letter, so `v1`, `h264` and `utf8` stay; long runs go even when glued.
_NUMBERS = r"(?P<long>\d{5,})|(?P<num>(?<![A-Za-z0-9])\d+(?:\.\d+)*)"
# Alternation order matters: the first alternative that matches at a position wins.
_MESSAGE_MASKS = re.compile(
    r"(?P<url>\b(?:https?|wss?)://[^\s'\"`<>()\[\]{}|\\^]+)"
    rf"|(?P<email>{EMAIL_PATTERN})|(?P<ts>{_TIMESTAMP})|(?P<uuid>{_UUID})|(?P<hex>{_HEX_ID})"
    r"|(?P<quoted>\"[^\"\n]{0,500}\"|(?<![\w'])'[^'\n]{0,500}'(?![\w'])|`[^`\n]{0,500}`)"
    rf"|{_NUMBERS}"
)
# Paths and click targets: no URLs or quotes inside, but long opaque tokens (mixed case + digits).
_OPAQUE_ID = r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])(?=[\w-]*[A-Z])[\w-]{16,}(?![\w-])"
_PATH_MASKS = re.compile(
    rf"(?P<email>{EMAIL_PATTERN})|(?P<uuid>{_UUID})|(?P<hex>{_HEX_ID})|(?P<token>{_OPAQUE_ID})|{_NUMBERS}"
)
_TARGET_MASKS = re.compile(rf"(?P<email>{EMAIL_PATTERN})|(?P<uuid>{_UUID})|(?P<hex>{_HEX_ID})|{_NUMBERS}")
# A quoted code identifier (`(reading 'total')`, Firefox's `"total"`) stays readable; data is masked.
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$.\-]{0,39}")
# ...but digits with no lower-case letter are a code from data (a coupon `LINUS37`, a SKU `AB-1234`).
_DATA_CODE = re.compile(r"(?=.*\d)[^a-z]*")
_WHITESPACE = re.compile(r"\s+")
_PLACEHOLDERS: Final = {
    "email": "{email}",
    "ts": "{ts}",
    "uuid": "{uuid}",
    "hex": "{hex}",
    "token": "{id}",
    "long": "{n}",
    "num": "{n}",
}
_URL_TRAILING_PUNCTUATION: Final = ".,;:!?"


def _mask_message_match(match: re.Match[str]) -> str:
    group = match.lastgroup
    text = match.group()
    if group == "url":
        stripped = text.rstrip(_URL_TRAILING_PUNCTUATION)
        return normalise_path(stripped) + text[len(stripped) :]
    if group == "quoted":
        quote, inner = text[0], text[1:-1]
        if _IDENTIFIER.fullmatch(inner) and not _DATA_CODE.fullmatch(inner):
            return quote + _MESSAGE_MASKS.sub(_mask_message_match, inner) + quote
        if inner.startswith(("http://", "https://", "/")) and " " not in inner:
            return quote + normalise_path(inner) + quote
        return quote + "{s}" + quote
    return _PLACEHOLDERS[group or "num"]


def _mask_plain_match(match: re.Match[str]) -> str:
    return _PLACEHOLDERS[match.lastgroup or "num"]


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last one an ellipsis when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _squash(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def normalise_message(text: str) -> str:
    """A message with its variable parts masked, so the same bug reads the same in every session.

    Only the first non-empty line counts (stack traces differ between builds). Masks: URLs -> their
    normalised path, emails, timestamps, UUIDs, hex IDs (>= 8 hex chars with a digit, or `0x...`),
    numbers, and quoted values other than code identifiers.
    """
    line = text.lstrip().partition("\n")[0]
    masked = _MESSAGE_MASKS.sub(_mask_message_match, line[:_MAX_RAW_SCAN])
    return clip(_squash(masked), MAX_SIGNATURE_TEXT)


def normalise_path(url: str) -> str:
    """The path of a URL or path, host and query dropped, IDs masked: `/api/v1/orders/{n}/pay`.

    A hash route (`#/orders/7`, `#!/orders/7`) is kept, since single-page apps route there.
    """
    raw = url.strip()[:_MAX_RAW_SCAN]
    try:
        parts = urlsplit(raw)
        path, fragment = parts.path, parts.fragment
    except ValueError:
        path, fragment = raw.partition("?")[0].partition("#")[0], ""
    path = unquote(path)
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    if fragment.startswith(("/", "!/")):
        path = f"{path}#{unquote(fragment.partition('?')[0])}"
    return clip(_PATH_MASKS.sub(_mask_plain_match, path), MAX_SIGNATURE_TEXT)


def normalise_target(text: str) -> str:
    """Click target text or selector: whitespace squashed, numbers and IDs masked, clipped."""
    return clip(_TARGET_MASKS.sub(_mask_plain_match, _squash(text[:_MAX_RAW_SCAN])), MAX_TARGET_CHARS)


def _strip_query(url: str) -> str:
    """For examples: a URL as seen, minus the query (it may carry tokens) and a non-route fragment."""
    head = url.partition("?")[0]
    base, _, fragment = head.partition("#")
    return f"{base}#{fragment}" if fragment.startswith(("/", "!/")) else base


def _example(text: str) -> str:
    short = _squash(text[: MAX_EXAMPLE_CHARS * 2])
    return clip(mask_email(short), MAX_EXAMPLE_CHARS)


# In a key name, IDs and long numbers become `#`, braces parentheses (a note renders `{n}` as a count).
_KEY_DATA = re.compile(rf"{_UUID}|{_HEX_ID}|\d{{5,}}")


def _key_label(name: str) -> str:
    # A key name may still be data (a dict keyed by emails or IDs): mask those parts.
    text = _KEY_DATA.sub("#", _squash(name[:_MAX_RAW_SCAN])).replace("{", "(").replace("}", ")")
    return clip(mask_email(text), MAX_KEY_CHARS)


def _source_text(source: str | None, line: Any) -> str | None:
    if not source or not source.strip():
        return None
    where = _strip_query(source.strip())
    number = line if isinstance(line, int) and not isinstance(line, bool) else None
    if number is None and isinstance(line, str) and line.strip().isdigit():
        number = int(line.strip())
    return clip(f"{where}:{number}" if number is not None else where, MAX_FIELD_CHARS)
