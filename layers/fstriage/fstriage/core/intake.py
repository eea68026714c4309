"""Webhook intake: a verified Fullstory delivery becomes one queued investigation request.

Routes and answers follow the table in README.md ("Routes and answers"). Nothing is queued unless
the delivery is authentic, well-formed and new; nothing is lost when a store fails (503 +
Retry-After). "New" is decided by the trigger's identity (`TriggerIdentity`), never by the signature,
so a retry that Fullstory signs again is still the same trigger.

The webhook keeps its own ledger even though the investigator is idempotent on `request_id`: without
it every retry would put one more message on the queue, and a second message for a request that is
still being investigated waits out the visibility timeout and counts towards the DLQ.

Every store call is bounded by one `Deadline` per delivery (`answer_budget_seconds`), so Fullstory
gets an answer before it gives up, whatever AWS does.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fstriage.core.deadline import Deadline
from fstriage.core.errors import (
    ClaimStuck,
    ConfigurationError,
    DependencyUnavailable,
    ForbiddenSource,
    FstriageError,
    RequestRejected,
    SignatureError,
)
from fstriage.core.http import HttpRequest, HttpResponse, require_json_media_type
from fstriage.core.jsonlimits import loads_object
from fstriage.core.payloads import Acknowledge, Investigate, interpret_stream_event, interpret_system_event
from fstriage.core.ports import (
    Claim,
    ClaimResult,
    DeliveryLedger,
    RequestQueue,
    SigningKeys,
    SigningKeySource,
)
from fstriage.core.redact import mask_email
from fstriage.core.request import InvestigationRequest, Origin, isoformat, trigger_identity
from fstriage.core.signature import SignatureHeader, check_envelope, matches_any, parse_signature_header

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Fullstory's published Streams source ranges (US, EU).
FULLSTORY_STREAM_RANGES = "8.35.195.0/29,34.89.210.80/29"
SYSTEM_PATH = "/"
STREAMS_PREFIX = "/streams/"
RETRY_AFTER_SECONDS = 5
# How far a sender's clock may run ahead of ours when we judge "signed after our keys were loaded".
CLOCK_SKEW_SECONDS = 5.0
WAKE_UP_MARGIN_SECONDS = 0.25
# Event names are logged: an unknown one is the sender's text, so it is clipped and masked.
MAX_LOGGED_EVENT_NAME = 80
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
    """The webhook's limits and settings, read once per cold start."""

    org_id: str
    tolerance_seconds: float = 300.0
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    stream_allow_list: tuple[IpNetwork, ...] = parse_networks(FULLSTORY_STREAM_RANGES)
    lookback: timedelta = timedelta(hours=24)
    # Answer within this many seconds of wall time; Fullstory gives up after about 5.
    answer_budget_seconds: float = 4.0
    # The longest one store call may take (the AWS adapter's per-attempt bound): time kept in hand to
    # delete a claim when the send fails.
    store_call_seconds: float = 1.5
    dedupe_ttl_seconds: float = 7 * 24 * 3600
    # Triggers with no id or time of their own: repeats inside this window are one investigation.
    dedupe_window_seconds: float = 600
    # When a forced secret refresh was refused, when to try again.
    secret_refresh_retry_seconds: float = 60


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
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._policy = policy
        self._keys = keys
        self._queue = queue
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep

    def handle(self, request: HttpRequest) -> IntakeResult:
        deadline = Deadline.after(self._policy.answer_budget_seconds, self._clock)
        try:
            return self._route(request, deadline)
        except RequestRejected as rejected:
            body = {"error": rejected.reason, "message": rejected.message}
            return IntakeResult(
                HttpResponse(rejected.status, body, rejected.headers), "rejected", rejected.reason
            )
        except ClaimStuck as stuck:
            body = {"error": stuck.reason, "message": "temporarily unavailable, retry later"}
            response = HttpResponse(503, body, {"retry-after": str(RETRY_AFTER_SECONDS)})
            detail = f"request {stuck.request_id} was not queued and its claim remains; re-send it by hand"
            return IntakeResult(response, "claim_stuck", stuck.reason, detail=detail)
        except DependencyUnavailable as unavailable:
            body = {"error": unavailable.reason, "message": "temporarily unavailable, retry later"}
            retry_after = unavailable.retry_after or RETRY_AFTER_SECONDS
            response = HttpResponse(503, body, {"retry-after": str(max(1, math.ceil(retry_after)))})
            return IntakeResult(response, "unavailable", unavailable.reason, detail=unavailable.message)
        except ConfigurationError as misconfigured:
            body = {"error": misconfigured.reason, "message": "the receiver is misconfigured"}
            return IntakeResult(
                HttpResponse(500, body), "misconfigured", misconfigured.reason, detail=misconfigured.message
            )

    def _route(self, request: HttpRequest, deadline: Deadline) -> IntakeResult:
        if request.path == SYSTEM_PATH:
            self._require_post(request)
            return self._system_webhook(request, deadline)
        token = request.path.removeprefix(STREAMS_PREFIX)
        if request.path.startswith(STREAMS_PREFIX) and token and "/" not in token:
            self._require_post(request)
            return self._stream(request, token, deadline)
        raise RequestRejected("no such route", reason="not_found", status=404)

    def _system_webhook(self, request: HttpRequest, deadline: Deadline) -> IntakeResult:
        self._check_size(request)
        header = parse_signature_header(request.header("fullstory-signature"))
        now = self._clock()
        check_envelope(
            header,
            expected_org_id=self._policy.org_id,
            tolerance_seconds=self._policy.tolerance_seconds,
            now=now,
        )
        self._verify_digest(header, request.body, deadline)
        document = self._json_body(request)
        decision = interpret_system_event(document, received_at=_utc(now), lookback=self._policy.lookback)
        event_name = _loggable(str(document["eventName"]))
        if isinstance(decision, Acknowledge):
            return _acknowledged(decision, event_name)
        origin = Origin(
            org_id=header.org_id,
            delivery_key="",  # the trigger's identity, set by _enqueue
            received_at=isoformat(_utc(now)),
            signed_at=isoformat(_utc(header.signed_at)),
        )
        return self._enqueue(decision, origin, event_name, now, deadline)

    def _stream(self, request: HttpRequest, token: str, deadline: Deadline) -> IntakeResult:
        self._check_size(request)
        self._check_stream_source(request.source_ip)
        self._verify_stream_token(token, deadline)
        document = self._json_body(request)
        now = self._clock()
        decision = interpret_stream_event(
            document, received_at=_utc(now), lookback=self._policy.lookback, org_id=self._policy.org_id
        )
        origin = Origin(org_id=self._policy.org_id, delivery_key="", received_at=isoformat(_utc(now)))
        return self._enqueue(decision, origin, "stream", now, deadline)

    def _enqueue(
        self, decision: Investigate, origin: Origin, event_name: str, now: float, deadline: Deadline
    ) -> IntakeResult:
        policy = self._policy
        identity = trigger_identity(origin.org_id, decision.trigger, decision.subject, timed=decision.timed)
        request = InvestigationRequest(
            request_id=identity.request_id(now=now, window_seconds=policy.dedupe_window_seconds),
            trigger=decision.trigger,
            subject=decision.subject,
            window=decision.window,
            origin=replace(origin, delivery_key=identity.key),
        )
        message = request.to_json()
        if len(message) > MAX_MESSAGE_CHARS:  # ASCII (json escapes the rest), so characters = bytes
            raise RequestRejected("the payload is too large to queue", reason="payload_too_large", status=413)
        lifetime = policy.dedupe_window_seconds if identity.windowed else policy.dedupe_ttl_seconds
        # The send must be over by then, leaving one call's time to delete the claim if it failed, and
        # a copy that arrived with this delivery the same time to look the claim up after waiting.
        answer_by = deadline.ends_at - policy.store_call_seconds - WAKE_UP_MARGIN_SECONDS
        claim = self._ledger.claim(
            identity.key,
            request.request_id,
            now=now,
            expires_at=now + lifetime,
            answer_by=answer_by,
            deadline=deadline,
        )
        if claim.outcome is Claim.IN_FLIGHT:
            claim = self._await_first_claimant(identity.key, claim, deadline)
        if claim.outcome is Claim.DUPLICATE:
            body = {"status": "duplicate", "request_id": claim.request_id}
            duplicate = replace(request, request_id=claim.request_id)
            return IntakeResult(HttpResponse(200, body), "duplicate", "already_queued", duplicate, event_name)
        try:
            self._queue.send(
                message,
                attributes=request.queue_attributes(),
                deadline=deadline.earlier(answer_by),
            )
        except FstriageError:
            self._release(identity.key, request.request_id, deadline)
            raise
        body = {"status": "queued", "request_id": request.request_id}
        return IntakeResult(HttpResponse(202, body), "accepted", None, request, event_name)

    def _await_first_claimant(self, key: str, claim: ClaimResult, deadline: Deadline) -> ClaimResult:
        """Another delivery of this trigger is being queued right now. Wait for its answer when our own
        budget allows, then report what it did; otherwise ask the sender to retry."""
        wait = claim.answer_by - self._clock()
        # A sleep overshoots: keep a margin to wake up late and still make the look-up.
        if not deadline.allows(max(0.0, wait) + self._policy.store_call_seconds + WAKE_UP_MARGIN_SECONDS):
            raise DependencyUnavailable(
                "delivery", "the same trigger is being queued right now", reason="in_flight", retry_after=wait
            )
        if wait > 0:
            self._sleep(wait)
        settled = self._ledger.lookup(key, now=self._clock(), deadline=deadline)
        if settled is None or settled.outcome is not Claim.DUPLICATE:
            # It released its claim (its send failed): the retry can claim it afresh.
            raise DependencyUnavailable(
                "delivery",
                "the first delivery of this trigger was not queued",
                reason="in_flight",
                retry_after=1,
            )
        return settled

    def _release(self, key: str, request_id: str, deadline: Deadline) -> None:
        try:
            self._ledger.release(key, request_id, deadline=deadline)
        except DependencyUnavailable as failed:
            # The claim outlives its answer_by and will read as "queued": the retry would be dropped.
            raise ClaimStuck(request_id) from failed

    def _verify_digest(self, header: SignatureHeader, body: bytes, deadline: Deadline) -> None:
        keys = self._keys.current(deadline)
        if matches_any(header, body, keys.signing_secrets):
            return
        fresh = self._keys.refreshed(deadline)
        if fresh is None:
            if header.signed_at >= keys.loaded_at - CLOCK_SKEW_SECONDS:
                # Signed after our keys were read, and we may not re-read them yet: it may carry a
                # secret rotated since. 503 makes the sender retry; a 401 might not.
                raise DependencyUnavailable(
                    "secrets",
                    "signature does not match the held keys and a refresh is not allowed yet",
                    reason="secret_refresh_limited",
                    retry_after=self._policy.secret_refresh_retry_seconds,
                )
            raise SignatureError("signature does not match", reason="bad_signature")
        if not matches_any(header, body, fresh.signing_secrets):
            raise SignatureError("signature does not match", reason="bad_signature")

    def _verify_stream_token(self, token: str, deadline: Deadline) -> None:
        keys = self._keys.current(deadline)
        if _token_matches(token, keys):
            return
        fresh = self._keys.refreshed(deadline)
        if fresh is not None and _token_matches(token, fresh):
            return
        if not (fresh or keys).stream_tokens:
            raise ForbiddenSource(
                "Streams are not enabled: the secret has no stream_token", reason="streams_disabled"
            )
        raise ForbiddenSource("wrong stream token", reason="bad_stream_token")

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
        require_json_media_type(request.header("content-type"))
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


def _loggable(event_name: str) -> str:
    clipped = event_name[:MAX_LOGGED_EVENT_NAME] + ("…" if len(event_name) > MAX_LOGGED_EVENT_NAME else "")
    return mask_email(clipped)


def _utc(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)
