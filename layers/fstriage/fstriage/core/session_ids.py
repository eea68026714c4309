"""Fullstory session IDs in every form they arrive in, normalised to the API's `device:session`.

Forms seen in payloads and URLs:
- `device:session` (the API form; the docs call `device` the UserId);
- `indv:device!session` (replay URLs in webhook payloads, e.g. `.../session/691...:555...!111...`);
- `device!session`;
- any of these inside a replay URL `https://app[.eu1].fullstory.com/ui/<org>/session/<id>`,
  possibly URL-encoded (`%3A`, `%21`).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from fstriage.core.errors import PayloadError

_ID_PART = r"[A-Za-z0-9_-]{1,64}"
_API_FORM = re.compile(rf"({_ID_PART}):({_ID_PART})")
_BANG_FORM = re.compile(rf"(?:({_ID_PART}):)?({_ID_PART})!({_ID_PART})")


def normalise_session_id(value: str) -> str:
    """Return `device:session` for any supported form; raise PayloadError otherwise."""
    candidate = _session_part(value)
    bang = _BANG_FORM.fullmatch(candidate)
    if bang:
        return f"{bang.group(2)}:{bang.group(3)}"
    api = _API_FORM.fullmatch(candidate)
    if api:
        return f"{api.group(1)}:{api.group(2)}"
    raise PayloadError("not a recognisable Fullstory session ID", reason="invalid_session_id")


def individual_id(value: str) -> str | None:
    """The `indv` of an `indv:device!session` form (Fullstory's ID of the person, as replay URLs in
    webhook payloads carry it); None for the other forms. Which ID `GET /v2/users/{id}` takes is not
    documented, so callers keep both this and the device part."""
    try:
        bang = _BANG_FORM.fullmatch(_session_part(value))
    except PayloadError:
        return None
    return bang.group(1) if bang else None


def _session_part(value: str) -> str:
    candidate = unquote(value.strip())
    if "/" in candidate:
        try:
            path = urlsplit(candidate).path.rstrip("/")
        except ValueError:
            # An unclosed IPv6 host, or a host with characters that NFKC-normalise to URL
            # delimiters (U+FF03, a full-width number sign): not a replay URL, and never a 500.
            raise PayloadError("session URL cannot be parsed", reason="invalid_session_id") from None
        marker = path.rfind("/session/")
        if marker < 0:
            raise PayloadError("session URL has no /session/ part", reason="invalid_session_id")
        candidate = path[marker + len("/session/") :]
    return candidate


def replay_url(app_base_url: str, org_id: str, session_id: str) -> str:
    return f"{app_base_url.rstrip('/')}/ui/{org_id}/session/{session_id}"
