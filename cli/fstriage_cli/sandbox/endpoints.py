"""The sandbox's look-up endpoints: the key's identity, sessions, users, segments, one session's data.

A session's events come in the convention the `event_convention` switch names (see `conventions`);
its context and summary are the `views` of its raw events.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from fstriage_cli.sandbox import conventions
from fstriage_cli.sandbox.model import SandboxSession, SandboxUser
from fstriage_cli.sandbox.protocol import Call, Reply, api_error, forbidden, json_reply
from fstriage_cli.sandbox.views import TRIAGE_PROFILE, context_data, summary

_LOOP_MARKER = "pt-loop"  # the page token `repeat_page_token` answers forever


def me(call: Call) -> Reply:
    settings = call.sandbox.faults.snapshot()
    if settings.me_refused:
        return api_error(403, forbidden(settings, "insufficient permissions"), "forbidden")
    # A key refused for its tier is a Standard one, whatever `role` says.
    role = "USER" if settings.forbidden_tier else settings.role
    return json_reply(
        200, {"email": "sandbox-admin@example.test", "orgId": call.sandbox.data.org_id, "role": role}
    )


def sessions(call: Call) -> Reply:
    uid, email = call.param("uid"), call.param("email")
    if not uid and not email:
        return api_error(400, "uid or email is required", "required_field")
    try:
        limit = int(call.param("limit") or 20)
    except ValueError:
        return api_error(400, "limit must be an integer", "invalid_argument")
    if limit < 1:
        return api_error(400, "limit must be positive", "invalid_argument")
    found = call.sandbox.data.sessions_of(uid=uid, email=email)[:limit]
    return json_reply(
        200,
        {
            "sessions": [
                {
                    "userId": s.device_id,
                    "sessionId": s.session_id,
                    "createdTime": str(int(s.created.timestamp())),
                    "fsUrl": call.sandbox.data.replay_url(s),
                }
                for s in found
            ]
        },
    )


def _user_record(user: SandboxUser) -> dict[str, Any]:
    return {
        "id": user.individual_id,
        "uid": user.uid,
        "email": user.email,
        "display_name": user.display_name,
        "is_being_deleted": False,
        "properties": {},
    }


def users(call: Call) -> Reply:
    uid, email = call.param("uid"), call.param("email")
    found = [u for u in call.sandbox.data.users if (uid and u.uid == uid) or (email and u.email == email)]
    records = [_user_record(u) for u in found]
    return json_reply(200, {"results": records, "total_records": str(len(records))})


def user(call: Call) -> Reply:
    """By the individual's ID or the device's: which one Fullstory takes is not documented, so the
    `user_ids` switch narrows it to one, to show each form."""
    user_id = unquote(call.args[0])
    forms = call.sandbox.faults.snapshot().user_ids
    user = next(
        (
            u
            for u in call.sandbox.data.users
            if (forms != "device" and u.individual_id == user_id)
            or (forms != "individual" and u.device_id == user_id)
        ),
        None,
    )
    if user is None:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    return json_reply(200, _user_record(user))


def segments(call: Call) -> Reply:
    settings = call.sandbox.faults.snapshot()
    try:
        limit = int(call.param("limit") or 20)
    except ValueError:
        return api_error(400, "limit must be an integer", "invalid_argument")
    if not 1 <= limit <= 100:
        return api_error(400, "limit must be between 1 and 100", "invalid_argument")
    token = call.param("paginationToken", "pagination_token") or ""
    offset = 0
    if token and token != _LOOP_MARKER:
        match = re.fullmatch(r"pt-(\d+)", token)
        if not match:
            return api_error(400, "invalid pagination token", "invalid_argument")
        offset = int(match.group(1))
    segments = call.sandbox.data.segments
    page = segments[offset : offset + limit]
    if settings.repeat_page_token:
        next_token = _LOOP_MARKER
    else:
        next_token = f"pt-{offset + limit}" if offset + limit < len(segments) else ""
    return json_reply(
        200,
        {
            "segments": [
                {"id": s.id, "name": s.name, "creator": s.creator, "created": s.created, "url": s.url}
                for s in page
            ],
            "nextPaginationToken": next_token,
        },
    )


def _session_or_error(call: Call) -> SandboxSession | Reply:
    session_id = unquote(call.args[0])
    if not re.fullmatch(r"[0-9A-Za-z_-]+:[0-9A-Za-z_-]+", session_id):
        return api_error(400, "session_id must be '<device_id>:<session_id>'", "invalid_argument")
    session = call.sandbox.data.session(session_id)
    if session is None:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    return session


def session_events(call: Call) -> Reply:
    session = _session_or_error(call)
    if isinstance(session, Reply):
        return session
    convention = call.sandbox.faults.snapshot().event_convention
    return json_reply(200, {"events": conventions.render(session.events, convention)})


def session_context(call: Call) -> Reply:
    session = _session_or_error(call)
    if isinstance(session, Reply):
        return session
    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        return api_error(400, "request body is not valid JSON", "invalid_argument")
    events = body.get("events") if isinstance(body, dict) else None
    events = events if isinstance(events, dict) else {}
    context = context_data(
        call.sandbox.data,
        session,
        include_types=events.get("include_types") or None,
        exclude_types=events.get("exclude_types") or None,
    )
    return json_reply(200, {"context_data": context})


def session_summary(call: Call) -> Reply:
    session = _session_or_error(call)
    if isinstance(session, Reply):
        return session
    profile = call.param("config_profile")
    if profile and profile != TRIAGE_PROFILE:
        return api_error(404, "Requested resource does not exist", "resource_not_found")
    text, response = summary(session)
    return json_reply(200, {"summary": text, "response": response} if profile else {"summary": text})
