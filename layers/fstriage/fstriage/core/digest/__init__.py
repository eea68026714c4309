"""Fullstory events -> signals per session -> error groups across sessions.

Three inputs, one vocabulary of signals:
- raw session events (`GET /v2/sessions/{id}/events`): `digest_events`, in `events`, with the
  candidate property keys of every known event convention;
- Generate Context pages (`POST /v2/sessions/{id}/context`), classified by Fullstory: `digest_context`,
  in `context`;
- segment export rows (PascalCase): `rank_export_sessions` and `digest_export_rows`, in `export`.

Shared by all three: `text` (normalisation, masking, signatures), `values` (defensive value readers)
and `model` (the public shapes and the per-session accumulator). `grouping` merges signals across
sessions (`group_errors`). This module re-exports the public names; import from here.
"""

from __future__ import annotations

from fstriage.core.digest.context import digest_context
from fstriage.core.digest.events import (
    CONSOLE_LEVEL_KEYS,
    CONSOLE_MESSAGE_KEYS,
    DEAD_KEYS,
    ERROR_CLICK_KEYS,
    EXCEPTION_MESSAGE_KEYS,
    EXCEPTION_NAME_KEYS,
    LINE_KEYS,
    RAGE_KEYS,
    REQUEST_DURATION_KEYS,
    REQUEST_FAILURE_KEYS,
    REQUEST_METHOD_KEYS,
    REQUEST_STATUS_KEYS,
    REQUEST_URL_KEYS,
    SOURCE_KEYS,
    TARGET_SELECTOR_KEYS,
    TARGET_TEXT_KEYS,
    digest_events,
)
from fstriage.core.digest.export import digest_export_rows, rank_export_sessions
from fstriage.core.digest.grouping import group_errors
from fstriage.core.digest.model import (
    MAX_SIGNALS,
    MAX_UNREAD_KEYS,
    SIGNAL_KINDS,
    DigestSource,
    ErrorGroup,
    ExportRanking,
    ImpactedSession,
    SessionDigest,
    Signal,
    SignalKind,
)
from fstriage.core.digest.text import (
    MAX_EXAMPLE_CHARS,
    MAX_FIELD_CHARS,
    MAX_KEY_CHARS,
    MAX_SIGNATURE_TEXT,
    MAX_TARGET_CHARS,
    normalise_message,
    normalise_path,
    normalise_target,
)

__all__ = [
    "CONSOLE_LEVEL_KEYS",
    "CONSOLE_MESSAGE_KEYS",
    "DEAD_KEYS",
    "ERROR_CLICK_KEYS",
    "EXCEPTION_MESSAGE_KEYS",
    "EXCEPTION_NAME_KEYS",
    "LINE_KEYS",
    "MAX_EXAMPLE_CHARS",
    "MAX_FIELD_CHARS",
    "MAX_KEY_CHARS",
    "MAX_SIGNALS",
    "MAX_SIGNATURE_TEXT",
    "MAX_TARGET_CHARS",
    "MAX_UNREAD_KEYS",
    "RAGE_KEYS",
    "REQUEST_DURATION_KEYS",
    "REQUEST_FAILURE_KEYS",
    "REQUEST_METHOD_KEYS",
    "REQUEST_STATUS_KEYS",
    "REQUEST_URL_KEYS",
    "SIGNAL_KINDS",
    "SOURCE_KEYS",
    "TARGET_SELECTOR_KEYS",
    "TARGET_TEXT_KEYS",
    "DigestSource",
    "ErrorGroup",
    "ExportRanking",
    "ImpactedSession",
    "SessionDigest",
    "Signal",
    "SignalKind",
    "digest_context",
    "digest_events",
    "digest_export_rows",
    "group_errors",
    "normalise_message",
    "normalise_path",
    "normalise_target",
    "rank_export_sessions",
]
