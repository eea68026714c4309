"""AWS clients, created once per container on first use, and calls bounded by a `Deadline`.

The clients are botocore's, which is all boto3.client() wraps: importing boto3 also imports
s3transfer (and multiprocessing), about a third of a cold start that no function here needs.

botocore's own retries and timeouts are fixed per client, so they cannot follow a budget that
shrinks as a request goes on. Clients therefore make one attempt each (with short per-attempt
timeouts), and `call` retries transient failures only while the caller's deadline leaves room for
another whole attempt.
"""

from __future__ import annotations

import functools
import random
import time
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from fstriage.core.deadline import Deadline
from fstriage.core.errors import ConfigurationError, DependencyUnavailable, FstriageError

CONNECT_TIMEOUT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0
# The longest one attempt can take: `call` starts an attempt only if this much time is left.
ATTEMPT_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS
MAX_ATTEMPTS = 3
_FIRST_BACKOFF_SECONDS = 0.05

_ONE_ATTEMPT = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"total_max_attempts": 1, "mode": "standard"},
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
# Worth another attempt: throttling and the service's own transient faults.
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
    }
)


@functools.cache
def _session() -> Any:
    return botocore.session.get_session()


@functools.cache
def client(service: str) -> Any:
    return _session().create_client(service, config=_ONE_ATTEMPT)


@functools.cache
def s3_presigner() -> Any:
    """An S3 client for presigned links, on the shared session. SigV4 (the one S3 accepts for links of
    up to 7 days): botocore still presigns S3 with SigV2."""
    return _session().create_client("s3", config=Config(signature_version="s3v4"))


def call(
    service_client: Any,
    operation: str,
    *,
    dependency: str,
    deadline: Deadline | None = None,
    sleep: Any = time.sleep,
    **arguments: Any,
) -> Any:
    """`service_client.<operation>(**arguments)`, retried on transient failures within `deadline`.

    Raises the last botocore error for the caller to classify, or DependencyUnavailable
    (`answer_budget_exhausted`) when not even a first attempt fits.
    """
    budget = deadline or Deadline.unbounded()
    last_error: ClientError | BotoCoreError | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if not budget.allows(ATTEMPT_SECONDS):
            break
        try:
            return getattr(service_client, operation)(**arguments)
        except (ClientError, BotoCoreError) as error:
            if not is_transient(error):
                raise
            last_error = error
        if attempt < MAX_ATTEMPTS:
            backoff = _FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1) * (0.5 + random.random())  # noqa: S311
            if not budget.allows(backoff + ATTEMPT_SECONDS):
                break
            sleep(backoff)
    if last_error is not None:
        raise last_error
    raise DependencyUnavailable(
        dependency, f"no time left to call {dependency}", reason="answer_budget_exhausted"
    )


def is_transient(error: ClientError | BotoCoreError) -> bool:
    if isinstance(error, ClientError):
        status = int(getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return error_code(error) in _TRANSIENT_CODES or status >= 500
    return isinstance(error, ConnectionError | HTTPClientError)


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_condition_failed(error: Exception) -> bool:
    """DynamoDB refused a conditional write because its condition did not hold (not a failure)."""
    return error_code(error) == "ConditionalCheckFailedException"


def classify(error: ClientError | BotoCoreError, dependency: str) -> FstriageError:
    """A misconfiguration (500, fix the deployment) or an outage (503, retry later)."""
    code = error_code(error)
    if code in CONFIGURATION_ERROR_CODES:
        return ConfigurationError(
            f"{dependency}: {code}; check the resource name and the function's permissions"
        )
    return DependencyUnavailable(dependency)
