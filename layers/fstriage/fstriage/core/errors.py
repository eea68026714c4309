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

    def __init__(self, dependency: str, message: str | None = None) -> None:
        super().__init__(message or f"{dependency} is unavailable", reason=f"{dependency}_unavailable")
        self.dependency = dependency
