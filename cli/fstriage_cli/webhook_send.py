"""`fstriage sign` / `send`: sign a payload and POST it, as Fullstory's "Test Endpoint" button does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import requests

from fstriage.core.errors import PayloadError
from fstriage.core.http import request_from_function_url_event
from fstriage.core.signature import HEADER_NAME, sign
from fstriage_cli.wording import EXIT_FAILED, CliError

SIGNING_SECRET_ENV: Final = "FSTRIAGE_SIGNING_SECRET"  # noqa: S105 - a variable name


def webhook_body(raw: bytes) -> tuple[bytes, str | None]:
    """The bytes to sign: the file as is, or the decoded body of a function URL event (`events/*.json`).

    The second value is a note for stderr when the file was an event.
    """
    try:
        document = json.loads(raw)
    except ValueError:
        return raw, None
    if not (isinstance(document, dict) and ("requestContext" in document or "isBase64Encoded" in document)):
        return raw, None
    try:
        request = request_from_function_url_event(document)
    except PayloadError as error:
        raise CliError(f"the function URL event's body cannot be decoded: {error.message}") from None
    note = f"a function URL event: sending its decoded body ({len(request.body)} bytes), signed now"
    if request.path not in ("", "/"):
        shown = "/streams/<token>" if request.path.startswith("/streams/") else request.path
        note += f"; the event was for {shown}, but the URL is used as given"
    return request.body, note


@dataclass(frozen=True, slots=True)
class SendResult:
    status: int
    reason: str
    content_type: str | None
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        try:
            parsed: Any = json.loads(self.body) if self.body.strip() else None
        except ValueError:
            parsed = None
        return {
            "status": self.status,
            "reason": self.reason,
            "content_type": self.content_type,
            "body": self.body,
            "json": parsed,
        }


def send_signed(
    url: str,
    body: bytes,
    *,
    secret: str,
    org_id: str,
    timestamp: int | str | None = None,
    timeout: float = 10.0,
    session: requests.Session | None = None,
) -> SendResult:
    """POST `body` with `Content-Type: application/json` and a fresh `Fullstory-Signature`."""
    headers = {
        "Content-Type": "application/json",
        HEADER_NAME: sign(secret, body, org_id, timestamp),
        "User-Agent": "fstriage-cli",
    }
    http = session or requests.Session()
    try:
        response = http.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.exceptions.InvalidURL:
        raise CliError(f"not a usable URL: {url}") from None
    except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
        raise CliError(f"not an http(s) URL: {url}") from None
    except requests.RequestException as error:
        raise CliError(f"could not reach {url}: {type(error).__name__}", EXIT_FAILED) from None
    finally:
        if session is None:
            http.close()
    return SendResult(
        status=response.status_code,
        reason=response.reason or "",
        content_type=response.headers.get("Content-Type"),
        body=response.text,
    )
