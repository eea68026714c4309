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
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics
from aws_lambda_powertools.shared import constants as powertools_constants
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from cfnlint.api import lint_all
from cfnlint.decode import cfn_yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

import fstriage.adapters.ledger
import fstriage.investigator_app
import fstriage.settings
from fstriage.adapters.ledger import DynamoDeliveryLedger
from fstriage.core.errors import ConfigurationError
from fstriage.core.intake import FULLSTORY_STREAM_RANGES, STREAMS_PREFIX
from fstriage.investigator_app import METRICS_NAMESPACE, InvestigatorApp, InvestigatorRuntime
from fstriage.settings import InvestigatorSettings, WebhookSettings
from fstriage_cli.samples.fakes import FakeLambdaContext
from fstriage_cli.samples.values import TEST_ORG_ID

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
NO_VALUE = object()  # what `Ref: AWS::NoValue` resolves to: the property is left out

QUEUE_ARN = {"Fn::GetAtt": ["InvestigationQueue", "Arn"]}
# X-Ray's write calls have no resource-level permissions: "*" is the only resource they accept.
XRAY_ACTIONS = {"xray:PutTraceSegments": ["*"], "xray:PutTelemetryRecords": ["*"]}
# Action -> the resources it is granted on. Log group ARNs (GetAtt ... Arn) end in ":*" once deployed:
# the streams Lambda names itself, inside that one group. No other wildcard is granted, except the
# reports/ key prefix (REPORT_OBJECTS) and X-Ray (XRAY_ACTIONS).
WEBHOOK_ACTIONS = {
    "logs:CreateLogStream": [{"Fn::GetAtt": ["WebhookLogGroup", "Arn"]}],
    "logs:PutLogEvents": [{"Fn::GetAtt": ["WebhookLogGroup", "Arn"]}],
    "sqs:SendMessage": [QUEUE_ARN],
    "secretsmanager:GetSecretValue": [{"Ref": "SigningSecret"}],
    # DynamoDeliveryLedger: the claim (conditional put), reading a live claim, releasing one's own.
    "dynamodb:PutItem": [{"Fn::GetAtt": ["DedupeTable", "Arn"]}],
    "dynamodb:GetItem": [{"Fn::GetAtt": ["DedupeTable", "Arn"]}],
    "dynamodb:DeleteItem": [{"Fn::GetAtt": ["DedupeTable", "Arn"]}],
} | XRAY_ACTIONS
REPORT_OBJECTS = {"Fn::Sub": "${ReportsBucket.Arn}/reports/*"}
INVESTIGATOR_ACTIONS = {
    "logs:CreateLogStream": [{"Fn::GetAtt": ["InvestigatorLogGroup", "Arn"]}],
    "logs:PutLogEvents": [{"Fn::GetAtt": ["InvestigatorLogGroup", "Arn"]}],
    # The SQS event source polls with the function's role.
    "sqs:ReceiveMessage": [QUEUE_ARN],
    "sqs:DeleteMessage": [QUEUE_ARN],
    "sqs:GetQueueAttributes": [QUEUE_ARN],
    "sqs:ChangeMessageVisibility": [QUEUE_ARN],
    # SqsRequestQueue.send: a pending segment export is polled again by re-queueing with a delay.
    "sqs:SendMessage": [QUEUE_ARN],
    "secretsmanager:GetSecretValue": [{"Ref": "FullstoryApiKeySecret"}],
    "s3:PutObject": [REPORT_OBJECTS],
    # S3ReportStore.link: a presigned GET acts with the role's permissions (the HTML report's link).
    "s3:GetObject": [REPORT_OBJECTS],
    "events:PutEvents": [
        {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}
    ],
    "dynamodb:GetItem": [{"Fn::GetAtt": ["IdempotencyTable", "Arn"]}, {"Fn::GetAtt": ["StateTable", "Arn"]}],
    "dynamodb:PutItem": [{"Fn::GetAtt": ["IdempotencyTable", "Arn"]}, {"Fn::GetAtt": ["StateTable", "Arn"]}],
    "dynamodb:UpdateItem": [
        {"Fn::GetAtt": ["IdempotencyTable", "Arn"]},
        {"Fn::GetAtt": ["StateTable", "Arn"]},
    ],
    "dynamodb:DeleteItem": [{"Fn::GetAtt": ["IdempotencyTable", "Arn"]}],
} | XRAY_ACTIONS
FUNCTION_ROLES = {"WebhookFunction": "WebhookRole", "InvestigatorFunction": "InvestigatorRole"}
FUNCTION_LOG_GROUPS = {"WebhookFunction": "WebhookLogGroup", "InvestigatorFunction": "InvestigatorLogGroup"}
SLACK_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fstriage/slack-AbC123"
INVESTIGATOR_HANDLER = ROOT / "functions" / "investigator" / "app.py"
# Powertools reads these itself (aws_lambda_powertools.shared.constants).
POWERTOOLS_ENV = {
    powertools_constants.SERVICE_NAME_ENV,
    powertools_constants.POWERTOOLS_LOG_LEVEL_ENV,
    powertools_constants.METRICS_NAMESPACE_ENV,
    powertools_constants.TRACER_CAPTURE_RESPONSE_ENV,
    powertools_constants.TRACER_CAPTURE_ERROR_ENV,
}
# Read by the C library, not by our settings: glibc's malloc arenas (one per thread by default).
RUNTIME_ENV = {"MALLOC_ARENA_MAX"}
CHECKOV_ID = re.compile(r"CKV2?_[A-Z0-9]+_[0-9]+")


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
        """Those a deploy creates: the transform keeps a resource whose `Condition` is false, a deploy
        does not (the optional FME forwarder's, by default)."""
        return {
            name: r
            for name, r in self.cfn["Resources"].items()
            if r["Type"] == resource_type and ("Condition" not in r or self.condition(r["Condition"]))
        }

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


def function_environment(stack: Stack, function: str) -> dict[str, str]:
    """A function's environment as Lambda would see it; resource references become dummy values.

    A number (from a mapping) becomes its text, as CloudFormation passes it.
    """
    variables = stack.properties(function)["Environment"]["Variables"]
    return {name: _environment_value(value) for name, value in variables.items()}


def _environment_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"dummy-{json.dumps(value, sort_keys=True)}"


def webhook_environment(stack: Stack) -> dict[str, str]:
    return function_environment(stack, "WebhookFunction")


def investigator_environment(stack: Stack) -> dict[str, str]:
    return function_environment(stack, "InvestigatorFunction")


def role_grants(stack: Stack, role_id: str) -> dict[str, list[Any]]:
    """Action -> resources, from every inline statement of the role (each must be a plain Allow)."""
    granted: dict[str, list[Any]] = {}
    for policy in stack.properties(role_id)["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            # No NotAction/NotResource; a Condition only narrows a grant.
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            assert resources, statement
            for action in actions:
                assert "*" not in action, statement
                assert action not in granted, f"{action} granted twice"
                granted[action] = resources
    return granted


def settings_reads() -> set[str]:
    """The environment names fstriage/settings.py reads."""
    source = inspect.getsource(fstriage.settings)
    read_by_settings = set(re.findall(r'\benv(?:\.get\(|, )"([A-Z][A-Z0-9_]+)"', source))
    assert "FULLSTORY_ORG_ID" in read_by_settings  # the pattern still finds what settings.py reads
    assert "IDEMPOTENCY_TABLE_NAME" in read_by_settings
    return read_by_settings


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
    assert local.properties("InvestigatorFunction")["Architectures"] == ["x86_64"]
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


def test_investigator_function_size_timeout_and_handler(stack: Stack) -> None:
    investigator = stack.properties("InvestigatorFunction")
    assert investigator["Handler"] == "app.handler"
    assert investigator["MemorySize"] == 512
    assert investigator["Timeout"] == 120
    # Its concurrency is capped by the event source (MaximumConcurrency), not by a reservation.
    assert "ReservedConcurrentExecutions" not in investigator
    source = stack.sam["Resources"]["InvestigatorFunction"]["Properties"]
    assert source["CodeUri"] == "functions/investigator/"
    assert (ROOT / source["CodeUri"] / "app.py").is_file()
    assert re.search(r"^def handler\(", INVESTIGATOR_HANDLER.read_text(), re.MULTILINE)


def test_investigator_consumes_the_queue_with_partial_batch_failures_and_a_concurrency_cap(
    stack: Stack,
) -> None:
    (mapping_id,) = stack.resources("AWS::Lambda::EventSourceMapping")
    mapping = stack.properties(mapping_id)
    assert mapping["FunctionName"] == {"Ref": "InvestigatorFunction"}
    assert mapping["EventSourceArn"] == QUEUE_ARN
    assert mapping["BatchSize"] == 2
    # Without it, one failed record would make SQS redeliver the whole batch, finished reports included.
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": "2"}
    assert mapping.get("Enabled", True) is True
    parameter = stack.cfn["Parameters"]["InvestigatorMaxConcurrency"]
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (2, 2, 1000)  # SQS limits

    wider = Stack({"InvestigatorMaxConcurrency": "5"})
    (wider_id,) = wider.resources("AWS::Lambda::EventSourceMapping")
    assert wider.properties(wider_id)["ScalingConfig"] == {"MaximumConcurrency": "5"}


def test_zero_reserved_concurrency_means_no_reservation_rather_than_a_disabled_function() -> None:
    uncapped = Stack({"WebhookReservedConcurrency": "0"})
    assert "ReservedConcurrentExecutions" not in uncapped.properties("WebhookFunction")
    capped = Stack({"WebhookReservedConcurrency": "3"})
    assert capped.properties("WebhookFunction")["ReservedConcurrentExecutions"] == "3"


def test_each_function_has_its_own_explicit_role_and_no_managed_policy(stack: Stack) -> None:
    # A SAM-generated role would carry AWSLambdaBasicExecutionRole (logs on "*") and, for the SQS event
    # source, AWSLambdaSQSQueueExecutionRole (sqs on "*"). With `Role` given, SAM generates none.
    assert set(stack.resources("AWS::IAM::Role")) == set(FUNCTION_ROLES.values())
    assert stack.resources("AWS::IAM::Policy") == {}
    assert stack.resources("AWS::IAM::ManagedPolicy") == {}
    for function, role_id in FUNCTION_ROLES.items():
        assert stack.properties(function)["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}, function
        role = stack.properties(role_id)
        assert "ManagedPolicyArns" not in role, role_id
        assert "PermissionsBoundary" not in role, role_id
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust == {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com"]},
            "Action": ["sts:AssumeRole"],
        }


def test_both_functions_trace_actively_with_only_the_two_xray_write_calls(stack: Stack) -> None:
    for function, role_id in FUNCTION_ROLES.items():
        assert stack.properties(function)["TracingConfig"] == {"Mode": "Active"}, function
        grants = role_grants(stack, role_id)
        assert {action: r for action, r in grants.items() if action.startswith("xray:")} == XRAY_ACTIONS
    # Traces carry timings only: no return value (reports, session data) or exception text.
    for environment in (webhook_environment(stack), investigator_environment(stack)):
        assert environment[powertools_constants.TRACER_CAPTURE_RESPONSE_ENV] == "false"
        assert environment[powertools_constants.TRACER_CAPTURE_ERROR_ENV] == "false"


def test_sam_attaches_no_managed_xray_policy_to_the_explicit_roles(stack: Stack) -> None:
    assert "AWSXray" not in json.dumps(stack.cfn)
    for role_id in FUNCTION_ROLES.values():
        assert "ManagedPolicyArns" not in stack.properties(role_id), role_id
    # The check above can fail: without `Role`, SAM generates a role with AWSXrayWriteOnlyAccess.
    sam = json.loads(json.dumps(stack.sam))
    for resource in sam["Resources"].values():
        properties = resource.get("Properties", {})
        properties.pop("Role", None)
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = f"s3://fstriage-artifacts/{key.lower()}.zip"
    generated = transform(sam, dict(stack.params), OfflinePolicyLoader())
    managed = json.dumps(generated["Resources"]["WebhookFunctionRole"]["Properties"]["ManagedPolicyArns"])
    assert "AWSXrayWriteOnlyAccess" in managed


def test_webhook_role_grants_exactly_the_calls_the_adapters_make(stack: Stack) -> None:
    assert role_grants(stack, "WebhookRole") == WEBHOOK_ACTIONS
    # The ledger's DynamoDB operations are exactly the ones granted on the dedupe table.
    operations = set(re.findall(r'"(\w+_item)"', inspect.getsource(fstriage.adapters.ledger)))
    granted = {
        action.removeprefix("dynamodb:") for action in WEBHOOK_ACTIONS if action.startswith("dynamodb:")
    }
    assert {"".join(part.title() for part in name.split("_")) for name in operations} == granted


def test_investigator_role_grants_exactly_the_calls_the_adapters_and_the_queue_poller_make(
    stack: Stack,
) -> None:
    assert role_grants(stack, "InvestigatorRole") == INVESTIGATOR_ACTIONS


def test_no_role_grants_a_wildcard_beyond_the_reports_prefix_and_xray(stack: Stack) -> None:
    for role_id in FUNCTION_ROLES.values():
        for action, resources in role_grants(stack, role_id).items():
            assert "*" not in action, (role_id, action)
            if action in XRAY_ACTIONS:
                assert resources == ["*"], (role_id, action)  # X-Ray accepts no narrower resource
                continue
            for resource in resources:
                if resource == REPORT_OBJECTS:
                    continue  # objects under reports/ in this stack's bucket: keys are per investigation
                assert "*" not in json.dumps(resource), (role_id, action, resource)
    # The reports prefix is the one the investigator writes under, and the one the lifecycle expires.
    settings = InvestigatorSettings.from_env(investigator_environment(stack))
    assert REPORT_OBJECTS["Fn::Sub"] == "${ReportsBucket.Arn}/" + settings.reports_prefix + "*"


def test_slack_secret_is_readable_only_when_one_is_configured(stack: Stack) -> None:
    assert investigator_environment(stack)["SLACK_WEBHOOK_SECRET_ARN"] == ""
    assert InvestigatorSettings.from_env(investigator_environment(stack)).slack_webhook_secret_arn is None

    with_slack = Stack({"SlackWebhookSecretArn": SLACK_SECRET_ARN})
    granted = role_grants(with_slack, "InvestigatorRole")
    assert granted["secretsmanager:GetSecretValue"] == [{"Ref": "FullstoryApiKeySecret"}, SLACK_SECRET_ARN]
    assert {action: r for action, r in granted.items() if action != "secretsmanager:GetSecretValue"} == {
        action: r for action, r in INVESTIGATOR_ACTIONS.items() if action != "secretsmanager:GetSecretValue"
    }
    env = investigator_environment(with_slack)
    assert InvestigatorSettings.from_env(env).slack_webhook_secret_arn == SLACK_SECRET_ARN

    pattern = re.compile(with_slack.cfn["Parameters"]["SlackWebhookSecretArn"]["AllowedPattern"])
    assert pattern.fullmatch(SLACK_SECRET_ARN)
    assert pattern.fullmatch("")
    # IAM matches the full ARN; a partial one (no 6-character suffix) would be denied at run time.
    assert not pattern.fullmatch(SLACK_SECRET_ARN.removesuffix("-AbC123"))
    assert not pattern.fullmatch("*")


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


def test_investigator_knows_the_queues_max_receive_count(stack: Stack) -> None:
    # One source for both, so they cannot drift: the same mapping entry, written out identically.
    source = {"Fn::FindInMap": ["Investigation", "Redrive", "MaxReceiveCount"]}
    queue = stack.sam["Resources"]["InvestigationQueue"]["Properties"]
    investigator = stack.sam["Resources"]["InvestigatorFunction"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == source
    assert investigator["Environment"]["Variables"]["MAX_RECEIVE_COUNT"] == source
    # Resolved, they are equal, and the investigator reads the value.
    receives = stack.properties("InvestigationQueue")["RedrivePolicy"]["maxReceiveCount"]
    settings = InvestigatorSettings.from_env(investigator_environment(stack))
    assert settings.max_receive_count == int(receives) == 5
    assert "MAX_RECEIVE_COUNT" in settings_reads()
    # The alarm says the same number.
    description = stack.properties("DlqDepthAlarm")["AlarmDescription"]
    assert description["Fn::Sub"][1] == {"Receives": settings.max_receive_count}


def test_queue_visibility_timeout_covers_six_investigator_timeouts(stack: Stack) -> None:
    timeouts = stack.cfn["Mappings"]["Investigation"]["Timeouts"]
    investigator_timeout = timeouts["InvestigatorTimeoutSeconds"]
    visibility = stack.properties("InvestigationQueue")["VisibilityTimeout"]
    assert visibility == timeouts["QueueVisibilityTimeoutSeconds"]
    assert 0 < investigator_timeout <= 900
    assert visibility >= 6 * investigator_timeout
    assert visibility <= 43200  # the SQS maximum (12 h)
    # The investigator takes its Timeout from the same mapping...
    assert stack.properties("InvestigatorFunction")["Timeout"] == investigator_timeout
    # ...and every SQS consumer in the stack (today: the investigator alone) fits the same rule.
    consumers = []
    for mapping in stack.resources("AWS::Lambda::EventSourceMapping").values():
        source = mapping["Properties"]["EventSourceArn"]
        function = mapping["Properties"]["FunctionName"]["Ref"]
        assert isinstance(source, dict) and "Fn::GetAtt" in source, source  # a queue of this stack
        queue_visibility = stack.properties(source["Fn::GetAtt"][0]).get("VisibilityTimeout", 30)
        assert int(queue_visibility) >= 6 * int(stack.properties(function)["Timeout"]), function
        consumers.append((function, source["Fn::GetAtt"][0]))
    assert consumers == [("InvestigatorFunction", "InvestigationQueue")]


def test_each_function_logs_to_its_own_declared_group_with_a_retention(stack: Stack) -> None:
    assert set(stack.resources("AWS::Logs::LogGroup")) == set(FUNCTION_LOG_GROUPS.values())
    allowed = stack.cfn["Parameters"]["LogRetentionDays"]["AllowedValues"]
    names = set()
    for function, group_id in FUNCTION_LOG_GROUPS.items():
        # LoggingConfig points the function at the declared group, so the group (with its retention)
        # exists before the first invocation and the role needs no logs:CreateLogGroup.
        assert stack.properties(function)["LoggingConfig"] == {"LogGroup": {"Ref": group_id}}, function
        group = stack.properties(group_id)
        assert group["RetentionInDays"] == "30"
        assert group["RetentionInDays"] in {str(days) for days in allowed}
        name = group["LogGroupName"]["Fn::Sub"]
        assert name.startswith("/aws/lambda/${AWS::StackName}/"), name
        names.add(name)
        # The role writes to this group only.
        grants = role_grants(stack, FUNCTION_ROLES[function])
        assert grants["logs:PutLogEvents"] == [{"Fn::GetAtt": [group_id, "Arn"]}]
        assert "logs:CreateLogGroup" not in grants
    assert len(names) == len(FUNCTION_LOG_GROUPS)


def test_fullstory_api_key_secret_is_created_empty(stack: Stack) -> None:
    secret = stack.properties("FullstoryApiKeySecret")
    assert "SecretString" not in secret
    assert "GenerateSecretString" not in secret
    assert "put-secret-value" in secret["Description"]
    assert '{"api_key": "..."}' in secret["Description"]
    assert investigator_environment(stack)["FULLSTORY_API_KEY_SECRET_ARN"] == (
        'dummy-{"Ref": "FullstoryApiKeySecret"}'
    )
    # The JSON form the description offers is the key the code reads.
    assert 'SecretText(settings.api_key_secret_arn, key="api_key"' in inspect.getsource(
        fstriage.investigator_app
    )


def test_reports_bucket_is_private_encrypted_tls_only_and_expires_reports(stack: Stack) -> None:
    bucket = stack.properties("ReportsBucket")
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "BucketName" not in bucket  # generated: no clash between stacks or accounts
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    settings = InvestigatorSettings.from_env(investigator_environment(stack))
    assert rules["ExpireReports"] == {
        "Id": "ExpireReports",
        "Status": "Enabled",
        "Prefix": settings.reports_prefix,
        "ExpirationInDays": "90",
    }
    # Versioned: an overwritten or deleted report is recoverable for a week, then the version and its
    # delete marker go too, so versioning never keeps a report past the retention plus that week.
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert rules["ExpireNoncurrentVersions"] == {
        "Id": "ExpireNoncurrentVersions",
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
        "ExpiredObjectDeleteMarker": True,
    }
    assert "7 days later" in stack.cfn["Parameters"]["ReportRetentionDays"]["Description"]
    assert "LoggingConfiguration" not in bucket  # access logs are opt-in (AccessLogBucketName)
    assert rules["AbortIncompleteUploads"]["Status"] == "Enabled"
    assert "Prefix" not in rules["AbortIncompleteUploads"]
    assert rules["AbortIncompleteUploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    # Reports outlive the stack (a non-empty bucket would fail the deletion); the lifecycle expires them.
    source = stack.sam["Resources"]["ReportsBucket"]
    assert (source["DeletionPolicy"], source["UpdateReplacePolicy"]) == ("Retain", "Retain")

    (policy_id,) = stack.resources("AWS::S3::BucketPolicy")
    policy = stack.properties(policy_id)
    assert policy["Bucket"] == {"Ref": "ReportsBucket"}
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Resource"] == [
        {"Fn::GetAtt": ["ReportsBucket", "Arn"]},
        {"Fn::Sub": "${ReportsBucket.Arn}/*"},
    ]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}


def test_reports_bucket_access_logs_go_to_the_bucket_the_operator_names(stack: Stack) -> None:
    parameter = stack.cfn["Parameters"]["AccessLogBucketName"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("acme-s3-access-logs")
    assert not pattern.fullmatch("arn:aws:s3:::acme-s3-access-logs")
    logged = Stack({"AccessLogBucketName": "acme-s3-access-logs"}).properties("ReportsBucket")
    assert logged["LoggingConfiguration"] == {
        "DestinationBucketName": "acme-s3-access-logs",
        "LogFilePrefix": {"Fn::Sub": "${AWS::StackName}/reports/"},
    }


def test_report_retention_is_a_parameter(stack: Stack) -> None:
    kept = Stack({"ReportRetentionDays": "7"}).properties("ReportsBucket")
    (expire,) = (r for r in kept["LifecycleConfiguration"]["Rules"] if r["Id"] == "ExpireReports")
    assert expire["ExpirationInDays"] == "7"
    assert stack.cfn["Parameters"]["ReportRetentionDays"]["MinValue"] == 1


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
    ledger = DynamoDeliveryLedger("DedupeTable", client=dynamo)
    ledger.claim("delivery-1", "request-1", now=1_000_000, expires_at=1_000_000 + 3600, answer_by=1_000_004)
    (item,) = dynamo.items
    assert item["delivery_key"] == {"S": "delivery-1"}  # the hash key, a string
    assert item["expires_at"] == {"N": str(1_000_000 + 3600)}  # the TTL attribute, epoch seconds


def test_idempotency_table_matches_the_powertools_persistence_layer(stack: Stack) -> None:
    table = stack.properties("IdempotencyTable")
    defaults = inspect.signature(DynamoDBPersistenceLayer.__init__).parameters
    key, ttl = defaults["key_attr"].default, defaults["expiry_attr"].default
    assert (key, ttl) == ("id", "expiration")  # Powertools' defaults
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}

    # And the investigator keeps those defaults (no sort key, no renamed attributes).
    runtime = InvestigatorRuntime.from_env(investigator_environment(stack))
    assert runtime.persistence.key_attr == key
    assert runtime.persistence.sort_key_attr is None
    assert runtime.persistence.expiry_attr == ttl
    assert runtime.persistence.table_name == 'dummy-{"Ref": "IdempotencyTable"}'


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


def investigator_service_name() -> str:
    """The Powertools service name the investigator's handler gives its Logger and Metrics."""
    services: set[str] = set(re.findall(r'service="([^"]+)"', INVESTIGATOR_HANDLER.read_text()))
    assert len(services) == 1, services
    return services.pop()


@pytest.mark.parametrize(
    ("alarm_id", "metric"),
    [
        ("FullstoryAuthAlarm", "FullstoryAuthFailed"),
        ("InvestigatorMisconfiguredAlarm", "InvestigatorMisconfigured"),
    ],
)
def test_investigator_alarms_watch_metrics_the_code_emits(stack: Stack, alarm_id: str, metric: str) -> None:
    alarm = stack.properties(alarm_id)
    assert alarm["Namespace"] == METRICS_NAMESPACE
    assert alarm["MetricName"] == metric
    assert f'self._count("{metric}")' in inspect.getsource(fstriage.investigator_app)
    # Powertools adds the service as a dimension; the alarm must name the same one, or it sees nothing.
    assert alarm["Dimensions"] == [{"Name": "service", "Value": investigator_service_name()}]
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == 300
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert "AlarmActions" not in alarm

    topic = "arn:aws:sns:us-east-1:123456789012:fstriage-alarms"
    assert Stack({"AlarmTopicArn": topic}).properties(alarm_id)["AlarmActions"] == [topic]


def test_misconfigured_alarm_matches_the_metric_a_misconfigured_investigator_publishes(stack: Stack) -> None:
    """Black box: a missing setting makes the app count the metric, in the EMF shape the alarm reads."""
    metrics = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=investigator_service_name())
    app = InvestigatorApp.from_environment(
        Logger(service=investigator_service_name()),
        metrics,  # type: ignore[arg-type]  # same interface, without the shared class-level metric set
        env={k: v for k, v in investigator_environment(stack).items() if k != "REPORTS_BUCKET"},
    )
    with pytest.raises(ConfigurationError):
        app.handle({"Records": []}, FakeLambdaContext())
    blob: dict[str, Any] = dict(metrics.serialize_metric_set())
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    alarm = stack.properties("InvestigatorMisconfiguredAlarm")
    assert directive["Namespace"] == alarm["Namespace"]
    assert [m["Name"] for m in directive["Metrics"]] == [alarm["MetricName"]]
    assert directive["Dimensions"] == [[d["Name"] for d in alarm["Dimensions"]]]
    assert {d["Name"]: blob[d["Name"]] for d in alarm["Dimensions"]} == {
        d["Name"]: d["Value"] for d in alarm["Dimensions"]
    }


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


def test_outputs_tell_the_operator_how_to_set_the_api_key_and_find_reports(stack: Stack) -> None:
    outputs = stack.cfn["Outputs"]
    assert outputs["ReportsBucketName"]["Value"] == {"Ref": "ReportsBucket"}
    assert outputs["FullstoryApiKeySecretArn"]["Value"] == {"Ref": "FullstoryApiKeySecret"}
    assert outputs["InvestigatorFunctionName"]["Value"] == {"Ref": "InvestigatorFunction"}
    command = outputs["SetFullstoryApiKeyCommand"]["Value"]["Fn::Sub"]
    assert command.startswith("aws secretsmanager put-secret-value ")
    assert "--secret-id ${FullstoryApiKeySecret}" in command
    # The key comes from a shell variable (read -rs), never from the template or a parameter.
    assert '--secret-string "$FULLSTORY_API_KEY"' in command
    assert "read -rs FULLSTORY_API_KEY" in outputs["SetFullstoryApiKeyCommand"]["Description"]


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


def test_webhook_dedupe_window_is_a_parameter_the_settings_read(stack: Stack) -> None:
    parameter = stack.cfn["Parameters"]["DedupeWindowSeconds"]
    assert (parameter["Default"], parameter["MinValue"]) == (600, 60)
    code_defaults = {field.name: field.default for field in dataclasses.fields(WebhookSettings)}
    assert parameter["MaxValue"] < code_defaults["dedupe_ttl_seconds"]  # a window, not the ledger's TTL
    env = webhook_environment(stack)
    assert env["DEDUPE_WINDOW_SECONDS"] == "600"
    assert WebhookSettings.from_env(env).dedupe_window_seconds == 600
    wider = WebhookSettings.from_env(webhook_environment(Stack({"DedupeWindowSeconds": "1800"})))
    assert wider.dedupe_window_seconds == 1800
    # The parameter's default is the code's default.
    unset = {name: value for name, value in env.items() if name != "DEDUPE_WINDOW_SECONDS"}
    assert WebhookSettings.from_env(unset).dedupe_window_seconds == parameter["Default"]


def test_webhook_answer_budget_fits_well_inside_the_function_timeout(stack: Stack) -> None:
    env = webhook_environment(stack)
    budget = WebhookSettings.from_env(env).answer_budget_seconds
    assert env["ANSWER_BUDGET_SECONDS"] == "4"
    assert budget == 4  # Fullstory gives up after about 5 s
    # The budget ends the answer, not Lambda: the timeout leaves room for a cold start and logging.
    assert stack.properties("WebhookFunction")["Timeout"] >= 2 * budget
    assert "DEDUPE_LEASE_SECONDS" not in env  # the claim's answer deadline replaced the lease


def test_every_checkov_skip_gives_a_one_line_reason(stack: Stack) -> None:
    skips = {
        name: resource["Metadata"]["checkov"]["skip"]
        for name, resource in stack.sam["Resources"].items()
        if "checkov" in resource.get("Metadata", {})
    }
    assert skips  # the pattern still finds them
    for name, entries in skips.items():
        assert set(stack.sam["Resources"][name]["Metadata"]["checkov"]) == {"skip"}, name
        ids = [entry["id"] for entry in entries]
        assert len(ids) == len(set(ids)), name
        for entry in entries:
            assert set(entry) == {"id", "comment"}, (name, entry)
            assert CHECKOV_ID.fullmatch(entry["id"]), (name, entry)
            comment = entry["comment"]
            assert isinstance(comment, str), (name, entry)
            assert comment.strip() and "\n" not in comment, (name, entry)
            assert len(comment.split()) >= 5, (name, entry)  # a reason, not a placeholder


def test_every_webhook_environment_name_is_read_by_the_code(stack: Stack) -> None:
    unread = set(webhook_environment(stack)) - settings_reads() - POWERTOOLS_ENV
    assert unread == set()


def test_investigator_environment_satisfies_the_settings_loader(stack: Stack) -> None:
    env = investigator_environment(stack)
    settings = InvestigatorSettings.from_env(env)  # raises ConfigurationError on a missing/invalid name
    settings.investigation()
    assert settings.org_id == TEST_ORG_ID
    assert settings.region == "na1"
    assert settings.api_url is None  # FULLSTORY_API_URL is for tests and the local sandbox only
    assert settings.event_bus_name == "default"
    assert (settings.max_sessions, settings.concurrency) == (10, 4)
    assert settings.summary_profile is None
    assert settings.event_source == "events"
    assert settings.metric_segments == {}
    assert settings.write_back is False  # writing into a customer's Fullstory is theirs to opt into
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    for name in (
        "FULLSTORY_ORG_ID",
        "FULLSTORY_API_KEY_SECRET_ARN",
        "REPORTS_BUCKET",
        "INVESTIGATION_QUEUE_URL",
        "IDEMPOTENCY_TABLE_NAME",
    ):
        with pytest.raises(ConfigurationError):
            InvestigatorSettings.from_env({key: value for key, value in env.items() if key != name})

    tuned = Stack(
        {
            "FullstoryRegion": "eu1",
            "SessionEventSource": "context",
            "MetricSegments": '{"Payment API error rate": "payment-errors-seg"}',
            "SummaryProfileId": "triage-profile",
            "MaxSessionsPerInvestigation": "25",
            "FetchConcurrency": "8",
            "EventBusName": "fstriage-bus",
            "WriteBackToFullstory": "true",
            "InvestigateCustomEvents": "Checkout Failed,Payment Error",
        }
    )
    tuned_settings = InvestigatorSettings.from_env(investigator_environment(tuned))
    assert tuned_settings.write_back is True
    assert tuned_settings.investigate_custom_events.investigates("payment error")
    assert not tuned_settings.investigate_custom_events.investigates("Order Placed")
    assert tuned_settings.region == "eu1"
    assert tuned_settings.event_source == "context"
    assert tuned_settings.metric_segments == {"Payment API error rate": "payment-errors-seg"}
    assert tuned_settings.summary_profile == "triage-profile"
    assert (tuned_settings.max_sessions, tuned_settings.concurrency) == (25, 8)
    assert tuned_settings.event_bus_name == "fstriage-bus"


def test_investigator_environment_is_exactly_what_a_deployment_sets(stack: Stack) -> None:
    env = investigator_environment(stack)
    assert set(env) == {
        "INVESTIGATE_CUSTOM_EVENTS",
        "FULLSTORY_ORG_ID",
        "FULLSTORY_API_KEY_SECRET_ARN",
        "FULLSTORY_REGION",
        "REPORTS_BUCKET",
        "INVESTIGATION_QUEUE_URL",
        "IDEMPOTENCY_TABLE_NAME",
        "STATE_TABLE_NAME",
        "CONTINUITY_HORIZON_DAYS",
        "EVENT_BUS_NAME",
        "MAX_SESSIONS_PER_INVESTIGATION",
        "FETCH_CONCURRENCY",
        "SUMMARY_PROFILE_ID",
        "SESSION_EVENT_SOURCE",
        "WRITE_BACK_TO_FULLSTORY",
        "METRIC_SEGMENTS",
        "REPORT_LINK_EXPIRY_SECONDS",
        "SLACK_WEBHOOK_SECRET_ARN",
        "SLACK_QUIET_REPORTS",
        "WATCHED_SEGMENTS",
        "MONTHLY_ACTIVATION_CAP",
        "MAX_RECEIVE_COUNT",
        "QUEUE_VISIBILITY_TIMEOUT_SECONDS",
        "MALLOC_ARENA_MAX",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
        "POWERTOOLS_TRACER_CAPTURE_ERROR",
    }
    assert set(env) - POWERTOOLS_ENV - RUNTIME_ENV <= settings_reads()
    assert "FULLSTORY_API_URL" in settings_reads()


def test_env_json_sets_only_variables_the_investigator_declares(stack: Stack) -> None:
    """`sam local invoke --env-vars` silently drops variables the function does not declare."""
    local = json.loads((ROOT / "events" / "env.json").read_text())["InvestigatorFunction"]
    declared = stack.sam["Resources"]["InvestigatorFunction"]["Properties"]["Environment"]["Variables"]
    assert set(local) <= set(declared)
    InvestigatorSettings.from_env(investigator_environment(stack) | local)


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


def test_investigator_parameter_defaults_agree_with_the_code_defaults(stack: Stack) -> None:
    parameters = stack.cfn["Parameters"]
    code_defaults = {field.name: field.default for field in dataclasses.fields(InvestigatorSettings)}
    assert parameters["MaxSessionsPerInvestigation"]["Default"] == code_defaults["max_sessions"]
    assert parameters["FetchConcurrency"]["Default"] == code_defaults["concurrency"]
    assert parameters["SessionEventSource"]["Default"] == code_defaults["event_source"]
    assert parameters["EventBusName"]["Default"] == code_defaults["event_bus_name"]
    assert parameters["SummaryProfileId"]["Default"] == ""
    assert parameters["SlackWebhookSecretArn"]["Default"] == ""
    link = parameters["ReportLinkExpirySeconds"]
    assert link["Default"] == link["MaxValue"] == code_defaults["report_link_expiry_seconds"] == 604800
    assert json.loads(parameters["MetricSegments"]["Default"]) == {}
    assert (
        parameters["MaxSessionsPerInvestigation"]["MinValue"],
        parameters["MaxSessionsPerInvestigation"]["MaxValue"],
    ) == (1, 100)
    assert set(parameters["SessionEventSource"]["AllowedValues"]) == {"events", "context"}
    segments = re.compile(parameters["MetricSegments"]["AllowedPattern"])
    assert segments.fullmatch('{"Payment API error rate": "payment-errors-seg"}')
    assert not segments.fullmatch('["payment-errors-seg"]')
    bus = re.compile(parameters["EventBusName"]["AllowedPattern"])
    assert bus.fullmatch("default")
    assert not bus.fullmatch("arn:aws:events:us-east-1:123456789012:event-bus/other")


def test_layer_requirements_pin_exactly_the_locked_versions() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    lines = (ROOT / "layers" / "fstriage" / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))
    # uv.lock names a package without its extras (aws-lambda-powertools[tracer] is aws-lambda-powertools).
    assert {name: locked.get(name.partition("[")[0]) for name in pins} == pins
    assert pins["botocore"] == locked["botocore"]


def test_layer_pins_lie_in_the_packages_ranges_and_the_cli_only_dependency_stays_out() -> None:
    """pyproject's dependencies are ranges (the CLI installs beside a user's packages); the layer pins
    one version of each. Every runtime dependency ships in the layer, boto3 and botocore included (the
    X-Ray SDK pulls botocore in, and a layer botocore beside the runtime's boto3 could mismatch it),
    at a version its range accepts. mcp, and the mcp-types and pydantic it imports directly, serve
    `fstriage mcp` only: never in the Lambda layer."""
    lines = (ROOT / "layers" / "fstriage" / "requirements.txt").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    pinned = {canonicalize_name(pin.name): pin for pin in pins}
    assert all(len(pin.specifier) == 1 and next(iter(pin.specifier)).operator == "==" for pin in pins)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ranges = [Requirement(spec) for spec in pyproject["project"]["dependencies"]]
    assert all(not any(s.operator in ("==", "===") for s in wanted.specifier) for wanted in ranges)
    cli_only = {"mcp", "mcp-types", "pydantic"}
    for wanted in ranges:
        name = canonicalize_name(wanted.name)
        if name in cli_only:
            assert name not in pinned, f"{name} is the CLI's alone and must stay out of the layer"
            continue
        assert name in pinned, f"{wanted.name} is a runtime dependency the layer does not ship"
        pin = pinned[name]
        assert pin.extras == wanted.extras, f"{wanted.name}: the layer's extras differ"
        version = next(iter(pin.specifier)).version
        assert wanted.specifier.contains(version), f"the layer's {pin} is outside pyproject's {wanted}"


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


def test_the_investigator_puts_only_fstriage_events_on_the_bus(stack: Stack) -> None:
    [statement] = [
        statement
        for policy in stack.properties("InvestigatorRole")["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Action"] == ["events:PutEvents"]
    ]
    assert statement["Condition"] == {"StringEquals": {"events:source": "fstriage"}}
    assert investigator_environment(stack)["INVESTIGATE_CUSTOM_EVENTS"] == "*"
