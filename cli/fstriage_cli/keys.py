"""The Fullstory API key (from the environment or the deployed secret) and the client it opens.

The key is never printed: `ApiKey` keeps it out of its repr, and errors name only where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fstriage.adapters.fullstory import FullstoryClient
from fstriage.core.errors import ConfigurationError
from fstriage_cli.wording import API_KEY_ENV, CliError

__all__ = [
    "API_KEY_ENV",
    "SECRET_JSON_KEY",
    "ApiKey",
    "default_secrets_client",
    "load_api_key",
    "open_client",
]

SECRET_JSON_KEY: Final = "api_key"  # noqa: S105 - the secret's field name, not a secret


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
        return ApiKey(reader(), f"the secret {secret_id}")
    value = env.get(API_KEY_ENV, "").strip()
    if not value:
        raise CliError(
            f"no Fullstory API key: set {API_KEY_ENV}, or pass --secret-id with the deployed key's secret ARN"
        )
    return ApiKey(value, API_KEY_ENV)


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
