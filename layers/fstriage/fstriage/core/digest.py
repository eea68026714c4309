"""Fullstory events -> signals per session -> error groups across sessions.

Three inputs, one vocabulary of signals:
- raw session events (`GET /v2/sessions/{id}/events`): `digest_events`;
- Generate Context pages (`POST /v2/sessions/{id}/context`), classified by Fullstory: `digest_context`;
- segment export rows (PascalCase): `rank_export_sessions` and `digest_export_rows`.

The raw `event_properties` keys are not documented, so each field is read from a tuple of candidate
keys: the local sandbox's convention first, then the column names of Fullstory's warehouse views
(`request_status`, `fs_rage_count`, ...), each also in camelCase. When that finds nothing, the
properties are read again flattened and snake_cased (`request: {url: {fullUrl}}` becomes
`request_url_full_url`). An event of an error-bearing type whose fields still cannot be read is
counted in `unclassified`, with the property key names seen (never their values) in `unread_keys`.

Speed: the raw loop does an O(1) dict dispatch on `event_type` and touches nothing else for the
types that cannot carry an error. Text is normalised once per distinct raw value per call, and
per-signal state lives in a small mutable entry until the digest is frozen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args
from urllib.parse import unquote, urlsplit

from fstriage.core.redact import mask_email
from fstriage.core.request import isoformat, parse_isoformat

SignalKind = Literal["console_error", "exception", "network_error", "rage_click", "dead_click", "error_click"]
SIGNAL_KINDS: Final[tuple[str, ...]] = get_args(SignalKind)
DigestSource = Literal["events", "context", "export"]

MAX_SIGNALS: Final = 200
MAX_EXAMPLE_CHARS: Final = 300
MAX_FIELD_CHARS: Final = 300
# The normalised text inside a signature; long enough to tell bugs apart, short enough to read.
MAX_SIGNATURE_TEXT: Final = 200
MAX_TARGET_CHARS: Final = 100
# Bounds the regex work on a pathological message before it is masked and clipped.
_MAX_RAW_SCAN: Final = 500
_MALFORMED: Final = "malformed"

# --- candidate keys: the sandbox convention first (it is the common case), then warehouse names ---


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _keys(*snake: str) -> tuple[str, ...]:
    """The candidate keys, then their camelCase forms (`request_status` -> `requestStatus`)."""
    camel = tuple(dict.fromkeys(_camel(key) for key in snake if _camel(key) != key))
    return snake + camel


CONSOLE_MESSAGE_KEYS: Final = _keys("message", "console_message", "text", "msg", "log_message")
CONSOLE_LEVEL_KEYS: Final = _keys(
    "level", "console_level", "console_message_level", "message_level", "log_level", "severity"
)
SOURCE_KEYS: Final = _keys(
    "source_url",
    "source",
    "exception_source_file",
    "source_file",
    "filename",
    "file_url",
    "file",
    "script_url",
    "url",
)
LINE_KEYS: Final = _keys("line_number", "line", "lineno", "line_no", "exception_line_number")
EXCEPTION_MESSAGE_KEYS: Final = _keys("message", "exception_message", "error_message", "text", "description")
# Not `type`: the export's subtype for exceptions is "uncaught", and a raw `type` may mean the same.
EXCEPTION_NAME_KEYS: Final = _keys("name", "exception_type", "exception_name", "error_type", "error_name")
REQUEST_METHOD_KEYS: Final = _keys("method", "request_method", "http_method")
REQUEST_URL_KEYS: Final = _keys(
    "url", "request_url", "full_url", "uri", "request_url_full_url", "request_full_url", "url_full_url"
)
REQUEST_STATUS_KEYS: Final = _keys(
    "status_code",
    "status",
    "request_status",
    "response_status",
    "http_status",
    "response_code",
    "request_status_code",
    "response_status_code",
)
# Only consulted when the status is 0 or missing: a request that never got an HTTP answer.
REQUEST_FAILURE_KEYS: Final = _keys(
    "failed", "is_failed", "request_failed", "network_error", "error", "is_error"
)
REQUEST_DURATION_KEYS: Final = _keys(
    "duration_ms", "duration", "elapsed_ms", "request_duration_millis", "duration_millis"
)
# Counts (`fs_rage_count`: clicks in the burst) and flags both mark a click; any positive value does.
RAGE_KEYS: Final = _keys(
    "is_rage_click",
    "rage_click",
    "fs_rage_count",
    "rage_count",
    "mod_frustrated",
    "is_frustrated",
    "frustrated",
)
DEAD_KEYS: Final = _keys("is_dead_click", "dead_click", "fs_dead_count", "dead_count", "mod_dead", "is_dead")
# `fs_error_kind` is `unknown | console | exception` on a click an error followed, empty otherwise.
ERROR_CLICK_KEYS: Final = _keys(
    "is_error_click", "error_click", "fs_error_kind", "error_kind", "mod_error", "is_error"
)
TARGET_TEXT_KEYS: Final = _keys("text", "target_text", "element_text", "inner_text")
TARGET_SELECTOR_KEYS: Final = _keys(
    "raw_selector", "selector", "target_raw_selector", "target_selector", "css_selector"
)
# Marker key -> (signal kind, whether only a positive number marks it: counts and running counts).
_CLICK_MARKS: Final[dict[str, tuple[SignalKind, bool]]] = {
    **{key: ("error_click", False) for key in ERROR_CLICK_KEYS},
    **{key: ("dead_click", False) for key in DEAD_KEYS},
    **{key: ("rage_click", True) for key in RAGE_KEYS},
}
# A click the digest cannot read counts as unreadable only if some key or value hints at a marker.
_MARK_WORDS: Final = ("rage", "dead", "error", "frustrat", "thrash")
_MARK_VALUES: Final = frozenset(
    {"rage", "dead", "error", "rage_click", "dead_click", "error_click", "frustrated", "thrashed"}
)
MAX_UNREAD_KEYS: Final = 20
MAX_KEY_CHARS: Final = 40

_ERROR_LEVELS: Final = frozenset({"error", "err", "fatal", "critical", "severe", "assert", "exception"})
_QUIET_LEVELS: Final = frozenset({"warn", "warning", "log", "info", "debug", "trace", "verbose", "notice"})
_FALSE_TEXT: Final = frozenset({"", "0", "false", "no", "none", "null"})

# --- masking ------------------------------------------------------------------------------------

_HEX_ID = r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"
_UUID = r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
# Starts only where a local-part run starts, so `a.a.a.a...` without an `@` stays linear.
_EMAIL = r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
_TIMESTAMP = r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
# A number not glued to a letter, so `v1`, `h264` and `utf8` stay; long runs go even when glued.
_NUMBERS = r"(?P<long>\d{5,})|(?P<num>(?<![A-Za-z0-9])\d+(?:\.\d+)*)"
# Alternation order matters: the first alternative that matches at a position wins.
_MESSAGE_MASKS = re.compile(
    r"(?P<url>\b(?:https?|wss?)://[^\s'\"`<>()\[\]{}|\\^]+)"
    rf"|(?P<email>{_EMAIL})|(?P<ts>{_TIMESTAMP})|(?P<uuid>{_UUID})|(?P<hex>{_HEX_ID})"
    r"|(?P<quoted>\"[^\"\n]{0,500}\"|(?<![\w'])'[^'\n]{0,500}'(?![\w'])|`[^`\n]{0,500}`)"
    rf"|{_NUMBERS}"
)
# Paths and click targets: no URLs or quotes inside, but long opaque tokens (mixed case + digits).
_OPAQUE_ID = r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])(?=[\w-]*[A-Z])[\w-]{16,}(?![\w-])"
_PATH_MASKS = re.compile(
    rf"(?P<email>{_EMAIL})|(?P<uuid>{_UUID})|(?P<hex>{_HEX_ID})|(?P<token>{_OPAQUE_ID})|{_NUMBERS}"
)
_TARGET_MASKS = re.compile(rf"(?P<email>{_EMAIL})|(?P<uuid>{_UUID})|(?P<hex>{_HEX_ID})|{_NUMBERS}")
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
# Context descriptions are free text: pull a request out of them when `properties` has none.
_TEXT_METHOD = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\b")
_TEXT_URL = re.compile(r"(?:\b(?:https?|wss?)://|(?<![\w/])/)[^\s'\"`<>()\[\]{}]+")
_TEXT_STATUS = re.compile(r"(?<![\d.])([1-5]\d\d)(?![\d.])")


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


def _clip(text: str, limit: int) -> str:
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
    return _clip(_squash(masked), MAX_SIGNATURE_TEXT)


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
    return _clip(_PATH_MASKS.sub(_mask_plain_match, path), MAX_SIGNATURE_TEXT)


def normalise_target(text: str) -> str:
    """Click target text or selector: whitespace squashed, numbers and IDs masked, clipped."""
    return _clip(_TARGET_MASKS.sub(_mask_plain_match, _squash(text[:_MAX_RAW_SCAN])), MAX_TARGET_CHARS)


def _strip_query(url: str) -> str:
    """For examples: a URL as seen, minus the query (it may carry tokens) and a non-route fragment."""
    head = url.partition("?")[0]
    base, _, fragment = head.partition("#")
    return f"{base}#{fragment}" if fragment.startswith(("/", "!/")) else base


def _example(text: str) -> str:
    short = _squash(text[: MAX_EXAMPLE_CHARS * 2])
    return _clip(mask_email(short) if "@" in short else short, MAX_EXAMPLE_CHARS)


# --- public shapes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    """One kind of trouble in one session, with how often it happened.

    Fields beyond the first six are set per kind: `message`/`source` for console errors and
    exceptions, `method`/`path`/`status` for network errors, `page`/`target` for clicks.
    """

    kind: SignalKind
    signature: str
    count: int
    first_seen: str | None
    last_seen: str | None
    example: str
    message: str | None = None
    source: str | None = None
    method: str | None = None
    path: str | None = None
    # None for a request that failed without an HTTP status (network error, abort, CORS).
    status: int | None = None
    page: str | None = None
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "signature": self.signature,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "example": self.example,
            "message": self.message,
            "source": self.source,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "page": self.page,
            "target": self.target,
        }


@dataclass(frozen=True, slots=True)
class SessionDigest:
    """What one session's events say, bounded: at most `max_signals` signals, the rest in overflow."""

    session_id: str
    source: DigestSource
    signals: tuple[Signal, ...]
    # Error-bearing events whose fields could not be read, per event type.
    unclassified: dict[str, int]
    event_count: int
    # Occurrences across all signals, overflow included.
    error_signal_count: int
    page_count: int
    first_event: str | None
    last_event: str | None
    # Distinct signals beyond the cap, and how many occurrences they had.
    overflow_signals: int = 0
    overflow_count: int = 0
    # Per type in `unclassified`: the property key names seen (sorted, bounded; never values).
    # Nested keys read `parent.child`; properties that are not an object read `(list)`, `(none)`...
    unread_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "source": self.source,
            "signals": [signal.to_dict() for signal in self.signals],
            "unclassified": dict(self.unclassified),
            "unread_keys": {kind: list(keys) for kind, keys in self.unread_keys.items()},
            "event_count": self.event_count,
            "error_signal_count": self.error_signal_count,
            "page_count": self.page_count,
            "first_event": self.first_event,
            "last_event": self.last_event,
            "overflow_signals": self.overflow_signals,
            "overflow_count": self.overflow_count,
        }


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """One normalised signature across sessions."""

    kind: SignalKind
    signature: str
    count: int
    sessions: tuple[str, ...]
    first_seen: str | None
    last_seen: str | None
    example: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "signature": self.signature,
            "count": self.count,
            "sessions": list(self.sessions),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "example": self.example,
        }


@dataclass(frozen=True, slots=True)
class ImpactedSession:
    """One session of a segment export, with its error signal counts."""

    session_id: str
    uid: str | None
    email: str | None
    error_signal_count: int
    # Occurrences per signal kind; only kinds that occurred.
    counts: dict[str, int]
    unclassified_count: int
    event_count: int
    first_event: str | None
    last_event: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "uid": self.uid,
            "email": self.email,
            "error_signal_count": self.error_signal_count,
            "counts": dict(self.counts),
            "unclassified_count": self.unclassified_count,
            "event_count": self.event_count,
            "first_event": self.first_event,
            "last_event": self.last_event,
        }


@dataclass(frozen=True, slots=True)
class ExportRanking:
    """Sessions of a segment export, most error signals first (ties: session ID ascending)."""

    sessions: tuple[ImpactedSession, ...]
    row_count: int
    # Rows with no UserId or SessionId: counted so a report can say so.
    rows_without_session: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sessions": [session.to_dict() for session in self.sessions],
            "row_count": self.row_count,
            "rows_without_session": self.rows_without_session,
        }


# --- field readers (defensive: the raw property names are guesses) ---------------------------------


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


def _status(props: Mapping[str, Any]) -> int | None:
    for key in REQUEST_STATUS_KEYS:
        if key in props:
            status = _int_value(props[key])
            if status is not None:
                return status
    response = props.get("response")
    if isinstance(response, Mapping):
        return _status_flat(response)
    return None


def _status_flat(props: Mapping[str, Any]) -> int | None:
    for key in REQUEST_STATUS_KEYS:
        status = _int_value(props.get(key))
        if status is not None:
            return status
    return None


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


def _click_marks(props: Mapping[str, Any]) -> tuple[bool, bool, bool, bool]:
    """(rage, dead, error, whether any marker key was there at all), in one pass over the keys."""
    rage = dead = error = seen = False
    marks = _CLICK_MARKS
    for key, value in props.items():
        mark = marks.get(key)
        if mark is None:
            continue
        seen = True
        # Booleans first: the common case on every click, so skip the general parser.
        if value is None or value is False:
            continue
        if value is True or _flag_value(value, positive=mark[1]):
            kind = mark[0]
            if kind == "rage_click":
                rage = True
            elif kind == "dead_click":
                dead = True
            else:
                error = True
    return rage, dead, error, seen


def _hints_a_mark(props: Mapping[str, Any]) -> bool:
    """Whether an unreadable click looks frustrated or erroneous (`x_rage: true`, `kind: "dead"`)."""
    for key, value in props.items():
        if value is None or value is False or isinstance(value, Mapping | list):
            continue
        if isinstance(value, str) and value.strip().lower() in _MARK_VALUES:
            return True
        name = key.lower() if isinstance(key, str) else ""
        if any(word in name for word in _MARK_WORDS) and _flag_value(value, positive=True):
            return True
    return False


_SNAKE_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SNAKE_NAMES: dict[str, str] = {}
_MAX_SNAKE_NAMES: Final = 4096
_MAX_FLAT_KEYS: Final = 64


def _snake(key: str) -> str:
    name = _SNAKE_NAMES.get(key)
    if name is None:
        name = _SNAKE_BOUNDARY.sub("_", key).lower().replace("-", "_").replace(".", "_")
        if len(_SNAKE_NAMES) < _MAX_SNAKE_NAMES:  # bounded: keys come from the input
            _SNAKE_NAMES[key] = name
    return name


def _flat(
    props: Mapping[str, Any], prefix: str = "", depth: int = 0, out: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Properties flattened two levels deep and snake_cased: `{"request": {"statusCode": 500}}` ->
    `{"request_status_code": 500}`. The first of two keys that flatten to one name wins."""
    flat: dict[str, Any] = {} if out is None else out
    for index, (key, value) in enumerate(props.items()):
        if index >= _MAX_FLAT_KEYS:
            break
        if not isinstance(key, str):
            continue
        name = prefix + _snake(key)
        if isinstance(value, Mapping) and depth < 2:
            _flat(value, name + "_", depth + 1, flat)
        elif name not in flat:
            flat[name] = value
    return flat


def _key_names(props: Any) -> list[str]:
    """The key names of unreadable properties (one level of nesting as `parent.child`), never values."""
    if not isinstance(props, Mapping):
        return ["(none)" if props is None else f"({type(props).__name__})"]
    names: list[str] = []
    for index, (key, value) in enumerate(props.items()):
        if index >= _MAX_FLAT_KEYS:
            break
        name = str(key)
        if isinstance(value, Mapping) and value:
            names += [f"{name}.{inner}" for inner in list(value)[:_MAX_FLAT_KEYS]]
        else:
            names.append(name)
    return names


# In a key name, IDs and long numbers become `#`, braces parentheses (a note renders `{n}` as a count).
_KEY_DATA = re.compile(rf"{_UUID}|{_HEX_ID}|\d{{5,}}")


def _key_label(name: str) -> str:
    # A key name may still be data (a dict keyed by emails or IDs): mask those parts.
    text = _KEY_DATA.sub("#", _squash(name[:_MAX_RAW_SCAN])).replace("{", "(").replace("}", ")")
    return _clip(mask_email(text) if "@" in text else text, MAX_KEY_CHARS)


def _failure(props: Mapping[str, Any]) -> str | None:
    """The failure flag of a request without a status: its text if it has one, else "failed"."""
    for key in REQUEST_FAILURE_KEYS:
        value = props.get(key)
        if isinstance(value, str) and value.strip().lower() not in _FALSE_TEXT:
            return value
        if value is not None and not isinstance(value, str) and _flag_value(value, positive=False):
            return "failed"
    return None


def _level(props: Mapping[str, Any]) -> bool | None:
    """True for an error level, False for a quiet one, None if unreadable or unknown."""
    raw = _text(props, CONSOLE_LEVEL_KEYS)
    if raw is None:
        return None
    level = raw.strip().lower()
    if level in _ERROR_LEVELS:
        return True
    if level in _QUIET_LEVELS:
        return False
    return None


def _click_target(props: Mapping[str, Any]) -> tuple[str | None, str | None]:
    target = props.get("target")
    if isinstance(target, Mapping):
        return _text(target, TARGET_TEXT_KEYS), _text(target, TARGET_SELECTOR_KEYS)
    if isinstance(target, str) and target.strip():
        return target, _text(props, TARGET_SELECTOR_KEYS)
    return _text(props, TARGET_TEXT_KEYS), _text(props, TARGET_SELECTOR_KEYS)


def _raw_page(event: Mapping[str, Any]) -> str | None:
    source = event.get("source_properties")
    if isinstance(source, Mapping):
        url = source.get("url")
        if isinstance(url, Mapping):
            return _text(url, ("full_url", "path"))
        if isinstance(url, str) and url.strip():
            return url
    return None


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
        return _clip(value, 40)


# --- accumulation -------------------------------------------------------------------------------

# `miss` without properties (a malformed event, an export row): no key names to record.
_NO_PROPS: Final = object()


class _Entry:
    """Mutable per-signal state while a session is digested; frozen into a Signal at the end."""

    __slots__ = ("count", "fields", "first", "kind", "last", "signature")

    def __init__(self, kind: SignalKind, signature: str, when: str | None, fields: dict[str, Any]) -> None:
        self.kind: SignalKind = kind
        self.signature = signature
        self.count = 1
        self.first = when
        self.last = when
        self.fields = fields

    def hit(self, when: str | None) -> None:
        self.count += 1
        if when is not None:
            if self.first is None or when < self.first:
                self.first = when
            if self.last is None or when > self.last:
                self.last = when


class _Accumulator:
    """Signals of one session, keyed by signature, with per-call normalisation caches."""

    __slots__ = ("entries", "keys", "unclassified", "unread_keys")

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        # Raw field tuple -> signature, so a repeated raw value is normalised once.
        self.keys: dict[tuple[Any, ...], str] = {}
        self.unclassified: dict[str, int] = {}
        self.unread_keys: dict[str, set[str]] = {}

    def miss(self, event_type: str, props: Any = _NO_PROPS) -> None:
        """Count an unreadable event; `props` (its properties) adds the key names seen, bounded."""
        self.unclassified[event_type] = self.unclassified.get(event_type, 0) + 1
        if props is _NO_PROPS:
            return
        seen = self.unread_keys.setdefault(event_type, set())
        if len(seen) >= MAX_UNREAD_KEYS:
            return
        for name in _key_names(props):
            seen.add(_key_label(name))
            if len(seen) >= MAX_UNREAD_KEYS:
                break

    def _hit(self, key: tuple[Any, ...], when: str | None) -> bool:
        signature = self.keys.get(key)
        if signature is None:
            return False
        self.entries[signature].hit(when)
        return True

    def _add(
        self, key: tuple[Any, ...], kind: SignalKind, text: str, when: str | None, **fields: Any
    ) -> None:
        signature = f"{kind}: {text}"
        self.keys[key] = signature
        entry = self.entries.get(signature)
        if entry is None:
            self.entries[signature] = _Entry(kind, signature, when, fields)
        else:
            entry.hit(when)

    def console(self, message: str, source: str | None, when: str | None) -> bool:
        key = ("console_error", message)
        if self._hit(key, when):
            return True
        text = normalise_message(message)
        if not text:
            return False
        self._add(
            key,
            "console_error",
            text,
            when,
            message=text,
            source=_source_text(source, None),
            example=_example(message),
        )
        return True

    def exception(
        self, name: str | None, message: str | None, source: str | None, line: Any, when: str | None
    ) -> bool:
        key = ("exception", name, message)
        if self._hit(key, when):
            return True
        name = name.strip() if name else None
        full = message.strip() if message else ""
        if name and not full.startswith(name):
            full = f"{name}: {full}" if full else name
        text = normalise_message(full)
        if not text:
            return False
        where = _source_text(source, line)
        example = f"{full} @ {where}" if where else full
        self._add(key, "exception", text, when, message=text, source=where, example=_example(example))
        return True

    def request(
        self,
        method: str | None,
        url: str | None,
        status: int | None,
        failure: str | None,
        when: str | None,
        *,
        duration: Any = None,
    ) -> None:
        # The query never reaches the signature, and often carries a unique token: key without it.
        url = url.partition("?")[0] if url else url
        key = ("network_error", method, url, status)
        if self._hit(key, when):
            return
        verb = method.strip().upper() if method else None
        path = normalise_path(url) if url else "{unknown}"
        outcome = str(status) if status else "failed"
        text = " ".join(part for part in (verb, path, outcome) if part)
        seen = _strip_query(url.strip()) if url else "(no URL)"
        detail = failure if failure and failure != "failed" else outcome
        took = (
            f"({duration:g} ms)"
            if isinstance(duration, int | float) and not isinstance(duration, bool)
            else None
        )
        example = _example(" ".join(part for part in (verb, seen, "->", detail, took) if part))
        self._add(
            key, "network_error", text, when, method=verb, path=path, status=status or None, example=example
        )

    def request_text(self, description: str, when: str | None) -> bool:
        """A network error known only by a free-text description (Generate Context)."""
        key = ("network_error_text", description)
        if self._hit(key, when):
            return True
        text = normalise_message(description)
        if not text:
            return False
        self._add(key, "network_error", text, when, example=_example(description))
        return True

    def click(
        self, kind: SignalKind, page: str | None, text: str | None, selector: str | None, when: str | None
    ) -> None:
        page = page.partition("?")[0] if page else page
        key = (kind, page, text, selector)
        if self._hit(key, when):
            return
        page_path = normalise_path(page) if page else "{unknown page}"
        label = text if text and text.strip() else selector
        target = normalise_target(label) if label else "{unknown target}"
        seen = " ".join(part for part in (text, f"[{selector}]" if selector else None) if part)
        example = _example(f"{seen or '(no target)'} on {_strip_query(page) if page else '(no page)'}")
        self._add(
            key, kind, f'"{target}" on {page_path}', when, page=page_path, target=target, example=example
        )

    def freeze(
        self,
        session_id: str,
        source: DigestSource,
        *,
        event_count: int,
        page_count: int,
        first_event: str | None,
        last_event: str | None,
        max_signals: int,
    ) -> SessionDigest:
        ranked = sorted(
            self.entries.values(), key=lambda entry: (-entry.count, entry.first or "", entry.signature)
        )
        kept, rest = ranked[:max_signals], ranked[max_signals:]
        signals = tuple(_signal(entry) for entry in kept)
        return SessionDigest(
            session_id=session_id,
            source=source,
            signals=signals,
            unclassified=dict(sorted(self.unclassified.items())),
            unread_keys={kind: tuple(sorted(keys)) for kind, keys in sorted(self.unread_keys.items())},
            event_count=event_count,
            error_signal_count=sum(entry.count for entry in ranked),
            page_count=page_count,
            first_event=_iso_out(first_event),
            last_event=_iso_out(last_event),
            overflow_signals=len(rest),
            overflow_count=sum(entry.count for entry in rest),
        )


def _source_text(source: str | None, line: Any) -> str | None:
    if not source or not source.strip():
        return None
    where = _strip_query(source.strip())
    number = line if isinstance(line, int) and not isinstance(line, bool) else None
    if number is None and isinstance(line, str) and line.strip().isdigit():
        number = int(line.strip())
    return _clip(f"{where}:{number}" if number is not None else where, MAX_FIELD_CHARS)


def _signal(entry: _Entry) -> Signal:
    fields = entry.fields
    return Signal(
        kind=entry.kind,
        signature=entry.signature,
        count=entry.count,
        first_seen=_iso_out(entry.first),
        last_seen=_iso_out(entry.last),
        example=fields["example"],
        message=fields.get("message"),
        source=fields.get("source"),
        method=fields.get("method"),
        path=fields.get("path"),
        status=fields.get("status"),
        page=fields.get("page"),
        target=fields.get("target"),
    )


# --- raw session events -------------------------------------------------------------------------

_RawHandler = Callable[[_Accumulator, Mapping[str, Any], str | None], None]


def _raw_console(acc: _Accumulator, event: Mapping[str, Any], when: str | None) -> None:
    props = event.get("event_properties")
    if not isinstance(props, Mapping):
        acc.miss("console_message", props)
        return
    if not _console(acc, props, when) and not _console(acc, _flat(props), when):
        acc.miss("console_message", props)


def _console(acc: _Accumulator, props: Mapping[str, Any], when: str | None) -> bool:
    """False if the message could not be read (a quiet level reads fine: it is not an error)."""
    level = _level(props)
    if level is False:
        return True
    message = _text(props, CONSOLE_MESSAGE_KEYS)
    return level is not None and message is not None and acc.console(message, _text(props, SOURCE_KEYS), when)


def _raw_exception(acc: _Accumulator, event: Mapping[str, Any], when: str | None) -> None:
    props = event.get("event_properties")
    if not isinstance(props, Mapping):
        acc.miss("exception", props)
        return
    if not _exception(acc, props, when) and not _exception(acc, _flat(props), when):
        acc.miss("exception", props)


def _exception(acc: _Accumulator, props: Mapping[str, Any], when: str | None) -> bool:
    name = _text(props, EXCEPTION_NAME_KEYS)
    message = _text(props, EXCEPTION_MESSAGE_KEYS)
    if name is None and message is None:
        return False
    line = next((props[key] for key in LINE_KEYS if key in props), None)
    return acc.exception(name, message, _text(props, SOURCE_KEYS), line, when)


def _raw_request(acc: _Accumulator, event: Mapping[str, Any], when: str | None) -> None:
    props = event.get("event_properties")
    if not isinstance(props, Mapping):
        acc.miss("request", props)
        return
    if not _request(acc, props, when) and not _request(acc, _flat(props), when):
        acc.miss("request", props)


def _request(acc: _Accumulator, props: Mapping[str, Any], when: str | None) -> bool:
    """False if neither a status nor a failure flag could be read."""
    status = _status(props)
    if status is not None and status != 0 and status < 400:
        return True  # answered below 400: not an error
    failure = None if status else _failure(props)
    if status or failure is not None:
        method, url = _text(props, REQUEST_METHOD_KEYS), _text(props, REQUEST_URL_KEYS)
        duration = next((props[key] for key in REQUEST_DURATION_KEYS if key in props), None)
        acc.request(method, url, status or None, failure, when, duration=duration)
        return True
    # status 0 with no failure flag: cancelled or still in flight, not evidence of a failure.
    return status is not None


def _raw_click(acc: _Accumulator, event: Mapping[str, Any], when: str | None) -> None:
    props = event.get("event_properties")
    if not isinstance(props, Mapping):
        acc.miss("click", props)
        return
    rage, dead, error, seen = _click_marks(props)
    if not seen:
        flat = _flat(props)
        rage, dead, error, seen = _click_marks(flat)
        if not seen:
            # No marker we know: a plain click, unless something hints that it was frustrated.
            if _hints_a_mark(flat):
                acc.miss("click", props)
            return
        props = flat
    if not (rage or dead or error):
        return
    text, selector = _click_target(props)
    page = _raw_page(event)
    if rage:
        acc.click("rage_click", page, text, selector, when)
    if dead:
        acc.click("dead_click", page, text, selector, when)
    if error:
        acc.click("error_click", page, text, selector, when)


_RAW_HANDLERS: Final[dict[Any, _RawHandler]] = {
    "console_message": _raw_console,
    "exception": _raw_exception,
    "request": _raw_request,
    "click": _raw_click,
}


def digest_events(
    session_id: str, events: Iterable[Any] | Mapping[str, Any], *, max_signals: int = MAX_SIGNALS
) -> SessionDigest:
    """Digest the events of one session (`GET /v2/sessions/{id}/events`: the list, or its `{"events"}`)."""
    items: Iterable[Any] = events
    if isinstance(events, Mapping):
        listed = events.get("events")
        items = listed if isinstance(listed, list) else ()
    acc = _Accumulator()
    handlers = _RAW_HANDLERS
    views: set[Any] = set()
    first: str | None = None
    last: str | None = None
    count = 0
    for event in items:
        count += 1
        if not isinstance(event, dict):
            acc.miss(_MALFORMED)
            continue
        when = event.get("event_time")
        if when.__class__ is not str:
            when = _time_text(when)
        if when is not None:
            if first is None or when < first:
                first = when
            if last is None or when > last:
                last = when
        view = event.get("view_id")
        if view.__class__ is str or view.__class__ is int:
            views.add(view)
        event_type = event.get("event_type")
        # Hashable types only reach the dict; anything else is not a known type anyway.
        handler = handlers.get(event_type) if event_type.__class__ is str else None
        if handler is not None:
            handler(acc, event, when)
    return acc.freeze(
        session_id,
        "events",
        event_count=count,
        page_count=len(views),
        first_event=first,
        last_event=last,
        max_signals=max_signals,
    )


# --- Generate Context ---------------------------------------------------------------------------


# (accumulator, event, its properties, page URL, event time) -> False if nothing could be read.
_ContextHandler = Callable[[_Accumulator, Mapping[str, Any], Mapping[str, Any], str | None, str | None], bool]


def _context_text(event: Mapping[str, Any], props: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    return _text(props, keys) or _text(event, ("content", "description"))


def _context_console(
    acc: _Accumulator, event: Mapping[str, Any], props: Mapping[str, Any], page: str | None, when: str | None
) -> bool:
    message = _context_text(event, props, CONSOLE_MESSAGE_KEYS)
    return message is not None and acc.console(message, _text(props, SOURCE_KEYS), when)


def _context_exception(
    acc: _Accumulator, event: Mapping[str, Any], props: Mapping[str, Any], page: str | None, when: str | None
) -> bool:
    name = _text(props, EXCEPTION_NAME_KEYS)
    message = _context_text(event, props, EXCEPTION_MESSAGE_KEYS)
    if name is None and message is None:
        return False
    line = next((props[key] for key in LINE_KEYS if key in props), None)
    return acc.exception(name, message, _text(props, SOURCE_KEYS), line, when)


def _context_network(
    acc: _Accumulator, event: Mapping[str, Any], props: Mapping[str, Any], page: str | None, when: str | None
) -> bool:
    method = _text(props, REQUEST_METHOD_KEYS)
    url = _text(props, REQUEST_URL_KEYS)
    status = _status(props)
    description = _text(event, ("description", "content"))
    if url is None and description is not None:
        # Fullstory already classified it; recover what it wrote in prose.
        found_url = _TEXT_URL.search(description)
        if found_url:
            url = found_url.group().rstrip(_URL_TRAILING_PUNCTUATION)
            found_method = _TEXT_METHOD.search(description)
            method = method or (found_method.group(1) if found_method else None)
            if status is None:
                rest = description[found_url.end() :]
                found_status = _TEXT_STATUS.search(rest)
                status = int(found_status.group(1)) if found_status else None
    if url is not None:
        failed = status if status is not None and status >= 400 else None
        acc.request(method, url, failed, None if failed else (_failure(props) or "failed"), when)
        return True
    return description is not None and acc.request_text(description, when)


def _context_click(kind: SignalKind) -> _ContextHandler:
    def handle(
        acc: _Accumulator,
        event: Mapping[str, Any],
        props: Mapping[str, Any],
        page: str | None,
        when: str | None,
    ) -> bool:
        text, selector = _click_target(props)
        if text is None and selector is None:
            text = _text(event, ("content", "description"))
        if text is None and selector is None and page is None:
            return False
        acc.click(kind, page, text, selector, when)
        return True

    return handle


_CONTEXT_HANDLERS: Final[dict[str, _ContextHandler]] = {
    "console-error": _context_console,
    "network-error": _context_network,
    "rage-click": _context_click("rage_click"),
    "dead-click": _context_click("dead_click"),
    "error-click": _context_click("error_click"),
    # Not in the documented list, but cheap to accept if Fullstory adds it.
    "exception": _context_exception,
    "uncaught-exception": _context_exception,
}


def digest_context(
    session_id: str, document: Mapping[str, Any], *, max_signals: int = MAX_SIGNALS
) -> SessionDigest:
    """Digest a Generate Context answer (`{"context_data": {...}}` or the `context_data` itself)."""
    inner = document.get("context_data")
    data: Mapping[str, Any] = inner if isinstance(inner, Mapping) else document
    pages = data.get("pages")
    acc = _Accumulator()
    times: list[str] = []
    count = 0
    page_count = 0
    for page in pages if isinstance(pages, list) else ():
        if not isinstance(page, Mapping):
            acc.miss(_MALFORMED)
            continue
        page_count += 1
        page_url = page.get("url") if isinstance(page.get("url"), str) and page.get("url") else None
        events = page.get("events")
        for event in events if isinstance(events, list) else ():
            count += 1
            if not isinstance(event, Mapping):
                acc.miss(_MALFORMED)
                continue
            when = _time_text(event.get("timestamp"))
            if when is not None:
                times.append(when)
            event_type = event.get("type")
            if not isinstance(event_type, str):
                continue
            handler = _CONTEXT_HANDLERS.get(event_type.replace("_", "-"))
            if handler is None:
                continue
            props = event.get("properties")
            if not handler(acc, event, props if isinstance(props, Mapping) else {}, page_url, when):
                acc.miss(event_type, props)
    return acc.freeze(
        session_id,
        "context",
        event_count=count,
        page_count=page_count,
        first_event=min(times, key=_time_key) if times else None,
        last_event=max(times, key=_time_key) if times else None,
        max_signals=max_signals,
    )


def _time_key(value: str) -> str:
    return _iso_out(value) or value


# --- segment export rows ------------------------------------------------------------------------


class _ExportSession:
    __slots__ = ("acc", "count", "email", "first", "last", "pages", "uid")

    def __init__(self) -> None:
        self.acc = _Accumulator()
        self.count = 0
        self.uid: str | None = None
        self.email: str | None = None
        self.first: str | None = None
        self.last: str | None = None
        self.pages: set[str] = set()


def _id_text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text or None


def _export_row(acc: _Accumulator, row: Mapping[str, Any], when: str | None) -> None:
    event_type = row.get("EventType")
    if event_type == "console_message":
        subtype = row.get("EventSubType")
        if not isinstance(subtype, str) or not subtype.strip():
            acc.miss("console_message")
        elif subtype.strip().lower() in _ERROR_LEVELS:
            message = _text(row, ("EventTargetText",))
            if message is None or not acc.console(message, _text(row, ("EventWebSourceFileUrl",)), when):
                acc.miss("console_message")
    elif event_type == "exception":
        message = _text(row, ("EventTargetText",))
        if message is None or not acc.exception(
            None, message, _text(row, ("EventWebSourceFileUrl",)), None, when
        ):
            acc.miss("exception")
    elif event_type == "request":
        status = _int_value(row.get("ReqStatus"))
        if status is None:
            acc.miss("request")
        elif status >= 400:
            acc.request(_text(row, ("ReqMethod",)), _text(row, ("ReqUrl",)), status, None, when)
    elif event_type == "click":
        page = _text(row, ("PageUrl",))
        text = _text(row, ("EventTargetText",))
        selector = _text(row, ("EventTargetSelector",))
        # EventModFrustrated is a running count within a rage series; any positive value marks one.
        if _flag_value(row.get("EventModFrustrated"), positive=True):
            acc.click("rage_click", page, text, selector, when)
        if _flag_value(row.get("EventModDead"), positive=False):
            acc.click("dead_click", page, text, selector, when)
        if _flag_value(row.get("EventModError"), positive=False):
            acc.click("error_click", page, text, selector, when)


def _export_sessions(rows: Iterable[Any]) -> tuple[dict[str, _ExportSession], int, int]:
    sessions: dict[str, _ExportSession] = {}
    row_count = 0
    without = 0
    for row in rows:
        row_count += 1
        if not isinstance(row, Mapping):
            without += 1
            continue
        user_id = _id_text(row.get("UserId"))
        fs_session = _id_text(row.get("SessionId"))
        if user_id is None or fs_session is None:
            without += 1
            continue
        session_id = f"{user_id}:{fs_session}"
        state = sessions.get(session_id)
        if state is None:
            state = sessions[session_id] = _ExportSession()
        state.count += 1
        state.uid = state.uid or _text(row, ("UserAppKey",))
        state.email = state.email or _text(row, ("UserEmail",))
        page_id = _id_text(row.get("PageId"))
        if page_id is not None:
            state.pages.add(page_id)
        when = _time_text(row.get("EventStart"))
        if when is not None:
            state.first = when if state.first is None or when < state.first else state.first
            state.last = when if state.last is None or when > state.last else state.last
        _export_row(state.acc, row, when)
    return sessions, row_count, without


def _ranked(sessions: dict[str, _ExportSession]) -> list[tuple[str, _ExportSession, int]]:
    scored = [
        (session_id, state, sum(entry.count for entry in state.acc.entries.values()))
        for session_id, state in sessions.items()
    ]
    scored.sort(key=lambda item: (-item[2], item[0]))
    return scored


def rank_export_sessions(rows: Iterable[Any]) -> ExportRanking:
    """Group export rows by API session ID (`UserId:SessionId`) and rank by error signals."""
    sessions, row_count, without = _export_sessions(rows)
    impacted = []
    for session_id, state, errors in _ranked(sessions):
        counts: dict[str, int] = {}
        for entry in state.acc.entries.values():
            counts[entry.kind] = counts.get(entry.kind, 0) + entry.count
        impacted.append(
            ImpactedSession(
                session_id=session_id,
                uid=state.uid,
                email=state.email,
                error_signal_count=errors,
                counts={kind: counts[kind] for kind in SIGNAL_KINDS if kind in counts},
                unclassified_count=sum(state.acc.unclassified.values()),
                event_count=state.count,
                first_event=_iso_out(state.first),
                last_event=_iso_out(state.last),
            )
        )
    return ExportRanking(sessions=tuple(impacted), row_count=row_count, rows_without_session=without)


def digest_export_rows(rows: Iterable[Any], *, max_signals: int = MAX_SIGNALS) -> list[SessionDigest]:
    """One digest per session of a segment export, in `rank_export_sessions` order.

    This costs no Activation, so it can group errors across a segment before any events are fetched.
    """
    sessions, _, _ = _export_sessions(rows)
    return [
        state.acc.freeze(
            session_id,
            "export",
            event_count=state.count,
            page_count=len(state.pages),
            first_event=state.first,
            last_event=state.last,
            max_signals=max_signals,
        )
        for session_id, state, _ in _ranked(sessions)
    ]


# --- across sessions ----------------------------------------------------------------------------


def group_errors(digests: Iterable[SessionDigest], *, limit: int | None = None) -> list[ErrorGroup]:
    """Merge signals with the same signature across sessions.

    Sorted by sessions affected, then occurrences (then kind and signature, for a stable order).
    The example is the earliest-seen one. Overflowed signals stay counted in their digest only.
    """
    merged: dict[str, tuple[Signal, int, set[str], str | None, str | None]] = {}
    for digest in digests:
        for signal in digest.signals:
            current = merged.get(signal.signature)
            if current is None:
                merged[signal.signature] = (
                    signal,
                    signal.count,
                    {digest.session_id},
                    signal.first_seen,
                    signal.last_seen,
                )
                continue
            earliest, count, sessions, first, last = current
            sessions.add(digest.session_id)
            if signal.first_seen is not None and (first is None or signal.first_seen < first):
                first, earliest = signal.first_seen, signal
            if signal.last_seen is not None and (last is None or signal.last_seen > last):
                last = signal.last_seen
            merged[signal.signature] = (earliest, count + signal.count, sessions, first, last)
    groups = [
        ErrorGroup(
            kind=earliest.kind,
            signature=signature,
            count=count,
            sessions=tuple(sorted(sessions)),
            first_seen=first,
            last_seen=last,
            example=earliest.example,
        )
        for signature, (earliest, count, sessions, first, last) in merged.items()
    ]
    groups.sort(key=lambda group: (-len(group.sessions), -group.count, group.kind, group.signature))
    return groups if limit is None else groups[:limit]
