"""Generate `events/`: function URL and SQS events for `sam local invoke -e`, signed with the test secret.

    python -m fstriage_cli.events            # rewrite events/
    python -m fstriage_cli.events --check    # exit 1 if events/ differs from what would be written

The output is deterministic: every webhook is signed at the fixed time `SIGNED_AT`, so the files only
change when this module (or the library's signer, event builder or intake) changes. Signing uses the
library's own `sign` and `function_url_event`; the SQS example's body is what `Intake` queues for the
segment alert, not hand-written JSON.

The secret, stream token and org below are published test values. Never use them in a deployment.
`tests/support/constants.py` holds the same values; a test keeps the two in step (tools never
import tests).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fstriage.core.deadline import Deadline
from fstriage.core.http import HttpRequest, function_url_event, request_from_function_url_event
from fstriage.core.intake import FULLSTORY_STREAM_RANGES, STREAMS_PREFIX, Intake
from fstriage.core.ports import Claim, ClaimResult, SigningKeys
from fstriage.core.republish import republished
from fstriage.core.request import InvestigationRequest
from fstriage.core.signature import HEADER_NAME, sign
from fstriage.core.watch import tick_message
from fstriage.settings import WebhookSettings

# Published test values (the same as tests/support/constants.py).
TEST_SIGNING_SECRET = "fstriage-test-signing-secret"  # noqa: S105 -- published test value
TEST_STREAM_TOKEN = "fstriage-test-stream-token"  # noqa: S105 -- published test value
TEST_ORG_ID = "o-TEST-na1"
FULLSTORY_STREAM_IP = "8.35.195.3"  # inside Fullstory's published US Streams range 8.35.195.0/29

# Documentation addresses (RFC 5737): system webhooks are not IP-restricted, so any address will do.
SYSTEM_WEBHOOK_IP = "198.51.100.23"
OUTSIDE_STREAM_IP = "203.0.113.9"

SIGNED_AT = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())  # 1793491200
WATCH_TICK_AT = datetime(2026, 11, 1, tzinfo=UTC)  # midnight: every daily watched segment is due
STALE_SIGNED_AT = 1_000_000_000  # 2001-09-09: outside any sane tolerance
# The fixed SIGNED_AT must pass the timestamp check for years to come, so local invokes use a huge
# tolerance (20 years). A deployed stack uses the default, 300 s.
LOCAL_TOLERANCE_SECONDS = 631_152_000
WRONG_ORG_ID = "o-OTHER-eu1"
WRONG_STREAM_TOKEN = "not-the-stream-token"  # noqa: S105 -- deliberately wrong

# Local stand-ins for the stack's resources; moto's default account and region.
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
QUEUE_NAME = "fstriage-InvestigationQueue"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{QUEUE_NAME}"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{QUEUE_NAME}"
DEDUPE_TABLE_NAME = "fstriage-DeliveryLedger"
# A partial ARN (no random suffix): Secrets Manager and moto both resolve it by name. The name must not
# end in "-" plus six characters, or Secrets Manager would read that as the suffix.
SIGNING_SECRET_NAME = "fstriage/test/webhook-keys"  # noqa: S105 -- a name, not a secret
SIGNING_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{SIGNING_SECRET_NAME}"
API_KEY_SECRET_NAME = "fstriage/test/fullstory-api-key"  # noqa: S105 -- a name, not a secret
API_KEY_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{API_KEY_SECRET_NAME}"
REPORTS_BUCKET = "fstriage-reports-local"
IDEMPOTENCY_TABLE_NAME = "fstriage-Idempotency"
STATE_TABLE_NAME = "fstriage-State"

WEBHOOK_FUNCTION = "WebhookFunction"
INVESTIGATOR_FUNCTION = "InvestigatorFunction"
FME_FUNCTION = "FmeForwarderFunction"
FME_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:fstriage-FmeForwarderQueue"
FME_KEY_SECRET_NAME = "fstriage/test/fme-api-key"  # noqa: S105 -- a name, not a secret
DOMAIN = "local.lambda-url.localhost"  # the domainName `function_url_event` puts in requestContext
APP = f"https://app.fullstory.com/ui/{TEST_ORG_ID}"
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/fstriage/events")
SESSION_URL = f"{APP}/session/4823749283749823:5741938475610293!8203948571029384"

WEBHOOK_ENV: dict[str, str] = {
    "FULLSTORY_ORG_ID": TEST_ORG_ID,
    "SIGNING_SECRET_ARN": SIGNING_SECRET_ARN,
    "INVESTIGATION_QUEUE_URL": QUEUE_URL,
    "DEDUPE_TABLE_NAME": DEDUPE_TABLE_NAME,
    "SIGNATURE_TOLERANCE_SECONDS": str(LOCAL_TOLERANCE_SECONDS),
    "STREAM_SOURCE_ALLOW_LIST": FULLSTORY_STREAM_RANGES,
}
# Only names the template declares for the function (sam local drops the others). The tunables
# (sessions, concurrency, event source, ...) keep the template's parameter defaults.
INVESTIGATOR_ENV: dict[str, str] = {
    "FULLSTORY_ORG_ID": TEST_ORG_ID,
    "FULLSTORY_API_KEY_SECRET_ARN": API_KEY_SECRET_ARN,
    "FULLSTORY_REGION": "na1",
    "REPORTS_BUCKET": REPORTS_BUCKET,
    "INVESTIGATION_QUEUE_URL": QUEUE_URL,
    "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE_NAME,
    "EVENT_BUS_NAME": "default",
    "SLACK_WEBHOOK_SECRET_ARN": "",
    "INVESTIGATE_CUSTOM_EVENTS": "*",
    "STATE_TABLE_NAME": STATE_TABLE_NAME,
    "WATCHED_SEGMENTS": "checkout-errors-seg",
}
FME_ENV: dict[str, str] = {
    "FULLSTORY_API_KEY_SECRET_ARN": API_KEY_SECRET_ARN,
    "FULLSTORY_REGION": "na1",
    "FME_API_KEY_SECRET_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{FME_KEY_SECRET_NAME}",
    "FME_EVENTS_URL": "https://events.split.io/api/events/bulk",
    "FME_TRAFFIC_TYPE": "user",
}


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


# --- Fullstory payloads (the documented webhook shapes; the values are made up) --------------------


def segment_alert(
    *, alert_id: str, segment_id: str, segment_name: str, value: int, description: str
) -> dict[str, Any]:
    return {
        "eventName": "segment.trend.alert",
        "version": 1,
        "data": {
            "id": alert_id,
            "timestamp": "2026-10-31T23:58:00.000Z",
            "value": value,
            "notificationUrl": f"{APP}/notifications/{alert_id}",
            "alertConfig": {
                "description": description,
                "threshold": 25,
                "direction": "ABOVE",
                "duration": "DAILY",
                "alertUrl": f"{APP}/segments/{segment_id}/alerts",
                "alertCreator": "alex.doe@example.com",
                "segmentUrl": f"{APP}/segments/{segment_id}/people/0",
                "segmentCreator": "alex.doe@example.com",
                "segmentName": segment_name,
            },
        },
    }


CHECKOUT_ERRORS_ALERT = segment_alert(
    alert_id="segalert-20261031-checkout-errors",
    segment_id="checkout-errors-seg",
    segment_name="Checkout errors",
    value=57,
    description="More than 25 people a day saw an error on checkout",
)
PAYMENT_DECLINES_ALERT = segment_alert(
    alert_id="segalert-20261031-payment-declines",
    segment_id="payment-declines-seg",
    segment_name="Payment declines",
    value=31,
    description="More than 25 people a day had a card declined",
)
METRIC_ALERT = {
    "eventName": "metric.alert",
    "version": 1,
    "data": {
        "id": "metricalert-20261031-payment-api-errors",
        "alertId": "payment-api-error-rate-alert",
        "timestamp": "2026-10-31T23:45:00.000Z",
        "value": 4.2,
        "notificationUrl": f"{APP}/notifications/metricalert-20261031-payment-api-errors",
        "alertConfig": {
            "alertName": "Payment API error rate above 2%",
            "alertDescription": "Share of /api/payments requests that failed, over the last hour",
            "alertCreator": "alex.doe@example.com",
            "alertUrl": f"{APP}/metrics/payment-api-error-rate/alerts",
            "metricName": "Payment API error rate",
            "metricDescription": "Failed /api/payments requests / all /api/payments requests",
            "metricCreator": "alex.doe@example.com",
            "metricUrl": f"{APP}/metrics/payment-api-error-rate",
        },
    },
}
NOTE_CREATED = {
    "eventName": "note.created",
    "version": 1,
    "data": {
        "id": "note-7f3a9c1e",
        "created": "2026-10-31T23:50:12.000Z",
        "author": "sam.support@example.com",
        "text": "Customer says 'Place order' did nothing, three times (ticket #4821).",
        "sessionUrl": SESSION_URL,
        "userUrl": f"{APP}/user/4823749283749823",
        "shareLink": f"{APP}/session/4823749283749823:5741938475610293!8203948571029384?share=note-7f3a9c1e",
        "pageInfo": {
            "pageUrl": "https://shop.example.com/checkout",
            "ipAddress": "198.51.100.77",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Safari/605.1.15",
            "referrer": "https://shop.example.com/cart",
            "country": "US",
            "pageHeight": 2400,
            "pageWidth": 1280,
        },
        "notedTime": "2026-10-31T23:49:58.000Z",
    },
}
CUSTOM_EVENT = {
    "eventName": "recording.event.custom",
    "version": 1,
    "data": {
        "name": "Checkout Failed",
        "properties": {
            "reason_str": "card_declined",
            "amount_real": 129.99,
            "items_int": 3,
            "retried_bool": False,
        },
        "errors": [],
        "pageUrl": "https://shop.example.com/checkout",
        "sessionUrl": f"{APP}/session/4823749283749823:5741938475610293!8203948571029999",
        "timestamp": "2026-10-31T23:57:41.000Z",
    },
}
TEST_EVENT = {
    "eventName": "test",
    "version": 1,
    "data": {
        "target": f"https://{DOMAIN}/",
        "initiatedBy": "alex.doe@example.com",
        "message": "This is a test event from Fullstory.",
        "pirateQuote": "Dead men tell no tales.",
    },
}
SEGMENT_CREATED = {
    "eventName": "segment.created",
    "version": 1,
    # Fullstory does not document this payload; fstriage only reads eventName, so these are illustrative.
    "data": {
        "id": "refund-requests-seg",
        "name": "Refund requests",
        "creator": "alex.doe@example.com",
        "segmentUrl": f"{APP}/segments/refund-requests-seg/people/0",
    },
}
UNKNOWN_EVENT = {
    "eventName": "example.unknown.event",
    "version": 1,
    "data": {"id": "unknown-1", "note": "an eventName fstriage does not know"},
}
STREAM_SESSION = {
    "stream_name": "Checkout rage clicks",
    "event_time": "2026-10-31T23:59:12.345Z",
    "event_type": "click",
    "app_url_session": SESSION_URL,
    "user_email": "shopper@example.com",
    "url": "https://shop.example.com/checkout",
    "page_name": "Checkout",
    "target_text": "Place order",
}
STREAM_USER = {
    "stream_name": "Signup form errors",
    "event_time": "2026-10-31T23:59:30.000Z",
    "event_type": "change",
    "user_id": "user-4821",
    "url": "https://shop.example.com/signup",
    "page_name": "Sign up",
}


# --- requests and events --------------------------------------------------------------------------


def body_of(document: dict[str, Any]) -> bytes:
    """Compact JSON, as a sender puts it on the wire. The signature covers exactly these bytes."""
    return json.dumps(document, separators=(",", ":")).encode()


def http_request(
    *,
    method: str = "POST",
    path: str = "/",
    body: bytes = b"",
    signature: str | None = None,
    source_ip: str = SYSTEM_WEBHOOK_IP,
) -> HttpRequest:
    headers = {"host": DOMAIN}
    if body:
        headers["content-type"] = "application/json"
        headers["content-length"] = str(len(body))
    if signature is not None:
        headers[HEADER_NAME.lower()] = signature
    headers.update({"x-forwarded-for": source_ip, "x-forwarded-proto": "https", "x-forwarded-port": "443"})
    return HttpRequest(method=method, path=path, headers=headers, body=body, source_ip=source_ip)


def signed_request(
    document: dict[str, Any],
    *,
    secret: str = TEST_SIGNING_SECRET,
    org_id: str = TEST_ORG_ID,
    timestamp: int = SIGNED_AT,
    path: str = "/",
) -> HttpRequest:
    body = body_of(document)
    return http_request(path=path, body=body, signature=sign(secret, body, org_id, timestamp))


def url_event(file: str, request: HttpRequest, *, base64_body: bool = False) -> dict[str, Any]:
    request_id = str(uuid.uuid5(_ID_NAMESPACE, file))
    return function_url_event(request, base64_body=base64_body, request_id=request_id)


def tampered(request: HttpRequest) -> HttpRequest:
    """The same request with one byte of the body changed after signing."""
    body = request.body.replace(b'"value":57', b'"value":5')
    if body == request.body:
        raise RuntimeError("tampering changed nothing")
    headers = {**request.headers, "content-length": str(len(body))}
    return HttpRequest(request.method, request.path, headers, body, request.source_ip)


def stream_request(document: dict[str, Any], *, token: str, source_ip: str) -> HttpRequest:
    return http_request(path=STREAMS_PREFIX + token, body=body_of(document), source_ip=source_ip)


# --- the SQS example: what Intake queues for the segment alert ------------------------------------


class _FixedKeys:
    def current(self, deadline: Deadline | None = None) -> SigningKeys:
        return SigningKeys(signing_secrets=(TEST_SIGNING_SECRET,), stream_tokens=(TEST_STREAM_TOKEN,))

    def refreshed(self, deadline: Deadline | None = None) -> SigningKeys | None:
        return None


class _CapturingQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, str]]] = []

    def send(self, body: str, *, attributes: dict[str, str], deadline: Deadline | None = None) -> str:
        self.sent.append((body, dict(attributes)))
        return "local-message"


class _EmptyLedger:
    def claim(
        self,
        identity: str,
        request_id: str,
        *,
        now: float,
        expires_at: float,
        answer_by: float,
        deadline: Deadline | None = None,
    ) -> ClaimResult:
        return ClaimResult(Claim.CLAIMED, request_id, answer_by)

    def lookup(self, identity: str, *, now: float, deadline: Deadline | None = None) -> ClaimResult | None:
        return None

    def release(self, identity: str, request_id: str, *, deadline: Deadline | None = None) -> None:
        return None


def queued_message(event: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Run the webhook intake on `event` at SIGNED_AT and return the message it queues."""
    queue = _CapturingQueue()
    intake = Intake(
        WebhookSettings.from_env(WEBHOOK_ENV).policy(),
        keys=_FixedKeys(),
        queue=queue,
        ledger=_EmptyLedger(),
        clock=lambda: float(SIGNED_AT),
    )
    result = intake.handle(request_from_function_url_event(event))
    if result.response.status != 202 or len(queue.sent) != 1:
        raise RuntimeError(f"the intake did not queue the example: {result.response}")
    return queue.sent[0]


def sqs_event(body: str, attributes: dict[str, str], *, queue_arn: str = QUEUE_ARN) -> dict[str, Any]:
    """An SQS event shaped like `sam local generate-event sqs receive-message`."""
    sent_ms = SIGNED_AT * 1000 + 42
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid5(_ID_NAMESPACE, body)),
                "receiptHandle": "MessageReceiptHandle",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(sent_ms),
                    "SenderId": ACCOUNT_ID,
                    "ApproximateFirstReceiveTimestamp": str(sent_ms + 1),
                },
                "messageAttributes": {
                    name: {
                        "stringValue": value,
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": "String",
                    }
                    for name, value in sorted(attributes.items())
                },
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        ]
    }


# --- the examples ---------------------------------------------------------------------------------


def eventbridge_message(request_body: str) -> str:
    """What the FME forwarder's queue holds for a queued custom-event request: the EventBridge event
    the investigator re-publishes, as the rule's SQS target delivers it (the whole envelope)."""
    request = InvestigationRequest.from_json(request_body)
    event = republished(request, investigated=True, app_base_url="https://app.fullstory.com")
    if event is None:
        raise RuntimeError("the example is not a custom event")
    envelope = {
        "version": "0",
        "id": str(uuid.uuid5(_ID_NAMESPACE, request.request_id)),
        "detail-type": event.detail_type,
        "source": "fstriage",
        "account": ACCOUNT_ID,
        "time": datetime.fromtimestamp(SIGNED_AT + 2, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": event.detail,
    }
    return json.dumps(envelope, separators=(",", ":"))


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


# --- rendering ------------------------------------------------------------------------------------


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _request_line(example: Example) -> str:
    if example.function == INVESTIGATOR_FUNCTION:
        return f"SQS record from `{QUEUE_NAME}`"
    if example.function == FME_FUNCTION:
        return "SQS record from `fstriage-FmeForwarderQueue` (an EventBridge event)"
    http = example.event["requestContext"]["http"]
    path = str(example.event["rawPath"])
    if path.startswith(STREAMS_PREFIX):
        token = path.removeprefix(STREAMS_PREFIX)
        shown = "{token}" if token == TEST_STREAM_TOKEN else "{wrong token}"
        path = STREAMS_PREFIX + shown
    return f"`{http['method']} {path}` from {http['sourceIp']}"


def _answer(example: Example) -> str:
    if example.expect_status is None:
        return "a batch response (`batchItemFailures`), no fixed answer"
    code = example.expect_error or example.expect_outcome
    reason = f" (`{example.expect_reason}`)" if example.expect_reason else ""
    queued = " (1 message queued)" if example.expect_outcome == "queued" else ""
    return f"{example.expect_status} `{code}`{reason}{queued}"


def readme(found: Sequence[Example]) -> str:
    rows = "\n".join(
        f"| `{e.file}` | {e.function} | {_request_line(e)} | {e.description} | {_answer(e)} |" for e in found
    )
    signed_at = datetime.fromtimestamp(SIGNED_AT, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""# events/: example invocations

<!-- Generated by cli/fstriage_cli/events.py. Edit that file, then run
     `.venv/bin/python -m fstriage_cli.events`. Do not edit by hand: `--check` fails on drift. -->

Function URL (payload v2) and SQS events for `sam local invoke -e`, with the answer each should get.
`tests/integration/test_events.py` runs every file here against the webhook handler (under moto) and
asserts that answer, so the examples cannot rot.

> **The signing secret, stream token and org in these files are published test values**
> (`{TEST_SIGNING_SECRET}`, `{TEST_STREAM_TOKEN}`, `{TEST_ORG_ID}`). Anyone can forge a delivery with
> them. Never put them in a real deployment's secret.

## Files

| file | function | request | what it shows | expected answer |
|---|---|---|---|---|
{rows}

`manifest.json` holds the same expectations in machine-readable form: `expect_status`, then
`expect_outcome` (the `status` field of a 2xx answer; `queued` means exactly one message lands on the
queue, anything else means none) or `expect_error` (the `error` field of a 4xx answer), and
`expect_reason` / `expect_headers` where the answer carries them.

## Timestamps and the tolerance

Every webhook is signed at a fixed time, `t={SIGNED_AT}` ({signed_at}), so the files are reproducible.
A deployed stack accepts a signature only within **300 seconds** of its `t`; these files would all be
rejected as stale there. `env.json` therefore sets `SIGNATURE_TOLERANCE_SECONDS` to
{LOCAL_TOLERANCE_SECONDS} (20 years) **for local invokes only**. `webhook-stale-timestamp.json` is signed
at `t={STALE_SIGNED_AT}` (2001), which is outside even that.

## Running them with `sam local invoke`

```sh
sam build
sam local invoke WebhookFunction -e events/webhook-segment-trend-alert.json --env-vars events/env.json
# on an x86 machine, build and run the x86_64 variant (samconfig.toml's "local" environment):
sam build --config-env local
sam local invoke --config-env local WebhookFunction -e events/webhook-test.json --env-vars events/env.json
```

What that needs, honestly:

- **Docker** (or Finch) and the Lambda Python image: `sam local invoke` runs the function in a container.
- **The function URL is not emulated.** SAM CLI has no function URL emulation (`sam local start-api`
  does not serve it), so you invoke the function with these events directly, as Lambda would after the
  URL received the request. The answer is printed as the function's return value
  (`statusCode`, `headers`, `body`).
- **AWS resources**, because the function reads the secret, writes the dedupe table and sends to the
  queue. Use moto's server rather than an AWS account (the test secret must not live in a real one):

  ```sh
  .venv/bin/moto_server -H 0.0.0.0 -p 5000 &
  export AWS_DEFAULT_REGION={REGION} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  moto=http://localhost:5000   # --endpoint-url: AWS CLI v1 ignores AWS_ENDPOINT_URL for sqs
  aws --endpoint-url $moto secretsmanager create-secret --name {SIGNING_SECRET_NAME} \\
      --secret-string '{{"signing_secret": "{TEST_SIGNING_SECRET}", "stream_token": "{TEST_STREAM_TOKEN}"}}'
  aws --endpoint-url $moto sqs create-queue --queue-name {QUEUE_NAME}
  aws --endpoint-url $moto dynamodb create-table --table-name {DEDUPE_TABLE_NAME} \\
      --billing-mode PAY_PER_REQUEST --attribute-definitions AttributeName=delivery_key,AttributeType=S \\
      --key-schema AttributeName=delivery_key,KeyType=HASH
  ```

  The function inside the container must reach that server too: its `AWS_ENDPOINT_URL` must point at an
  address the container can reach (for example `http://host.docker.internal:5000`, or the Docker bridge
  `http://172.17.0.1:5000` on Linux).
- **`--env-vars` only overrides variables the template declares** for the function; SAM CLI silently
  drops the others (a test checks that every key of `env.json` is declared). So `AWS_ENDPOINT_URL`
  reaches the function only if the template declares it; it is deliberately not in `env.json`, which
  the tests load as-is.

Without Docker, `.venv/bin/pytest tests/integration/test_events.py` does the same thing in-process:
it creates these resources under moto, loads `functions/webhook/app.py` with `env.json`'s settings and
calls `handler(event, context)` with each file.

Invoking a `queued` file twice against the same resources answers `200 duplicate` the second time:
the dedupe table remembers the delivery, as it would a Fullstory retry.

`sqs-investigation-request.json` is for `sam local invoke InvestigatorFunction -e ...`; `env.json` has an
`InvestigatorFunction` section for it. Besides the queue, that invoke needs the Fullstory API key secret
(`{API_KEY_SECRET_NAME}`, holding a real key: the function calls the Fullstory API of the
`FULLSTORY_REGION`), the reports bucket and the idempotency table:

```sh
aws --endpoint-url $moto secretsmanager create-secret --name {API_KEY_SECRET_NAME} \\
    --secret-string "$FULLSTORY_API_KEY"
aws --endpoint-url $moto s3 mb s3://{REPORTS_BUCKET}
for table in {IDEMPOTENCY_TABLE_NAME} {STATE_TABLE_NAME}; do
  aws --endpoint-url $moto dynamodb create-table --table-name $table \\
      --billing-mode PAY_PER_REQUEST --attribute-definitions AttributeName=id,AttributeType=S \\
      --key-schema AttributeName=id,KeyType=HASH
done
sam local invoke --config-env local InvestigatorFunction -e events/sqs-investigation-request.json \\
    --env-vars events/env.json
```

It answers `{{"batchItemFailures": []}}` once the report is in the bucket; a record it could not finish
is listed there, and SQS would redeliver it.

`sqs-custom-event-request.json` is the same for a custom event: the investigator first puts it on the
event bus as a `Fullstory Custom Event` (the bus must exist; `default` always does), then investigates.

`sqs-fme-custom-event.json` is for the optional FME forwarder. The function exists only when the
stack is built with `FmeForwarder=enabled`, so build and invoke with that parameter; `env.json`'s
`FmeForwarderFunction` section needs the Fullstory API key secret above and an FME key secret
(`{FME_KEY_SECRET_NAME}`, holding an FME server-side key). The forwarder posts to the real FME
events API unless you point `FME_EVENTS_URL` elsewhere (`fstriage local --fme` runs a local stand-in):

```sh
aws --endpoint-url $moto secretsmanager create-secret --name {FME_KEY_SECRET_NAME} \\
    --secret-string "$FME_API_KEY"
sam build --config-env local --parameter-overrides Architecture=x86_64 FmeForwarder=enabled
sam local invoke --config-env local FmeForwarderFunction -e events/sqs-fme-custom-event.json \\
    --env-vars events/env.json --parameter-overrides Architecture=x86_64 FmeForwarder=enabled
```

## Regenerating

```sh
.venv/bin/python -m fstriage_cli.events           # rewrite events/
.venv/bin/python -m fstriage_cli.events --check   # exit 1 if events/ is out of date
```

The generator signs with the library's own `fstriage.core.signature.sign` and builds events with
`fstriage.core.http.function_url_event`. The SQS example's body is the message the webhook intake
queues for `webhook-segment-trend-alert.json`, so it changes whenever the request format does.
"""


def render() -> dict[str, str]:
    """Every file of events/, by name."""
    found = examples()
    files = {example.file: dump_json(example.event) for example in found}
    files["manifest.json"] = dump_json({example.file: example.manifest_entry() for example in found})
    files["env.json"] = dump_json(
        {WEBHOOK_FUNCTION: WEBHOOK_ENV, INVESTIGATOR_FUNCTION: INVESTIGATOR_ENV, FME_FUNCTION: FME_ENV}
    )
    files["README.md"] = readme(found)
    return files


def differences(directory: Path, files: dict[str, str]) -> list[str]:
    """Files that are missing, differ, or should not be there."""
    problems = [
        f"{'missing' if not (directory / name).exists() else 'differs'}: {name}"
        for name, text in sorted(files.items())
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    if directory.is_dir():
        problems += [
            f"not generated: {path.name}"
            for path in sorted(directory.iterdir())
            if path.is_file() and path.name not in files
        ]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fstriage_cli.events", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ; write nothing")
    parser.add_argument("--dir", type=Path, default=EVENTS_DIR, help=f"output folder (default {EVENTS_DIR})")
    args = parser.parse_args(argv)
    files = render()
    directory: Path = args.dir
    if args.check:
        problems = differences(directory, files)
        for problem in problems:
            print(f"events drift: {problem}", file=sys.stderr)
        if problems:
            print("run: python -m fstriage_cli.events", file=sys.stderr)
            return 1
        print(f"{directory}: {len(files)} files up to date")
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8", newline="\n")
    for problem in differences(directory, files):
        print(f"warning: {problem} (delete it if it is stale)", file=sys.stderr)
    print(f"wrote {len(files)} files to {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
