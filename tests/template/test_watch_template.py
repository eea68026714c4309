"""Template tier for watched segments and the monthly Activation cap: the schedule, its role and the
alarm exist only when their parameter asks for them, and they match what the code reads and emits."""

from __future__ import annotations

import dataclasses
import inspect
import json
import re

import fstriage.investigator_app
from fstriage.core.watch import TICK_INTERVAL, is_tick, parse_watched_segments, read_tick
from fstriage.investigator_app import METRICS_NAMESPACE
from fstriage.settings import InvestigatorSettings
from tests.template.test_template import (
    QUEUE_ARN,
    Stack,
    investigator_environment,
    investigator_service_name,
    role_grants,
)

WATCHED = "seg-checkout,seg-payments@6h"


def test_without_watched_segments_there_is_no_schedule_and_no_role() -> None:
    stack = Stack()
    assert stack.resources("AWS::Scheduler::Schedule") == {}
    assert "WatchScheduleRole" not in stack.resources("AWS::IAM::Role")
    settings = InvestigatorSettings.from_env(investigator_environment(stack))
    assert settings.watched_segments == ()


def test_watched_segments_get_one_hourly_tick_to_the_investigation_queue() -> None:
    stack = Stack({"WatchedSegments": WATCHED})
    [name] = stack.resources("AWS::Scheduler::Schedule")
    schedule = stack.properties(name)
    # Top of every hour, in UTC: the period boundaries core.watch computes.
    assert schedule["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert TICK_INTERVAL.total_seconds() == 3600
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == QUEUE_ARN
    assert target["RoleArn"] == {"Fn::GetAtt": ["WatchScheduleRole", "Arn"]}
    # A late tick is still right (what is due follows its scheduled time): retried for a day.
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400
    tick = json.loads(target["Input"])
    assert is_tick(tick)
    # Scheduler puts the due time in place of its context attribute; then the investigator reads it.
    assert tick["scheduled_at"] == "<aws.scheduler.scheduled-time>"
    assert read_tick(tick | {"scheduled_at": "2026-12-03T05:00:00Z"}).scheduled_at.hour == 5
    # The investigator reads the same list.
    settings = InvestigatorSettings.from_env(investigator_environment(stack))
    assert settings.watched_segments == parse_watched_segments(WATCHED)


def test_the_schedule_role_may_only_send_to_the_investigation_queue_and_only_scheduler_assumes_it() -> None:
    stack = Stack({"WatchedSegments": WATCHED})
    assert role_grants(stack, "WatchScheduleRole") == {"sqs:SendMessage": [QUEUE_ARN]}
    trust = stack.properties("WatchScheduleRole")["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": ["scheduler.amazonaws.com"]}]
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_watched_segments_pattern_accepts_what_the_settings_parse() -> None:
    pattern = re.compile(Stack().cfn["Parameters"]["WatchedSegments"]["AllowedPattern"])
    for good in ("", "seg-a", WATCHED, "a_b, c-d@7d"):
        assert pattern.fullmatch(good), good
        parse_watched_segments(good)
    for bad in ("seg a", "seg@6m", "seg;x", "seg@h"):
        assert not pattern.fullmatch(bad), bad


def test_no_cap_means_no_alarm_and_the_code_default() -> None:
    stack = Stack()
    assert "ActivationsUsedAlarm" not in stack.resources("AWS::CloudWatch::Alarm")
    env = investigator_environment(stack)
    assert env["MONTHLY_ACTIVATION_CAP"] == "0"
    defaults = {f.name: f.default for f in dataclasses.fields(InvestigatorSettings)}
    assert stack.cfn["Parameters"]["MonthlyActivationCap"]["Default"] == defaults["monthly_activation_cap"]
    assert InvestigatorSettings.from_env(env).monthly_activation_cap == 0


def test_a_cap_gets_an_alarm_at_80_percent_of_the_metric_the_investigator_emits() -> None:
    stack = Stack({"MonthlyActivationCap": "1000"})
    alarm = stack.properties("ActivationsUsedAlarm")
    assert alarm["Namespace"] == METRICS_NAMESPACE
    assert alarm["MetricName"] == "ActivationBudgetUsedPercent"
    assert 'name="ActivationBudgetUsedPercent"' in inspect.getsource(fstriage.investigator_app)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": investigator_service_name()}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Maximum",
        80,
        "GreaterThanOrEqualToThreshold",
    )
    # Published only when an investigation runs: a quiet period neither clears nor raises it.
    assert alarm["TreatMissingData"] == "ignore"
    settings = InvestigatorSettings.from_env(investigator_environment(stack))
    assert settings.monthly_activation_cap == 1000
    assert settings.state_table  # the count's table


def test_quiet_reports_skip_slack_unless_the_parameter_says_so() -> None:
    stack = Stack()
    assert stack.cfn["Parameters"]["SlackQuietReports"]["Default"] == "false"
    assert InvestigatorSettings.from_env(investigator_environment(stack)).slack_quiet_reports is False
    loud = Stack({"SlackQuietReports": "true"})
    assert InvestigatorSettings.from_env(investigator_environment(loud)).slack_quiet_reports is True
