"""What the webhook benchmarks share: the environment, signed deliveries, and in-process AWS stubs.

The payloads, the published test values and the Lambda context come from `fstriage_cli.samples`. This
module imports only the standard library (and `samples.values`, which does too) at module level, so
the cold-start child can load it without pre-importing boto3, botocore, Powertools or fstriage.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from fstriage_cli.samples.values import (
    DEDUPE_TABLE_NAME,
    QUEUE_URL,
    REGION,
    SIGNING_SECRET_ARN,
    TEST_ORG_ID,
    TEST_SIGNING_SECRET,
    WEBHOOK_FUNCTION_NAME,
)

if TYPE_CHECKING:
    from fstriage_cli.samples.fakes import FakeLambdaContext

REPO_ROOT = Path(__file__).resolve().parent.parent
HANDLER_PATH = REPO_ROOT / "functions" / "webhook" / "app.py"

TARGET_BODY_BYTES = 2048

# Fake credentials and a region (nothing may reach AWS), and the settings the template would set.
BENCH_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": WEBHOOK_FUNCTION_NAME,
    # As on Lambda: the X-Ray SDK then takes its Lambda path at import. Elsewhere it builds two extra
    # botocore clients for sampling rules, a cost no deployed function pays.
    "LAMBDA_TASK_ROOT": str(REPO_ROOT / "functions" / "webhook"),
    "POWERTOOLS_SERVICE_NAME": "fstriage-webhook",
    "POWERTOOLS_METRICS_NAMESPACE": "fstriage",
    # Imported and created as deployed, but no segment is sent: there is no X-Ray daemon here.
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_DEV": "false",
    "FULLSTORY_ORG_ID": TEST_ORG_ID,
    "SIGNING_SECRET_ARN": SIGNING_SECRET_ARN,
    "INVESTIGATION_QUEUE_URL": QUEUE_URL,
    "DEDUPE_TABLE_NAME": DEDUPE_TABLE_NAME,
}
# Anything that could point boto3 at a real account or endpoint.
UNSET_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def bench_environ(base: Mapping[str, str]) -> dict[str, str]:
    env = {name: value for name, value in base.items() if name not in UNSET_ENV}
    env.update(BENCH_ENV)
    return env


def apply_bench_environ() -> None:
    for name in UNSET_ENV:
        os.environ.pop(name, None)
    os.environ.update(BENCH_ENV)


def load_handler_module(name: str = "app") -> ModuleType:
    """Import `functions/webhook/app.py` from its path, as the Lambda runtime imports `app.handler`."""
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {HANDLER_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --- deliveries ------------------------------------------------------------------------------

_DESCRIPTION = (
    "Fires when the number of people who hit a failed checkout in the web store rises above the "
    "threshold within one day. The segment covers sessions with a failed POST to /api/checkout, "
    "/api/payment/intent or /api/cart/confirm (4xx or 5xx), an uncaught exception on /checkout, or "
    "a rage click on the Place order button. Typical causes in the past: an expired payment-provider "
    "key after rotation, a stale feature flag on the address form, a CDN serving an old bundle after "
    "a deploy, and the tax service timing out in EU regions at peak hours. Runbook: open the segment, "
    "sort by most recent, watch two or three sessions to confirm the failing step, check the payments "
    "dashboard for provider errors, then page the checkout on-call if more than one region is hit. "
    "Owners: web-checkout team (primary), payments platform (secondary). Escalation: #inc-checkout. "
    "Known noise: QA traffic from the staging load test on Tuesdays 14:00-15:00 UTC is excluded by the "
    "segment's user filter; synthetic monitors from the uptime vendor are excluded by user agent."
)
_PAD_SENTENCE = " Review the alert threshold each quarter against the previous quarter's baseline."


def _segment_trend_alert(sequence: int, occurred: datetime, description: str) -> dict[str, Any]:
    """A `segment.trend.alert` with the fields Fullstory's system webhook documents, its own id."""
    from fstriage_cli.samples.payloads import segment_alert  # noqa: PLC0415 (imports fstriage)

    return segment_alert(
        alert_id=f"{0x5A17_0000_0000 + sequence:016d}",
        segment_id="Xk7pQ2vLm4",
        segment_name="Checkout failures (web, all regions)",
        value=137,
        threshold=100,
        description=description,
        timestamp=occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


def _description_for(target_bytes: int, occurred: datetime) -> str:
    """The description, lengthened with natural text until the body is `target_bytes` long."""
    from fstriage_cli.samples.payloads import body_of  # noqa: PLC0415 (imports fstriage)

    description = _DESCRIPTION
    padding = itertools.cycle(_PAD_SENTENCE)
    while len(body_of(_segment_trend_alert(0, occurred, description))) < target_bytes:
        description += next(padding)
    return description


@dataclass(frozen=True, slots=True)
class Delivery:
    """One signed delivery: the function URL event, plus what the floor needs from it."""

    event: dict[str, Any]
    context: FakeLambdaContext
    digest_b64: str
    signed_suffix: bytes  # b":" + org + b":" + timestamp, appended to the body before hashing


# What a Fullstory delivery's function URL event carries besides the samples' headers (as Lambda shows it).
DELIVERY_HEADERS = {
    "host": "abcdefghij.lambda-url.us-east-1.on.aws",
    "user-agent": "Fullstory-Webhooks/1.0",
    "x-amzn-trace-id": "Root=1-67891233-abcdef012345678912345678",
}
DELIVERY_SOURCE_IP = "34.89.210.81"


def lambda_context(sequence: int) -> FakeLambdaContext:
    """The Lambda context of the benchmark's `sequence`-th invocation."""
    from fstriage_cli.samples.fakes import FakeLambdaContext  # noqa: PLC0415 (imports fstriage)

    return FakeLambdaContext(aws_request_id=f"00000000-0000-4000-8000-{sequence:012d}")


def make_deliveries(
    count: int,
    *,
    start: int = 0,
    now: datetime | None = None,
    base64_body: bool = False,
    target_bytes: int = TARGET_BODY_BYTES,
) -> list[Delivery]:
    """`count` NEW deliveries (each its own alert id, timestamp and signature), signed now."""
    # Imported here (not at module level) so the cold-start child can load this module without fstriage.
    from fstriage.core.http import function_url_event  # noqa: PLC0415
    from fstriage_cli.samples.payloads import signed_request  # noqa: PLC0415

    now = now or datetime.now(tz=UTC)
    description = _description_for(target_bytes, now)
    stamp = int(now.timestamp())
    deliveries = []
    for sequence in range(start, start + count):
        occurred = now - timedelta(seconds=30, milliseconds=sequence)
        request = signed_request(
            _segment_trend_alert(sequence, occurred, description),
            timestamp=stamp,
            source_ip=DELIVERY_SOURCE_IP,
            headers=DELIVERY_HEADERS,
        )
        event = function_url_event(request, base64_body=base64_body, request_id=f"bench-{sequence:08d}")
        deliveries.append(
            Delivery(
                event=event,
                context=lambda_context(sequence),
                digest_b64=request.headers["fullstory-signature"].rsplit(",v:", 1)[1],
                signed_suffix=f":{TEST_ORG_ID}:{stamp}".encode(),
            )
        )
    return deliveries


# --- in-process AWS clients ------------------------------------------------------------------
# Plain objects with the boto3 method signatures the adapters call, answering with the documented
# response shapes. They do no I/O, so the warm benchmark measures fstriage, Powertools and the
# stdlib, not botocore's serialisation or a socket.

_RESPONSE_METADATA: dict[str, Any] = {
    "RequestId": "3f1e5d7a-0000-4000-8000-000000000000",
    "HTTPStatusCode": 200,
    "HTTPHeaders": {},
    "RetryAttempts": 0,
}


def _client_error(code: str, message: str, operation: str, **extra: Any) -> Exception:
    from botocore.exceptions import ClientError  # noqa: PLC0415 (keep this module stdlib-only on import)

    response: dict[str, Any] = {"Error": {"Code": code, "Message": message}, **extra}
    error: Exception = ClientError(response, operation)
    return error


class StubSecretsManager:
    """`get_secret_value`: AWSCURRENT holds the signing secret; never rotated (no AWSPREVIOUS)."""

    def __init__(self, signing_secret: str = TEST_SIGNING_SECRET) -> None:
        self._secret_string = json.dumps({"signing_secret": signing_secret})
        self.calls = 0

    def get_secret_value(self, *, SecretId: str, VersionStage: str = "AWSCURRENT") -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if VersionStage != "AWSCURRENT":
            raise _client_error(
                "ResourceNotFoundException",
                "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS",
                "GetSecretValue",
            )
        return {
            "ARN": SecretId,
            "Name": "fstriage-signing",
            "VersionId": "a1b2c3d4-0000-4000-8000-000000000001",
            "SecretString": self._secret_string,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": datetime(2026, 1, 1, tzinfo=UTC),
            "ResponseMetadata": _RESPONSE_METADATA,
        }


class StubSqs:
    """`send_message`: keeps each message body so the benchmark can check what was queued."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._ids: Iterator[int] = itertools.count(1)

    def send_message(
        self,
        *,
        QueueUrl: str,  # noqa: N803
        MessageBody: str,  # noqa: N803
        DelaySeconds: int = 0,  # noqa: N803
        MessageAttributes: dict[str, Any] | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        self.messages.append(MessageBody)
        return {
            # Real MD5s would cost a hash per call inside the timed region; the adapter reads
            # only MessageId, so these keep the documented shape with fixed values.
            "MD5OfMessageBody": "00000000000000000000000000000000",
            "MD5OfMessageAttributes": "00000000000000000000000000000000",
            "MessageId": f"b5e1c2d3-0000-4000-8000-{next(self._ids):012d}",
            "ResponseMetadata": _RESPONSE_METADATA,
        }


class StubDynamoDB:
    """`put_item` / `delete_item` / `get_item` on one table, honouring the
    ledger's conditions: a second claim of the same delivery fails as DynamoDB's would."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put_item(
        self,
        *,
        TableName: str,  # noqa: N803
        Item: dict[str, Any],  # noqa: N803
        ReturnValuesOnConditionCheckFailure: str = "NONE",  # noqa: N803
        **_: Any,
    ) -> dict[str, Any]:
        key = Item["delivery_key"]["S"]
        existing = self.items.get(key)
        if existing is not None:
            # The benchmark never reuses a delivery; a stale-lease takeover is not modelled.
            extra = {"Item": existing} if ReturnValuesOnConditionCheckFailure == "ALL_OLD" else {}
            raise _client_error(
                "ConditionalCheckFailedException", "The conditional request failed", "PutItem", **extra
            )
        self.items[key] = Item
        return {"ResponseMetadata": _RESPONSE_METADATA}

    def delete_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        self.items.pop(Key["delivery_key"]["S"], None)
        return {"ResponseMetadata": _RESPONSE_METADATA}

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803
        item = self.items.get(Key["delivery_key"]["S"])
        response: dict[str, Any] = {"ResponseMetadata": _RESPONSE_METADATA}
        if item is not None:
            response["Item"] = item
        return response


@dataclass(frozen=True, slots=True)
class StubClients:
    secrets: StubSecretsManager
    sqs: StubSqs
    dynamodb: StubDynamoDB
    intake: Any = None  # the fstriage Intake wired to these clients (for the breakdown)


def install_stub_app(handler_module: Any, env: Mapping[str, str] | None = None) -> StubClients:
    """Give the imported handler module an app whose adapters use in-process clients.

    Composed like `fstriage.webhook_app.build_intake` (the same settings, the same adapters, the
    handler's own Logger and Metrics); only the adapters' `client=` differs. The signature check
    stays: deliveries must be signed with the secret the stub secrets client returns.
    """
    from fstriage.adapters.ledger import DynamoDeliveryLedger  # noqa: PLC0415
    from fstriage.adapters.secrets import SecretsManagerSigningKeys  # noqa: PLC0415
    from fstriage.adapters.sqs import SqsRequestQueue  # noqa: PLC0415
    from fstriage.core.intake import Intake  # noqa: PLC0415
    from fstriage.settings import WebhookSettings  # noqa: PLC0415
    from fstriage.webhook_app import WebhookApp  # noqa: PLC0415

    settings = WebhookSettings.from_env(os.environ if env is None else env)
    clients = StubClients(StubSecretsManager(), StubSqs(), StubDynamoDB())
    intake = Intake(
        settings.policy(),
        keys=SecretsManagerSigningKeys(
            settings.signing_secret_arn,
            cache_seconds=settings.secret_cache_seconds,
            min_refresh_seconds=settings.secret_refresh_min_seconds,
            client=clients.secrets,
        ),
        queue=SqsRequestQueue(settings.queue_url, client=clients.sqs),
        ledger=DynamoDeliveryLedger(settings.dedupe_table, client=clients.dynamodb),
    )
    handler_module.app = WebhookApp(intake, handler_module.logger, handler_module.metrics)
    return replace(clients, intake=intake)


# --- real boto3 clients, answered in-process -------------------------------------------------


class _Body:
    """The raw stream botocore reads a response body from."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


class InProcessAws:
    """Answers the webhook's AWS JSON-protocol calls at botocore's `before-send` hook.

    Everything before the socket still runs: parameter validation, serialisation, SigV4 signing,
    retry and checksum handlers, response parsing. Register it on the real, cached clients of
    `fstriage.adapters.aws.client` to measure the handler as deployed, minus the network.
    """

    def __init__(self, signing_secret: str = TEST_SIGNING_SECRET) -> None:
        self._secret_string = json.dumps({"signing_secret": signing_secret})
        self.sent: list[str] = []
        self.claimed: set[str] = set()
        # Every AWS operation answered, in order: the accepted path's call count is measured from it.
        self.operations: list[str] = []

    def prime(self) -> None:
        from fstriage.adapters import aws  # noqa: PLC0415

        for service in ("secretsmanager", "dynamodb", "sqs"):
            aws.client(service).meta.events.register("before-send", self.answer)

    def answer(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse  # noqa: PLC0415

        target = request.headers.get("X-Amz-Target", b"")
        operation = (target.decode() if isinstance(target, bytes) else str(target)).rsplit(".", 1)[-1]
        params = json.loads(request.body or b"{}")
        self.operations.append(operation)
        status, document = self._respond(operation, params)
        headers = {"x-amzn-requestid": "3f1e5d7a-0000-4000-8000-000000000000"}
        return AWSResponse(request.url, status, headers, _Body(json.dumps(document).encode()))

    def _respond(self, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if operation == "GetSecretValue":
            if params.get("VersionStage") == "AWSPREVIOUS":
                return 400, {"__type": "ResourceNotFoundException", "Message": "no AWSPREVIOUS version"}
            return 200, {
                "ARN": params["SecretId"],
                "Name": "fstriage-signing",
                "SecretString": self._secret_string,
            }
        if operation == "SendMessage":
            self.sent.append(params["MessageBody"])
            digest = hashlib.md5(params["MessageBody"].encode(), usedforsecurity=False).hexdigest()
            return 200, {
                "MessageId": f"b5e1c2d3-0000-4000-8000-{len(self.sent):012d}",
                "MD5OfMessageBody": digest,
            }
        if operation == "PutItem":
            key = params["Item"]["delivery_key"]["S"]
            if key in self.claimed:
                return 400, {
                    "__type": "ConditionalCheckFailedException",
                    "message": "The conditional request failed",
                }
            self.claimed.add(key)
        return 200, {}
