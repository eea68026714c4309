"""Typed settings, read once per cold start from the environment the template sets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from fstriage.core.errors import ConfigurationError
from fstriage.core.intake import FULLSTORY_STREAM_RANGES, IntakePolicy, parse_networks


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
    dedupe_lease_seconds: int = 30

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
            secret_refresh_min_seconds=number(env, "SECRET_REFRESH_MIN_SECONDS", 60),
            dedupe_ttl_seconds=int(number(env, "DEDUPE_TTL_SECONDS", 7 * 24 * 3600, minimum=3600)),
            dedupe_lease_seconds=int(number(env, "DEDUPE_LEASE_SECONDS", 30, minimum=5)),
        )

    def policy(self) -> IntakePolicy:
        return IntakePolicy(
            org_id=self.org_id,
            tolerance_seconds=self.tolerance_seconds,
            max_body_bytes=self.max_body_bytes,
            max_json_depth=self.max_json_depth,
            stream_allow_list=parse_networks(self.stream_allow_list),
            lookback=timedelta(hours=self.lookback_hours),
        )
