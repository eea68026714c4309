"""A webhook stack under moto: the signing secret, the investigation queue and the dedupe table.

    with webhook_stack(monkeypatch) as stack:
        handler = stack.load_webhook_handler()
        answer = handler(event, FakeLambdaContext())
        assert len(stack.messages()) == 1

Resources are named after the settings in `env` (default `DEFAULT_WEBHOOK_ENV`), and every setting
is exported with monkeypatch, so a handler imported inside the block reads them. boto3 clients are
cached per process (`fstriage.adapters.aws.client`); the cache is cleared on the way in and out, so
the code under test creates its clients inside the mock.
"""

from __future__ import annotations

import importlib.util
import json
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
from tests.support.constants import TEST_ORG_ID, TEST_SIGNING_SECRET, TEST_STREAM_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_APP = REPO_ROOT / "functions" / "webhook" / "app.py"
ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"

DEFAULT_WEBHOOK_ENV: dict[str, str] = {
    "FULLSTORY_ORG_ID": TEST_ORG_ID,
    "SIGNING_SECRET_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:fstriage/test/webhook-keys",
    "INVESTIGATION_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/fstriage-test-queue",
    "DEDUPE_TABLE_NAME": "fstriage-test-ledger",
}
DEFAULT_SECRET: dict[str, str] = {
    "signing_secret": TEST_SIGNING_SECRET,
    "stream_token": TEST_STREAM_TOKEN,
}


@dataclass
class FakeLambdaContext:
    """What Powertools' `inject_lambda_context` reads from a real LambdaContext."""

    function_name: str = "fstriage-WebhookFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:fstriage-WebhookFunction"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/fstriage-WebhookFunction"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 3000


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
        name = f"fstriage_test_webhook_app_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        self._modules.append(name)
        spec.loader.exec_module(module)
        return module


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
            for name in stack._modules:
                sys.modules.pop(name, None)
            aws.client.cache_clear()
