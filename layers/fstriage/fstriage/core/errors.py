"""Typed errors. Each carries the status or retry decision its caller maps it to."""

from __future__ import annotations


class FstriageError(Exception):
    """Base of every error this library raises on purpose."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class RequestRejected(FstriageError):
    """The caller sent something we refuse: answered with a 4xx and never queued."""

    status = 400
    reason = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        if status is not None:
            self.status = status
        self.headers = headers or {}


class SignatureError(RequestRejected):
    """Missing, malformed or wrong `Fullstory-Signature`, wrong org, or a stale timestamp."""

    status = 401
    reason = "bad_signature"


class ForbiddenSource(RequestRejected):
    """A Streams delivery with a wrong token or from outside the source allow list."""

    status = 403
    reason = "forbidden"


class PayloadError(RequestRejected):
    """The body is not JSON, or not a payload shape we know."""

    status = 400
    reason = "invalid_payload"


class ConfigurationError(FstriageError):
    """The deployment is misconfigured (missing setting or secret). Answered 500; never skipped."""

    reason = "configuration_error"


class DependencyUnavailable(FstriageError):
    """A store we depend on (queue, secrets, ledger) failed; the caller should retry later."""

    reason = "dependency_unavailable"

    def __init__(
        self,
        dependency: str,
        message: str | None = None,
        *,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message or f"{dependency} is unavailable", reason=reason or f"{dependency}_unavailable"
        )
        self.dependency = dependency
        # Seconds after which a retry is likely to succeed, when we know better than the default.
        self.retry_after = retry_after


class ClaimStuck(DependencyUnavailable):
    """The send failed and deleting the claim failed too: until the ledger item expires, a retry of
    this trigger reads as a duplicate. Answered 503 like any outage, but logged as an error."""

    def __init__(self, request_id: str) -> None:
        super().__init__(
            "ledger", "the claim of an unqueued request could not be deleted", reason="claim_stuck"
        )
        self.request_id = request_id


# Fullstory Server API errors. The adapter maps each HTTP status to one of these; the investigator
# maps `retryable` to "let SQS redeliver" versus "report it and move on".

FULLSTORY_MESSAGE_LIMIT = 200


class FullstoryError(FstriageError):
    """A Fullstory API call failed.

    `status` is the HTTP status (None when no answer arrived), `code` the API's snake_case `code`
    when the body was `{"message","code"}` JSON. The message is capped and never holds the API key.
    """

    reason = "fullstory_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message[:FULLSTORY_MESSAGE_LIMIT], reason=reason)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable


class FullstoryBadRequest(FullstoryError):
    """400: we sent something the API refuses (a bug on our side, or an unexpected ID)."""

    reason = "fullstory_bad_request"


class FullstoryAuthError(FullstoryError):
    """401: the API key is missing, wrong or revoked. Retrying cannot help."""

    reason = "fullstory_unauthorized"
    retryable = False


class FullstoryForbidden(FullstoryError):
    """403: the key's tier is too low (Standard), or Anywhere: Activation is off for the org.

    The API message is kept so a report can say which.
    """

    reason = "fullstory_forbidden"

    @property
    def activation_disabled(self) -> bool:
        return "activation" in self.message.lower()


class FullstoryNotFound(FullstoryError):
    """404: the session (or export, or profile) is unknown, expired or was never recorded."""

    reason = "fullstory_not_found"


class FullstoryRateLimited(FullstoryError):
    """429: `retry_after` holds the seconds Fullstory asked us to wait (None if it did not say)."""

    reason = "fullstory_rate_limited"
    retryable = True


class FullstoryServerError(FullstoryError):
    """5xx from Fullstory."""

    reason = "fullstory_server_error"
    retryable = True


class FullstoryUnavailable(FullstoryError):
    """No usable answer: connection error, timeout, retries exhausted, or the deadline came first.

    `status`/`code` describe the last answer when there was one; `attempts` counts the tries.
    """

    reason = "fullstory_unavailable"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message, status=status, code=code, retry_after=retry_after)
        self.attempts = attempts
