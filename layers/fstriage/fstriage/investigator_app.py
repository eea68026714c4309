"""Composition root of the investigator function: SQS batch -> one investigation per record -> report.

Each record is processed once per `request_id` (Powertools idempotency on DynamoDB), so a redelivered
request makes no second report, EventBridge event or Slack message. A record fails (and SQS
redelivers it, then dead-letters it) only for what a retry can fix: a transient Fullstory or AWS
outage, or too little time left. A rejected API key is reported, counted and not retried forever.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from fstriage.adapters.fullstory import FullstoryClient
from fstriage.adapters.outputs import EventBridgePublisher, S3ReportStore, SlackNotifier, StoredReport
from fstriage.adapters.secrets import SecretText
from fstriage.adapters.sqs import SqsRequestQueue
from fstriage.core.errors import ConfigurationError, FstriageError, PayloadError
from fstriage.core.fullstory_models import FullstoryUsage
from fstriage.core.investigation import Evidence, Finished, Investigation, Requeue
from fstriage.core.ratelimit import RateLimiter
from fstriage.core.redact import mask_email
from fstriage.core.report import build_report, investigation_id_for, render_markdown
from fstriage.core.request import InvestigationRequest
from fstriage.settings import InvestigatorSettings

METRICS_NAMESPACE = "fstriage"
TOP_GROUPS_IN_EVENT = 3
NOTHING_SPENT = FullstoryUsage(calls=0, retries=0, activations=0, downloads=0)


@dataclass
class InvestigatorRuntime:
    settings: InvestigatorSettings
    api_key: Callable[[], str]
    store: S3ReportStore
    publisher: EventBridgePublisher
    queue: SqsRequestQueue
    slack: SlackNotifier | None
    persistence: DynamoDBPersistenceLayer
    idempotency: IdempotencyConfig

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InvestigatorRuntime:
        settings = InvestigatorSettings.from_env(env)
        slack_url = settings.slack_webhook_secret_arn
        return cls(
            settings=settings,
            api_key=SecretText(settings.api_key_secret_arn, key="api_key", what="Fullstory API key"),
            store=S3ReportStore(settings.reports_bucket, settings.reports_prefix),
            publisher=EventBridgePublisher(settings.event_bus_name),
            queue=SqsRequestQueue(settings.queue_url),
            slack=SlackNotifier(SecretText(slack_url, key="url", what="Slack webhook URL"))
            if slack_url
            else None,
            persistence=DynamoDBPersistenceLayer(table_name=settings.idempotency_table),
            idempotency=IdempotencyConfig(
                event_key_jmespath="idempotency_key",
                expires_after_seconds=settings.idempotency_expiry_seconds,
            ),
        )


class InvestigatorApp:
    def __init__(
        self, runtime: InvestigatorRuntime | ConfigurationError, logger: Logger, metrics: Metrics
    ) -> None:
        self._runtime = runtime
        self._logger = logger
        self._metrics = metrics
        self._client_lock = threading.Lock()
        self._client: tuple[str, FullstoryClient] | None = None
        self._deadline: Callable[[], float] = lambda: float("inf")
        self._investigated = False  # set by `_investigate`: False after a call means a duplicate
        if isinstance(runtime, InvestigatorRuntime):
            self._limiter = RateLimiter(
                runtime.settings.rate_per_second, max(1, int(runtime.settings.rate_per_second))
            )
            self._investigate_once = idempotent_function(
                data_keyword_argument="job", persistence_store=runtime.persistence, config=runtime.idempotency
            )(self._investigate)
            # A second guard, on the request alone: if a re-queued export poll and a redelivery of the
            # message that queued it both reach the end, only one writes the report, event and Slack post.
            # Its own persistence layer: Powertools keeps per-function state on the layer object.
            self._finish_once = idempotent_function(
                data_keyword_argument="job",
                persistence_store=DynamoDBPersistenceLayer(table_name=runtime.settings.idempotency_table),
                config=runtime.idempotency,
            )(self._finish_job)

    @classmethod
    def from_environment(
        cls, logger: Logger, metrics: Metrics, env: Mapping[str, str] | None = None
    ) -> InvestigatorApp:
        try:
            runtime: InvestigatorRuntime | ConfigurationError = InvestigatorRuntime.from_env(
                os.environ if env is None else env
            )
        except ConfigurationError as error:
            runtime = error
        return cls(runtime, logger, metrics)

    def handle(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if isinstance(self._runtime, ConfigurationError):
            # Fail the whole batch: SQS keeps the requests (then the DLQ), so nothing is lost.
            self._logger.error("investigator is misconfigured: %s", self._runtime.message)
            self._count("InvestigatorMisconfigured")
            raise self._runtime
        self._runtime.idempotency.register_lambda_context(context)
        self._deadline = lambda: float(context.get_remaining_time_in_millis()) / 1000.0
        processor = BatchProcessor(event_type=EventType.SQS)
        return dict(
            process_partial_response(
                event=dict(event), record_handler=self._record, processor=processor, context=context
            )
        )

    def _record(self, record: SQSRecord) -> None:
        try:
            request = InvestigationRequest.from_json(record.body)
        except PayloadError as poison:
            # Fails here every time, so SQS dead-letters it: say why (never the body) and count it.
            self._logger.error(
                "queued message is not an investigation request: %s",
                poison.message,
                extra={"message_id": record.message_id},
            )
            self._count("InvestigationRequestRejected")
            raise
        polls = request.continuation.polls if request.continuation else 0
        self._logger.append_keys(
            investigation_id=investigation_id_for(request.request_id), request_id=request.request_id
        )
        self._investigated = False
        try:
            self._investigate_once(
                job={"idempotency_key": f"{request.request_id}#{polls}", "body": record.body}
            )
            if not self._investigated:
                # Idempotency answered from its record: an earlier delivery already did the work.
                self._logger.info("duplicate request; already investigated")
                self._count("InvestigationDuplicate")
        except FstriageError as error:
            self._logger.warning("investigation will be retried: %s", error.reason)
            self._count("InvestigationRetried")
            raise
        finally:
            self._logger.remove_keys(["investigation_id", "request_id"])

    def _investigate(self, job: dict[str, Any]) -> dict[str, Any]:
        self._investigated = True
        runtime = self._runtime
        assert isinstance(runtime, InvestigatorRuntime)
        request = InvestigationRequest.from_json(str(job["body"]))
        try:
            client = self._fullstory(runtime).with_deadline(self._deadline)
        except ConfigurationError as missing_key:
            # No key: the report says how to set one; retrying would not help.
            self._count("InvestigatorMisconfigured")
            return self._finish(request, _unconfigured(request, missing_key), NOTHING_SPENT)
        outcome = Investigation(client, runtime.settings.investigation(), deadline=self._deadline).run(
            request
        )
        if isinstance(outcome, Requeue):
            runtime.queue.send(
                outcome.request.to_json(),
                attributes={"schema_version": "1", "kind": request.trigger.kind},
                delay_seconds=outcome.delay_seconds,
            )
            self._count("ExportPollRequeued")
            self._logger.info(
                "segment export still pending; re-queued", extra={"delay_seconds": outcome.delay_seconds}
            )
            return {"requeued": True}
        return self._finish(request, outcome, client.usage)

    def _finish(
        self, request: InvestigationRequest, outcome: Finished, usage: FullstoryUsage
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._finish_once(
            job={"idempotency_key": f"{request.request_id}#finished"}, outcome=outcome, usage=usage
        )
        return result

    def _finish_job(self, job: dict[str, Any], outcome: Finished, usage: FullstoryUsage) -> dict[str, Any]:
        runtime = self._runtime
        assert isinstance(runtime, InvestigatorRuntime)
        generated_at = datetime.now(UTC)
        report = build_report(outcome.evidence, usage, generated_at)
        stored = runtime.store.keys_for(report["investigation_id"], report["generated_at"])
        report["artifacts"] = {
            "bucket": stored.bucket,
            "json_key": stored.json_key,
            "markdown_key": stored.markdown_key,
        }
        markdown = render_markdown(report)
        runtime.store.put(stored, report, markdown)
        runtime.publisher.publish(completion_detail(report, stored))
        self._notify_slack(runtime, report, stored)
        self._record_outcome(outcome.evidence, report, usage.activations)
        return {"investigation_id": report["investigation_id"], "status": report["status"]}

    def _notify_slack(
        self, runtime: InvestigatorRuntime, report: dict[str, Any], stored: StoredReport
    ) -> None:
        if runtime.slack is None:
            return
        try:
            runtime.slack.post(slack_text(report, stored))
        except FstriageError as error:
            # The report exists; a chat message is not worth a second investigation.
            self._logger.warning("Slack message not sent: %s", error.reason)
            self._count("SlackFailed")

    def _record_outcome(self, evidence: Evidence, report: dict[str, Any], activations: int) -> None:
        self._logger.info(
            "investigation finished",
            extra={
                "status": report["status"],
                "trigger_kind": report["trigger"]["kind"],
                "sessions": len(report["sessions"]),
                "error_groups": len(report["error_groups"]),
                "activations": activations,
                "fullstory_calls": report["cost"]["fullstory_calls"],
            },
        )
        self._count("InvestigationCompleted")
        self._metrics.add_metric(name="ActivationsUsed", unit=MetricUnit.Count, value=activations)
        if evidence.fatal == "auth":
            self._count("FullstoryAuthFailed")
        with single_metric(
            name="InvestigationsByStatus", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE
        ) as metric:
            metric.add_dimension(name="status", value=report["status"])

    def _fullstory(self, runtime: InvestigatorRuntime) -> FullstoryClient:
        """One client per container and key: its connection pool and rate limit are shared."""
        key = runtime.api_key()
        with self._client_lock:
            if self._client is None or self._client[0] != key:
                client = FullstoryClient(
                    key,
                    region=runtime.settings.region,
                    base_url=runtime.settings.api_url,
                    rate_limiter=self._limiter,
                    pool_size=max(4, runtime.settings.concurrency),
                )
                self._client = (key, client)
            return self._client[1]

    def _count(self, name: str) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _unconfigured(request: InvestigationRequest, error: ConfigurationError) -> Finished:
    evidence = Evidence(request=request)
    evidence.fatal = "configuration"
    evidence.notes.add("configuration", f"The investigation could not start: {error.message}.", degrades=True)
    return Finished(evidence)


def completion_detail(report: dict[str, Any], stored: StoredReport) -> dict[str, Any]:
    """The "Investigation Completed" event: enough to route and triage without opening S3."""
    return {
        "investigation_id": report["investigation_id"],
        "request_id": report["request_id"],
        "status": report["status"],
        "headline": report["headline"],
        "trigger": {"kind": report["trigger"]["kind"], "event_name": report["trigger"]["event_name"]},
        "session_count": len(report["sessions"]),
        "top_error_groups": [
            {
                "kind": group["kind"],
                "signature": group["signature"],
                "sessions": len(group["sessions"]),
                "count": group["count"],
            }
            for group in report["error_groups"][:TOP_GROUPS_IN_EVENT]
        ],
        "report": {"bucket": stored.bucket, "json_key": stored.json_key, "markdown_key": stored.markdown_key},
        "cost": report["cost"],
    }


def slack_text(report: dict[str, Any], stored: StoredReport) -> str:
    """Slack mrkdwn. Every piece of report text can come from a website visitor (console messages,
    click targets), so it is escaped: no `<!channel>` pings, links or broken code spans from them."""
    lines = [f"*{_slack_escape(report['headline'])}* ({report['status']})"]
    lines += [
        f"• {group['kind']}: `{_slack_escape(group['signature']).replace('`', "'")}` "
        f"in {len(group['sessions'])} sessions"
        for group in report["error_groups"][:TOP_GROUPS_IN_EVENT]
    ]
    lines.append(f"Report: s3://{stored.bucket}/{stored.markdown_key}")
    return mask_email("\n".join(lines))


def _slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
