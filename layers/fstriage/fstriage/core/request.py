"""The investigation request: what the webhook queues and the investigator consumes.

Documented as JSON Schema in `fstriage/schemas/investigation-request.schema.json`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from fstriage.core.errors import PayloadError

SCHEMA_VERSION = 1
TriggerKind = Literal[
    "segment_alert", "metric_alert", "note", "custom_event", "stream", "manual", "scheduled"
]
# "schedule": a watched segment's periodic run (`core.watch`), queued by the investigator on a tick.
TriggerSource = Literal["system_webhook", "stream", "cli", "schedule"]
TRIGGER_KINDS: tuple[str, ...] = get_args(TriggerKind)
# Kinds whose subject is one segment (an alert on it, or a watched segment's scheduled run).
SEGMENT_KINDS: tuple[str, ...] = ("segment_alert", "scheduled")


def isoformat(moment: datetime) -> str:
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_isoformat(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Alert:
    """What a segment or metric alert said: its name, threshold, value and links."""

    name: str | None = None
    description: str | None = None
    url: str | None = None
    notification_url: str | None = None
    value: float | None = None
    threshold: str | None = None
    direction: str | None = None
    duration: str | None = None
    segment_id: str | None = None
    segment_name: str | None = None
    segment_url: str | None = None
    metric_name: str | None = None
    metric_url: str | None = None


@dataclass(frozen=True, slots=True)
class Trigger:
    """What started an investigation, as the webhook read it."""

    kind: TriggerKind
    source: TriggerSource
    event_name: str
    event_id: str | None
    occurred_at: str
    alert: Alert | None = None
    # Note text, custom event name or stream name: short, human-written context for the report.
    text: str | None = None
    # A custom event's properties as sent (JSON values, bounded); a Stream's context fields.
    properties: dict[str, Any] = field(default_factory=dict)
    page_url: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom to investigate: named sessions, a user (uid or email), or nobody yet (an alert)."""

    session_ids: tuple[str, ...] = ()
    uid: str | None = None
    email: str | None = None
    # Fullstory's ID of the person, when a replay URL carried it (`indv` of `indv:device!session`).
    individual_id: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.session_ids or self.uid or self.email)


@dataclass(frozen=True, slots=True)
class Window:
    """The time range the investigation looks at, ISO 8601 in UTC."""

    start: str
    end: str


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the request came from: the org, the trigger identity and when it was received."""

    org_id: str
    delivery_key: str
    received_at: str
    signed_at: str | None = None


@dataclass(frozen=True, slots=True)
class Continuation:
    """Where a segment alert's asynchronous export stands; the investigator re-queues it with a delay
    instead of blocking a Lambda while Fullstory prepares the export."""

    segment_id: str
    operation_id: str
    polls: int
    started_at: str


@dataclass(frozen=True, slots=True)
class InvestigationRequest:
    request_id: str
    trigger: Trigger
    subject: Subject
    window: Window
    origin: Origin
    continuation: Continuation | None = None
    schema_version: int = SCHEMA_VERSION

    def continued(self, continuation: Continuation) -> InvestigationRequest:
        return replace(self, continuation=continuation)

    def to_message(self) -> dict[str, Any]:
        # Built by hand: `dataclasses.asdict` deep-copies recursively and dominated the webhook's time.
        trigger, subject = self.trigger, self.subject
        return {
            "schema_version": self.schema_version,
            "request_id": self.request_id,
            "trigger": {
                "kind": trigger.kind,
                "source": trigger.source,
                "event_name": trigger.event_name,
                "event_id": trigger.event_id,
                "occurred_at": trigger.occurred_at,
                "alert": _fields(trigger.alert) if trigger.alert else None,
                "text": trigger.text,
                "properties": dict(trigger.properties),
                "page_url": trigger.page_url,
            },
            "subject": {
                "session_ids": list(subject.session_ids),
                "uid": subject.uid,
                "email": subject.email,
                "individual_id": subject.individual_id,
            },
            "window": _fields(self.window),
            "origin": _fields(self.origin),
            "continuation": _fields(self.continuation) if self.continuation else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_message(), separators=(",", ":"))

    def queue_attributes(self) -> dict[str, str]:
        """The SQS message attributes every queued request carries (readable without parsing the body)."""
        return {"schema_version": str(self.schema_version), "kind": self.trigger.kind}

    @classmethod
    def from_json(cls, text: str) -> InvestigationRequest:
        try:
            message = json.loads(text)
        except ValueError:
            raise PayloadError("queued message is not JSON") from None
        return cls.from_message(message)

    @classmethod
    def from_message(cls, message: Any) -> InvestigationRequest:
        """Rebuild a request from its queued JSON form; raise PayloadError if it is not one."""
        try:
            if message["schema_version"] != SCHEMA_VERSION:
                raise PayloadError(f"unsupported schema_version {message['schema_version']!r}")
            trigger = dict(message["trigger"])
            if trigger["kind"] not in TRIGGER_KINDS:
                raise PayloadError(f"unknown trigger kind {trigger['kind']!r}")
            alert = trigger.pop("alert", None)
            subject = dict(message["subject"])
            subject["session_ids"] = tuple(subject.get("session_ids") or ())
            continuation = message.get("continuation")
            return cls(
                request_id=str(message["request_id"]),
                trigger=Trigger(alert=Alert(**alert) if alert else None, **trigger),
                subject=Subject(**subject),
                window=Window(**message["window"]),
                origin=Origin(**message["origin"]),
                continuation=Continuation(**continuation) if continuation else None,
            )
        except PayloadError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise PayloadError(f"not an investigation request: {type(error).__name__}") from None


def _fields(flat: Alert | Window | Origin | Continuation) -> dict[str, Any]:
    """A flat (no nested dataclass) slotted record as a dict."""
    return {name: getattr(flat, name) for name in flat.__slots__}


@dataclass(frozen=True, slots=True)
class TriggerIdentity:
    """What happened, independent of how often or how it was delivered: the ledger's key.

    A trigger with an id of its own (Fullstory's event id) or a time of its own names one occurrence.
    One with neither (a custom event without `id` or `timestamp`, a Stream without `event_time`) is
    only its content, so repeats are one investigation inside a time window and a new one after it.
    """

    digest: str
    windowed: bool

    @property
    def key(self) -> str:
        return ("win:" if self.windowed else "id:") + self.digest

    def request_id(self, *, now: float, window_seconds: float) -> str:
        if not self.windowed:
            return "req_" + self.digest[:32]
        # The window's number, not the receipt time: a retry after a released claim maps to the same
        # request (the investigator's idempotency absorbs it), a repeat after the window does not.
        return "req_" + _sha256(f"{self.digest}\x1f{int(now // window_seconds)}")[:32]


def trigger_identity(
    org_id: str, trigger: Trigger, subject: Subject, *, timed: bool = True
) -> TriggerIdentity:
    if trigger.event_id:
        return TriggerIdentity(
            _sha256("\x1f".join(("v1", org_id, trigger.event_name, trigger.event_id))), False
        )
    described = asdict(trigger)
    if not timed:
        del described["occurred_at"]  # the receipt time: different on every retry
    content = {"org": org_id, "trigger": described, "subject": asdict(subject)}
    return TriggerIdentity(_sha256(json.dumps(content, sort_keys=True, separators=(",", ":"))), not timed)


def derive_request_id(org_id: str, trigger: Trigger, subject: Subject) -> str:
    """A stable ID from the business content, so a redelivered or re-signed event maps to one request."""
    return trigger_identity(org_id, trigger, subject).request_id(now=0.0, window_seconds=1.0)


def _sha256(text: str) -> str:
    # surrogatepass: an identity must never be the thing that fails on odd input.
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def build_request(
    *, trigger: Trigger, subject: Subject, window: Window, origin: Origin
) -> InvestigationRequest:
    return InvestigationRequest(
        request_id=derive_request_id(origin.org_id, trigger, subject),
        trigger=trigger,
        subject=subject,
        window=window,
        origin=origin,
    )
