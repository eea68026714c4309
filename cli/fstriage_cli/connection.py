"""`fstriage test-connection`: what the API key can do (role, tier, region, and what it can read).

A 401 (or a transport failure) raises; whatever the key's tier or the plan forbids is reported as a check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fstriage.adapters.fullstory import REGIONS, FullstoryClient
from fstriage.core.errors import (
    FullstoryAuthError,
    FullstoryBadRequest,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
)
from fstriage.core.fullstory_models import READ_ROLES, FullstoryUsage, Me, SessionRef
from fstriage.core.redact import mask_email
from fstriage_cli.progress import Progress

AVAILABLE: Final = "available"
FORBIDDEN_TIER: Final = "forbidden (tier)"
FORBIDDEN_ACTIVATION: Final = "forbidden (Activation off)"
UNKNOWN: Final = "unknown"

TIERS: Final[Mapping[str, str]] = {
    "ADMIN": "Admin",
    "ARCHITECT": "Architect",
    "USER": "Standard",
    "VIEW_ONLY": "View only",
    "UMBRELLA_MANAGER": "Umbrella manager",
}


@dataclass(frozen=True, slots=True)
class Check:
    status: str  # AVAILABLE | FORBIDDEN_TIER | FORBIDDEN_ACTIVATION | UNKNOWN
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    me: Me
    region: str
    base_url: str
    app_url: str
    sessions: Check
    summaries: Check
    events: Check
    probe_session: str | None
    usage: FullstoryUsage
    warnings: tuple[str, ...] = ()

    @property
    def tier(self) -> str:
        return TIERS.get(self.me.role, "unknown")

    @property
    def can_read_sessions(self) -> bool | None:
        if self.me.role in READ_ROLES:
            return True
        return False if self.me.role == "USER" else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "api": {"base_url": self.base_url, "region": self.region, "app_url": self.app_url},
            "key": {
                "role": self.me.role,
                "tier": self.tier,
                "can_read_sessions": self.can_read_sessions,
                "email": self.me.email or None,
                "org_id": self.me.org_id or None,
            },
            "checks": {
                "sessions": self.sessions.to_dict(),
                "summaries": self.summaries.to_dict(),
                "events": self.events.to_dict(),
            },
            "probe_session": self.probe_session,
            "cost": {"fullstory_calls": self.usage.calls, "activations": self.usage.activations},
            "warnings": list(self.warnings),
        }


def check_connection(
    client: FullstoryClient,
    *,
    probe_activation: bool = False,
    session: str | None = None,
    uid: str | None = None,
    email: str | None = None,
    profile: str | None = None,
    progress: Progress | None = None,
) -> ConnectionReport:
    """`GET /me`, a cheap sessions listing, and (opt-in) one session's summary and events.

    A 401 (or a transport failure) raises; whatever the key's tier or the plan forbids is reported.
    """
    client = client.with_deadline(None)  # own usage counters: the report says what the check spent
    _status(progress, "GET /me")
    me = client.me()
    warnings = list(_region_warnings(me, client))
    _status(progress, "listing sessions")
    sessions_check, refs = _sessions_check(client, me, uid=uid, email=email)
    probe = session or _newest(refs)
    if me.role == "USER":
        denied = Check(
            FORBIDDEN_TIER, "Standard keys cannot read session data; use an Admin or Architect key"
        )
        summaries = events = denied
    elif not probe_activation:
        where = "" if probe else " with --session, --email or --uid"
        skipped = Check(
            UNKNOWN,
            f"not probed: add --probe-activation{where} to read one session's AI summary and events "
            "(the events read costs 1 Activation)",
        )
        summaries = events = skipped
    elif probe is None:
        missing = Check(UNKNOWN, "no session to probe: pass --session, --email or --uid")
        summaries = events = missing
    else:
        _status(progress, "probing an AI summary")
        summaries = _probe(lambda: client.summary(probe, profile), what="summary", profile=profile)
        _status(progress, "probing session events (1 Activation)")
        events = _probe(lambda: client.session_events(probe), what="events", profile=profile)
    return ConnectionReport(
        me=me,
        region=client.region,
        base_url=client.base_url,
        app_url=client.app_base_url,
        sessions=sessions_check,
        summaries=summaries,
        events=events,
        probe_session=probe,
        usage=client.usage,
        warnings=tuple(warnings),
    )


def _status(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress.update(text)


def _region_warnings(me: Me, client: FullstoryClient) -> list[str]:
    suffix = me.org_id.rsplit("-", 1)[-1].lower() if "-" in me.org_id else ""
    if suffix in REGIONS and suffix != client.region:
        return [
            f"the org ID {me.org_id} is in region {suffix}, but the key resolves to {client.region}: "
            f"pass --region {suffix} so replay links point at the right app"
        ]
    return []


def _sessions_check(
    client: FullstoryClient, me: Me, *, uid: str | None, email: str | None
) -> tuple[Check, list[SessionRef]]:
    target_email = None if uid else (email or me.email or None)
    if not (uid or target_email):
        return _role_check(me), []
    who = f"uid {uid}" if uid else f"email {mask_email(str(target_email))}"
    try:
        refs = client.sessions(uid=uid, email=None if uid else target_email, limit=5)
    except FullstoryForbidden as error:
        return Check(_forbidden(error), f"listing sessions was refused: {error.message}"), []
    except (FullstoryNotFound, FullstoryBadRequest) as error:
        return Check(UNKNOWN, f"listing sessions failed: {error.message}"), []
    return Check(AVAILABLE, f"listed {len(refs)} recent session(s) of {who}"), refs


def _role_check(me: Me) -> Check:
    if me.role in READ_ROLES:
        return Check(AVAILABLE, f"{TIERS[me.role]} keys can read sessions (by role; not probed)")
    if me.role == "USER":
        return Check(FORBIDDEN_TIER, "Standard keys cannot read sessions; use an Admin or Architect key")
    return Check(UNKNOWN, f"role {me.role}: not probed (the key has no email; pass --email or --uid)")


def _newest(refs: Sequence[SessionRef]) -> str | None:
    if not refs:
        return None
    dated = sorted(refs, key=lambda ref: ref.created_at.timestamp() if ref.created_at else 0.0, reverse=True)
    return dated[0].api_session_id


def _forbidden(error: FullstoryForbidden) -> str:
    return FORBIDDEN_ACTIVATION if error.activation_disabled else FORBIDDEN_TIER


def _probe(call: Callable[[], object], *, what: str, profile: str | None) -> Check:
    try:
        call()
    except FullstoryAuthError:
        raise
    except FullstoryForbidden as error:
        return Check(_forbidden(error), f"Fullstory answered 403: {error.message}")
    except FullstoryError as error:
        hint = ""
        if what == "summary" and isinstance(error, FullstoryNotFound | FullstoryBadRequest) and not profile:
            hint = "; pass --profile with a summary profile of your org"
        return Check(UNKNOWN, f"{error.message}{hint}")
    return Check(AVAILABLE, f"read the probe session's {what}")
