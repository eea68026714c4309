"""Template tier for the optional Harness FME forwarder: it exists only with FmeForwarder=enabled, and
then with least privilege, encrypted queues, a DLQ and alarms on what the code emits."""

from __future__ import annotations

import inspect
import re

import pytest

import fstriage.fme_app
from fstriage.adapters.fme import DEFAULT_EVENTS_URL
from fstriage.fme_app import SERVICE, FmeForwarderSettings
from tests.template.test_template import XRAY_ACTIONS, Stack, function_environment, role_grants

FME_RESOURCES = {
    "FmeForwarderFunction",
    "FmeForwarderRole",
    "FmeForwarderLogGroup",
    "FmeForwarderQueue",
    "FmeForwarderDLQ",
    "FmeForwarderQueuePolicy",
    "FmeForwarderRule",
    "FmeApiKeySecret",
    "FmeForwarderDlqDepthAlarm",
    "FmeAuthAlarm",
}
FME_QUEUE_ARN = {"Fn::GetAtt": ["FmeForwarderQueue", "Arn"]}
FME_ACTIONS = {
    "logs:CreateLogStream": [{"Fn::GetAtt": ["FmeForwarderLogGroup", "Arn"]}],
    "logs:PutLogEvents": [{"Fn::GetAtt": ["FmeForwarderLogGroup", "Arn"]}],
    "sqs:ReceiveMessage": [FME_QUEUE_ARN],
    "sqs:DeleteMessage": [FME_QUEUE_ARN],
    "sqs:GetQueueAttributes": [FME_QUEUE_ARN],
    "sqs:ChangeMessageVisibility": [FME_QUEUE_ARN],
    "secretsmanager:GetSecretValue": [{"Ref": "FullstoryApiKeySecret"}, {"Ref": "FmeApiKeySecret"}],
} | XRAY_ACTIONS


@pytest.fixture(scope="module")
def enabled() -> Stack:
    return Stack({"FmeForwarder": "enabled"})


def deployed(stack: Stack) -> set[str]:
    """What CloudFormation creates: the transform keeps conditional resources, a deploy drops them."""
    return {
        name
        for name, resource in stack.cfn["Resources"].items()
        if "Condition" not in resource or stack.condition(resource["Condition"])
    }


def test_by_default_nothing_of_the_forwarder_exists() -> None:
    stack = Stack()
    assert stack.cfn["Parameters"]["FmeForwarder"]["Default"] == "disabled"
    assert not stack.condition("FmeForwarderEnabled")
    created = deployed(stack)
    assert {name for name in created if name.startswith("Fme")} == set()
    assert "AWS::Events::Rule" not in {stack.cfn["Resources"][name]["Type"] for name in created}
    mappings = {
        name for name in created if stack.cfn["Resources"][name]["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    assert [stack.cfn["Resources"][m]["Properties"]["FunctionName"] for m in mappings] == [
        {"Ref": "InvestigatorFunction"}
    ]
    fme_outputs = {name: output for name, output in stack.cfn["Outputs"].items() if name.startswith("Fme")}
    assert fme_outputs and all(o.get("Condition") == "FmeForwarderEnabled" for o in fme_outputs.values())


def test_enabled_it_all_exists_under_one_condition(enabled: Stack) -> None:
    assert enabled.condition("FmeForwarderEnabled")
    resources = enabled.cfn["Resources"]
    assert set(resources) >= FME_RESOURCES
    assert deployed(enabled) >= FME_RESOURCES
    for name, resource in resources.items():
        if name.startswith("FmeForwarderFunction") or name in FME_RESOURCES:
            assert resource.get("Condition") == "FmeForwarderEnabled", name
    (mapping,) = (
        m
        for m in enabled.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": "FmeForwarderFunction"}
    )
    assert mapping["Condition"] == "FmeForwarderEnabled"


def test_the_forwarder_consumes_its_queue_in_batches_with_partial_failures(enabled: Stack) -> None:
    (mapping,) = (
        m["Properties"]
        for m in enabled.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": "FmeForwarderFunction"}
    )
    assert mapping["EventSourceArn"] == FME_QUEUE_ARN
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 100
    assert mapping["MaximumBatchingWindowInSeconds"] == 5  # needed for batches above 10
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    timeout = enabled.properties("FmeForwarderFunction")["Timeout"]
    queue = enabled.properties("FmeForwarderQueue")
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_its_queues_are_encrypted_and_failures_reach_its_dead_letter_queue(enabled: Stack) -> None:
    queue, dlq = enabled.properties("FmeForwarderQueue"), enabled.properties("FmeForwarderDLQ")
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["FmeForwarderDLQ", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


def test_the_rule_sends_every_fullstory_custom_event_on_the_bus_to_the_queue(enabled: Stack) -> None:
    rule = enabled.properties("FmeForwarderRule")
    assert rule["EventBusName"] == "default"
    assert rule["EventPattern"] == {"source": ["fstriage"], "detail-type": ["Fullstory Custom Event"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == FME_QUEUE_ARN
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["FmeForwarderDLQ", "Arn"]}}
    # Only this rule may send to the queues.
    policy = enabled.properties("FmeForwarderQueuePolicy")
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["FmeForwarderRule", "Arn"]}}
    }
    other_bus = Stack({"FmeForwarder": "enabled", "EventBusName": "fstriage-bus"})
    assert other_bus.properties("FmeForwarderRule")["EventBusName"] == "fstriage-bus"


def test_its_role_grants_exactly_the_calls_it_makes(enabled: Stack) -> None:
    assert role_grants(enabled, "FmeForwarderRole") == FME_ACTIONS
    function = enabled.properties("FmeForwarderFunction")
    assert function["Role"] == {"Fn::GetAtt": ["FmeForwarderRole", "Arn"]}
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": "FmeForwarderLogGroup"}}
    assert "ManagedPolicyArns" not in enabled.properties("FmeForwarderRole")


def test_the_fme_key_secret_is_created_empty_with_a_command_to_set_it(enabled: Stack) -> None:
    secret = enabled.properties("FmeApiKeySecret")
    assert "SecretString" not in secret and "GenerateSecretString" not in secret
    command = enabled.cfn["Outputs"]["SetFmeApiKeyCommand"]["Value"]["Fn::Sub"]
    assert "${FmeApiKeySecret}" in command and '"$FME_API_KEY"' in command


def test_its_environment_satisfies_the_settings_and_every_name_is_read(enabled: Stack) -> None:
    env = function_environment(enabled, "FmeForwarderFunction")
    settings = FmeForwarderSettings.from_env(env)
    assert settings.events_url == DEFAULT_EVENTS_URL == enabled.cfn["Parameters"]["FmeEventsUrl"]["Default"]
    assert settings.traffic_type == "user" == enabled.cfn["Parameters"]["FmeTrafficType"]["Default"]
    source = inspect.getsource(fstriage.fme_app)
    read = set(re.findall(r'env, "([A-Z][A-Z0-9_]+)"', source))
    assert (
        set(env)
        - read
        - {"POWERTOOLS_LOG_LEVEL", "POWERTOOLS_TRACER_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_ERROR"}
        == set()
    )
    assert "FULLSTORY_API_URL" not in env  # tests and the local stack only
    traffic = re.compile(enabled.cfn["Parameters"]["FmeTrafficType"]["AllowedPattern"])
    assert traffic.fullmatch("user") and not traffic.fullmatch("bad type")
    url = re.compile(enabled.cfn["Parameters"]["FmeEventsUrl"]["AllowedPattern"])
    assert url.fullmatch(DEFAULT_EVENTS_URL) and not url.fullmatch("http://events.split.io/api/events/bulk")


@pytest.mark.parametrize(("alarm", "metric"), [("FmeAuthAlarm", "FmeAuthFailed")])
def test_its_alarms_watch_metrics_the_code_emits(enabled: Stack, alarm: str, metric: str) -> None:
    properties = enabled.properties(alarm)
    assert properties["Namespace"] == fstriage.fme_app.METRICS_NAMESPACE
    assert properties["MetricName"] == metric
    assert properties["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
    assert f'"{metric}"' in inspect.getsource(fstriage.fme_app)
    dlq_alarm = enabled.properties("FmeForwarderDlqDepthAlarm")
    assert dlq_alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FmeForwarderDLQ", "QueueName"]}}
    ]
    assert dlq_alarm["Threshold"] == 1
