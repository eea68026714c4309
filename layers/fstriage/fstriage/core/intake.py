"""Webhook intake: a verified Fullstory delivery becomes one queued investigation request.

Routes and answers follow the table in DESIGN.md. Nothing is queued unless the delivery is
authentic, well-formed and new; nothing is lost when a store fails (503 + Retry-After).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fstriage.core.errors import (
    ConfigurationError,
    DependencyUnavailable,
    ForbiddenSource,
    FstriageError,
    RequestRejected,
    SignatureError,
)
from fstriage.core.http import HttpRequest, HttpResponse
from fstriage.core.jsonlimits import loads_object
from fstriage.core.payloads import Acknowledge, Investigate, interpret_stream_event, interpret_system_event
from fstriage.core.ports import Claim, DeliveryLedger, RequestQueue, SigningKeys, SigningKeySource
from fstriage.core.request import InvestigationRequest, Origin, build_request, isoformat
from fstriage.core.signature import SignatureHeader, check_envelope, matches_any, parse_signature_header

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Fullstory's published Streams source ranges (US, EU).
FULLSTORY_STREAM_RANGES = "8.35.195.0/29,34.89.210.80/29"
SYSTEM_PATH = "/"
STREAMS_PREFIX = "/streams/"
RETRY_AFTER_SECONDS = "5"
# SQS takes at most 256 KiB a message; keep clear of it.
MAX_MESSAGE_CHARS = 240 * 1024


def parse_networks(spec: str) -> tuple[IpNetwork, ...]:
    """`"a/29,b/29"` -> networks; raises ConfigurationError on a bad entry."""
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in spec.split(",") if part.strip())
    except ValueError as error:
        raise ConfigurationError(f"bad CIDR in stream allow list: {error}") from None


@dataclass(frozen=True, slots=True)
class IntakePolicy:
    org_id: str
    tolerance_seconds: float = 300.0
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    stream_allow_list: tuple[IpNetwork, ...] = parse_networks(FULLSTORY_STREAM_RANGES)
    lookback: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """The answer plus what the handler logs and counts. Never holds a body, secret or signature."""

    response: HttpResponse
    outcome: str
    reason: str | None = None
    request: InvestigationRequest | None = None
    event_name: str | None = None
    detail: str | None = None  # our own words for the log (e.g. which setting is missing)


class Intake:
    def __init__(
        self,
        policy: IntakePolicy,
        keys: SigningKeySource,
        queue: RequestQueue,
        ledger: DeliveryLedger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._keys = keys
        self._queue = queue
        self._ledger = ledger
        self._clock = clock

    def handle(self, request: HttpRequest) -> IntakeResult:
        try:
            return self._route(request)
        except RequestRejected as rejected:
            body = {"error": rejected.reason, "message": rejected.message}
            return IntakeResult(
                HttpResponse(rejected.status, body, rejected.headers), "rejected", rejected.reason
            )
        except DependencyUnavailable as unavailable:
            body = {"error": unavailable.reason, "message": "temporarily unavailable, retry later"}
            response = HttpResponse(503, body, {"retry-after": RETRY_AFTER_SECONDS})
            return IntakeResult(response, "unavailable", unavailable.reason, detail=unavailable.message)
        except ConfigurationError as misconfigured:
            body = {"error": misconfigured.reason, "message": "the receiver is misconfigured"}
            return IntakeResult(
                HttpResponse(500, body), "misconfigured", misconfigured.reason, detail=misconfigured.message
            )

    def _route(self, request: HttpRequest) -> IntakeResult:
        if request.path == SYSTEM_PATH:
            self._require_post(request)
            return self._system_webhook(request)
        token = request.path.removeprefix(STREAMS_PREFIX)
        if request.path.startswith(STREAMS_PREFIX) and token and "/" not in token:
            self._require_post(request)
            return self._stream(request, token)
        raise RequestRejected("no such route", reason="not_found", status=404)

    def _system_webhook(self, request: HttpRequest) -> IntakeResult:
        self._check_size(request)
        header = parse_signature_header(request.header("fullstory-signature"))
        now = self._clock()
        check_envelope(
            header,
            expected_org_id=self._policy.org_id,
            tolerance_seconds=self._policy.tolerance_seconds,
            now=now,
        )
        self._verify_digest(header, request.body)
        document = self._json_body(request)
        decision = interpret_system_event(document, received_at=_utc(now), lookback=self._policy.lookback)
        event_name = str(document["eventName"])
        if isinstance(decision, Acknowledge):
            return _acknowledged(decision, event_name)
        delivery_key = "sig:" + _sha256(f"{header.org_id}:{header.timestamp}:".encode() + header.digest)
        origin = Origin(
            org_id=header.org_id,
            delivery_key=delivery_key,
            received_at=isoformat(_utc(now)),
            signed_at=isoformat(_utc(header.signed_at)),
        )
        return self._enqueue(decision, origin, event_name, now)

    def _stream(self, request: HttpRequest, token: str) -> IntakeResult:
        self._check_size(request)
        self._check_stream_source(request.source_ip)
        self._verify_stream_token(token)
        document = self._json_body(request)
        now = self._clock()
        decision = interpret_stream_event(
            document, received_at=_utc(now), lookback=self._policy.lookback, org_id=self._policy.org_id
        )
        origin = Origin(
            org_id=self._policy.org_id,
            delivery_key="stream:" + _sha256(request.body),
            received_at=isoformat(_utc(now)),
        )
        return self._enqueue(decision, origin, "stream", now)

    def _enqueue(self, decision: Investigate, origin: Origin, event_name: str, now: float) -> IntakeResult:
        request = build_request(
            trigger=decision.trigger, subject=decision.subject, window=decision.window, origin=origin
        )
        message = request.to_json()
        if len(message) > MAX_MESSAGE_CHARS:  # ASCII (json escapes the rest), so characters = bytes
            raise RequestRejected("the payload is too large to queue", reason="payload_too_large", status=413)
        claim = self._ledger.claim(origin.delivery_key, request.request_id, now)
        if claim is Claim.ALREADY_QUEUED:
            body = {"status": "duplicate", "request_id": request.request_id}
            return IntakeResult(HttpResponse(200, body), "duplicate", "already_queued", request, event_name)
        if claim is Claim.IN_FLIGHT:
            raise DependencyUnavailable("delivery", "the same delivery is being queued right now")
        try:
            message_id = self._queue.send(
                message,
                attributes={"schema_version": str(request.schema_version), "kind": request.trigger.kind},
            )
        except FstriageError:
            self._release_quietly(origin.delivery_key)
            raise
        # The message is queued, so say so even if this fails: a replay after the claim's lease
        # re-queues the same request_id, which the investigator's idempotency absorbs.
        with contextlib.suppress(DependencyUnavailable):
            self._ledger.mark_queued(origin.delivery_key, message_id)
        body = {"status": "queued", "request_id": request.request_id}
        return IntakeResult(HttpResponse(202, body), "accepted", None, request, event_name)

    def _release_quietly(self, delivery_key: str) -> None:
        # If this fails too, the claim's lease expires on its own and the retry can still claim it.
        with contextlib.suppress(DependencyUnavailable):
            self._ledger.release(delivery_key)

    def _verify_digest(self, header: SignatureHeader, body: bytes) -> None:
        matched, _ = self._try_keys(lambda keys: matches_any(header, body, keys.signing_secrets))
        if not matched:
            raise SignatureError("signature does not match", reason="bad_signature")

    def _verify_stream_token(self, token: str) -> None:
        matched, keys = self._try_keys(lambda keys: _token_matches(token, keys))
        if matched:
            return
        if not keys.stream_tokens:
            raise ForbiddenSource(
                "Streams are not enabled: the secret has no stream_token", reason="streams_disabled"
            )
        raise ForbiddenSource("wrong stream token", reason="bad_stream_token")

    def _try_keys(self, accepts: Callable[[SigningKeys], bool]) -> tuple[bool, SigningKeys]:
        """Try the cached keys, then (rate-limited by the source) freshly read ones: a rotated
        secret may be newer than our cache."""
        keys = self._keys.current()
        if accepts(keys):
            return True, keys
        fresh = self._keys.refreshed()
        if fresh is None:
            return False, keys
        return accepts(fresh), fresh

    def _check_stream_source(self, source_ip: str) -> None:
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            raise ForbiddenSource("source IP is not allowed", reason="source_not_allowed") from None
        if not any(address in network for network in self._policy.stream_allow_list):
            raise ForbiddenSource("source IP is not allowed", reason="source_not_allowed")

    def _check_size(self, request: HttpRequest) -> None:
        if len(request.body) > self._policy.max_body_bytes:
            raise RequestRejected("body is too large", reason="body_too_large", status=413)

    def _json_body(self, request: HttpRequest) -> dict[str, Any]:
        media_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise RequestRejected(
                "content type must be application/json", reason="unsupported_media_type", status=415
            )
        return loads_object(request.body, max_depth=self._policy.max_json_depth)

    @staticmethod
    def _require_post(request: HttpRequest) -> None:
        if request.method != "POST":
            raise RequestRejected(
                "method not allowed", reason="method_not_allowed", status=405, headers={"allow": "POST"}
            )


def _acknowledged(decision: Acknowledge, event_name: str) -> IntakeResult:
    body = {"status": decision.outcome, "reason": decision.reason}
    return IntakeResult(
        HttpResponse(decision.status, body), decision.outcome, decision.reason, None, event_name
    )


def _token_matches(token: str, keys: SigningKeys) -> bool:
    matched = False
    for candidate in keys.stream_tokens:
        matched |= hmac.compare_digest(token.encode(errors="surrogatepass"), candidate.encode())
    return matched


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)
