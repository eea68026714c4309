"""The environment and the SQS side of `events/`: env.json's settings and the messages the stack queues.

`queued_message` runs the library's own webhook intake (with the in-memory fakes of its ports) on a
sample at `SIGNED_AT`, so the SQS examples carry exactly what the webhook would queue.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fstriage.core.http import request_from_function_url_event
from fstriage.core.intake import FULLSTORY_STREAM_RANGES, Intake
from fstriage.core.republish import republished
from fstriage.core.request import InvestigationRequest
from fstriage.settings import WebhookSettings
from fstriage_cli.samples.fakes import FakeKeys, MemoryLedger, MemoryQueue
from fstriage_cli.samples.values import (
    ACCOUNT_ID,
    API_KEY_SECRET_ARN,
    DEDUPE_TABLE_NAME,
    FME_KEY_SECRET_NAME,
    IDEMPOTENCY_TABLE_NAME,
    LOCAL_TOLERANCE_SECONDS,
    QUEUE_ARN,
    QUEUE_URL,
    REGION,
    REPORTS_BUCKET,
    SIGNED_AT,
    SIGNING_SECRET_ARN,
    STATE_TABLE_NAME,
    TEST_ORG_ID,
)

# Makes the request and message IDs in events/ stable from one run to the next.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/fstriage/events")

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


def queued_message(event: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Run the webhook intake on `event` at SIGNED_AT and return the message it queues."""
    queue = MemoryQueue()
    intake = Intake(
        WebhookSettings.from_env(WEBHOOK_ENV).policy(),
        keys=FakeKeys(),
        queue=queue,
        ledger=MemoryLedger(),
        clock=lambda: float(SIGNED_AT),
    )
    result = intake.handle(request_from_function_url_event(event))
    if result.response.status != 202 or len(queue.messages) != 1:
        raise RuntimeError(f"the intake did not queue the example: {result.response}")
    return queue.messages[0]


def sqs_event(body: str, attributes: dict[str, str], *, queue_arn: str = QUEUE_ARN) -> dict[str, Any]:
    """An SQS event shaped like `sam local generate-event sqs receive-message`."""
    sent_ms = SIGNED_AT * 1000 + 42
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid5(ID_NAMESPACE, body)),
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


def eventbridge_message(request_body: str) -> str:
    """What the FME forwarder's queue holds for a queued custom-event request: the EventBridge event
    the investigator re-publishes, as the rule's SQS target delivers it (the whole envelope)."""
    request = InvestigationRequest.from_json(request_body)
    event = republished(request, investigated=True, app_base_url="https://app.fullstory.com")
    if event is None:
        raise RuntimeError("the example is not a custom event")
    envelope = {
        "version": "0",
        "id": str(uuid.uuid5(ID_NAMESPACE, request.request_id)),
        "detail-type": event.detail_type,
        "source": "fstriage",
        "account": ACCOUNT_ID,
        "time": datetime.fromtimestamp(SIGNED_AT + 2, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [],
        "detail": event.detail,
    }
    return json.dumps(envelope, separators=(",", ":"))
