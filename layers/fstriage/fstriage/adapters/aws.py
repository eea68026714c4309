"""boto3 clients, created once per container on first use, with timeouts that fit a webhook."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from fstriage.core.errors import ConfigurationError, DependencyUnavailable, FstriageError

# Fullstory gives up after about 5 s, so a slow AWS call must fail fast and become a 503.
_WEBHOOK_CONFIG = Config(
    connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 2, "mode": "standard"}
)

# Codes that mean the deployment is wrong (a missing resource, missing permissions), not that the
# service is briefly down: retrying will not help, so they surface as configuration errors.
CONFIGURATION_ERROR_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ResourceNotFoundException",
        "DecryptionFailure",
        "KMS.AccessDeniedException",
        "KMS.NotFoundException",
        "NoSuchBucket",
        "ValidationException",
    }
)


@functools.cache
def client(service: str) -> Any:
    return boto3.client(service, config=_WEBHOOK_CONFIG)


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def classify(error: ClientError | BotoCoreError, dependency: str) -> FstriageError:
    """A misconfiguration (500, fix the deployment) or an outage (503, retry later)."""
    code = error_code(error)
    if code in CONFIGURATION_ERROR_CODES:
        return ConfigurationError(
            f"{dependency}: {code}; check the resource name and the function's permissions"
        )
    return DependencyUnavailable(dependency)
