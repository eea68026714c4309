"""Signing keys from Secrets Manager: AWSCURRENT then AWSPREVIOUS, cached per container."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fstriage.adapters import aws
from fstriage.core.deadline import Deadline
from fstriage.core.errors import ConfigurationError, DependencyUnavailable
from fstriage.core.ports import SigningKeys
from fstriage.core.refresh import CachedValue

# Codes that mean the deployment is wrong, not that the store is briefly down.
_CONFIGURATION_CODES = {
    "ResourceNotFoundException",
    "AccessDeniedException",
    "DecryptionFailure",
    "InvalidRequestException",
}


class SecretsManagerSigningKeys:
    """The secret is JSON: `{"signing_secret": "...", "stream_token": "..."}` (stream_token optional).

    A cold start reads AWSCURRENT only: one call fewer before the first answer. The first delivery
    that matches neither it nor the cache forces a refresh, which reads AWSPREVIOUS too, and from then
    on every load of this container does, so a rotation in progress keeps verifying old signatures.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        cache_seconds: float = 300,
        min_refresh_seconds: float = 60,
        client: Any = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._secret_id = secret_id
        self._client = client
        self._with_previous = False
        extra = {"clock": clock} if clock else {}
        self._cache = CachedValue(
            self._load, ttl_seconds=cache_seconds, min_refresh_seconds=min_refresh_seconds, **extra
        )

    def current(self, deadline: Deadline | None = None) -> SigningKeys:
        return self._cache.get(deadline)

    def refreshed(self, deadline: Deadline | None = None) -> SigningKeys | None:
        self._with_previous = True
        return self._cache.force(deadline)

    def _load(self, deadline: Deadline | None) -> SigningKeys:
        loaded_at = time.time()
        current = self._read("AWSCURRENT", deadline)
        if current is None:
            raise ConfigurationError("the signing secret has no AWSCURRENT value")
        versions = [current]
        previous = self._read("AWSPREVIOUS", deadline) if self._with_previous else None
        if previous is not None:
            versions.append(previous)
        signing = tuple(value for value in (_field(v, "signing_secret") for v in versions) if value)
        if not signing:
            raise ConfigurationError("the signing secret has no signing_secret value")
        tokens = tuple(value for value in (_field(v, "stream_token") for v in versions) if value)
        return SigningKeys(signing_secrets=signing, stream_tokens=tokens, loaded_at=loaded_at)

    def _read(self, stage: str, deadline: Deadline | None) -> dict[str, Any] | None:
        try:
            response = aws.call(
                self._client or aws.client("secretsmanager"),
                "get_secret_value",
                dependency="secrets",
                deadline=deadline,
                SecretId=self._secret_id,
                VersionStage=stage,
            )
        except ClientError as error:
            code = aws.error_code(error)
            if stage == "AWSPREVIOUS" and code == "ResourceNotFoundException":
                return None  # never rotated: there is no previous version
            if code in aws.CONFIGURATION_ERROR_CODES or code == "InvalidRequestException":
                raise ConfigurationError(f"cannot read the signing secret ({code})") from None
            raise DependencyUnavailable("secrets") from None
        except BotoCoreError:
            raise DependencyUnavailable("secrets") from None
        try:
            document = json.loads(response.get("SecretString") or "")
        except ValueError:
            raise ConfigurationError(f"the signing secret's {stage} value is not JSON") from None
        if not isinstance(document, dict):
            raise ConfigurationError(f"the signing secret's {stage} value is not a JSON object")
        return document


def _field(document: dict[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


class SecretText:
    """One secret value (an API key or a webhook URL), cached per container.

    The value may be the plain string, or JSON with the value under `key` (e.g. `{"api_key": "..."}`).
    """

    def __init__(
        self, secret_id: str, *, key: str, what: str, cache_seconds: float = 300, client: Any = None
    ) -> None:
        self._secret_id = secret_id
        self._key = key
        self._what = what
        self._client = client
        self._cache = CachedValue(self._load, ttl_seconds=cache_seconds, min_refresh_seconds=cache_seconds)

    def __call__(self) -> str:
        return self._cache.get()

    def _load(self, deadline: Deadline | None = None) -> str:
        try:
            response = aws.call(
                self._client or aws.client("secretsmanager"),
                "get_secret_value",
                dependency="secrets",
                deadline=deadline,
                SecretId=self._secret_id,
            )
        except ClientError as error:
            code = aws.error_code(error)
            if code == "ResourceNotFoundException":
                raise ConfigurationError(
                    f"the {self._what} secret has no value yet; {self._how_to_set()}"
                ) from None
            if code in aws.CONFIGURATION_ERROR_CODES:
                raise ConfigurationError(f"cannot read the {self._what} secret ({code})") from None
            raise DependencyUnavailable("secrets") from None
        except BotoCoreError:
            raise DependencyUnavailable("secrets") from None
        raw = (response.get("SecretString") or "").strip()
        value: Any = raw
        if raw.startswith("{"):
            try:
                value = json.loads(raw).get(self._key)
            except (ValueError, AttributeError):
                value = None
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"the {self._what} secret is empty; {self._how_to_set()}")
        return value.strip()

    def _how_to_set(self) -> str:
        return (
            f"set it with `aws secretsmanager put-secret-value --secret-id {self._secret_id} "
            "--secret-string ...`"
        )
