"""Typed settings, read once per cold start from the environment the template sets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fstriage.core.errors import ConfigurationError
from fstriage.core.intake import FULLSTORY_STREAM_RANGES, IntakePolicy, parse_networks

if TYPE_CHECKING:  # the investigation core (digest included) is the investigator's, not the webhook's
    from fstriage.core.investigation import EventSource, InvestigationSettings
    from fstriage.core.watch import WatchedSegment


def required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"setting {name} is missing")
    return value


def number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"setting {name} must be a number") from None
    if value < minimum:
        raise ConfigurationError(f"setting {name} must be at least {minimum:g}")
    return value


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """The webhook function's settings (its environment, as the template sets it)."""

    org_id: str
    signing_secret_arn: str
    queue_url: str
    dedupe_table: str
    tolerance_seconds: float = 300
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    stream_allow_list: str = FULLSTORY_STREAM_RANGES
    lookback_hours: float = 24
    secret_cache_seconds: float = 300
    secret_refresh_min_seconds: float = 60
    dedupe_ttl_seconds: int = 7 * 24 * 3600
    dedupe_window_seconds: float = 600
    answer_budget_seconds: float = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        return cls(
            org_id=required(env, "FULLSTORY_ORG_ID"),
            signing_secret_arn=required(env, "SIGNING_SECRET_ARN"),
            queue_url=required(env, "INVESTIGATION_QUEUE_URL"),
            dedupe_table=required(env, "DEDUPE_TABLE_NAME"),
            tolerance_seconds=number(env, "SIGNATURE_TOLERANCE_SECONDS", 300, minimum=1),
            max_body_bytes=int(number(env, "MAX_BODY_BYTES", 1_048_576, minimum=1024)),
            max_json_depth=int(number(env, "MAX_JSON_DEPTH", 32, minimum=4)),
            stream_allow_list=env.get("STREAM_SOURCE_ALLOW_LIST", FULLSTORY_STREAM_RANGES),
            lookback_hours=number(env, "LOOKBACK_HOURS", 24, minimum=1),
            secret_cache_seconds=number(env, "SECRET_CACHE_SECONDS", 300),
            secret_refresh_min_seconds=number(env, "SECRET_REFRESH_MIN_SECONDS", 60, minimum=10),
            dedupe_ttl_seconds=int(number(env, "DEDUPE_TTL_SECONDS", 7 * 24 * 3600, minimum=3600)),
            dedupe_window_seconds=number(env, "DEDUPE_WINDOW_SECONDS", 600, minimum=1),
            # Room for a claim, a send and, if the send fails, deleting the claim.
            answer_budget_seconds=number(env, "ANSWER_BUDGET_SECONDS", 4, minimum=2),
        )

    def policy(self) -> IntakePolicy:
        return IntakePolicy(
            org_id=self.org_id,
            tolerance_seconds=self.tolerance_seconds,
            max_body_bytes=self.max_body_bytes,
            max_json_depth=self.max_json_depth,
            stream_allow_list=parse_networks(self.stream_allow_list),
            lookback=timedelta(hours=self.lookback_hours),
            answer_budget_seconds=self.answer_budget_seconds,
            dedupe_ttl_seconds=self.dedupe_ttl_seconds,
            dedupe_window_seconds=self.dedupe_window_seconds,
            secret_refresh_retry_seconds=self.secret_refresh_min_seconds,
        )


def optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ConfigurationError(f"setting {name} must be one of {', '.join(allowed)}")
    return value


def json_object(env: Mapping[str, str], name: str) -> dict[str, str]:
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigurationError(f"setting {name} must be a JSON object") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigurationError(f"setting {name} must be a JSON object of strings")
    return {str(key): value for key, value in value.items()}


_EVERY_EVENT = "*"


def _activation_cap(env: Mapping[str, str]) -> int:
    """MONTHLY_ACTIVATION_CAP: 0 (no cap) or a whole number; a cap is counted in the state table."""
    cap = number(env, "MONTHLY_ACTIVATION_CAP", 0, minimum=0)
    if cap != int(cap):
        raise ConfigurationError("setting MONTHLY_ACTIVATION_CAP must be a whole number")
    if cap and not optional(env, "STATE_TABLE_NAME"):
        raise ConfigurationError("setting MONTHLY_ACTIVATION_CAP needs STATE_TABLE_NAME (the state table)")
    return int(cap)


@dataclass(frozen=True, slots=True)
class CustomEventSelection:
    """Which custom events are investigated: every one (`*`), or those named (case-insensitive).

    Many custom events mark success, not trouble; all of them are re-published either way."""

    names: frozenset[str] | None  # None: every event

    @classmethod
    def parse(cls, text: str) -> CustomEventSelection:
        stripped = text.strip()
        if stripped in ("", _EVERY_EVENT):
            return cls(None)
        names = frozenset(name.strip().casefold() for name in stripped.split(",") if name.strip())
        if not names or _EVERY_EVENT in names:
            raise ConfigurationError(
                "INVESTIGATE_CUSTOM_EVENTS must be `*` or a comma-separated list of custom event names"
            )
        return cls(names)

    def investigates(self, name: str | None) -> bool:
        return self.names is None or (name is not None and name.strip().casefold() in self.names)


INVESTIGATE_EVERY_CUSTOM_EVENT = CustomEventSelection(None)


MAX_REPORT_LINK_EXPIRY_SECONDS = 7 * 24 * 3600  # S3's limit for a SigV4 presigned URL


def _report_link_expiry(env: Mapping[str, str]) -> int:
    seconds = int(number(env, "REPORT_LINK_EXPIRY_SECONDS", MAX_REPORT_LINK_EXPIRY_SECONDS, minimum=1))
    if seconds > MAX_REPORT_LINK_EXPIRY_SECONDS:
        raise ConfigurationError(
            f"setting REPORT_LINK_EXPIRY_SECONDS must be at most {MAX_REPORT_LINK_EXPIRY_SECONDS} (7 days)"
        )
    return seconds


@dataclass(frozen=True, slots=True)
class InvestigatorSettings:
    """The investigator function's settings (its environment, as the template sets it)."""

    org_id: str
    api_key_secret_arn: str
    reports_bucket: str
    queue_url: str
    idempotency_table: str
    # Continuity pointers and the month's Activation count (None: an older stack without the table).
    state_table: str | None = None
    # How far back a report looks for the previous one on its subject (`core.continuity`).
    continuity_horizon_days: int = 7
    event_bus_name: str = "default"
    region: str | None = None  # na1 | eu1; None: from the key's prefix
    api_url: str | None = None  # override for tests and the local sandbox
    reports_prefix: str = "reports/"
    max_sessions: int = 10
    concurrency: int = 4
    rate_per_second: float = 8.0
    summary_profile: str | None = None
    event_source: EventSource = "events"
    metric_segments: dict[str, str] = field(default_factory=dict)
    export_poll_delay_seconds: int = 30
    export_max_polls: int = 20
    # Seconds one invocation polls a young export in-process before re-queueing it (0: re-queue at once).
    export_inline_wait_seconds: float = 20.0
    slack_webhook_secret_arn: str | None = None
    idempotency_expiry_seconds: int = 7 * 24 * 3600
    max_receive_count: int = 5  # the queue's redrive maxReceiveCount
    queue_visibility_timeout_seconds: int = 720  # the queue's VisibilityTimeout
    # One server event per investigated session into Fullstory (`core.writeback`); the customer opts in.
    write_back: bool = False
    # Which custom events are investigated (`*`: all); every one is re-published either way.
    investigate_custom_events: CustomEventSelection = INVESTIGATE_EVERY_CUSTOM_EVENT
    # The presigned link to the HTML report (Slack, EventBridge); S3 caps a SigV4 link at 7 days.
    report_link_expiry_seconds: int = MAX_REPORT_LINK_EXPIRY_SECONDS
    # Segments investigated on a schedule between alerts (`core.watch`); empty: none.
    watched_segments: tuple[WatchedSegment, ...] = ()
    # Why WATCHED_SEGMENTS could not be read: only the schedule's ticks fail on it, never an alert.
    watched_segments_error: str | None = None
    # Whether a quiet report (no errors, or only ongoing ones) is still posted to Slack.
    slack_quiet_reports: bool = False
    # Activations a month may spend (`core.budget`, counted in the state table); 0: no cap.
    monthly_activation_cap: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InvestigatorSettings:
        region = optional(env, "FULLSTORY_REGION")
        if region is not None:
            region = choice(env, "FULLSTORY_REGION", "na1", ("na1", "eu1"))
        event_source: EventSource = (
            "context"
            if choice(env, "SESSION_EVENT_SOURCE", "events", ("events", "context")) == "context"
            else "events"
        )
        return cls(
            org_id=required(env, "FULLSTORY_ORG_ID"),
            api_key_secret_arn=required(env, "FULLSTORY_API_KEY_SECRET_ARN"),
            reports_bucket=required(env, "REPORTS_BUCKET"),
            queue_url=required(env, "INVESTIGATION_QUEUE_URL"),
            idempotency_table=required(env, "IDEMPOTENCY_TABLE_NAME"),
            state_table=optional(env, "STATE_TABLE_NAME"),
            continuity_horizon_days=int(number(env, "CONTINUITY_HORIZON_DAYS", 7, minimum=1)),
            event_bus_name=optional(env, "EVENT_BUS_NAME") or "default",
            region=region,
            api_url=optional(env, "FULLSTORY_API_URL"),
            reports_prefix=(optional(env, "REPORTS_PREFIX") or "reports").strip("/") + "/",
            max_sessions=int(number(env, "MAX_SESSIONS_PER_INVESTIGATION", 10, minimum=1)),
            concurrency=int(number(env, "FETCH_CONCURRENCY", 4, minimum=1)),
            rate_per_second=number(env, "FULLSTORY_RATE_PER_SECOND", 8, minimum=0.1),
            summary_profile=optional(env, "SUMMARY_PROFILE_ID"),
            event_source=event_source,
            metric_segments=json_object(env, "METRIC_SEGMENTS"),
            export_poll_delay_seconds=int(number(env, "EXPORT_POLL_DELAY_SECONDS", 30, minimum=0)),
            export_max_polls=int(number(env, "EXPORT_MAX_POLLS", 20, minimum=1)),
            export_inline_wait_seconds=number(env, "EXPORT_INLINE_WAIT_SECONDS", 20, minimum=0),
            slack_webhook_secret_arn=optional(env, "SLACK_WEBHOOK_SECRET_ARN"),
            max_receive_count=int(number(env, "MAX_RECEIVE_COUNT", 5, minimum=1)),
            queue_visibility_timeout_seconds=int(
                number(env, "QUEUE_VISIBILITY_TIMEOUT_SECONDS", 720, minimum=0)
            ),
            write_back=choice(env, "WRITE_BACK_TO_FULLSTORY", "false", ("true", "false")) == "true",
            investigate_custom_events=CustomEventSelection.parse(env.get("INVESTIGATE_CUSTOM_EVENTS", "*")),
            report_link_expiry_seconds=_report_link_expiry(env),
            **_watched(env.get("WATCHED_SEGMENTS", "")),
            slack_quiet_reports=choice(env, "SLACK_QUIET_REPORTS", "false", ("true", "false")) == "true",
            monthly_activation_cap=_activation_cap(env),
        )

    def investigation(self) -> InvestigationSettings:
        from fstriage.core.investigation import InvestigationSettings  # noqa: PLC0415

        return InvestigationSettings(
            org_id=self.org_id,
            max_sessions=self.max_sessions,
            concurrency=self.concurrency,
            summary_profile=self.summary_profile,
            event_source=self.event_source,
            export_poll_delay_seconds=min(self.export_poll_delay_seconds, 900),  # the SQS maximum
            export_max_polls=self.export_max_polls,
            export_inline_wait_seconds=self.export_inline_wait_seconds,
            metric_segments=dict(self.metric_segments),
        )


def _watched(text: str) -> dict[str, Any]:
    from fstriage.core.watch import parse_watched_segments  # noqa: PLC0415 - the investigator's only

    try:
        return {"watched_segments": parse_watched_segments(text)}
    except ConfigurationError as error:
        return {"watched_segments": (), "watched_segments_error": error.message}
