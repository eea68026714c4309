"""Harness FME's (formerly Split's) events API: `POST <events URL>` with a bulk of events.

One `requests.Session` per container. 429, 5xx, 408 and transport errors are retried with equal-jitter
backoff (honouring `Retry-After`), never past the caller's deadline: then `FmeUnavailable`, and the SQS
records go back to the queue. 401, 403 and 404 mean the key or the URL is wrong, and so does a 3xx
(redirects are not followed: a bearer key is not sent on to another place): `FmeRefused`, scope "key",
nothing sent with them can succeed. Any other 4xx refuses what was sent (scope "events").
Nothing here logs the key, a body or an answer's text: statuses and attempt numbers only.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import requests
from aws_lambda_powertools import Logger

from fstriage.core.errors import ConfigurationError, FstriageError

DEFAULT_EVENTS_URL: Final = "https://events.split.io/api/events/bulk"
LOG_SERVICE: Final = "fstriage-fme-forwarder"
logger = Logger(service=LOG_SERVICE, child=True)

_RETRYABLE_STATUS: Final = frozenset({408, 429})
_KEY_STATUS: Final = frozenset({401, 403, 404})
_TRANSPORT_ERRORS: Final = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class FmeUnavailable(FstriageError):
    """FME kept answering 429/5xx (or nothing), or the deadline left no room for another attempt."""

    reason = "fme_unavailable"

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class FmeRefused(FstriageError):
    """A 3xx or a 4xx other than 408/429. `scope` "key": the key or URL is wrong (3xx, 401, 403, 404);
    "events": the bulk was refused."""

    reason = "fme_refused"

    def __init__(self, status: int, scope: Literal["key", "events"]) -> None:
        super().__init__(f"FME answered HTTP {status}", reason="fme_unauthorized" if scope == "key" else None)
        self.status = status
        self.scope = scope


@dataclass(frozen=True, slots=True)
class FmeRetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0  # a longer Retry-After is not slept on: SQS redelivers later
    safety_margin: float = 2.0  # kept free before the deadline, to settle the batch


class FmeEventsClient:
    def __init__(
        self,
        api_key: str,
        *,
        url: str = DEFAULT_EVENTS_URL,
        retry: FmeRetryPolicy | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        session: requests.Session | None = None,
    ) -> None:
        key = api_key.strip().removeprefix("Bearer ").strip()
        if not key or any(ch.isspace() or ord(ch) < 0x20 for ch in key):
            raise ConfigurationError("the FME server-side key is empty or malformed")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigurationError("the FME events URL is not an http(s) URL")
        self._key = key
        self.url = url
        self._retry = retry or FmeRetryPolicy()
        self._timeouts = (connect_timeout, read_timeout)
        self._sleep = sleep
        self._jitter = jitter
        self._session = session or _new_session()

    def __repr__(self) -> str:
        return f"FmeEventsClient(url={self.url!r})"  # never the key

    def close(self) -> None:
        self._session.close()

    def post(self, events: Sequence[dict[str, Any]], remaining: Callable[[], float]) -> None:
        """Send one bulk; returns when FME accepted it (2xx). `remaining`: seconds left to the deadline.

        A 2xx settles every event of the bulk: whether FME may accept a bulk in part (and still answer
        2xx) is not documented, so nothing here can tell, and nothing is sent again because of it."""
        body = json.dumps(list(events), separators=(",", ":")).encode()
        headers = {
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "User-Agent": "fstriage",
        }
        attempt = 0
        while True:
            attempt += 1
            budget = remaining() - self._retry.safety_margin
            if budget <= 0:
                raise FmeUnavailable("no time left before the deadline", attempts=attempt - 1)
            status: int | None = None
            retry_after: float | None = None
            try:
                response = self._session.post(
                    self.url,
                    data=body,
                    headers=headers,
                    timeout=(min(self._timeouts[0], budget), min(self._timeouts[1], budget)),
                    allow_redirects=False,
                )
                status = response.status_code
                retry_after = _retry_after(response.headers.get("Retry-After"))
                response.close()
            except _TRANSPORT_ERRORS as error:
                failure = f"{type(error).__name__} talking to FME"  # its text may hold the URL
            else:
                if 200 <= status < 300:
                    return
                if status in _KEY_STATUS or 300 <= status < 400:
                    raise FmeRefused(status, "key")
                if 400 <= status < 500 and status not in _RETRYABLE_STATUS:
                    raise FmeRefused(status, "events")
                failure = f"FME answered HTTP {status}"
            self._before_retry(failure, status, retry_after, attempt, remaining)

    def _before_retry(
        self,
        failure: str,
        status: int | None,
        retry_after: float | None,
        attempt: int,
        remaining: Callable[[], float],
    ) -> None:
        policy = self._retry
        if attempt >= policy.max_attempts:
            raise FmeUnavailable(
                f"gave up after {attempt} attempts: {failure}", status=status, attempts=attempt
            )
        if retry_after is not None and retry_after > policy.max_retry_after:
            raise FmeUnavailable(f"{failure}; Retry-After {retry_after:g} s", status=status, attempts=attempt)
        backoff = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
        delay = max(backoff * (0.5 + 0.5 * self._jitter()), retry_after or 0.0)
        if delay >= remaining() - policy.safety_margin:
            raise FmeUnavailable(f"{failure}; no time for another attempt", status=status, attempts=attempt)
        logger.warning("FME call retried", extra={"status": status, "attempt": attempt, "delay": delay})
        self._sleep(delay)


def _new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy or ~/.netrc credentials from the environment
    return session


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
