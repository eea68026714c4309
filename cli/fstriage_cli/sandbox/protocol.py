"""The shapes the sandbox's HTTP layer and its endpoints share: a request, a call, a reply, a route.

An endpoint is a `Handler`: it takes the `Call` (the sandbox, the path's captured arguments, the
query, body and headers) and returns the `Reply` to send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fstriage_cli.sandbox.faults import FaultSettings

if TYPE_CHECKING:
    from fstriage_cli.sandbox.server import FullstorySandbox


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the sandbox received, as `FullstorySandbox.requests` lists it."""

    method: str
    path: str  # as sent, still URL-encoded, query included
    route: str  # e.g. "GET /v2/sessions/{id}/events", or "unmatched"
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client_port: int  # one port per TCP connection: shows whether the client pools connections


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, document: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(document, separators=(",", ":")).encode(), headers=headers or {})


def api_error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"message": message, "code": code}, headers)


def forbidden(settings: FaultSettings, message: str) -> str:
    """A 403's message: the cause, or only "Forbidden" when the `forbidden_wording` switch is off."""
    return message if settings.forbidden_wording else "Forbidden"


@dataclass(frozen=True, slots=True)
class Call:
    sandbox: FullstorySandbox
    method: str
    path: str
    args: tuple[str, ...]
    query: dict[str, list[str]]
    body: bytes
    headers: Mapping[str, str]

    def param(self, *names: str) -> str | None:
        for name in names:
            values = self.query.get(name)
            if values:
                return values[0]
        return None


Handler = Callable[[Call], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler
    read: bool = True  # a Standard (USER) key gets 403 here
    activation: bool = False  # needs Anywhere: Activation
    authenticated: bool = True


def route(method: str, pattern: str, name: str, handler: Handler, **flags: bool) -> Route:
    return Route(method, re.compile(pattern), name, handler, **flags)
