"""Composition root of the FME forwarder: SQS batch of "Fullstory Custom Event"s -> Harness FME events.

An EventBridge rule copies each "Fullstory Custom Event" (source fstriage) into the forwarder's queue.
Per batch: read each record, resolve each event's user to its uid through the Fullstory API, map it
(`core.fme`), and post the events to FME in as few bulks as our caps allow. Records are settled one
by one (`batchItemFailures`).

Which ID `GET /v2/users/{id}` takes is not documented: the detail's `user_id` (the individual, from
the replay URL) or its `device_id` (from the API session ID). The individual is tried first, then, on
a 404 or when there is none, the device. Answers are cached per container by the ID that answered (a
404 or an anonymous user briefly), so a session's events cost one lookup. `FmeUserLookupAnswered`
(dimension `id_form`: individual | device) counts which form answered, and an individual ID that
404'd while the device's answered is logged: the mismatch stays visible.

Outcomes per record:

- forwarded, or **dropped** (deleted, counted, logged without PII): no session or user in the event,
  a user Fullstory does not know (404 for every ID) or that has no uid (anonymous), a name with
  nothing FME accepts.
  Retrying could not change any of these.
- **failed** (SQS redelivers it, then moves it to the DLQ): a Fullstory or FME outage (429/5xx,
  timeouts) or too little time left; a Fullstory or FME key (or FME URL) that is refused (fix it, then
  redrive the DLQ); an event FME refuses (a bulk refused with a 4xx is split in halves until the one
  event it refuses is found, so the rest still goes); a message that is not a Fullstory Custom Event v1.

Delivery to FME is at least once: a redelivered record whose bulk FME did accept (its answer lost) is
sent again. Within a container, delivery IDs forwarded in the last hour are remembered and skipped.

Every line is Powertools JSON with `message_id` and `delivery_id`; none holds an email, a uid, a
property value or a key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from fstriage.adapters.clients import ClientForKey
from fstriage.adapters.fme import (
    DEFAULT_EVENTS_URL,
    LOG_SERVICE,
    FmeEventsClient,
    FmeRefused,
    FmeUnavailable,
)
from fstriage.adapters.fullstory import FullstoryClient
from fstriage.adapters.secrets import SecretText
from fstriage.core import fme
from fstriage.core.errors import (
    ConfigurationError,
    FstriageError,
    FullstoryAuthError,
    FullstoryError,
    FullstoryForbidden,
    FullstoryNotFound,
)
from fstriage.core.ratelimit import RateLimiter
from fstriage.core.redact import mask_email
from fstriage.settings import choice, number, optional, required

METRICS_NAMESPACE: Final = "fstriage"
SERVICE: Final = LOG_SERVICE  # one name for the entry point's logger/metrics and the adapter's logger
# The investigator calls Fullstory with the same key (8/s per container): the forwarder's lookups,
# at 2/s per container times its 2 concurrent runs, stay a small share of the key's rate limit.
DEFAULT_RATE_PER_SECOND: Final = 2.0
_ANONYMOUS: Final = ""  # cached for a user without a uid


@dataclass(frozen=True, slots=True)
class FmeForwarderSettings:
    """The forwarder's settings (its environment, as the template sets it)."""

    api_key_secret_arn: str  # the Fullstory API key
    fme_key_secret_arn: str  # the FME server-side key
    events_url: str = DEFAULT_EVENTS_URL
    traffic_type: str = "user"
    region: str | None = None
    api_url: str | None = None  # a local Fullstory sandbox, for tests only
    rate_per_second: float = DEFAULT_RATE_PER_SECOND
    uid_cache_size: int = 10_000
    uid_cache_seconds: float = 3600
    # A user seen anonymous may be identified a minute later: a short memory for "no uid".
    anonymous_cache_seconds: float = 60

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FmeForwarderSettings:
        region = optional(env, "FULLSTORY_REGION")
        traffic_type = optional(env, "FME_TRAFFIC_TYPE") or "user"
        if not fme.EVENT_TYPE_ID.fullmatch(traffic_type):
            raise ConfigurationError("setting FME_TRAFFIC_TYPE is not a valid FME traffic type name")
        return cls(
            api_key_secret_arn=required(env, "FULLSTORY_API_KEY_SECRET_ARN"),
            fme_key_secret_arn=required(env, "FME_API_KEY_SECRET_ARN"),
            events_url=optional(env, "FME_EVENTS_URL") or DEFAULT_EVENTS_URL,
            traffic_type=traffic_type,
            region=choice(env, "FULLSTORY_REGION", "na1", ("na1", "eu1")) if region else None,
            api_url=optional(env, "FULLSTORY_API_URL"),
            rate_per_second=number(env, "FULLSTORY_RATE_PER_SECOND", DEFAULT_RATE_PER_SECOND, minimum=0.1),
            uid_cache_size=int(number(env, "FME_UID_CACHE_SIZE", 10_000, minimum=1)),
            uid_cache_seconds=number(env, "FME_UID_CACHE_SECONDS", 3600, minimum=0),
            anonymous_cache_seconds=number(env, "FME_ANONYMOUS_CACHE_SECONDS", 60, minimum=0),
        )


@dataclass
class FmeRuntime:
    settings: FmeForwarderSettings
    fullstory_key: Callable[[], str]
    fme_key: Callable[[], str]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FmeRuntime:
        settings = FmeForwarderSettings.from_env(env)
        return cls(
            settings=settings,
            fullstory_key=SecretText(settings.api_key_secret_arn, key="api_key", what="Fullstory API key"),
            fme_key=SecretText(settings.fme_key_secret_arn, key="api_key", what="FME server-side key"),
        )


@dataclass
class _Record:
    message_id: str
    event: fme.CustomEvent | None = None
    fme_event: fme.FmeEvent | None = None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class _Unresolved:
    reason: fme.DropReason


@dataclass
class _Batch:
    records: list[_Record] = field(default_factory=list)

    def failures(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": r.message_id} for r in self.records if r.failed]}


class FmeForwarderApp:
    def __init__(self, runtime: FmeRuntime | ConfigurationError, logger: Logger, metrics: Metrics) -> None:
        self._runtime = runtime
        self._logger = logger
        self._metrics = metrics
        self._fullstory = ClientForKey(self._new_fullstory_client)
        self._fme = ClientForKey(self._new_fme_client)
        self._remaining: Callable[[], float] = lambda: float("inf")
        if isinstance(runtime, FmeRuntime):
            settings = runtime.settings
            self._limiter = RateLimiter(settings.rate_per_second, max(1, int(settings.rate_per_second)))
            self._uids: fme.TtlLru[str | None] = fme.TtlLru(
                settings.uid_cache_size, settings.uid_cache_seconds
            )
            self._forwarded: fme.TtlLru[bool] = fme.TtlLru(settings.uid_cache_size, 3600)

    @classmethod
    def from_environment(
        cls, logger: Logger, metrics: Metrics, env: Mapping[str, str] | None = None
    ) -> FmeForwarderApp:
        try:
            runtime: FmeRuntime | ConfigurationError = FmeRuntime.from_env(os.environ if env is None else env)
        except ConfigurationError as error:
            runtime = error
        return cls(runtime, logger, metrics)

    # -- the batch ---------------------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        raw_records = list(event.get("Records") or [])
        if isinstance(self._runtime, ConfigurationError):
            self._misconfigured(self._runtime, len(raw_records))
        runtime = self._runtime
        assert isinstance(runtime, FmeRuntime)
        self._remaining = lambda: float(context.get_remaining_time_in_millis()) / 1000.0
        batch = _Batch([self._read(raw) for raw in raw_records])
        pending = [r for r in batch.records if r.event is not None and not r.failed]
        pending = self._skip_duplicates(pending)
        if pending:
            try:
                fullstory = self._fullstory_client(runtime).with_deadline(self._remaining)
                fme_client = self._fme_client(runtime)
            except ConfigurationError as error:
                self._misconfigured(error, len(raw_records))
            for record in pending:
                self._map(record, fullstory, runtime.settings)
            ready = [r for r in pending if r.fme_event is not None and not r.failed]
            if ready:
                self._forward(ready, fme_client)
        failed = sum(r.failed for r in batch.records)
        if failed:
            self._count("FmeRecordsRetried", failed)
        return batch.failures()

    def _misconfigured(self, error: ConfigurationError, records: int) -> NoReturn:
        # The whole batch fails: SQS keeps the events (then the DLQ), to be redriven once fixed.
        self._logger.error("FME forwarder is misconfigured: %s", error.message, extra={"records": records})
        self._count("FmeForwarderMisconfigured")
        raise error

    def _read(self, raw: Mapping[str, Any]) -> _Record:
        record = _Record(message_id=str(raw.get("messageId") or ""))
        try:
            record.event = fme.read_event(json.loads(str(raw.get("body") or "")))
        except (ValueError, RecursionError) as error:
            detail = error.detail if isinstance(error, fme.Unreadable) else "not JSON"
            # Kept for the DLQ: a newer producer (version skew) or a bug, never a Fullstory event to lose.
            self._logger.error(
                "queued message is not a Fullstory Custom Event",
                extra={"message_id": record.message_id, "detail": detail},
            )
            self._count("FmeMessageUnreadable")
            record.failed = True
        return record

    def _skip_duplicates(self, records: list[_Record]) -> list[_Record]:
        kept: list[_Record] = []
        seen: set[str] = set()
        for record in records:
            assert record.event is not None
            delivery = record.event.delivery_id
            if delivery in seen or self._forwarded.get(delivery)[0]:
                self._logger.info(
                    "duplicate delivery; already forwarded",
                    extra={"message_id": record.message_id, "delivery_id": delivery},
                )
                self._count("FmeDuplicate")
                continue
            seen.add(delivery)
            kept.append(record)
        return kept

    # -- users and mapping -------------------------------------------------------------------------

    def _map(self, record: _Record, fullstory: FullstoryClient, settings: FmeForwarderSettings) -> None:
        event = record.event
        assert event is not None
        if not event.user_ids:
            self._drop(record, "no_session")
            return
        try:
            uid = self._resolve(record, fullstory, settings)
        except (FullstoryAuthError, FullstoryForbidden) as error:
            self._fail(record, "Fullstory refused the API key; the event will be retried", error)
            self._count("FmeFullstoryAuthFailed")
            return
        except FullstoryError as error:
            self._fail(record, "Fullstory user lookup failed; the event will be retried", error)
            return
        if isinstance(uid, _Unresolved):
            self._drop(record, uid.reason)
            return
        if not uid:
            self._drop(record, "anonymous_user")
            return
        mapped = fme.to_fme_event(event, key=uid, traffic_type=settings.traffic_type)
        if isinstance(mapped, fme.Dropped):
            self._drop(record, mapped.reason)
            return
        if mapped.renamed:
            # The site names its events, and a name may carry visitor data: emails masked, then clipped. The
            # rewrite turns an email's `@` into `_`, so the type ID is logged only when there was none.
            rewritten = {"event_type_id": mapped.event_type_id} if "@" not in event.name else {}
            self._logger.info(
                "event name rewritten to a valid FME event type",
                extra={
                    "delivery_id": event.delivery_id,
                    "event_name": mask_email(event.name)[:80],
                    **rewritten,
                },
            )
            self._count("FmeEventTypeRewritten")
        if mapped.properties_dropped:
            self._count("FmePropertiesDropped", mapped.properties_dropped)
        record.fme_event = mapped

    def _resolve(
        self, record: _Record, fullstory: FullstoryClient, settings: FmeForwarderSettings
    ) -> str | _Unresolved:
        """The uid ("" for an anonymous user) from the first of the event's IDs Fullstory answers for,
        individual first; `_Unresolved` when none does. Raises FullstoryError for a retry."""
        event = record.event
        assert event is not None
        not_found: list[fme.IdForm] = []
        for form, user_id in event.user_ids:
            try:
                uid, cached = self._uid(user_id, form, fullstory, settings)
            except ValueError:
                continue  # not an ID Fullstory makes: the other one may still be
            if uid is None:
                not_found.append(form)
                continue
            if not_found and not cached:
                # The individual ID 404'd and the device's answered: which one Fullstory takes is
                # not documented, so the mismatch is logged (once per cached answer).
                self._logger.info(
                    "Fullstory knows the user by the device ID, not the individual ID",
                    extra={"message_id": record.message_id, "delivery_id": event.delivery_id},
                )
            return uid
        return _Unresolved("unknown_user" if not_found else "invalid_user_id")

    def _uid(
        self, user_id: str, form: fme.IdForm, fullstory: FullstoryClient, settings: FmeForwarderSettings
    ) -> tuple[str | None, bool]:
        """(the uid, whether it came from the cache): "" for a user without one, None for an ID Fullstory
        does not know (404). Cached by the ID all three ways (the last two briefly). Raises ValueError
        for an ID Fullstory cannot have made, FullstoryError for a retry."""
        found, cached = self._uids.get(user_id)
        if found:
            self._count("FmeUidCacheHit")
            return cached, True
        self._count("FmeUserLookup")
        try:
            user = fullstory.user(user_id)
        except FullstoryNotFound:
            user = None
        uid = (user.uid or _ANONYMOUS) if user is not None else None
        self._uids.put(user_id, uid, None if uid else settings.anonymous_cache_seconds)
        if uid is not None:
            self._dimensioned("FmeUserLookupAnswered", "id_form", form)
        return uid, False

    # -- posting -----------------------------------------------------------------------------------

    def _forward(self, records: list[_Record], client: FmeEventsClient) -> None:
        bodies = [r.fme_event.body for r in records if r.fme_event is not None]
        for group in fme.bulks(bodies):
            self._post([records[i] for i in group], client)

    def _post(self, records: list[_Record], client: FmeEventsClient) -> None:
        """Post one bulk; a bulk FME refuses is split until the refused event stands alone.

        The split assumes FME refuses a whole bulk for one bad event, which is not documented. It
        cannot loop either way: every split posts two disjoint, smaller halves (at most 2n - 1 posts
        for n events, each within the deadline), and a 2xx settles its bulk, even one FME might have
        accepted in part. What a refused bulk had accepted is sent again (at least once)."""
        if any(r.failed for r in records):
            return
        try:
            client.post([r.fme_event.body for r in records if r.fme_event is not None], self._remaining)
        except FmeUnavailable as error:
            for record in records:
                self._fail(record, "FME is unavailable; the event will be retried", error)
            return
        except FmeRefused as error:
            if error.scope == "key":
                self._count("FmeAuthFailed")
                for record in records:
                    self._fail(record, "FME refused the key or the URL; the event will be retried", error)
                return
            if len(records) > 1:
                middle = len(records) // 2
                self._post(records[:middle], client)
                self._post(records[middle:], client)
                return
            self._count("FmeEventRejected")
            self._fail(records[0], "FME refused the event; it will reach the DLQ", error)
            return
        for record in records:
            assert record.event is not None
            self._forwarded.put(record.event.delivery_id, True)
        self._count("FmeEventsForwarded", len(records))

    # -- outcomes ----------------------------------------------------------------------------------

    def _drop(self, record: _Record, reason: str) -> None:
        assert record.event is not None
        self._logger.info(
            "event not forwarded to FME",
            extra={
                "message_id": record.message_id,
                "delivery_id": record.event.delivery_id,
                "reason": reason,
            },
        )
        self._count("FmeEventDropped")
        self._dimensioned("FmeEventDroppedByReason", "reason", reason)

    def _fail(self, record: _Record, message: str, error: FstriageError) -> None:
        record.failed = True
        self._logger.warning(
            message,
            extra={
                "message_id": record.message_id,
                "delivery_id": record.event.delivery_id if record.event else None,
                "error_type": type(error).__name__,
                "reason": error.reason,
                "status": getattr(error, "status", None),
            },
        )

    # -- clients -----------------------------------------------------------------------------------

    def _fullstory_client(self, runtime: FmeRuntime) -> FullstoryClient:
        return self._fullstory.get(runtime.fullstory_key())

    def _new_fullstory_client(self, key: str) -> FullstoryClient:
        runtime = self._runtime
        assert isinstance(runtime, FmeRuntime)
        return FullstoryClient(
            key,
            region=runtime.settings.region,
            base_url=runtime.settings.api_url,
            rate_limiter=self._limiter,
            pool_size=2,
            log=self._logger,
        )

    def _fme_client(self, runtime: FmeRuntime) -> FmeEventsClient:
        return self._fme.get(runtime.fme_key())

    def _new_fme_client(self, key: str) -> FmeEventsClient:
        runtime = self._runtime
        assert isinstance(runtime, FmeRuntime)
        return FmeEventsClient(key, url=runtime.settings.events_url)

    def _count(self, name: str, value: int = 1) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    @staticmethod
    def _dimensioned(name: str, dimension: str, value: str) -> None:
        with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
            metric.add_dimension(name=dimension, value=value)
