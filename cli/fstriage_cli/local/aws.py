"""moto_server on 127.0.0.1, and the stack's resources created in it from the template's settings."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from fstriage_cli.local.config import ACCOUNT_ID, FAKE_CREDENTIALS, REGION, LocalStackError
from fstriage_cli.local.moto_atomic import make_dynamodb_items_atomic
from fstriage_cli.local.template import Template

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
)
_CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)


class MotoServer:
    """moto's HTTP server in a thread. Address it as http://localhost:PORT (not 127.0.0.1): moto
    reads S3 bucket names from the Host header, and `localhost` keeps it on path-style URLs.
    One at a time per process: moto's state is the process's."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.port = 0
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    def start(self) -> MotoServer:
        # moto's server logs every request through werkzeug; the functions' own logs say more.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        make_dynamodb_items_atomic()  # the functions' conditional writes race across its threads
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._server = server
        self.port = int(server.get_host_and_port()[1])
        self.reset()
        return self

    def reset(self) -> None:
        """Empty moto. Its state lives in this process (shared by every moto server and `mock_aws`
        in it), so each stack starts from nothing and leaves nothing behind."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("POST", "/moto-api/reset")
            connection.getresponse().read()
        finally:
            connection.close()

    @property
    def endpoint(self) -> str:
        return f"http://localhost:{self.port}"

    def client(self, service: str) -> Any:
        """A boto3 client for moto with fake credentials: never the caller's real ones.

        One per service, kept: building a session and client cost ~66 ms, and pollers ask often.
        """
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = boto3.session.Session(
                    aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    region_name=REGION,
                ).client(service, endpoint_url=self.endpoint, config=_CLIENT_CONFIG)
            return self._clients[service]

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        with self._clients_lock:
            for cached in self._clients.values():
                cached.close()
            self._clients.clear()
        wsgi = getattr(server, "_server", None)
        with contextlib.suppress(OSError, http.client.HTTPException):
            self.reset()
        server.stop()
        if wsgi is not None:
            wsgi.server_close()  # ThreadedMotoServer.stop leaves the listening socket open


@dataclass
class Resources:
    """What was created, by logical ID, plus the local-only pieces (the EventBridge capture)."""

    queues: dict[str, str] = field(default_factory=dict)  # logical ID -> queue URL
    tables: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # logical ID -> ARN
    rules: dict[str, str] = field(default_factory=dict)  # logical ID -> rule name (SQS targets only)
    skipped: dict[str, str] = field(default_factory=dict)  # logical ID -> type (not emulated)
    capture_queue_url: str = ""


def create_resources(
    moto: MotoServer,
    template: Template,
    *,
    secret_values: Mapping[str, str],
    visibility_timeouts: Mapping[str, int],
    event_bus: str,
    capture_source: str,
) -> Resources:
    """Create every SQS queue, DynamoDB table, S3 bucket, secret and EventBridge rule (with its SQS
    targets; moto delivers PutEvents to them) of the template in moto, record their physical IDs in
    `template.physical`, and route `capture_source` events on `event_bus` to a capture queue (so the
    stack can collect the reports)."""
    created = Resources()
    created.queues = _create_queues(moto, template, visibility_timeouts)
    created.tables = _create_tables(moto, template)
    created.buckets = _create_buckets(moto, template)
    created.secrets = _create_secrets(moto, template, secret_values)
    created.capture_queue_url = _capture(moto, template.pseudo["AWS::StackName"], event_bus, capture_source)
    created.rules = _create_rules(moto, template, known_buses={"default", event_bus})
    emulated = {
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::SecretsManager::Secret",
        "AWS::Events::Rule",
    }
    for logical_id, resource in template.resources().items():
        if resource.get("Type") not in emulated:
            created.skipped[logical_id] = str(resource.get("Type"))
    return created


def _create_queues(moto: MotoServer, template: Template, visibility: Mapping[str, int]) -> dict[str, str]:
    sqs = moto.client("sqs")
    stack = template.pseudo["AWS::StackName"]
    urls: dict[str, str] = {}
    queues = template.resources("AWS::SQS::Queue")
    for logical_id in queues:
        declared = template.properties(logical_id)
        attributes = template.resolve({k: v for k, v in declared.items() if k in _QUEUE_ATTRIBUTES})
        if logical_id in visibility:
            attributes["VisibilityTimeout"] = visibility[logical_id]
        name = str(template.resolve(declared.get("QueueName", f"{stack}-{logical_id}")))
        if str(attributes.get("FifoQueue", "")).lower() == "true" and not name.endswith(".fifo"):
            name += ".fifo"
        url = sqs.create_queue(QueueName=name, Attributes={k: _text(v) for k, v in attributes.items()})[
            "QueueUrl"
        ]
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
        template.physical[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
        urls[logical_id] = url
    for logical_id in queues:  # redrive policies name other queues: set once all exist
        redrive = template.properties(logical_id).get("RedrivePolicy")
        if redrive:
            policy = json.dumps(template.resolve(redrive))
            sqs.set_queue_attributes(QueueUrl=urls[logical_id], Attributes={"RedrivePolicy": policy})
    return urls


def _create_tables(moto: MotoServer, template: Template) -> dict[str, str]:
    dynamodb = moto.client("dynamodb")
    names: dict[str, str] = {}
    for logical_id in template.resources("AWS::DynamoDB::Table"):
        properties = template.resolve(template.properties(logical_id))
        name = str(properties.get("TableName") or f"{template.pseudo['AWS::StackName']}-{logical_id}")
        billing = properties.get("BillingMode", "PAY_PER_REQUEST")
        extra = (
            {"ProvisionedThroughput": _throughput(properties["ProvisionedThroughput"])}
            if billing == "PROVISIONED"
            else {}
        )
        table = dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode=billing,
            **extra,
        )["TableDescription"]
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled")).lower() == "true":
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        template.physical[logical_id] = {"Ref": name, "Arn": table["TableArn"]}
        names[logical_id] = name
    return names


def _create_buckets(moto: MotoServer, template: Template) -> dict[str, str]:
    s3 = moto.client("s3")
    names: dict[str, str] = {}
    for logical_id in template.resources("AWS::S3::Bucket"):
        properties = template.resolve(template.properties(logical_id))
        stack = template.pseudo["AWS::StackName"]
        name = str(properties.get("BucketName") or f"{stack}-{logical_id}-local").lower()
        s3.create_bucket(Bucket=name)
        template.physical[logical_id] = {
            "Ref": name,
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        }
        names[logical_id] = name
    return names


def _create_secrets(moto: MotoServer, template: Template, values: Mapping[str, str]) -> dict[str, str]:
    manager = moto.client("secretsmanager")
    arns: dict[str, str] = {}
    for logical_id in template.resources("AWS::SecretsManager::Secret"):
        properties = template.resolve(template.properties(logical_id))
        name = str(properties.get("Name") or f"{template.pseudo['AWS::StackName']}/{logical_id}")
        value = values.get(logical_id)
        if value is None and "SecretString" in properties:
            value = str(properties["SecretString"])
        if value is None and "GenerateSecretString" in properties:
            value = _generated(properties["GenerateSecretString"])
        # Without a value the secret exists but has none, like a deployed secret created empty.
        arn = manager.create_secret(Name=name, **({"SecretString": value} if value is not None else {}))[
            "ARN"
        ]
        template.physical[logical_id] = {"Ref": arn, "Id": arn}
        arns[logical_id] = arn
    return arns


def _create_rules(moto: MotoServer, template: Template, *, known_buses: set[str]) -> dict[str, str]:
    """Each rule with its event pattern and its SQS targets (other targets are not emulated)."""
    events = moto.client("events")
    stack = template.pseudo["AWS::StackName"]
    names: dict[str, str] = {}
    for logical_id in template.resources("AWS::Events::Rule"):
        properties = template.resolve(template.properties(logical_id))
        bus = str(properties.get("EventBusName") or "default")
        if bus not in known_buses:
            events.create_event_bus(Name=bus)
            known_buses.add(bus)
        name = str(properties.get("Name") or f"{stack}-{logical_id}")
        pattern = properties.get("EventPattern")
        arn = events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=pattern if isinstance(pattern, str) else json.dumps(pattern),
            State=str(properties.get("State") or "ENABLED"),
        )["RuleArn"]
        targets = [
            {"Id": str(target["Id"]), "Arn": str(target["Arn"])}
            for target in properties.get("Targets") or []
            if str(target.get("Arn", "")).startswith("arn:aws:sqs:")
        ]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        template.physical[logical_id] = {"Ref": name, "Arn": str(arn)}
        names[logical_id] = name
    return names


def _capture(moto: MotoServer, stack: str, event_bus: str, source: str) -> str:
    """An EventBridge rule on `event_bus` that copies every `source` event into an SQS queue."""
    events = moto.client("events")
    if event_bus != "default":
        events.create_event_bus(Name=event_bus)
    name = f"{stack}-local-report-capture"
    url = str(moto.client("sqs").create_queue(QueueName=name)["QueueUrl"])
    events.put_rule(
        Name=name, EventBusName=event_bus, EventPattern=json.dumps({"source": [source]}), State="ENABLED"
    )
    events.put_targets(
        Rule=name,
        EventBusName=event_bus,
        Targets=[{"Id": "capture", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"}],
    )
    return url


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _throughput(value: Mapping[str, Any]) -> dict[str, int]:
    return {key: int(value[key]) for key in ("ReadCapacityUnits", "WriteCapacityUnits")}


def _generated(spec: Mapping[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    alphabet = string.ascii_letters + string.digits
    if str(spec.get("ExcludePunctuation", "false")).lower() != "true":
        alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
    excluded = str(spec.get("ExcludeCharacters", ""))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    password = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    key = spec.get("GenerateStringKey")
    if template is None or key is None:
        return password
    try:
        document = json.loads(str(template))
    except ValueError:
        raise LocalStackError("a secret's SecretStringTemplate is not JSON") from None
    document[str(key)] = password
    return json.dumps(document)
