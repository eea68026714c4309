"""`POST /v2/events` (server events, the write-back): validate, then create once per Idempotency-Key.

The body is checked as Fullstory documents it. A key it has answered gets that first answer again
and creates nothing (a different body under it is refused with 409, the sandbox's choice: Fullstory
documents the refusal, not its status). Answers it did not execute (the `events_forbidden` /
`events_not_found` switches, injected 429s and 5xx) are not kept for the key.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fstriage_cli.sandbox.model import parse_time
from fstriage_cli.sandbox.protocol import Call, Reply, api_error, forbidden


@dataclass(frozen=True, slots=True)
class WrittenEvent:
    """A server event `POST /v2/events` created (a repeat of an `Idempotency-Key` creates none)."""

    name: str
    session_id: str | None  # `session.id` as sent (`U:S`)
    session_known: bool  # False: no such session, so Fullstory creates the event without one
    user: Mapping[str, Any] | None
    timestamp: str | None
    properties: Mapping[str, Any]
    schema: Mapping[str, Any]
    idempotency_key: str | None


class WrittenEvents:
    """The server events created, in order, and the first answer given under each idempotency key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: list[WrittenEvent] = []
        self._idempotent: dict[str, tuple[bytes, Reply]] = {}  # Idempotency-Key -> (body, first answer)

    def all(self) -> list[WrittenEvent]:
        with self._lock:
            return list(self._written)

    def clear(self) -> None:
        with self._lock:
            self._written.clear()
            self._idempotent.clear()

    def once(
        self, key: str | None, body: bytes, create: Callable[[], tuple[Reply, WrittenEvent | None]]
    ) -> Reply:
        """`create` once per idempotency key (under the lock, so two concurrent repeats make one event)."""
        with self._lock:
            if key is not None and key in self._idempotent:
                first_body, first = self._idempotent[key]
                if first_body != body:
                    return api_error(
                        409, "the Idempotency-Key was used with a different request body", "conflict"
                    )
                return Reply(first.status, first.body, first.content_type, dict(first.headers))
            reply, written = create()
            if written is not None:
                self._written.append(written)
            if key is not None:
                self._idempotent[key] = (body, reply)
            return reply


_SESSION_ID = re.compile(r"[0-9A-Za-z_-]+:[0-9A-Za-z_-]+")
# The property types a `schema` may declare (and their list forms).
_DECLARABLE = frozenset({"str", "int", "real", "bool", "date"} | {"strs", "ints", "reals", "bools", "dates"})


def create_event(call: Call) -> Reply:
    settings = call.sandbox.faults.snapshot()
    # In front of the endpoint: such a refusal is not kept for the idempotency key.
    if settings.events_forbidden:
        return api_error(403, forbidden(settings, "insufficient permissions"), "forbidden")
    if settings.events_not_found:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    key = call.headers.get("idempotency-key")
    return call.sandbox.writes.once(key, call.body, lambda: _new_event(call, key))


def _new_event(call: Call, key: str | None) -> tuple[Reply, WrittenEvent | None]:
    def refused(message: str, code: str = "invalid_argument") -> tuple[Reply, None]:
        return api_error(400, message, code), None

    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        return refused("request body is not valid JSON")
    if not isinstance(body, dict):
        return refused("request body must be an object")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        return refused("name is required", "required_field")
    timestamp = body.get("timestamp")
    if timestamp is not None:
        try:
            parse_time(str(timestamp))
        except (TypeError, ValueError):
            return refused("timestamp must be an ISO 8601 time")
    properties = body.get("properties", {})
    if not isinstance(properties, dict):
        return refused("properties must be an object")
    schema = body.get("schema", {})
    declared = schema.get("properties", {}) if isinstance(schema, dict) else None
    if not isinstance(declared, dict) or any(t not in _DECLARABLE for t in declared.values()):
        return refused("schema.properties must map property names to types (str, int, real, bool, date ...)")
    session, user = body.get("session"), body.get("user")
    if not isinstance(session, dict | None) or not isinstance(user, dict | None):
        return refused("session and user must be objects")
    session_id = session.get("id") if session else None
    if session_id is not None and (not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id)):
        return refused("session.id must be '<device_id>:<session_id>'")
    if session_id is not None and user:
        return refused("user is not accepted when session.id is provided")
    user_fields = [f for f in ("uid", "id") if user and isinstance(user.get(f), str) and user[f]]
    if session and session.get("use_most_recent") is True and len(user_fields) != 1:
        return refused("session.use_most_recent needs exactly one user field")
    if user and any(len(str(user.get(f, ""))) > 256 for f in ("uid", "id")):
        return refused("user.uid and user.id are at most 256 characters")
    if session_id is None and not user_fields:
        return refused("a session.id or a user is required", "required_field")
    written = WrittenEvent(
        name=name,
        session_id=session_id,
        # An unknown session is no error: Fullstory creates the event without a session.
        session_known=session_id is not None and call.sandbox.data.session(session_id) is not None,
        user=dict(user) if user else None,
        timestamp=str(timestamp) if timestamp is not None else None,
        properties=properties,
        schema=dict(schema) if isinstance(schema, dict) else {},
        idempotency_key=key,
    )
    return Reply(200, b""), written
