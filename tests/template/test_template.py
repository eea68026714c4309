"""Template tier: cfn-lint, then our own rules on the SAM-transformed template. No AWS, no network.

cfn-lint cannot see these rules (toolchain.md: it accepts `Timeout: 5000` and a queue visibility
timeout below the consumer's Timeout), so they are asserted here on the output of the same SAM
transform that CloudFormation runs, with parameters resolved the way a deploy would resolve them.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.shared import constants as powertools_constants
from cfnlint.api import lint_all
from cfnlint.decode import cfn_yaml
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

import fstriage.settings
from fstriage.adapters.ledger import DynamoDeliveryLedger
from fstriage.core.errors import ConfigurationError
from fstriage.core.intake import FULLSTORY_STREAM_RANGES, STREAMS_PREFIX
from fstriage.settings import WebhookSettings
from tests.support.constants import TEST_ORG_ID

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
NO_VALUE = object()  # what `Ref: AWS::NoValue` resolves to: the property is left out

WEBHOOK_ACTIONS = {
    "sqs:SendMessage": {"Fn::GetAtt": ["InvestigationQueue", "Arn"]},
    "secretsmanager:GetSecretValue": {"Ref": "SigningSecret"},
    "dynamodb:PutItem": {"Fn::GetAtt": ["DedupeTable", "Arn"]},
    "dynamodb:UpdateItem": {"Fn::GetAtt": ["DedupeTable", "Arn"]},
    "dynamodb:DeleteItem": {"Fn::GetAtt": ["DedupeTable", "Arn"]},
    "dynamodb:GetItem": {"Fn::GetAtt": ["DedupeTable", "Arn"]},
}
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# Powertools reads these itself (aws_lambda_powertools.shared.constants).
POWERTOOLS_ENV = {
    powertools_constants.SERVICE_NAME_ENV,
    powertools_constants.POWERTOOLS_LOG_LEVEL_ENV,
    powertools_constants.METRICS_NAMESPACE_ENV,
}


class OfflinePolicyLoader(ManagedPolicyLoader):
    """SAM asks IAM for managed policy names only when a template names one; ours names none."""

    def __init__(self) -> None:
        self._policy_map: dict[str, str] | None = {}
        self.max_items = 0

    def load(self) -> dict[str, str]:
        return {}


def load_sam_template() -> dict[str, Any]:
    """The template with plain dicts/lists/strs (cfn-lint's loader understands the `!Ref` tags)."""
    document: dict[str, Any] = json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))
    return document


class Stack:
    """The transformed template, plus a resolver for parameters, mappings and conditions."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self.sam = load_sam_template()
        sam = json.loads(json.dumps(self.sam))
        # The transform only accepts S3 locations; `sam build`/`sam package` swap them in the same way.
        for resource in sam["Resources"].values():
            properties = resource.get("Properties", {})
            for key in ("CodeUri", "ContentUri"):
                if key in properties:
                    properties[key] = f"s3://fstriage-artifacts/{key.lower()}.zip"
        defaults = {
            name: str(spec["Default"]) for name, spec in sam["Parameters"].items() if "Default" in spec
        }
        self.params = defaults | {"FullstoryOrgId": TEST_ORG_ID} | dict(overrides or {})
        self.cfn: dict[str, Any] = transform(sam, dict(self.params), OfflinePolicyLoader())

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.cfn["Resources"].items() if r["Type"] == resource_type}

    def properties(self, logical_id: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolve(self.cfn["Resources"][logical_id].get("Properties", {}))
        return resolved

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref" and argument == "AWS::NoValue":
                return NO_VALUE
            if function == "Ref" and argument in self.params:
                return self.params[argument]
            if function == "Fn::FindInMap":
                mapping, first, second = (self.resolve(part) for part in argument)
                return self.cfn["Mappings"][mapping][first][second]
            if function == "Fn::If":
                condition, when_true, when_false = argument
                return self.resolve(when_true if self.condition(condition) else when_false)
        if isinstance(value, dict):
            items = ((key, self.resolve(item)) for key, item in value.items())
            return {key: item for key, item in items if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        return self._evaluate(self.cfn["Conditions"][name])

    def _evaluate(self, expression: dict[str, Any]) -> bool:
        ((function, argument),) = expression.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Not":
            return not self._evaluate(argument[0])
        if function == "Fn::And":
            return all(self._evaluate(part) for part in argument)
        if function == "Fn::Or":
            return any(self._evaluate(part) for part in argument)
        if function == "Fn::Equals":
            left, right = (str(self.resolve(part)) for part in argument)
            return left == right
        raise AssertionError(f"the test cannot evaluate {function}")


@pytest.fixture(scope="module")
def stack() -> Stack:
    return Stack()


def webhook_environment(stack: Stack) -> dict[str, str]:
    """The webhook's environment as Lambda would see it; resource references become dummy values."""
    variables = stack.properties("WebhookFunction")["Environment"]["Variables"]
    return {
        name: value if isinstance(value, str) else f"dummy-{json.dumps(value, sort_keys=True)}"
        for name, value in variables.items()
    }


def test_cfn_lint_reports_no_errors_or_warnings_in_any_region() -> None:
    matches = lint_all(TEMPLATE.read_text())
    problems = [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.id[0] in "EW"]
    assert problems == []


def test_function_url_is_public_and_only_the_url_can_invoke_the_function(stack: Stack) -> None:
    urls = stack.resources("AWS::Lambda::Url")
    assert list(urls) == ["WebhookFunctionUrl"]
    url = stack.properties("WebhookFunctionUrl")
    assert url["AuthType"] == "NONE"  # the Fullstory HMAC signature is the authentication
    assert url["TargetFunctionArn"] == {"Ref": "WebhookFunction"}
    assert "Cors" not in url  # server-to-server; no browser should call it

    public = {
        name: stack.properties(name)
        for name in stack.resources("AWS::Lambda::Permission")
        if stack.properties(name)["Principal"] == "*"
    }
    assert public, "SAM should grant the public URL permission"
    for name, permission in public.items():
        assert permission["FunctionName"] == {"Ref": "WebhookFunction"}, name
        if permission["Action"] == "lambda:InvokeFunctionUrl":
            assert permission["FunctionUrlAuthType"] == "NONE", name
        else:
            # A public lambda:InvokeFunction must be limited to calls through the URL.
            assert permission["Action"] == "lambda:InvokeFunction", name
            assert permission["InvokedViaFunctionUrl"] is True, name


def test_functions_default_to_python313_on_arm64_and_the_runtime_matches_the_project(stack: Stack) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project_minor = re.search(r">=\s*(3\.\d+)", pyproject["project"]["requires-python"])
    assert project_minor is not None
    runtime = f"python{project_minor.group(1)}"
    assert runtime == "python3.13"

    functions = stack.resources("AWS::Lambda::Function")
    assert functions
    for name in functions:
        properties = stack.properties(name)
        assert properties["Runtime"] == runtime, name
        assert properties["Architectures"] == ["arm64"], name
        assert properties["Layers"] == [{"Ref": next(iter(stack.resources("AWS::Lambda::LayerVersion")))}]

    (layer_id,) = stack.resources("AWS::Lambda::LayerVersion")
    layer = stack.properties(layer_id)
    assert layer["CompatibleRuntimes"] == [runtime]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    # The layer's build settings live in Metadata, which the transform drops: read the source.
    metadata = stack.sam["Resources"]["FstriageLayer"]["Metadata"]
    assert metadata == {"BuildMethod": runtime, "BuildArchitecture": {"Ref": "Architecture"}}


def test_architecture_parameter_switches_functions_and_layer_to_x86_64() -> None:
    local = Stack({"Architecture": "x86_64"})
    assert local.properties("WebhookFunction")["Architectures"] == ["x86_64"]
    (layer_id,) = local.resources("AWS::Lambda::LayerVersion")
    assert local.properties(layer_id)["CompatibleArchitectures"] == ["x86_64"]


def test_webhook_function_size_timeout_and_concurrency_cap(stack: Stack) -> None:
    webhook = stack.properties("WebhookFunction")
    assert webhook["Handler"] == "app.handler"
    assert webhook["MemorySize"] == 256
    assert 0 < webhook["Timeout"] <= 900
    assert webhook["Timeout"] == 10
    assert int(webhook["ReservedConcurrentExecutions"]) == 10
    for name in stack.resources("AWS::Lambda::Function"):
        assert 0 < int(stack.properties(name)["Timeout"]) <= 900, name


def test_zero_reserved_concurrency_means_no_reservation_rather_than_a_disabled_function() -> None:
    uncapped = Stack({"WebhookReservedConcurrency": "0"})
    assert "ReservedConcurrentExecutions" not in uncapped.properties("WebhookFunction")
    capped = Stack({"WebhookReservedConcurrency": "3"})
    assert capped.properties("WebhookFunction")["ReservedConcurrentExecutions"] == "3"


def test_webhook_role_grants_exactly_the_calls_the_adapters_make(stack: Stack) -> None:
    role = stack.properties("WebhookFunctionRole")
    assert role["ManagedPolicyArns"] == [BASIC_EXECUTION_ROLE]  # logs only
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["lambda.amazonaws.com"]}

    granted: dict[str, Any] = {}
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}  # no NotAction/NotResource
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            assert len(resources) == 1, statement
            for action in actions:
                assert "*" not in action, statement
                assert action not in granted, f"{action} granted twice"
                granted[action] = resources[0]
            assert "*" not in json.dumps(resources), statement
    assert granted == WEBHOOK_ACTIONS


def test_both_queues_are_encrypted_and_failures_go_to_the_dead_letter_queue(stack: Stack) -> None:
    queue = stack.properties("InvestigationQueue")
    dlq = stack.properties("InvestigationDLQ")
    assert queue["SqsManagedSseEnabled"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["InvestigationDLQ", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["MessageRetentionPeriod"] == 345600
    assert dlq["MessageRetentionPeriod"] == 1209600
    # A standard queue keeps a message's original enqueue time in the DLQ, so the DLQ must keep
    # messages longer than the source queue, or they expire soon after they arrive.
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert set(stack.resources("AWS::SQS::Queue")) == {"InvestigationQueue", "InvestigationDLQ"}


def test_queue_visibility_timeout_covers_six_investigator_timeouts(stack: Stack) -> None:
    timeouts = stack.cfn["Mappings"]["Investigation"]["Timeouts"]
    investigator_timeout = timeouts["InvestigatorTimeoutSeconds"]
    visibility = stack.properties("InvestigationQueue")["VisibilityTimeout"]
    assert visibility == timeouts["QueueVisibilityTimeoutSeconds"]
    assert 0 < investigator_timeout <= 900
    assert visibility >= 6 * investigator_timeout
    assert visibility <= 43200  # the SQS maximum (12 h)
    # Every SQS consumer in the stack (the investigator, once it exists) must fit the same rule.
    for mapping in stack.resources("AWS::Lambda::EventSourceMapping").values():
        source = mapping["Properties"]["EventSourceArn"]
        function = mapping["Properties"]["FunctionName"]["Ref"]
        if isinstance(source, dict) and "Fn::GetAtt" in source:
            queue_visibility = stack.properties(source["Fn::GetAtt"][0]).get("VisibilityTimeout", 30)
            assert int(queue_visibility) >= 6 * int(stack.properties(function)["Timeout"]), function


def test_webhook_log_group_is_the_functions_own_with_a_retention(stack: Stack) -> None:
    (name,) = stack.resources("AWS::Logs::LogGroup")
    group = stack.properties(name)
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${WebhookFunction}"}
    assert group["RetentionInDays"] == "30"
    allowed = stack.cfn["Parameters"]["LogRetentionDays"]["AllowedValues"]
    assert group["RetentionInDays"] in {str(days) for days in allowed}


def test_signing_secret_is_generated_never_written_in_the_template(stack: Stack) -> None:
    secret = stack.properties("SigningSecret")
    assert "SecretString" not in secret
    assert secret["GenerateSecretString"] == {
        "SecretStringTemplate": "{}",
        "GenerateStringKey": "signing_secret",
        "PasswordLength": 48,
        "ExcludePunctuation": True,
    }
    for word in ("signing_secret", "stream_token", "streams_disabled"):
        assert word in secret["Description"]

    text = TEMPLATE.read_text()
    assert not re.search(r"^\s*SecretString\s*:", text, re.MULTILINE)
    # Anything long that mixes letters and digits looks like a key or a token.
    suspicious = re.findall(r"(?=[\w+/=-]*\d)(?=[\w+/=-]*[A-Za-z])[\w+/=-]{24,}", text)
    assert suspicious == []


def test_dedupe_table_matches_what_the_ledger_writes(stack: Stack) -> None:
    table = stack.properties("DedupeTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "delivery_key", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "delivery_key", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}

    class RecordingDynamo:
        def __init__(self) -> None:
            self.items: list[dict[str, Any]] = []

        def put_item(self, **arguments: Any) -> dict[str, Any]:
            self.items.append(arguments["Item"])
            return {}

    dynamo = RecordingDynamo()
    ledger = DynamoDeliveryLedger("DedupeTable", ttl_seconds=3600, lease_seconds=30, client=dynamo)
    ledger.claim("delivery-1", "request-1", now=1_000_000)
    (item,) = dynamo.items
    assert item["delivery_key"] == {"S": "delivery-1"}  # the hash key, a string
    assert item["expires_at"] == {"N": str(1_000_000 + 3600)}  # the TTL attribute, epoch seconds


def test_dead_letter_alarm_fires_on_one_message(stack: Stack) -> None:
    alarm = stack.properties("DlqDepthAlarm")
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["InvestigationDLQ", "QueueName"]}}
    ]
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Period"] == 60
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "AlarmActions" not in alarm  # no topic given


def test_dead_letter_alarm_notifies_the_topic_when_one_is_given() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:fstriage-alarms"
    alarm = Stack({"AlarmTopicArn": topic}).properties("DlqDepthAlarm")
    assert alarm["AlarmActions"] == [topic]


def test_outputs_tell_the_operator_what_to_paste_into_fullstory(stack: Stack) -> None:
    outputs = stack.cfn["Outputs"]
    assert {
        "WebhookUrl",
        "StreamsUrlPattern",
        "SigningSecretArn",
        "ReadSigningSecretCommand",
        "InvestigationQueueUrl",
        "InvestigationDLQUrl",
    } <= set(outputs)
    assert outputs["WebhookUrl"]["Value"] == {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]}
    # A function URL ends with "/", so the Streams route is the URL plus the prefix without its "/".
    streams = outputs["StreamsUrlPattern"]["Value"]["Fn::Sub"]
    assert (
        streams == "${WebhookFunctionUrl.FunctionUrl}" + STREAMS_PREFIX.removeprefix("/") + "<stream_token>"
    )
    assert outputs["SigningSecretArn"]["Value"] == {"Ref": "SigningSecret"}
    command = outputs["ReadSigningSecretCommand"]["Value"]["Fn::Sub"]
    assert command.startswith("aws secretsmanager get-secret-value ")
    assert "--secret-id ${SigningSecret}" in command
    assert "--query SecretString --output text" in command
    assert outputs["InvestigationQueueUrl"]["Value"] == {"Ref": "InvestigationQueue"}
    assert outputs["InvestigationDLQUrl"]["Value"] == {"Ref": "InvestigationDLQ"}


def test_webhook_environment_satisfies_the_settings_loader(stack: Stack) -> None:
    env = webhook_environment(stack)
    settings = WebhookSettings.from_env(env)  # raises ConfigurationError if a required name is missing
    settings.policy()  # and the default allow list parses
    assert settings.org_id == TEST_ORG_ID
    assert settings.tolerance_seconds == 300
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    # The template is the only place these come from: each one, taken away, breaks the loader.
    for name in ("FULLSTORY_ORG_ID", "SIGNING_SECRET_ARN", "INVESTIGATION_QUEUE_URL", "DEDUPE_TABLE_NAME"):
        with pytest.raises(ConfigurationError):
            WebhookSettings.from_env({key: value for key, value in env.items() if key != name})


def test_every_webhook_environment_name_is_read_by_the_code(stack: Stack) -> None:
    source = inspect.getsource(fstriage.settings)
    read_by_settings = set(re.findall(r'\benv(?:\.get\(|, )"([A-Z][A-Z0-9_]+)"', source))
    assert "FULLSTORY_ORG_ID" in read_by_settings  # the pattern still finds what settings.py reads
    unread = set(webhook_environment(stack)) - read_by_settings - POWERTOOLS_ENV
    assert unread == set()


def test_parameter_defaults_agree_with_the_code_defaults(stack: Stack) -> None:
    parameters = stack.cfn["Parameters"]
    assert parameters["StreamSourceAllowList"]["Default"] == FULLSTORY_STREAM_RANGES
    code_defaults = {field.name: field.default for field in dataclasses.fields(WebhookSettings)}
    assert parameters["SignatureToleranceSeconds"]["Default"] == code_defaults["tolerance_seconds"]
    assert "Default" not in parameters["FullstoryOrgId"]
    org_pattern = re.compile(parameters["FullstoryOrgId"]["AllowedPattern"])
    assert org_pattern.fullmatch(TEST_ORG_ID)
    assert not org_pattern.fullmatch("o-ABC;rm -rf")
    allow_list_pattern = re.compile(parameters["StreamSourceAllowList"]["AllowedPattern"])
    assert allow_list_pattern.fullmatch(FULLSTORY_STREAM_RANGES)
    assert allow_list_pattern.fullmatch("203.0.113.0/24, 2001:db8::/32")
    assert set(parameters["FullstoryRegion"]["AllowedValues"]) == set(
        stack.cfn["Mappings"]["FullstoryRegions"]
    )


def test_layer_requirements_pin_exactly_the_locked_versions() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    lines = (ROOT / "layers" / "fstriage" / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))
    assert {name: locked.get(name) for name in pins} == pins
    # Every runtime dependency of the project ships in the layer, except boto3 (the runtime has it).
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = dict(spec.split("==") for spec in pyproject["project"]["dependencies"])
    assert "boto3" not in pins
    assert {name: pins.get(name) for name in runtime if name != "boto3"} == {
        name: version for name, version in runtime.items() if name != "boto3"
    }


def test_samconfig_overrides_name_real_parameters(stack: Stack) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for environment in config.values():
        if not isinstance(environment, dict):
            continue
        for command in environment.values():
            overrides = command.get("parameters", {}).get("parameter_overrides", "")
            for pair in overrides.split():
                name, _, _ = pair.partition("=")
                assert name in stack.cfn["Parameters"], pair
    assert config["local"]["build"]["parameters"]["parameter_overrides"] == "Architecture=x86_64"
