"""The Fullstory API key (from the environment or the deployed secret), its endpoint, and the client.

The key is never printed: `ApiKey` keeps it out of its repr, and errors name only where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from fstriage.adapters.fullstory import REGIONS, FullstoryClient
from fstriage.core.errors import ConfigurationError
from fstriage_cli.wording import API_KEY_ENV, CliError

__all__ = [
    "API_KEY_ENV",
    "API_URL_ENV",
    "ORG_ID_ENV",
    "REGIONS",
    "REGION_ENV",
    "SECRET_JSON_KEY",
    "ApiKey",
    "default_secrets_client",
    "endpoint",
    "key_source",
    "load_api_key",
    "open_client",
]

SECRET_JSON_KEY: Final = "api_key"  # noqa: S105 - the secret's field name, not a secret
# What the CLI and the MCP server read besides the key (a flag of the same meaning wins).
API_URL_ENV: Final = "FULLSTORY_API_URL"
REGION_ENV: Final = "FULLSTORY_REGION"
ORG_ID_ENV: Final = "FULLSTORY_ORG_ID"


@dataclass(frozen=True, slots=True)
class ApiKey:
    value: str = field(repr=False)  # never printed, never in a repr
    source: str  # what to check when it is rejected: the variable or the secret


def load_api_key(env: Mapping[str, str], secret_id: str | None, *, secrets_client: Any = None) -> ApiKey:
    """The key from `--secret-id` (the deployed secret) when given, else from FULLSTORY_API_KEY."""
    if secret_id:
        # boto3 takes ~0.4 s to import: only `--secret-id` pays for it.
        from fstriage.adapters.secrets import SecretText  # noqa: PLC0415

        client = secrets_client if secrets_client is not None else default_secrets_client()
        reader = SecretText(secret_id, key=SECRET_JSON_KEY, what="Fullstory API key", client=client)
        return ApiKey(reader(), key_source(secret_id))
    value = env.get(API_KEY_ENV, "").strip()
    if not value:
        raise CliError(
            f"no Fullstory API key: set {API_KEY_ENV}, or pass --secret-id with the deployed key's secret ARN"
        )
    return ApiKey(value, key_source(secret_id))


def key_source(secret_id: str | None) -> str:
    """Where `load_api_key` reads the key from, as errors name it (never the key itself)."""
    return f"the secret {secret_id}" if secret_id else API_KEY_ENV


def endpoint(
    env: Mapping[str, str], api_url: str | None, region: str | None
) -> tuple[str | None, str | None]:
    """The API base URL and region from the flags (`--fullstory-api-url`, `--region`) over `env`, None
    where neither names one; a CliError names a value that is not an http(s) URL or not a region."""
    base_url = api_url or env.get(API_URL_ENV, "").strip() or None
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CliError(f"{base_url!r} is not an http(s) URL (--fullstory-api-url or ${API_URL_ENV})")
    chosen = region or env.get(REGION_ENV, "").strip().lower() or None
    if chosen is not None and chosen not in REGIONS:
        raise CliError(f"{REGION_ENV}={chosen!r} is not a region ({' or '.join(REGIONS)})")
    return base_url, chosen


def default_secrets_client() -> Any:
    """A Secrets Manager client from the environment's AWS settings; a CliError when there is none."""
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
