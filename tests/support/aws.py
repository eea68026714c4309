"""A webhook stack under moto: the signing secret, the investigation queue and the dedupe table.

    with webhook_stack(monkeypatch) as stack:
        handler = stack.load_webhook_handler()
        answer = handler(event, FakeLambdaContext())
        assert len(stack.messages()) == 1

Resources are named after the settings in `env` (default `DEFAULT_WEBHOOK_ENV`), and every setting
is exported with monkeypatch, so a handler imported inside the block reads them. boto3 clients are
cached per process (`fstriage.adapters.aws.client`); the cache is cleared on the way in and out, so
the code under test creates its clients inside the mock.

`investigator_stack` does the same for the investigator (queue + DLQ, bucket, idempotency table,
API key and Slack secrets, and an EventBridge rule copying `fstriage` events to a queue tests read):

    with investigator_stack(monkeypatch) as stack:
        handler = stack.load_investigator_handler(monkeypatch, FULLSTORY_API_URL=sandbox.base_url)
        records = stack.receive()
        stack.settle(records, handler.handler({"Records": records}, FakeLambdaContext(remaining_ms=60_000)))
"""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from moto import mock_aws

from fstriage.adapters import aws
from fstriage_cli.samples.values import (
    ACCOUNT_ID,
    API_KEY_SECRET_ARN,
    DEDUPE_TABLE_NAME,
    IDEMPOTENCY_TABLE_NAME,
    QUEUE_URL,
    REGION,
    REPORTS_BUCKET,
    SIGNING_SECRET_ARN,
    STATE_TABLE_NAME,
    TEST_ORG_ID,
    TEST_SIGNING_SECRET,
    TEST_STREAM_TOKEN,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_APP = REPO_ROOT / "functions" / "webhook" / "app.py"

DEFAULT_WEBHOOK_ENV: dict[str, str] = {
    "FULLSTORY_ORG_ID": TEST_ORG_ID,
    "SIGNING_SECRET_ARN": SIGNING_SECRET_ARN,
    "INVESTIGATION_QUEUE_URL": QUEUE_URL,
    "DEDUPE_TABLE_NAME": DEDUPE_TABLE_NAME,
}
DEFAULT_SECRET: dict[str, str] = {
    "signing_secret": TEST_SIGNING_SECRET,
    "stream_token": TEST_STREAM_TOKEN,
}


@dataclass
class WebhookStack:
    queue_url: str
    table_name: str
    secret_arn: str
    env: dict[str, str]
    sqs: Any
    dynamodb: Any
    secretsmanager: Any
    _modules: list[str] = field(default_factory=list)

    def messages(self) -> list[dict[str, Any]]:
        """Every message on the queue (received, then left to reappear after the visibility timeout)."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                return found
            found.extend(batch)

    def ledger_items(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=self.table_name, ConsistentRead=True)["Items"])

    def load_webhook_handler(self, path: Path = WEBHOOK_APP) -> ModuleType:
        """Import the webhook entry point afresh (its app is built at import, from the environment)."""
        return import_entry_point(path, WEBHOOK_SERVICE, self._modules)


def apply_env(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str | None]) -> None:
    """Export `env` for a handler about to be imported (None unsets a name)."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def import_entry_point(path: Path, service: str, loaded: list[str]) -> ModuleType:
    """Import a Lambda entry point afresh, as a cold start would (its app is built at import).

    Powertools keeps one log handler per service name across imports, so it is pointed at this
    test's stdout. The module's name is added to `loaded`, for its owner to forget later.
    """
    name = f"fstriage_test_{path.parent.name}_app_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loaded.append(name)
    spec.loader.exec_module(module)
    for handler in logging.getLogger(service).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.stdout
    return module


def _forget(modules: list[str]) -> None:
    """Forget the entry points a stack imported, and the boto3 clients made inside its mock."""
    for name in modules:
        sys.modules.pop(name, None)
    aws.client.cache_clear()


def _secret_name(secret_id: str) -> str:
    # A partial ARN ends in the name; a full one would end in name + "-" + 6 random characters.
    return secret_id.split(":secret:", 1)[1] if ":secret:" in secret_id else secret_id


@contextmanager
def webhook_stack(
    monkeypatch: pytest.MonkeyPatch,
    *,
    env: Mapping[str, str] | None = None,
    secret: Mapping[str, str] | None = None,
) -> Iterator[WebhookStack]:
    """Create the webhook's resources under moto and export `env`; yield a `WebhookStack`."""
    settings = dict(DEFAULT_WEBHOOK_ENV if env is None else env)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        aws.client.cache_clear()
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        secretsmanager = boto3.client("secretsmanager", region_name=REGION)
        queue_url = settings["INVESTIGATION_QUEUE_URL"]
        queue_name = urlsplit(queue_url).path.rstrip("/").rsplit("/", 1)[-1]
        sqs.create_queue(QueueName=queue_name)
        table_name = settings["DEDUPE_TABLE_NAME"]
        dynamodb.create_table(
            TableName=table_name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "delivery_key", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "delivery_key", "KeyType": "HASH"}],
        )
        secret_arn = settings["SIGNING_SECRET_ARN"]
        secretsmanager.create_secret(
            Name=_secret_name(secret_arn),
            SecretString=json.dumps(DEFAULT_SECRET if secret is None else secret),
        )
        stack = WebhookStack(
            queue_url=queue_url,
            table_name=table_name,
            secret_arn=secret_arn,
            env=settings,
            sqs=sqs,
            dynamodb=dynamodb,
            secretsmanager=secretsmanager,
        )
        try:
            yield stack
        finally:
            _forget(stack._modules)


# ---------------------------------------------------------------------------------------------
# The investigator's stack


INVESTIGATOR_APP = REPO_ROOT / "functions" / "investigator" / "app.py"
INVESTIGATOR_SERVICE = "fstriage-investigator"
WEBHOOK_SERVICE = "fstriage-webhook"
DEFAULT_API_KEY = "na1.fstriage-test-api-key"
MAX_RECEIVE_COUNT = 5

DEFAULT_INVESTIGATOR_ENV: dict[str, str] = {
    "FULLSTORY_ORG_ID": TEST_ORG_ID,
    "FULLSTORY_API_KEY_SECRET_ARN": API_KEY_SECRET_ARN,
    "REPORTS_BUCKET": REPORTS_BUCKET,
    "INVESTIGATION_QUEUE_URL": QUEUE_URL,
    "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE_NAME,
    "STATE_TABLE_NAME": STATE_TABLE_NAME,
}
SLACK_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:fstriage/test/slack-webhook"


def lambda_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message (from ReceiveMessage) as the event source mapping hands it to Lambda."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


@dataclass
class InvestigatorStack:
    """The investigator's resources under moto: queue + DLQ, bucket, idempotency table, secrets, and an
    EventBridge rule that copies every `source: fstriage` event to a capture queue tests can read."""

    env: dict[str, str]
    queue_url: str
    queue_arn: str
    dlq_url: str
    capture_url: str
    bucket: str
    table_name: str
    sqs: Any
    s3: Any
    dynamodb: Any
    secretsmanager: Any
    published: list[dict[str, Any]] = field(default_factory=list)
    _modules: list[str] = field(default_factory=list)

    def load_investigator_handler(
        self, monkeypatch: pytest.MonkeyPatch, path: Path = INVESTIGATOR_APP, **overrides: str | None
    ) -> ModuleType:
        """Import the investigator entry point afresh with `env` plus `overrides` (None unsets one)."""
        apply_env(monkeypatch, {**self.env, **overrides})
        aws.client.cache_clear()
        return import_entry_point(path, INVESTIGATOR_SERVICE, self._modules)

    def send(self, body: str, attributes: Mapping[str, str] | None = None, *, delay_seconds: int = 0) -> str:
        response = self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=body,
            DelaySeconds=delay_seconds,
            MessageAttributes={
                key: {"DataType": "String", "StringValue": value} for key, value in (attributes or {}).items()
            },
        )
        return str(response["MessageId"])

    def receive(self, *, max_messages: int = 10, visibility_timeout: int = 0) -> list[dict[str, Any]]:
        """What the event source mapping would hand Lambda next (visibility 0: a failure is visible again
        at once, so a test can redeliver without waiting)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=0,
        ).get("Messages", [])
        return [lambda_record(message, self.queue_arn) for message in messages]

    def settle(self, records: list[dict[str, Any]], response: Mapping[str, Any] | None) -> None:
        """Delete what the handler did not report failed, as the event source mapping does (nothing when
        the handler raised, i.e. `response` is None)."""
        if response is None:
            return
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for record in records:
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])

    def end_delays(self) -> None:
        """Let every delayed message on the queue become visible now (moto keeps the delay in memory;
        SQS offers no call for this, so this reaches into moto's backend instead of sleeping)."""
        from moto.sqs.models import sqs_backends  # noqa: PLC0415 - moto internals, only here

        name = urlsplit(self.queue_url).path.rstrip("/").rsplit("/", 1)[-1]
        for message in sqs_backends[ACCOUNT_ID][REGION].queues[name]._messages:
            message.delayed_until = 0

    def queue_counts(self, queue_url: str | None = None) -> dict[str, int]:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        names.append("ApproximateNumberOfMessagesDelayed")
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url or self.queue_url, AttributeNames=names)
        return {
            key.removeprefix("ApproximateNumberOf"): int(value)
            for key, value in attributes["Attributes"].items()
        }

    def objects(self) -> dict[str, bytes]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {
            item["Key"]: self.s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
            for item in listed
        }

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Every EventBridge event published so far (drained from the capture queue), or those of
        one detail type."""
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.capture_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return [e for e in self.published if detail_type in (None, e["detail-type"])]
            for message in batch:
                self.published.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.capture_url, ReceiptHandle=message["ReceiptHandle"])

    def put_secret(self, secret_arn: str, value: str) -> None:
        self.secretsmanager.put_secret_value(SecretId=secret_arn, SecretString=value)


@contextmanager
def investigator_stack(
    monkeypatch: pytest.MonkeyPatch,
    *,
    env: Mapping[str, str] | None = None,
    api_key: str | None = DEFAULT_API_KEY,
    slack_url: str | None = None,
) -> Iterator[InvestigatorStack]:
    """Create the investigator's resources under moto; yield an `InvestigatorStack`.

    `api_key=None` creates the API key secret without a value (as the stack does before an operator
    sets it). `slack_url` stores a Slack webhook URL in its own secret and sets SLACK_WEBHOOK_SECRET_ARN.
    """
    settings = dict(DEFAULT_INVESTIGATOR_ENV if env is None else env)
    with mock_aws():
        aws.client.cache_clear()
        sqs = boto3.client("sqs", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        secretsmanager = boto3.client("secretsmanager", region_name=REGION)
        events = boto3.client("events", region_name=REGION)

        def queue_arn(url: str) -> str:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            return str(attributes["Attributes"]["QueueArn"])

        queue_name = urlsplit(settings["INVESTIGATION_QUEUE_URL"]).path.rstrip("/").rsplit("/", 1)[-1]
        dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
        redrive = {"deadLetterTargetArn": queue_arn(dlq_url), "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
        queue_url = sqs.create_queue(QueueName=queue_name, Attributes={"RedrivePolicy": json.dumps(redrive)})[
            "QueueUrl"
        ]
        capture_url = sqs.create_queue(QueueName="fstriage-test-published-events")["QueueUrl"]
        events.put_rule(
            Name="fstriage-test-capture", EventPattern=json.dumps({"source": ["fstriage"]}), State="ENABLED"
        )
        events.put_targets(
            Rule="fstriage-test-capture", Targets=[{"Id": "capture", "Arn": queue_arn(capture_url)}]
        )
        bucket = settings["REPORTS_BUCKET"]
        s3.create_bucket(Bucket=bucket)
        table_name = settings["IDEMPOTENCY_TABLE_NAME"]
        for name in (table_name, settings.get("STATE_TABLE_NAME")):
            if name:
                dynamodb.create_table(
                    TableName=name,
                    BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                )
        key_secret = _secret_name(settings["FULLSTORY_API_KEY_SECRET_ARN"])
        if api_key is None:
            secretsmanager.create_secret(Name=key_secret)
        else:
            secretsmanager.create_secret(Name=key_secret, SecretString=json.dumps({"api_key": api_key}))
        if slack_url is not None:
            secretsmanager.create_secret(
                Name=_secret_name(SLACK_SECRET_ARN), SecretString=json.dumps({"url": slack_url})
            )
            settings["SLACK_WEBHOOK_SECRET_ARN"] = SLACK_SECRET_ARN
        stack = InvestigatorStack(
            env=settings,
            queue_url=queue_url,
            queue_arn=queue_arn(queue_url),
            dlq_url=dlq_url,
            capture_url=capture_url,
            bucket=bucket,
            table_name=table_name,
            sqs=sqs,
            s3=s3,
            dynamodb=dynamodb,
            secretsmanager=secretsmanager,
        )
        try:
            yield stack
        finally:
            _forget(stack._modules)


@contextmanager
def without_gc_pauses() -> Iterator[None]:
    """Run a webhook invocation with the cyclic collector off. A long test process piles up the
    garbage of hundreds of botocore clients (moto, a cold start per test), and a full collection of it
    pauses for about 1.5 s: inside a webhook's 4-second answer budget that is a 503 the test did not
    mean to provoke. Lambda containers carry no such heap. What is freed is collected afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
