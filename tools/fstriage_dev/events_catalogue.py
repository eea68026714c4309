"""The catalogue of `events/`: each example invocation, the request it carries and the answer it should get.

Webhook examples are function URL events built by the library's own `function_url_event` from the
samples in `fstriage_cli.samples.payloads`, signed at the fixed `SIGNED_AT`; the SQS examples carry
what the stack queues for them (`events_messages`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from fstriage.core.http import HttpRequest, function_url_event
from fstriage.core.signature import sign
from fstriage.core.watch import tick_message
from fstriage_cli.samples.payloads import (
    CHECKOUT_ERRORS_ALERT,
    CUSTOM_EVENT,
    METRIC_ALERT,
    NOTE_CREATED,
    PAYMENT_DECLINES_ALERT,
    SEGMENT_CREATED,
    STREAM_SESSION,
    STREAM_USER,
    TEST_EVENT,
    UNKNOWN_EVENT,
    http_request,
    signed_request,
    stream_request,
)
from fstriage_cli.samples.values import (
    FME_FUNCTION,
    FME_QUEUE_ARN,
    FULLSTORY_STREAM_IP,
    INVESTIGATOR_FUNCTION,
    OUTSIDE_STREAM_IP,
    SIGNED_AT,
    STALE_SIGNED_AT,
    TEST_ORG_ID,
    TEST_SIGNING_SECRET,
    TEST_STREAM_TOKEN,
    WATCH_TICK_AT,
    WEBHOOK_FUNCTION,
    WRONG_ORG_ID,
    WRONG_STREAM_TOKEN,
)
from fstriage_dev.events_messages import ID_NAMESPACE, eventbridge_message, queued_message, sqs_event


@dataclass(frozen=True, slots=True)
class Example:
    """One file in events/ and what it should get back."""

    file: str
    function: str
    event: dict[str, Any]
    description: str
    expect_status: int | None
    expect_outcome: str | None = None  # the answer's `status` (2xx)
    expect_error: str | None = None  # the answer's `error` (4xx)
    expect_reason: str | None = None  # the answer's `reason`, when a 2xx carries one
    expect_headers: dict[str, str] = field(default_factory=dict)

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"function": self.function, "expect_status": self.expect_status}
        if self.expect_error is not None:
            entry["expect_error"] = self.expect_error
        else:
            entry["expect_outcome"] = self.expect_outcome
        if self.expect_reason is not None:
            entry["expect_reason"] = self.expect_reason
        if self.expect_headers:
            entry["expect_headers"] = dict(self.expect_headers)
        entry["description"] = self.description
        return entry


def url_event(file: str, request: HttpRequest, *, base64_body: bool = False) -> dict[str, Any]:
    request_id = str(uuid.uuid5(ID_NAMESPACE, file))
    return function_url_event(request, base64_body=base64_body, request_id=request_id)


def tampered(request: HttpRequest) -> HttpRequest:
    """The same request with one byte of the body changed after signing."""
    body = request.body.replace(b'"value":57', b'"value":5')
    if body == request.body:
        raise RuntimeError("tampering changed nothing")
    headers = {**request.headers, "content-length": str(len(body))}
    return HttpRequest(request.method, request.path, headers, body, request.source_ip)


def examples() -> list[Example]:
    alert_request = signed_request(CHECKOUT_ERRORS_ALERT)
    alert_event = url_event("webhook-segment-trend-alert.json", alert_request)
    found: list[Example] = [
        Example(
            "webhook-segment-trend-alert.json",
            WEBHOOK_FUNCTION,
            alert_event,
            "A segment threshold alert ('Checkout errors', 57 people > 25 a day): queued for investigation.",
            202,
            expect_outcome="queued",
        ),
        Example(
            "webhook-metric-alert.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-metric-alert.json", signed_request(METRIC_ALERT)),
            "A metric alert (payment API error rate): queued for investigation.",
            202,
            expect_outcome="queued",
        ),
        Example(
            "webhook-note-created.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-note-created.json", signed_request(NOTE_CREATED)),
            "A note on a session (sessionUrl in the indv:device!session form): queued for that session.",
            202,
            expect_outcome="queued",
        ),
        Example(
            "webhook-custom-event.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-custom-event.json", signed_request(CUSTOM_EVENT)),
            "A custom-event webhook ('Checkout Failed', typed properties): queued for its session, "
            "re-published on the event bus by the investigator.",
            202,
            expect_outcome="queued",
        ),
        Example(
            "webhook-test.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-test.json", signed_request(TEST_EVENT)),
            "Fullstory's 'Test Endpoint' button: verified and answered, nothing queued.",
            200,
            expect_outcome="test",
            expect_reason="test_event",
        ),
        Example(
            "webhook-segment-created.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-segment-created.json", signed_request(SEGMENT_CREATED)),
            "A new segment: authentic but not investigated, nothing queued.",
            202,
            expect_outcome="ignored",
            expect_reason="not_investigated",
        ),
        Example(
            "webhook-unknown-event.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-unknown-event.json", signed_request(UNKNOWN_EVENT)),
            "A signed event with an eventName fstriage does not know: acknowledged, nothing queued.",
            202,
            expect_outcome="ignored",
            expect_reason="unsupported_event",
        ),
        Example(
            "webhook-base64-body.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-base64-body.json", signed_request(PAYMENT_DECLINES_ALERT), base64_body=True),
            "A segment alert ('Payment declines') whose body the function URL base64-encoded: "
            "the signature is checked over the decoded bytes, then queued.",
            202,
            expect_outcome="queued",
        ),
        Example(
            "webhook-bad-signature.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-bad-signature.json", tampered(alert_request)),
            "The segment alert with one byte of the body changed after signing.",
            401,
            expect_error="bad_signature",
        ),
        Example(
            "webhook-stale-timestamp.json",
            WEBHOOK_FUNCTION,
            url_event(
                "webhook-stale-timestamp.json",
                signed_request(CHECKOUT_ERRORS_ALERT, timestamp=STALE_SIGNED_AT),
            ),
            f"The segment alert correctly signed, but at t={STALE_SIGNED_AT} (2001): outside the tolerance.",
            401,
            expect_error="stale_timestamp",
        ),
        Example(
            "webhook-wrong-org.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-wrong-org.json", signed_request(CHECKOUT_ERRORS_ALERT, org_id=WRONG_ORG_ID)),
            f"The segment alert signed with the right secret for another org ({WRONG_ORG_ID}).",
            401,
            expect_error="wrong_org",
        ),
        Example(
            "webhook-not-json.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-not-json.json", _signed_not_json()),
            "A correctly signed application/json delivery whose body is not JSON.",
            400,
            expect_error="invalid_json",
        ),
        Example(
            "webhook-wrong-method.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-wrong-method.json", http_request(method="GET")),
            "GET / (e.g. someone opening the URL in a browser).",
            405,
            expect_error="method_not_allowed",
            expect_headers={"allow": "POST"},
        ),
        Example(
            "webhook-unknown-path.json",
            WEBHOOK_FUNCTION,
            url_event("webhook-unknown-path.json", signed_request(CHECKOUT_ERRORS_ALERT, path="/webhook")),
            "The signed segment alert POSTed to /webhook instead of /.",
            404,
            expect_error="not_found",
        ),
        Example(
            "stream-session.json",
            WEBHOOK_FUNCTION,
            url_event(
                "stream-session.json",
                stream_request(STREAM_SESSION, token=TEST_STREAM_TOKEN, source_ip=FULLSTORY_STREAM_IP),
            ),
            "A Streams delivery naming a session and an email, from Fullstory's US range: queued.",
            202,
            expect_outcome="queued",
        ),
        Example(
            "stream-user.json",
            WEBHOOK_FUNCTION,
            url_event(
                "stream-user.json",
                stream_request(STREAM_USER, token=TEST_STREAM_TOKEN, source_ip=FULLSTORY_STREAM_IP),
            ),
            "A Streams delivery naming only a user_id: queued.",
            202,
            expect_outcome="queued",
        ),
        Example(
            "stream-wrong-token.json",
            WEBHOOK_FUNCTION,
            url_event(
                "stream-wrong-token.json",
                stream_request(STREAM_SESSION, token=WRONG_STREAM_TOKEN, source_ip=FULLSTORY_STREAM_IP),
            ),
            "A Streams delivery from Fullstory's range, to a path with the wrong token.",
            403,
            expect_error="bad_stream_token",
        ),
        Example(
            "stream-outside-allow-list.json",
            WEBHOOK_FUNCTION,
            url_event(
                "stream-outside-allow-list.json",
                stream_request(STREAM_SESSION, token=TEST_STREAM_TOKEN, source_ip=OUTSIDE_STREAM_IP),
            ),
            f"A Streams delivery with the right token, but from {OUTSIDE_STREAM_IP}, outside the allow list.",
            403,
            expect_error="source_not_allowed",
        ),
    ]
    body, attributes = queued_message(alert_event)
    found.append(
        Example(
            "sqs-investigation-request.json",
            INVESTIGATOR_FUNCTION,
            sqs_event(body, attributes),
            "The investigation request the webhook queues for webhook-segment-trend-alert.json, as the "
            "investigator receives it. Its answer depends on the Fullstory API it reaches, so none is "
            "fixed here; the integration tests run the investigator against a local Fullstory sandbox.",
            None,
        ),
    )
    custom_event = next(example for example in found if example.file == "webhook-custom-event.json")
    body, attributes = queued_message(custom_event.event)
    found.append(
        Example(
            "sqs-custom-event-request.json",
            INVESTIGATOR_FUNCTION,
            sqs_event(body, attributes),
            "The request the webhook queues for webhook-custom-event.json. The investigator first puts it "
            "on the event bus as a 'Fullstory Custom Event' (typed properties: reason, amount, items, "
            "retried), then investigates it unless INVESTIGATE_CUSTOM_EVENTS leaves 'Checkout Failed' out.",
            None,
        ),
    )
    found.append(
        Example(
            "sqs-fme-custom-event.json",
            FME_FUNCTION,
            sqs_event(eventbridge_message(body), {}, queue_arn=FME_QUEUE_ARN),
            "The 'Fullstory Custom Event' the investigator re-publishes for webhook-custom-event.json, "
            "as the FME forwarder's queue hands it over (FmeForwarder=enabled). The forwarder looks up "
            "the session's uid in Fullstory and posts one FME event (eventTypeId Checkout_Failed, value "
            "from split.value when present), so its answer depends on both APIs and none is fixed here.",
            None,
        ),
    )
    found.append(
        Example(
            "sqs-watch-tick.json",
            INVESTIGATOR_FUNCTION,
            sqs_event(json.dumps(tick_message(WATCH_TICK_AT), separators=(",", ":")), {}),
            "The hourly tick the WatchSchedule sends (WatchedSegments set), as the investigator receives "
            "it: it queues one 'scheduled' investigation request per watched segment whose period ended "
            "then (at 00:00 UTC, every daily one): with env.json's WATCHED_SEGMENTS, one request for "
            "checkout-errors-seg. With WATCHED_SEGMENTS empty it queues nothing.",
            None,
        ),
    )
    return found


def _signed_not_json() -> HttpRequest:
    body = b"Ahoy! This body is not JSON."
    return http_request(body=body, signature=sign(TEST_SIGNING_SECRET, body, TEST_ORG_ID, SIGNED_AT))
