"""Composition root of the webhook function: settings -> adapters -> Intake, plus logs and metrics.

Read once per cold start. A bad configuration is kept and answered as a 500 on every request
(with a logged reason), never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from fstriage.adapters import aws
from fstriage.adapters.ledger import DynamoDeliveryLedger
from fstriage.adapters.secrets import SecretsManagerSigningKeys
from fstriage.adapters.sqs import SqsRequestQueue
from fstriage.core.errors import ConfigurationError, PayloadError
from fstriage.core.http import HttpResponse, function_url_response, request_from_function_url_event
from fstriage.core.intake import Intake, IntakeResult
from fstriage.settings import WebhookSettings

METRICS_NAMESPACE = "fstriage"
_OUTCOME_METRICS = {
    "accepted": "DeliveryAccepted",
    "duplicate": "DeliveryDuplicate",
    "ignored": "DeliveryIgnored",
    "test": "DeliveryTest",
    "rejected": "DeliveryRejected",
    "unavailable": "DeliveryUnavailable",
    "claim_stuck": "ClaimNotReleased",
    "misconfigured": "ConfigurationError",
    "error": "DeliveryError",
}


def build_intake(env: Mapping[str, str]) -> Intake:
    settings = WebhookSettings.from_env(env)
    return Intake(
        replace(settings.policy(), store_call_seconds=aws.ATTEMPT_SECONDS),
        keys=SecretsManagerSigningKeys(
            settings.signing_secret_arn,
            cache_seconds=settings.secret_cache_seconds,
            min_refresh_seconds=settings.secret_refresh_min_seconds,
        ),
        queue=SqsRequestQueue(settings.queue_url),
        ledger=DynamoDeliveryLedger(settings.dedupe_table),
    )


class WebhookApp:
    def __init__(self, intake: Intake | ConfigurationError, logger: Logger, metrics: Metrics) -> None:
        self._intake = intake
        self._logger = logger
        self._metrics = metrics

    @classmethod
    def from_environment(
        cls, logger: Logger, metrics: Metrics, env: Mapping[str, str] | None = None
    ) -> WebhookApp:
        try:
            intake: Intake | ConfigurationError = build_intake(os.environ if env is None else env)
        except ConfigurationError as error:
            intake = error
        return cls(intake, logger, metrics)

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        result = self._answer(event)
        self._record(
            result, route=_route_name(event), lambda_request_id=getattr(context, "aws_request_id", None)
        )
        return function_url_response(result.response)

    def _answer(self, event: Mapping[str, Any]) -> IntakeResult:
        if isinstance(self._intake, ConfigurationError):
            error = self._intake
            body = {"error": error.reason, "message": "the receiver is misconfigured"}
            return IntakeResult(HttpResponse(500, body), "misconfigured", error.reason, detail=error.message)
        try:
            request = request_from_function_url_event(event)
        except PayloadError as error:
            body = {"error": error.reason, "message": error.message}
            return IntakeResult(HttpResponse(400, body), "rejected", error.reason)
        try:
            return self._intake.handle(request)
        except Exception as unexpected:  # the last line of defence: answer, log, count
            # Only the type: an exception's text may quote the input.
            body = {"error": "internal_error", "message": "the receiver failed; retry later"}
            detail = f"unexpected {type(unexpected).__name__}"
            return IntakeResult(HttpResponse(500, body), "error", "internal_error", detail=detail)

    def _record(self, result: IntakeResult, *, route: str, lambda_request_id: str | None) -> None:
        # Only the lines actually written carry the invocation's request id; Powertools'
        # inject_lambda_context would stamp every invocation at several times the cost.
        fields: dict[str, Any] = {
            "function_request_id": lambda_request_id,
            "status": result.response.status,
            "outcome": result.outcome,
            "reason": result.reason,
            "route": route,
            "event_name": result.event_name,
        }
        if result.request is not None:
            fields["request_id"] = result.request.request_id
            fields["trigger_kind"] = result.request.trigger.kind
            fields["subject_sessions"] = len(result.request.subject.session_ids)
        if result.outcome == "claim_stuck":
            self._logger.error("delivery not queued and its claim remains: %s", result.detail, extra=fields)
        elif result.outcome == "misconfigured":
            self._logger.error("webhook is misconfigured: %s", result.detail, extra=fields)
        elif result.outcome == "error":
            self._logger.error("webhook failed: %s", result.detail, extra=fields)
        elif result.outcome == "unavailable":
            self._logger.warning("a dependency is unavailable; asked the sender to retry", extra=fields)
        elif result.outcome == "rejected":
            self._logger.info("webhook rejected", extra=fields)
        else:
            # The happy path's record is the metrics line, written once per invocation anyway; a
            # Powertools log line would cost several times the verification itself (docs/performance.md).
            for key in ("outcome", "event_name", "request_id", "trigger_kind"):
                if fields.get(key) is not None:
                    self._metrics.add_metadata(key=key, value=fields[key])
            self._logger.debug("webhook answered", extra=fields)
        self._metrics.add_metric(name=_OUTCOME_METRICS[result.outcome], unit=MetricUnit.Count, value=1)
        if result.outcome == "rejected":
            # A second, per-reason series, so alarms can tell forged traffic from broken payloads.
            with single_metric(
                name="DeliveryRejectedByReason", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
            ) as metric:
                metric.add_dimension(name="reason", value=result.reason or "unknown")


def _route_name(event: Mapping[str, Any]) -> str:
    """The route, never the raw path: a Streams path carries the stream token."""
    path = str(event.get("rawPath") or "")
    if path == "/":
        return "system"
    return "streams" if path.startswith("/streams/") else "other"
