import json
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from fstriage.core.errors import PayloadError
from fstriage.core.payloads import Investigate, interpret_system_event
from fstriage.core.request import Continuation, InvestigationRequest, Origin, build_request
from fstriage_cli.samples import payloads
from tests.support.schemas import REQUEST_SCHEMA

ORIGIN = Origin(
    org_id="o-TEST-na1",
    delivery_key="sig:" + "a" * 64,
    received_at="2026-11-01T00:00:01.000Z",
    signed_at=None,
)


def request_for(document: dict[str, object], origin: Origin = ORIGIN) -> InvestigationRequest:
    decision = interpret_system_event(
        document, received_at=datetime(2026, 11, 1, tzinfo=UTC), lookback=timedelta(hours=24)
    )
    assert isinstance(decision, Investigate)
    return build_request(
        trigger=decision.trigger, subject=decision.subject, window=decision.window, origin=origin
    )


@pytest.mark.parametrize(
    "document",
    [payloads.segment_alert(), payloads.metric_alert(), payloads.note_created(), payloads.custom_event()],
)
def test_requests_validate_against_the_schema_and_round_trip(document: dict[str, object]) -> None:
    request = request_for(document)
    message = json.loads(request.to_json())
    jsonschema.validate(message, REQUEST_SCHEMA)
    assert InvestigationRequest.from_message(message) == request


def test_request_id_is_stable_across_deliveries_and_depends_on_content() -> None:
    other_delivery = Origin(
        org_id="o-TEST-na1",
        delivery_key="sig:" + "b" * 64,
        received_at="2026-11-02T00:00:00.000Z",
        signed_at=None,
    )
    first = request_for(payloads.note_created())
    assert request_for(payloads.note_created(), other_delivery).request_id == first.request_id
    assert request_for(payloads.custom_event()).request_id != first.request_id
    changed = payloads.custom_event()
    changed["data"]["name"] = "Another event"
    assert request_for(changed).request_id != request_for(payloads.custom_event()).request_id


@pytest.mark.parametrize(
    "message",
    [
        {},
        [],
        "text",
        {"schema_version": 2},
        {**json.loads(request_for(payloads.note_created()).to_json()), "schema_version": 99},
        {**json.loads(request_for(payloads.note_created()).to_json()), "trigger": {"kind": "nope"}},
        {**json.loads(request_for(payloads.note_created()).to_json()), "window": {"start": "x"}},
    ],
)
def test_from_message_rejects_what_is_not_a_request(message: object) -> None:
    with pytest.raises(PayloadError):
        InvestigationRequest.from_message(message)


def test_a_continuation_survives_the_queue_and_validates() -> None:
    request = request_for(payloads.segment_alert()).continued(
        Continuation(segment_id="seg", operation_id="op-1", polls=2, started_at="2026-11-01T00:00:00.000Z")
    )
    message = json.loads(request.to_json())
    jsonschema.validate(message, REQUEST_SCHEMA)
    restored = InvestigationRequest.from_json(request.to_json())
    assert restored == request
    assert restored.continuation is not None
    assert restored.continuation.polls == 2
