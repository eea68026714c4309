"""The logic behind the `fstriage` operator commands, kept out of `cli.py` so it can be reused and tested.

Everything here reuses the library: the Fullstory client and its typed errors, the signer, the
function URL event reader, the request builder and the very `Investigation` the Lambda runs.
(Named `ops`, not `operator`, so it can never shadow the standard library's `operator`.)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import requests

from fstriage.adapters.fullstory import REGIONS, FullstoryClient
from fstriage.core.errors import (
    ConfigurationError,
    DependencyUnavailable,
    FstriageError,
    FullstoryAuthError,
    FullstoryBadRequest,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
    FullstoryRateLimited,
    FullstoryServerError,
    FullstoryUnavailable,
    PayloadError,
)
from fstriage.core.fullstory_models import (
    READ_ROLES,
    FullstoryUsage,
    Me,
    Operation,
    Segment,
    SessionRef,
    Summary,
)
from fstriage.core.http import request_from_function_url_event
from fstriage.core.investigation import Finished, Investigation, InvestigationSettings, Requeue
from fstriage.core.redact import mask_email
from fstriage.core.request import (
    Alert,
    InvestigationRequest,
    Origin,
    Subject,
    Trigger,
    Window,
    build_request,
    isoformat,
)
from fstriage.core.session_ids import normalise_session_id
from fstriage.core.signature import HEADER_NAME, sign
from fstriage_cli.progress import Progress

API_KEY_ENV: Final = "FULLSTORY_API_KEY"
SIGNING_SECRET_ENV: Final = "FSTRIAGE_SIGNING_SECRET"  # noqa: S105 - a variable name
SECRET_JSON_KEY: Final = "api_key"  # noqa: S105 - the secret's field name, not a secret

# Exit codes of the CLI.
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1  # Fullstory (or the webhook endpoint, or AWS) answered with a failure
EXIT_USAGE: Final = 2  # bad arguments, missing key or secret, unreadable session ID or file


class CliError(Exception):
    """A failure the CLI reports as one line and an exit code (never with a traceback)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# ---------------------------------------------------------------------------------------------
# The API key and the client


@dataclass(frozen=True, slots=True)
class ApiKey:
    value: str = field(repr=False)  # never printed, never in a repr
    source: str  # what to check when it is rejected: the variable or the secret


def load_api_key(env: Mapping[str, str], secret_id: str | None, *, secrets_client: Any = None) -> ApiKey:
    """The key from `--secret-id` (the deployed secret) when given, else from FULLSTORY_API_KEY."""
    if secret_id:
        # boto3 takes ~0.4 s to import: only `--secret-id` pays for it.
        from fstriage.adapters.secrets import SecretText  # noqa: PLC0415

        client = secrets_client if secrets_client is not None else _secrets_client()
        reader = SecretText(secret_id, key=SECRET_JSON_KEY, what="Fullstory API key", client=client)
        return ApiKey(reader(), f"the secret {secret_id}")
    value = env.get(API_KEY_ENV, "").strip()
    if not value:
        raise CliError(
            f"no Fullstory API key: set {API_KEY_ENV}, or pass --secret-id with the deployed key's secret ARN"
        )
    return ApiKey(value, API_KEY_ENV)


def _secrets_client() -> Any:
    import boto3  # noqa: PLC0415 - only `--secret-id` needs boto3
    from botocore.exceptions import BotoCoreError, NoRegionError  # noqa: PLC0415

    try:
        return boto3.client("secretsmanager")
    except NoRegionError:
        raise CliError("no AWS region for --secret-id: set AWS_REGION (or AWS_DEFAULT_REGION)") from None
    except BotoCoreError as error:
        raise CliError(f"cannot create a Secrets Manager client: {type(error).__name__}") from None


def open_client(key: ApiKey, *, region: str | None = None, base_url: str | None = None) -> FullstoryClient:
    try:
        return FullstoryClient(key.value, region=region, base_url=base_url)
    except ConfigurationError as error:
        raise CliError(f"{error.message} (from {key.source})") from None


# ---------------------------------------------------------------------------------------------
# Errors as one line that says what to do


def explain(error: FstriageError, key_source: str = API_KEY_ENV) -> str:
    """One human line for a typed error; the messages never hold the key (the client masks it)."""
    detail = error.message
    if isinstance(error, FullstoryAuthError):
        return f"the key was rejected (401): check {key_source}; it must be a valid, unrevoked API key"
    if isinstance(error, FullstoryForbidden):
        if error.activation_disabled:
            return (
                "Fullstory refused (403): Anywhere: Activation is not enabled for this org, and session "
                f"events, context and AI summaries need it ({detail})"
            )
        return (
            "Fullstory refused (403): the key's role cannot read this; reading sessions, events, summaries "
            f"and segments needs an Admin or Architect key ({detail})"
        )
    if isinstance(error, FullstoryNotFound):
        return (
            "not found (404): check the ID; a session may be older than the data retention, "
            f"or a summary profile may not exist ({detail})"
        )
    if isinstance(error, FullstoryRateLimited):
        wait = f"wait {error.retry_after:g}s and " if error.retry_after is not None else "wait and "
        return f"rate limited (429): {wait}try again ({detail})"
    if isinstance(error, FullstoryBadRequest):
        return f"Fullstory refused the request (400): {detail}"
    if isinstance(error, FullstoryServerError | FullstoryUnavailable):
        return (
            f"Fullstory is unavailable ({detail}): try again later, and check --fullstory-api-url "
            "and the network"
        )
    if isinstance(error, FullstoryError):
        return f"the Fullstory call failed: {detail}"
    if isinstance(error, PayloadError) and error.reason == "invalid_session_id":
        return (
            f"{detail}: give a replay URL, `device:session` or `indv:device!session` "
            "(e.g. 5557778531805533:1110765439578976)"
        )
    if isinstance(error, DependencyUnavailable):
        return f"{detail}: try again later (check AWS credentials and the network)"
    return detail


def exit_code_for(error: FstriageError) -> int:
    """1 when a remote side failed (Fullstory, AWS); 2 for what the operator must fix in the call."""
    if isinstance(error, FullstoryError | DependencyUnavailable):
        return EXIT_FAILED
    return EXIT_USAGE


def session_id(value: str) -> str:
    """Any accepted session form as the API's `device:session`; a CliError (exit 2) otherwise."""
    try:
        return normalise_session_id(value)
    except PayloadError as error:
        raise CliError(f"{value!r} is {explain(error)}") from None


# ---------------------------------------------------------------------------------------------
# test-connection

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


# ---------------------------------------------------------------------------------------------
# investigate: the Lambda's own Investigation, driven from a terminal


def manual_request(
    *,
    org_id: str,
    session_ids: Sequence[str] = (),
    uid: str | None = None,
    email: str | None = None,
    window_hours: float = 24,
    now: datetime,
    note: str | None = None,
) -> InvestigationRequest:
    """A `manual` request from the `cli`, its window ending `now`, built by the library's `build_request`."""
    subject = Subject(session_ids=tuple(session_id(value) for value in session_ids), uid=uid, email=email)
    if subject.is_empty:
        raise CliError("nothing to investigate: pass --session, --email or --uid")
    received = isoformat(now)
    trigger = Trigger(
        kind="manual",
        source="cli",
        event_name="manual",
        event_id=None,
        occurred_at=received,
        text=note,
    )
    return _cli_request(
        org_id, trigger, subject, now, window_hours, identity=[list(subject.session_ids), uid, email]
    )


def _cli_request(
    org_id: str,
    trigger: Trigger,
    subject: Subject,
    now: datetime,
    window_hours: float,
    *,
    identity: list[Any],
) -> InvestigationRequest:
    """A `cli` request, its window ending `now`, built by the library's `build_request`; `identity`
    (with the org and the time) makes its delivery key."""
    received = isoformat(now)
    window = Window(start=isoformat(now - timedelta(hours=window_hours)), end=received)
    key = json.dumps([org_id, received, *identity])
    origin = Origin(
        org_id=org_id,
        delivery_key="cli:" + hashlib.sha256(key.encode()).hexdigest(),
        received_at=received,
        signed_at=None,
    )
    return build_request(trigger=trigger, subject=subject, window=window, origin=origin)


# A segment named on the command line: its ID, its URL (`.../segments/<id>`), or its name.
_SEGMENT_IN_URL = re.compile(r"/segments/([^/?#\s]+)")
MAX_CANDIDATES: Final = 10


def segment_id_in(value: str) -> str | None:
    """The segment ID in a segment URL (`https://app.fullstory.com/ui/<org>/segments/<id>/...`)."""
    found = _SEGMENT_IN_URL.search(value) if "://" in value or value.startswith("/") else None
    return found.group(1) if found else None


def resolve_segment(segments: Sequence[Segment], value: str) -> Segment:
    """The one segment `value` names: by ID, by URL, by exact name, else by a unique part of a name.

    Case is ignored for names. Several matches, or none, raise a CliError that lists candidates.
    """
    wanted = value.strip()
    if not wanted:
        raise CliError("--segment is empty: give a segment ID, URL or name (see `fstriage segments`)")
    from_url = segment_id_in(wanted)
    by_id = [s for s in segments if s.id == (from_url or wanted)]
    if by_id:
        return by_id[0]
    if from_url is not None:
        raise CliError(
            f"no segment with the ID {from_url} (from the URL) is visible to this key; "
            f"{_candidates_text(segments, segments)}"
        )
    folded = wanted.casefold()
    exact = [s for s in segments if s.name.casefold() == folded]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise CliError(
            f"{len(exact)} segments are named {wanted!r}: pass one of their IDs with --segment; "
            f"{_candidates_text(exact, segments)}"
        )
    partial = [s for s in segments if folded in s.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise CliError(
            f"{len(partial)} segments match {wanted!r}: pass a full name or an ID with --segment; "
            f"{_candidates_text(partial, segments)}"
        )
    names = {s.name.casefold(): s for s in segments}
    close = [names[name] for name in difflib.get_close_matches(folded, list(names), n=5, cutoff=0.5)]
    if not segments:
        raise CliError(f"no segment matches {wanted!r}: this key sees no segments at all")
    shown = close or list(segments)
    hint = "close names" if close else "segments"
    raise CliError(f"no segment matches {wanted!r}; {_candidates_text(shown, segments, hint)}")


def _candidates_text(shown: Sequence[Segment], every: Sequence[Segment], what: str = "candidates") -> str:
    listed = "; ".join(f"{s.id} ({mask_email(s.name)!r})" for s in shown[:MAX_CANDIDATES])
    more = f"; and {len(shown) - MAX_CANDIDATES} more" if len(shown) > MAX_CANDIDATES else ""
    tail = " (`fstriage segments` lists them all)" if len(every) > len(shown[:MAX_CANDIDATES]) else ""
    return f"{what}: {listed}{more}{tail}" if shown else "`fstriage segments` lists the segments"


def segment_request(
    *, org_id: str, segment: Segment, window_hours: float = 24, now: datetime, note: str | None = None
) -> InvestigationRequest:
    """A request that runs a segment alert's export flow for `segment`, its window ending `now`.

    The library starts the export, and asks to be re-queued while Fullstory prepares it; the CLI
    sleeps instead (`run_until_finished`).
    """
    received = isoformat(now)
    trigger = Trigger(
        kind="segment_alert",
        source="cli",
        event_name="manual",
        event_id=None,
        occurred_at=received,
        alert=Alert(
            name=segment.name, segment_id=segment.id, segment_name=segment.name, segment_url=segment.url
        ),
        text=note,
    )
    return _cli_request(org_id, trigger, Subject(), now, window_hours, identity=["segment", segment.id])


def pause(seconds: float) -> None:
    """How the CLI waits between export checks (a module function, so tests can replace it)."""
    time.sleep(seconds)


class ProgressPort:
    """The Fullstory port an `Investigation` uses, passed through to the client while a status line
    counts what was read. Thread-safe: the investigation reads sessions from a small pool."""

    def __init__(self, client: FullstoryClient, progress: Progress | None) -> None:
        self._client = client
        self._progress = progress
        self.app_base_url = client.app_base_url
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._label = "starting"

    @property
    def usage(self) -> FullstoryUsage:
        return self._client.usage

    def sessions(
        self, *, uid: str | None = None, email: str | None = None, limit: int = 20
    ) -> list[SessionRef]:
        return self._tracked(
            "listing the user's sessions", "lists", self._client.sessions, uid=uid, email=email, limit=limit
        )

    def segments(self) -> list[Segment]:
        return self._tracked("listing segments", "lists", self._client.segments)

    def summary(self, session_id: str, config_profile: str | None = None) -> Summary:
        return self._tracked(
            "reading sessions", "summaries", self._client.summary, session_id, config_profile
        )

    def session_events(self, session_id: str) -> list[dict[str, Any]]:
        return self._tracked("reading sessions", "event reads", self._client.session_events, session_id)

    def session_context(self, session_id: str) -> dict[str, Any]:
        return self._tracked("reading sessions", "context reads", self._client.session_context, session_id)

    def start_segment_export(self, segment_id: str, start: datetime, end: datetime) -> str:
        return self._tracked(
            "starting the segment export",
            "exports",
            self._client.start_segment_export,
            segment_id,
            start,
            end,
        )

    def operation(self, operation_id: str) -> Operation:
        return self._tracked(
            "checking the segment export", "export checks", self._client.operation, operation_id
        )

    def export_results(self, search_export_id: str) -> list[dict[str, Any]]:
        return self._tracked(
            "downloading the segment export", "downloads", self._client.export_results, search_export_id
        )

    def key_role(self) -> str | None:
        """The key's role (`GET /me`, cached by the client): what tells a tier 403 from Activation off."""
        return self._client.key_role()

    def waiting(self, seconds: int, *, checks: int | None = None, max_checks: int | None = None) -> None:
        """Say that Fullstory is still preparing the export, and when it is checked again."""
        done = f"check {checks}/{max_checks}, " if checks and max_checks else ""
        with self._lock:
            self._label = f"Fullstory is preparing the segment export ({done}next check in {seconds}s)"
        self._show()

    def _tracked[**P, R](
        self, label: str, counter: str, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        with self._lock:
            self._label = label
        self._show()
        try:
            return call(*args, **kwargs)
        finally:
            with self._lock:
                self._counts[counter] = self._counts.get(counter, 0) + 1
            self._show()

    def _show(self) -> None:
        if self._progress is None:
            return
        usage = self._client.usage
        with self._lock:
            counts = ", ".join(f"{name} {n}" for name, n in self._counts.items())
            label = self._label
        spent = f"{plural(usage.calls, 'Fullstory call')}, {plural(usage.activations, 'Activation')}"
        self._progress.update(f"{label} ({counts + '; ' if counts else ''}{spent})")


def plural(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def run_until_finished(
    investigation: Investigation,
    request: InvestigationRequest,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[Requeue], None] | None = None,
) -> Finished:
    """Run the investigation; where the Lambda would re-queue (a pending export), sleep and run again."""
    outcome = investigation.run(request)
    while isinstance(outcome, Requeue):
        if on_wait is not None:
            on_wait(outcome)
        sleep(outcome.delay_seconds)
        outcome = investigation.run(outcome.request)
    return outcome


EXPORT_POLL_SECONDS: Final = 5


def cli_investigation_settings(
    org_id: str,
    *,
    max_sessions: int = 10,
    concurrency: int = 4,
    summary_profile: str | None = None,
    event_source: str = "events",
    export_wait_minutes: float = 5.0,
) -> InvestigationSettings:
    return InvestigationSettings(
        org_id=org_id,
        max_sessions=max_sessions,
        concurrency=concurrency,
        summary_profile=summary_profile,
        event_source="context" if event_source == "context" else "events",
        # A terminal can wait: poll a pending export every few seconds rather than SQS's 30.
        export_poll_delay_seconds=EXPORT_POLL_SECONDS,
        export_max_polls=max(1, math.ceil(export_wait_minutes * 60 / EXPORT_POLL_SECONDS)),
        deadline_margin_seconds=0.0,
    )


# ---------------------------------------------------------------------------------------------
# events: one line per raw event

_DETAIL_CHARS = 160


def describe_event(event: Mapping[str, Any]) -> str:
    """`time  type  detail` for one raw session event; defensive, since property keys are undocumented."""
    when = _text(event.get("event_time")) or "?"
    kind = _text(event.get("event_type")) or "?"
    props = _mapping(event.get("event_properties"))
    detail = ""
    if kind == "navigate":
        url = _mapping(_mapping(event.get("source_properties")).get("url"))
        detail = _text(url.get("full_url")) or _text(url.get("path")) or ""
    elif kind in ("click", "change"):
        target = _mapping(props.get("target"))
        text = _text(target.get("text"))
        selector = _text(target.get("raw_selector"))
        flags = [name for name in ("rage", "dead", "error") if props.get(f"is_{name}_click") is True]
        detail = " ".join(
            part for part in (f'"{text}"' if text else None, f"({selector})" if selector else None) if part
        )
        if flags:
            detail += f" [{', '.join(flags)} click]"
    elif kind == "console_message":
        detail = f"{_text(props.get('level')) or 'log'}: {_text(props.get('message')) or ''}"
    elif kind == "exception":
        name, message = _text(props.get("name")), _text(props.get("message")) or ""
        detail = f"{name}: {message}" if name else message
    elif kind == "request":
        status = props.get("status_code", props.get("status"))
        detail = " ".join(
            str(part)
            for part in (_text(props.get("method")), _text(props.get("url")), status)
            if part is not None
        )
    elif kind == "custom":
        detail = _text(props.get("event_name")) or ""
    elif kind == "identify":
        detail = _text(props.get("user_id")) or _text(props.get("user_email")) or ""
    detail = mask_email(" ".join(detail.split()))
    if len(detail) > _DETAIL_CHARS:
        detail = detail[: _DETAIL_CHARS - 1] + "…"
    return f"{when}  {kind:<16} {detail}".rstrip()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        text = str(value).strip()
        return text or None
    return None


def session_row(ref: SessionRef) -> dict[str, Any]:
    return {
        "session_id": ref.api_session_id,
        "user_id": ref.user_id,
        "created_at": isoformat(ref.created_at) if ref.created_at else None,
        "created_time": ref.created_time,
        "replay_url": ref.fs_url,
    }


# ---------------------------------------------------------------------------------------------
# sign and send: what Fullstory's "Test Endpoint" button does


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
