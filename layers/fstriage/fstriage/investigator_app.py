"""Composition root of the investigator function: SQS batch -> one investigation per record -> report.

Each record is processed once per `request_id` (Powertools idempotency on DynamoDB), so a redelivered
request makes no second report, EventBridge event or Slack message. A record fails (and SQS
redelivers it) only for what a retry can fix: a transient Fullstory or AWS outage, or too little time
left. A rejected API key is reported, counted and not retried forever.

Failures. Every failed attempt, expected or not, writes exactly one JSON log line naming the
`message_id`, the `request_id` (when the body names one), the `error_type`, the `attempt` (SQS's
ApproximateReceiveCount) and the `outcome`: `retry`, `failed_report` or `dead_letter`. It never holds
the body or an exception's text, which may quote it; a typed error's `reason` is ours and is logged.

Poison. A request that reads but cannot be investigated (see `core.request_checks.request_problems`)
becomes a `failed` report that says why, before any Fullstory call. On the last receive
(`MAX_RECEIVE_COUNT`, the queue's maxReceiveCount), a failure that would be retried becomes a `failed`
report instead, so a request, and an export-poll chain, ends in a report rather than in the DLQ after
five paid attempts (not when another copy of the same step is still running: that copy reports). The
DLQ then only receives what no handler code could answer for (a function that crashed or timed out on
its last receive, or a failed report that could not be stored either) and messages that are not
investigation requests at all (not JSON, another schema_version, no valid request_id). Those cannot
get a report: each is failed on every receive and left to reach the DLQ, not dropped. The queue is
written only by the webhook, the investigator and operators, so such a message is a bug or a version
skew (a newer webhook during a deploy); the DLQ alarm says so, and the DLQ keeps it to be redriven
once the investigator reads it. No Fullstory call is made for it, so its retries cost nothing.

Idempotency keys and their lifetimes:
- `request_id#finished` guards the report, event and Slack post, for `idempotency_expiry_seconds`
  (7 days).
- `request_id#polls` guards one link of the work (polls is the export-poll count, 0 for the first).
  It only has to hold while a copy of that link can still arrive: its expiry is bounded by the export
  chain's life (`poll_record_expiry`: every poll's delay plus one link's redeliveries). It used to
  live 7 days, so once a continuation died in the DLQ a resend of the request was answered from `#0`
  ("re-queued") and silently made no report. Now a resend after that expiry is investigated afresh,
  and one that comes earlier is logged as a duplicate whose export is still being polled. A fresh
  link first reads `#finished`, so a request that already has a report is never paid for again,
  however late its resend.
"""

from __future__ import annotations

import json
import os
import re
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
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemNotFoundError,
)

from fstriage.adapters.activations import DynamoActivationCounter
from fstriage.adapters.clients import ClientForKey
from fstriage.adapters.continuity_store import DynamoContinuityStore
from fstriage.adapters.fullstory import FullstoryClient, app_base_url, org_region
from fstriage.adapters.outputs import EventBridgePublisher, S3ReportStore, SlackNotifier, StoredReport
from fstriage.adapters.secrets import SecretText
from fstriage.adapters.sqs import SqsRequestQueue
from fstriage.core.budget import ActivationBudget
from fstriage.core.continuity import (
    Continuity,
    ReportPointer,
    StoredPointer,
    classify,
    expiry,
    followed,
    pointer_from_report,
    previous_for,
    store_id,
    subject_key,
)
from fstriage.core.errors import ConfigurationError, DependencyUnavailable, FstriageError, PayloadError
from fstriage.core.fullstory_models import FullstoryUsage
from fstriage.core.html_report import render_html
from fstriage.core.investigation import (
    Evidence,
    Finished,
    Investigation,
    Requeue,
    invalid_request,
    retries_exhausted,
)
from fstriage.core.jsonlimits import json_safe
from fstriage.core.ratelimit import RateLimiter
from fstriage.core.redact import mask_email
from fstriage.core.report import build_report, investigation_id_for, render_markdown
from fstriage.core.republish import Republished, republished
from fstriage.core.request import SCHEMA_VERSION, InvestigationRequest, isoformat
from fstriage.core.request_checks import request_problems
from fstriage.core.watch import is_tick, read_tick, scheduled_requests
from fstriage.core.writeback import NOTE_TOPIC, build_events, report_uri, write_back
from fstriage.settings import InvestigatorSettings

METRICS_NAMESPACE = "fstriage"
TOP_GROUPS_IN_EVENT = 3
NOTHING_SPENT = FullstoryUsage(calls=0, retries=0, activations=0, downloads=0)
REQUEST_ID = re.compile(r"req_[0-9a-f]{32}")  # what the report schema accepts
_DEFAULT_MAX_RECEIVE_COUNT = 5  # for a misconfigured investigator, which has no settings to read
# Write-back stops this long before the invocation ends: room to store the report, publish, post to Slack.
WRITE_BACK_RESERVE_SECONDS = 10.0


def poll_record_expiry(settings: InvestigatorSettings) -> int:
    """Seconds a `request_id#polls` record answers for: a whole export chain's delays and in-process
    waits (the longest a chain that keeps polling lives) plus every redelivery of one link (visibility x
    maxReceiveCount).
    Longer would answer a resend of a request whose chain died from the dead chain's record; shorter
    would let a late redelivery of a link start a second, paid chain (its report still guarded)."""
    investigation = settings.investigation()
    per_link = investigation.export_poll_delay_seconds + investigation.export_inline_wait_seconds
    chain = int(investigation.export_max_polls * per_link)
    slack = settings.max_receive_count * settings.queue_visibility_timeout_seconds
    return max(1, min(chain + slack, settings.idempotency_expiry_seconds))


@dataclass
class InvestigatorRuntime:
    settings: InvestigatorSettings
    api_key: Callable[[], str]
    store: S3ReportStore
    publisher: EventBridgePublisher
    queue: SqsRequestQueue
    slack: SlackNotifier | None
    persistence: DynamoDBPersistenceLayer
    idempotency: IdempotencyConfig  # `#finished`: the long expiry
    poll_idempotency: IdempotencyConfig  # `#polls`: bounded by an export chain's life
    # The month's Activation count, when a monthly cap is set (`core.budget`).
    activations: DynamoActivationCounter | None = None
    # The last report per subject (`core.continuity`), when the stack has a state table.
    continuity: DynamoContinuityStore | None = None

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
            poll_idempotency=IdempotencyConfig(
                event_key_jmespath="idempotency_key", expires_after_seconds=poll_record_expiry(settings)
            ),
            activations=DynamoActivationCounter(settings.state_table)
            if settings.monthly_activation_cap and settings.state_table
            else None,
            continuity=DynamoContinuityStore(settings.state_table) if settings.state_table else None,
        )


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A queued message that is not an investigation request; `detail` is ours, never its text."""

    detail: str
    request_id: str | None = None


def read_message(body: str) -> InvestigationRequest | Unreadable:
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return Unreadable("not JSON")
    named = message.get("request_id") if isinstance(message, dict) else None
    request_id = named if isinstance(named, str) and REQUEST_ID.fullmatch(named) else None
    if isinstance(message, dict) and message.get("schema_version") != SCHEMA_VERSION:
        return Unreadable("unsupported schema_version", request_id)
    try:
        request = InvestigationRequest.from_message(message)
    except PayloadError:
        return Unreadable("not an investigation request", request_id)
    if request_id is None:
        return Unreadable("no valid request_id", None)  # a report could not be named after it
    return request


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The record being processed, for the failure line of whatever fails inside it."""

    message_id: str
    number: int
    last: bool


class InvestigatorApp:
    def __init__(
        self, runtime: InvestigatorRuntime | ConfigurationError, logger: Logger, metrics: Metrics
    ) -> None:
        self._runtime = runtime
        self._logger = logger
        self._metrics = metrics
        self._clients = ClientForKey(self._new_fullstory_client)
        self._deadline: Callable[[], float] = lambda: float("inf")
        # Per record (a batch is processed one record at a time): set by `_record` and `_investigate`.
        self._attempt = _Attempt(message_id="", number=1, last=False)
        self._ran = False  # whether `_investigate` ran: False after a call means a stored answer
        self._spent: FullstoryClient | None = None  # this attempt's client, for the cost of a failure
        if isinstance(runtime, InvestigatorRuntime):
            self._limiter = RateLimiter(
                runtime.settings.rate_per_second, max(1, int(runtime.settings.rate_per_second))
            )
            self._investigate_once = idempotent_function(
                data_keyword_argument="job",
                persistence_store=runtime.persistence,
                config=runtime.poll_idempotency,
            )(self._investigate)
            # A second guard, on the request alone: if a re-queued export poll and a redelivery of the
            # message that queued it both reach the end, only one writes the report, event and Slack post.
            # Its own persistence layer: Powertools keeps per-function state on the layer object.
            self._finished_store = DynamoDBPersistenceLayer(table_name=runtime.settings.idempotency_table)
            self._finish_once = idempotent_function(
                data_keyword_argument="job",
                persistence_store=self._finished_store,
                config=runtime.idempotency,
            )(self._finish_job)
            # A third, on `request_id#published`: a custom event or Stream goes on the bus once, whether
            # or not it is investigated and however often its message is redelivered.
            self._published_store = DynamoDBPersistenceLayer(table_name=runtime.settings.idempotency_table)
            self._publish_once = idempotent_function(
                data_keyword_argument="job",
                persistence_store=self._published_store,
                config=runtime.idempotency,
            )(self._publish_job)

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
            for raw in event.get("Records") or []:
                record = SQSRecord(raw)
                number = _receive_count(record)
                read = read_message(record.body)
                self._log_failure(
                    "investigation not attempted: the investigator is misconfigured",
                    self._runtime,
                    _Attempt(record.message_id, number, number >= _DEFAULT_MAX_RECEIVE_COUNT),
                    request_id=read.request_id,
                )
            raise self._runtime
        self._runtime.idempotency.register_lambda_context(context)
        self._runtime.poll_idempotency.register_lambda_context(context)
        self._deadline = lambda: float(context.get_remaining_time_in_millis()) / 1000.0
        processor = BatchProcessor(event_type=EventType.SQS)
        return dict(
            process_partial_response(
                event=dict(event), record_handler=self._record, processor=processor, context=context
            )
        )

    def _record(self, record: SQSRecord) -> None:
        runtime = self._runtime
        assert isinstance(runtime, InvestigatorRuntime)
        number = _receive_count(record)
        attempt = _Attempt(record.message_id, number, number >= runtime.settings.max_receive_count)
        self._attempt, self._ran, self._spent = attempt, False, None
        tick = _tick_of(record.body)
        if tick is not None:
            self._tick(runtime, tick, attempt)
            return
        read = read_message(record.body)
        if isinstance(read, Unreadable):
            poison = PayloadError(f"queued message is not an investigation request: {read.detail}")
            self._log_failure(
                "queued message is not an investigation request",
                poison,
                attempt,
                request_id=read.request_id,
                detail=read.detail,
            )
            self._count("InvestigationRequestRejected")
            raise poison
        request = read
        polls = request.continuation.polls if request.continuation else 0
        self._logger.append_keys(
            investigation_id=investigation_id_for(request.request_id), request_id=request.request_id
        )
        try:
            result = self._investigate_once(
                job={"idempotency_key": f"{request.request_id}#{polls}", "body": record.body}
            )
        except Exception as error:
            self._failed(request, attempt, error)  # returns only when it wrote a failed report instead
        else:
            self._note_duplicate(result)
        finally:
            self._logger.remove_keys(["investigation_id", "request_id"])

    def _note_duplicate(self, result: Any) -> None:
        answer = result if isinstance(result, dict) else {}
        if self._ran and not answer.get("already_reported"):
            return
        if answer.get("republished_only"):
            self._logger.info("duplicate custom event; already re-published, not investigated")
            self._count("InvestigationDuplicate")
            return
        if answer.get("requeued"):
            # Its chain may still be polling the export. If no report follows, its continuation is in
            # the DLQ (it failed even its last attempt's failed report): redrive it from there.
            self._logger.warning("duplicate request; an earlier delivery is still polling its export")
        else:
            self._logger.info("duplicate request; already investigated")
        self._count("InvestigationDuplicate")

    def _failed(self, request: InvestigationRequest, attempt: _Attempt, error: Exception) -> None:
        """Log and count a failed attempt; on the last receive, report it as failed instead of retrying.

        A second copy still running (in progress) is not reported over: it will write the report."""
        if attempt.last and not isinstance(error, IdempotencyAlreadyInProgressError):
            cause = (
                error.reason if isinstance(error, FstriageError) else f"an unexpected {type(error).__name__}"
            )
            usage = self._spent.usage if self._spent is not None else NOTHING_SPENT
            try:
                self._finish(
                    request,
                    retries_exhausted(request, attempts=attempt.number, cause=cause, now=datetime.now(UTC)),
                    usage,
                )
            except Exception as unreported:
                self._log_failure(
                    "investigation failed on its last attempt and could not be reported",
                    error,
                    attempt,
                    request_id=request.request_id,
                    outcome="dead_letter",
                    report_error_type=type(unreported).__name__,
                )
                raise error from None
            self._log_failure(
                "investigation failed on its last attempt; reported as failed",
                error,
                attempt,
                request_id=request.request_id,
                outcome="failed_report",
            )
            self._count("InvestigationFailedFinal")
            return
        message = "investigation will be retried" if not attempt.last else "investigation failed"
        self._log_failure(message, error, attempt, request_id=request.request_id)
        raise error

    def _log_failure(
        self,
        message: str,
        error: Exception,
        attempt: _Attempt,
        *,
        request_id: str | None,
        outcome: str | None = None,
        **fields: Any,
    ) -> None:
        """The one line (and the metrics) of a failed attempt. Only our words: never the body, never
        an exception's text; a typed error's `reason` is ours."""
        outcome = outcome or ("dead_letter" if attempt.last else "retry")
        line: dict[str, Any] = {
            "message_id": attempt.message_id,
            "request_id": request_id,
            "error_type": type(error).__name__,
            "attempt": attempt.number,
            "retried": outcome == "retry",
            "outcome": outcome,
            **fields,
        }
        if isinstance(error, FstriageError):
            line["reason"] = error.reason
        expected = isinstance(error, FstriageError)
        # A retry that may well succeed is a warning; a bug, a poison message or an end is an error.
        transient = outcome == "retry" and expected and not isinstance(error, PayloadError)
        log = self._logger.warning if transient else self._logger.error
        log(message, extra=line)
        self._count("InvestigationFailed")
        if not expected:
            self._count("InvestigationUnexpectedError")  # a bug, not an outage: worth an alarm
        if outcome == "retry":
            self._count("InvestigationRetried")
        elif outcome == "dead_letter":
            self._count("InvestigationDeadLettered")

    def _investigate(self, job: dict[str, Any]) -> dict[str, Any]:
        self._ran = True
        runtime = self._runtime
        assert isinstance(runtime, InvestigatorRuntime)
        request = InvestigationRequest.from_json(str(job["body"]))
        if self._already_reported(request.request_id):
            # `#polls` records expire early; this keeps a late resend of a finished request free.
            return {"already_reported": True}
        problems = request_problems(request)
        if problems:
            # The same on every receive: report it now, before the API key or Fullstory is asked.
            result = self._finish(
                request, invalid_request(request, problems, now=datetime.now(UTC)), NOTHING_SPENT
            )
            self._log_failure(
                "queued request cannot be investigated; reported as failed",
                PayloadError("invalid request", reason="invalid_request"),
                self._attempt,
                request_id=request.request_id,
                outcome="failed_report",
                problems=problems,  # our words, naming fields, never their values
            )
            self._count("InvestigationRequestInvalid")
            return result
        if not self._republish(runtime, request):
            self._logger.info(
                "custom event re-published, not investigated (not named in INVESTIGATE_CUSTOM_EVENTS)"
            )
            self._count("CustomEventNotInvestigated")
            return {"republished_only": True}
        try:
            client = self._fullstory(runtime).with_deadline(self._deadline)
        except ConfigurationError as missing_key:
            # No key: the report says how to set one; retrying would not help.
            self._count("InvestigatorMisconfigured")
            return self._finish(request, _unconfigured(request, missing_key), NOTHING_SPENT)
        self._spent = client
        budget = (
            ActivationBudget(runtime.activations, runtime.settings.monthly_activation_cap)
            if runtime.activations is not None
            else None
        )
        outcome = Investigation(
            client, runtime.settings.investigation(), deadline=self._deadline, activations=budget
        ).run(request)
        if budget is not None:
            self._record_budget(budget)
        if isinstance(outcome, Requeue):
            runtime.queue.send(
                outcome.request.to_json(),
                attributes=outcome.request.queue_attributes(),
                delay_seconds=outcome.delay_seconds,
            )
            self._count("ExportPollRequeued")
            self._logger.info(
                "segment export still pending; re-queued", extra={"delay_seconds": outcome.delay_seconds}
            )
            return {"requeued": True}
        return self._finish(request, outcome, client.usage)

    def _republish(self, runtime: InvestigatorRuntime, request: InvestigationRequest) -> bool:
        """Put a custom event or Stream on the bus (once per request, `core.republish`); returns whether
        it is investigated. Done here, not in the webhook: the webhook's answer budget holds two AWS
        calls, and one message per accepted delivery already reaches this function exactly once."""
        trigger = request.trigger
        investigated = trigger.kind != "custom_event" or (
            runtime.settings.investigate_custom_events.investigates(trigger.text)
        )
        if request.continuation is not None:
            return investigated  # an export poll: its first link published
        region = runtime.settings.region or org_region(request.origin.org_id)
        try:
            event = republished(request, investigated=investigated, app_base_url=app_base_url(region))
            if event is not None:
                self._publish_once(job={"idempotency_key": f"{request.request_id}#published"}, event=event)
        except DependencyUnavailable as error:
            if not self._attempt.last:
                raise  # SQS redelivers; nothing was put on the bus
            # The last receive: the investigation still runs; the lost event is logged and counted.
            self._not_republished(request, error, "could not be re-published on its last attempt")
        except IdempotencyAlreadyInProgressError:
            raise  # a copy left in progress by a crash: retried once its record expires
        except Exception as error:
            # A refused bus (permissions, a deleted bus) or an event no code path expected: a retry would
            # fail the same way, and the event must never block the report. Logged and counted instead.
            self._not_republished(request, error, "could not be re-published")
        return investigated

    def _not_republished(self, request: InvestigationRequest, error: Exception, why: str) -> None:
        self._logger.error(
            f"custom event or Stream {why}",
            extra={
                "message_id": self._attempt.message_id,
                "request_id": request.request_id,
                "error_type": type(error).__name__,
                "reason": error.reason if isinstance(error, FstriageError) else None,
                "attempt": self._attempt.number,
                "outcome": "not_republished",
            },
        )
        self._count("RepublishFailed")

    def _publish_job(self, job: dict[str, Any], event: Republished) -> dict[str, Any]:
        runtime = self._runtime
        assert isinstance(runtime, InvestigatorRuntime)
        runtime.publisher.publish(event.detail, detail_type=event.detail_type)
        self._count("EventRepublished")
        return {"detail_type": event.detail_type}

    def _already_reported(self, request_id: str) -> bool:
        """Whether `request_id#finished` holds a completed record: read through the same persistence
        layer and key the `_finish_once` guard writes (Powertools names keys after the function)."""
        runtime = self._runtime
        assert isinstance(runtime, InvestigatorRuntime)
        guarded = self._finish_job
        self._finished_store.configure(runtime.idempotency, f"{guarded.__module__}.{guarded.__qualname__}")
        try:
            record = self._finished_store.get_record({"idempotency_key": f"{request_id}#finished"})
        except IdempotencyItemNotFoundError:
            return False
        return record is not None and record.status == "COMPLETED"

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
        subject = self._subject_pointer(runtime, outcome.evidence)
        investigation_id = investigation_id_for(outcome.evidence.request.request_id)
        previous = previous_for(subject[1], investigation_id) if subject else None

        def classify_groups(groups: list[dict[str, Any]]) -> Continuity | None:
            if subject is None:
                return None
            horizon = runtime.settings.continuity_horizon_days
            return classify(
                subject[0], groups, previous, generated_at=isoformat(generated_at), horizon_days=horizon
            )

        # Valid JSON and UTF-8 whatever a visitor's page or the queue held, so the report always stores.
        report: dict[str, Any] = json_safe(
            build_report(outcome.evidence, usage, generated_at, previous=classify_groups)
        )
        # Named by the day the request was received, not generated: the same on every attempt, so a
        # write-back's `report_uri` (and so its body under its Idempotency-Key) never changes.
        received = outcome.evidence.request.origin.received_at
        day_of = received if _is_day(received) else report["generated_at"]
        stored = runtime.store.keys_for(report["investigation_id"], day_of)
        writes = self._write_back(runtime, outcome.evidence, report, stored)
        if writes is not None:
            # Again, with the write-back's note and writes: nothing else changes (the note never degrades).
            usage = usage.plus(writes)
            report = json_safe(build_report(outcome.evidence, usage, generated_at, previous=classify_groups))
        report["artifacts"] = stored.artifacts()
        markdown = render_markdown(report)
        expiry = runtime.settings.report_link_expiry_seconds
        html = render_html(report, previous_url=previous_link(runtime.store, report, expiry))
        runtime.store.put(stored, report, markdown, html)
        # Signed here (no call to S3); it outlives neither `expiry` nor the role's credentials.
        report_url = runtime.store.link(stored.html_key, expiry) if stored.html_key else None
        runtime.publisher.publish(completion_detail(report, stored, report_url))
        self._notify_slack(runtime, report, stored, report_url)
        if subject is not None and not followed(subject[1], investigation_id):
            self._remember(runtime, subject[0], report, stored, previous)
        self._record_outcome(outcome.evidence, report, usage.activations)
        return {"investigation_id": report["investigation_id"], "status": report["status"]}

    def _subject_pointer(
        self, runtime: InvestigatorRuntime, evidence: Evidence
    ) -> tuple[str, StoredPointer | None] | None:
        """The report's subject key and the pointer stored for it; None when the report has no stable
        subject or there is no state table. An unreadable pointer is a note, never a failed report."""
        store = runtime.continuity
        request = evidence.request
        metric = request.trigger.alert.metric_name if request.trigger.alert else None
        key = subject_key(
            request,
            # The same key whether the export finished inline or after a re-queue (a continuation
            # carries the segment found by name in its first link).
            segment_id=(evidence.segment.id if evidence.segment else None)
            or (request.continuation.segment_id if request.continuation else None),
            uid=evidence.known_uid(),
            email=evidence.known_email(),
            mapped_segment=runtime.settings.metric_segments.get(metric or "") if metric else None,
        )
        if store is None or key is None or evidence.fatal:
            return None
        try:
            return key, store.latest(key)
        except FstriageError as error:
            evidence.notes.add(
                "continuity_unavailable",
                f"Whether anything is new since the last report could not be known (the state table "
                f"answered: {error.reason}); this report compares with nothing.",
                degrades=False,
            )
            self._count("ContinuityUnavailable")
            return None

    def _remember(
        self,
        runtime: InvestigatorRuntime,
        key: str,
        report: dict[str, Any],
        stored: StoredReport,
        previous: ReportPointer | None,
    ) -> None:
        """Point the subject at this report (a conditional write: a newer report is never replaced)."""
        store = runtime.continuity
        continuity = report.get("continuity")
        if store is None or continuity is None:
            return
        horizon = runtime.settings.continuity_horizon_days
        latest = pointer_from_report(report, stored.json_key)
        try:
            kept = store.remember(
                key, StoredPointer(latest, previous), expires_at=expiry(report["generated_at"], horizon)
            )
        except FstriageError as error:
            # The report exists; the next one on this subject will compare with an older report.
            self._logger.warning("continuity pointer not stored: %s", error.reason)
            self._count("ContinuityUnavailable")
            return
        if not kept:
            self._logger.info("a newer report on the same subject is already the continuity pointer")

    def _write_back(
        self, runtime: InvestigatorRuntime, evidence: Evidence, report: dict[str, Any], stored: StoredReport
    ) -> FullstoryUsage | None:
        """One server event per session of the report into Fullstory (`core.writeback`), when switched
        on; returns what the writes spent (None when nothing was attempted). A refusal or running out of
        time becomes a note in `evidence`, never an error: the report is stored either way."""
        if not runtime.settings.write_back or self._spent is None or evidence.fatal == "auth":
            return None
        events = build_events(
            report,
            location=report_uri(stored.bucket, stored.json_key),
            timestamp=evidence.request.origin.received_at,
        )
        if not events:
            return None  # no session was read: nothing to mark

        def budget() -> float:
            return self._deadline() - WRITE_BACK_RESERVE_SECONDS

        # Its own deadline, so a write's retries never eat the time the report needs.
        writer = self._spent.with_deadline(budget)
        outcome = write_back(writer, events, time_left=budget)
        note = outcome.note()
        if note is not None:
            evidence.notes.add(NOTE_TOPIC, note, degrades=False)
        stopped = outcome.stopped_by or outcome.first_rejection
        self._logger.info(
            "fullstory write-back",
            extra={
                "planned": outcome.planned,
                "written": outcome.written,
                "not_written": outcome.not_written,
                "out_of_time": outcome.out_of_time,
                "refusal": stopped.reason if stopped is not None else None,
                "refusal_status": stopped.status if stopped is not None else None,
            },
        )
        self._metrics.add_metric(name="FullstoryEventsWritten", unit=MetricUnit.Count, value=outcome.written)
        self._metrics.add_metric(name="FullstoryEventsRefused", unit=MetricUnit.Count, value=outcome.refused)
        self._metrics.add_metric(name="FullstoryEventsSkipped", unit=MetricUnit.Count, value=outcome.skipped)
        return writer.usage

    def _notify_slack(
        self,
        runtime: InvestigatorRuntime,
        report: dict[str, Any],
        stored: StoredReport,
        report_url: str | None = None,
    ) -> None:
        if runtime.slack is None:
            return
        if report.get("quiet") and not runtime.settings.slack_quiet_reports:
            # Nothing new to say: stored and on the bus, not posted (SLACK_QUIET_REPORTS to post it).
            self._logger.info("quiet report; not posted to Slack")
            self._count("SlackQuietSkipped")
            return
        try:
            runtime.slack.post(slack_text(report, stored, report_url))
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

    def _tick(self, runtime: InvestigatorRuntime, message: Any, attempt: _Attempt) -> None:
        """A schedule tick (`core.watch`): queue one `scheduled` request per watched segment that is due.

        Their request IDs derive from the segment and the period, so a redelivered tick (or a retry after
        a failed send) queues the same requests again, and the investigator's idempotency absorbs them."""
        try:
            tick = read_tick(message)
        except PayloadError as error:
            self._log_failure(
                "queued tick cannot be read", error, attempt, request_id=None, detail=error.message
            )
            self._count("WatchTickRejected")
            raise
        if runtime.settings.watched_segments_error:
            # A misconfigured watch list fails its ticks (DLQ + alarm), never the alerts beside them.
            misconfigured = ConfigurationError(runtime.settings.watched_segments_error)
            self._log_failure("watched segments are misconfigured", misconfigured, attempt, request_id=None)
            self._count("WatchTickRejected")
            raise misconfigured
        requests = scheduled_requests(
            runtime.settings.watched_segments,
            tick,
            org_id=runtime.settings.org_id,
            received_at=datetime.now(UTC),
        )
        for request in requests:
            runtime.queue.send(request.to_json(), attributes=request.queue_attributes())
        self._logger.info(
            "watch tick",
            extra={
                "scheduled_at": isoformat(tick.scheduled_at),
                "watched": len(runtime.settings.watched_segments),
                "queued": [request.request_id for request in requests],
            },
        )
        self._count("WatchTick")
        self._metrics.add_metric(
            name="ScheduledInvestigationsQueued", unit=MetricUnit.Count, value=len(requests)
        )

    def _record_budget(self, budget: ActivationBudget) -> None:
        """How much of the month's Activation cap is used (the ActivationsUsed alarm watches it), and
        whether the cap stopped this investigation's calls."""
        try:
            percent = budget.used_percent()
        except DependencyUnavailable:
            self._logger.warning("the month's Activation count could not be read")
            return
        self._metrics.add_metric(name="ActivationBudgetUsedPercent", unit=MetricUnit.Percent, value=percent)
        if budget.exhausted:
            self._logger.warning(
                "monthly Activation cap reached",
                extra={"cap": budget.cap, "month": budget.month, "calls_refused": budget.refused},
            )
            self._count("ActivationCapReached")

    def _fullstory(self, runtime: InvestigatorRuntime) -> FullstoryClient:
        """One client per container and key: its connection pool and rate limit are shared."""
        return self._clients.get(runtime.api_key())

    def _new_fullstory_client(self, key: str) -> FullstoryClient:
        runtime = self._runtime
        assert isinstance(runtime, InvestigatorRuntime)
        return FullstoryClient(
            key,
            region=runtime.settings.region,
            base_url=runtime.settings.api_url,
            rate_limiter=self._limiter,
            pool_size=max(4, runtime.settings.concurrency),
        )

    def _count(self, name: str) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _tick_of(body: str) -> Any:
    """The message when it is a schedule tick (`core.watch`), else None (read as a request)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return message if is_tick(message) else None


def _is_day(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", value) is not None


def _receive_count(record: SQSRecord) -> int:
    try:
        return max(1, int(record.attributes.approximate_receive_count))
    except (KeyError, TypeError, ValueError):
        return 1  # a hand-made event without the attribute: treat it as a first receive


def _unconfigured(request: InvestigationRequest, error: ConfigurationError) -> Finished:
    evidence = Evidence(request=request)
    evidence.fatal = "configuration"
    evidence.notes.add("configuration", f"The investigation could not start: {error.message}.", degrades=True)
    return Finished(evidence)


def previous_link(store: S3ReportStore, report: dict[str, Any], expiry: int) -> str | None:
    """A presigned link to the previous report's HTML twin (named like its JSON), when continuity
    names one. A report stored before HTML twins existed has none: its link answers 404."""
    previous = (report.get("continuity") or {}).get("previous") or {}
    json_key = previous.get("json_key")
    if not isinstance(json_key, str) or not json_key.endswith(".json"):
        return None
    return store.link(json_key.removesuffix(".json") + ".html", expiry)


def completion_detail(
    report: dict[str, Any], stored: StoredReport, report_url: str | None = None
) -> dict[str, Any]:
    """The "Investigation Completed" event: enough to route and triage without opening S3.
    `report_url` is the presigned link to the HTML report (None when it could not be signed)."""
    return {
        "investigation_id": report["investigation_id"],
        "request_id": report["request_id"],
        "status": report["status"],
        "headline": report["headline"],
        # No errors, or only ongoing ones: a rule can skip paging on it.
        "quiet": bool(report.get("quiet")),
        # What is new since the last report on the same subject: a rule can page only on these.
        "new_error_groups": [
            {"kind": group["kind"], "signature": group["signature"], "sessions": len(group["sessions"])}
            for group in report["error_groups"]
            if group.get("state") == "new"
        ],
        "continuity": {
            # Hashed: a subject key may be a user's email or uid, and the bus carries no user identity.
            "subject": store_id(report["continuity"]["subject_key"]),
            "previous_investigation_id": (report["continuity"]["previous"] or {}).get("investigation_id"),
        }
        if report.get("continuity")
        else None,
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
        "report": stored.artifacts(),
        "report_url": report_url,
        "cost": report["cost"],
    }


def slack_text(report: dict[str, Any], stored: StoredReport, report_url: str | None = None) -> str:
    """Slack mrkdwn. Every piece of report text can come from a website visitor (console messages,
    click targets), so it is escaped: no `<!channel>` pings, links or broken code spans from them."""
    lines = [f"*{_slack_escape(report['headline'])}* ({report['status']})"]
    lines += [
        f"• {group['kind']}: `{_slack_escape(group['signature']).replace('`', "'")}` "
        f"in {len(group['sessions'])} sessions"
        for group in report["error_groups"][:TOP_GROUPS_IN_EVENT]
    ]
    unread = report.get("unread_events")
    if unread:
        # Never a silent loss: what could not be read travels with the headline (key names only).
        lines.append(f"⚠ {_slack_escape(unread['note'])}")
    if report_url:
        # Our presigned URL, not visitor text: its `&` escaped, as Slack asks of every control character.
        lines.append(f"<{_slack_escape(report_url)}|Open the report> (the link expires; see the README)")
    lines.append(f"Report: s3://{stored.bucket}/{stored.markdown_key}")
    return mask_email("\n".join(lines))


def _slack_escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
