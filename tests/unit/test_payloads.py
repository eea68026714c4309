from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fstriage.core.errors import PayloadError
from fstriage.core.payloads import Acknowledge, Investigate, interpret_stream_event, interpret_system_event
from fstriage_cli.samples import payloads

RECEIVED = datetime(2026, 11, 1, 0, 5, tzinfo=UTC)
LOOKBACK = timedelta(hours=24)


def interpret(document: dict[str, Any]) -> Investigate | Acknowledge:
    return interpret_system_event(document, received_at=RECEIVED, lookback=LOOKBACK)


def test_segment_alert_becomes_a_segment_investigation_over_the_alert_period() -> None:
    decision = interpret(payloads.segment_alert())
    assert isinstance(decision, Investigate)
    assert decision.trigger.kind == "segment_alert"
    assert decision.trigger.event_id == "alert-notification-4417"
    assert decision.trigger.alert is not None
    assert decision.trigger.alert.segment_id == "checkout-errors-seg"
    assert decision.trigger.alert.segment_name == "Checkout errors"
    assert decision.trigger.alert.value == 42
    assert decision.window.start == "2026-10-31T00:00:00.000Z"
    assert decision.window.end == "2026-11-01T00:00:00.000Z"
    assert decision.subject.is_empty


def test_weekly_alert_looks_back_a_week() -> None:
    document = payloads.segment_alert()
    document["data"]["alertConfig"]["duration"] = "WEEKLY"
    decision = interpret(document)
    assert isinstance(decision, Investigate)
    assert decision.window.start == "2026-10-25T00:00:00.000Z"


def test_metric_alert() -> None:
    decision = interpret(payloads.metric_alert())
    assert isinstance(decision, Investigate)
    assert decision.trigger.kind == "metric_alert"
    assert decision.trigger.alert is not None
    assert decision.trigger.alert.metric_name == "Checkout conversion"


def test_note_names_its_session_and_keeps_the_text() -> None:
    decision = interpret(payloads.note_created())
    assert isinstance(decision, Investigate)
    assert decision.trigger.kind == "note"
    assert decision.subject.session_ids == (payloads.API_SESSION_ID,)
    assert decision.trigger.text == "Customer says the Pay now button does nothing"
    assert decision.trigger.occurred_at == "2026-10-31T23:58:00.000Z"


def test_custom_event_keeps_its_properties_as_json_and_its_page() -> None:
    decision = interpret(payloads.custom_event())
    assert isinstance(decision, Investigate)
    assert decision.trigger.kind == "custom_event"
    assert decision.trigger.text == "Checkout Failed"
    assert decision.trigger.properties == {
        "reason_str": "card_declined",
        "amount_real": 42.5,
        "nested": {"ignored": True},
    }
    assert decision.trigger.page_url == "https://shop.example.test/checkout"
    assert decision.subject.individual_id == payloads.SESSION_URL.rpartition("/")[2].partition(":")[0]


def test_custom_event_properties_are_bounded_never_refused() -> None:
    document = payloads.custom_event()
    document["data"]["properties"] = {
        "long_str": "x" * 5000,
        "deep": {"a": {"b": {"c": {"d": 1}}}},
        "many_strs": [str(n) for n in range(100)],
        "huge_int": 10**30,
        **{f"p{n}_int": n for n in range(100)},
    }
    document["data"]["pageUrl"] = 42  # context only: ignored, not a reason to refuse

    decision = interpret(document)

    assert isinstance(decision, Investigate)
    properties = decision.trigger.properties
    assert properties["long_str"] == "x" * 200
    assert properties["deep"] == {"a": {"b": {"c": "{…}"}}}
    assert properties["many_strs"] == [str(n) for n in range(20)]
    assert properties["huge_int"] == str(10**30)
    assert sum(1 for name in properties if name.startswith("p")) < 50
    assert decision.trigger.page_url is None


def test_test_event_is_acknowledged_with_200() -> None:
    decision = interpret({"eventName": "test", "version": 1, "data": {"message": "hi"}})
    assert decision == Acknowledge(status=200, outcome="test", reason="test_event")


@pytest.mark.parametrize(
    ("name", "reason"), [("segment.created", "not_investigated"), ("brand.new", "unsupported_event")]
)
def test_verified_but_not_investigated_events_get_202(name: str, reason: str) -> None:
    decision = interpret({"eventName": name, "version": 1, "data": {}})
    assert decision == Acknowledge(status=202, outcome="ignored", reason=reason)


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"eventName": 5, "data": {}},
        {"eventName": "", "data": {}},
        {"eventName": "segment.trend.alert"},  # missing data
        {"eventName": "segment.trend.alert", "data": []},
        {"eventName": "segment.trend.alert", "data": {"alertConfig": "x"}},
        {"eventName": "segment.trend.alert", "data": {"alertConfig": {}}},  # names no segment
        {"eventName": "segment.trend.alert", "data": {"alertConfig": {"segmentName": 7}}},
        {"eventName": "segment.trend.alert", "data": {"value": "lots", "alertConfig": {"segmentName": "s"}}},
        {"eventName": "metric.alert", "data": {"alertConfig": {}}},
        {"eventName": "note.created", "data": {}},
        {"eventName": "note.created", "data": {"sessionUrl": 12}},
        {"eventName": "note.created", "data": {"sessionUrl": "https://app.fullstory.com/ui/o/segments/x"}},
        {"eventName": "recording.event.custom", "data": {"sessionUrl": payloads.SESSION_URL}},  # no name
        {
            "eventName": "recording.event.custom",
            "data": {"sessionUrl": payloads.SESSION_URL, "name": "x", "properties": []},
        },
    ],
)
def test_wrong_shapes_are_payload_errors(document: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        interpret(document)


def test_unreadable_timestamps_fall_back_to_receipt_time() -> None:
    decision = interpret(payloads.segment_alert(timestamp="not a time"))
    assert isinstance(decision, Investigate)
    assert decision.trigger.occurred_at == "2026-11-01T00:05:00.000Z"


def test_epoch_millisecond_timestamps_are_read() -> None:
    decision = interpret(payloads.segment_alert(timestamp=1_761_955_200_000))
    assert isinstance(decision, Investigate)
    assert decision.trigger.occurred_at == "2025-11-01T00:00:00.000Z"


def test_long_text_is_clipped() -> None:
    document = payloads.note_created()
    document["data"]["text"] = "x" * 5000
    decision = interpret(document)
    assert isinstance(decision, Investigate)
    assert decision.trigger.text is not None
    assert len(decision.trigger.text) == 1000


@pytest.mark.parametrize(
    ("document", "sessions", "uid", "email"),
    [
        ({"app_url_session": payloads.SESSION_URL}, (payloads.API_SESSION_ID,), None, None),
        ({"client_session_id": "1:2"}, ("1:2",), None, None),
        ({"session": {"session_id": "3!4"}, "user": {"user_id": "u-9"}}, ("3:4",), "u-9", None),
        ({"user_email": "jane@example.test"}, (), None, "jane@example.test"),
        ({"user_id": "u-1", "stream_name": "Rage clicks"}, (), "u-1", None),
    ],
)
def test_stream_payloads_name_a_session_or_a_user(
    document: dict[str, Any], sessions: tuple[str, ...], uid: str | None, email: str | None
) -> None:
    decision = interpret_stream_event(document, received_at=RECEIVED, lookback=LOOKBACK)
    assert decision.trigger.kind == "stream"
    assert decision.subject.session_ids == sessions
    assert decision.subject.uid == uid
    assert decision.subject.email == email


@pytest.mark.parametrize(
    "document", [{}, {"stream_name": "x"}, {"session_id": ""}, {"user_id": 5}, {"session_id": "no-colon"}]
)
def test_stream_payloads_without_a_usable_subject_are_rejected(document: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        interpret_stream_event(document, received_at=RECEIVED, lookback=LOOKBACK)


def test_stream_context_fields_reach_the_trigger_as_text() -> None:
    document = {"user_id": "u-1", "event_type": "click", "url": "https://shop.example.test/" + "p" * 300}
    decision = interpret_stream_event(document, received_at=RECEIVED, lookback=LOOKBACK)
    assert decision.trigger.properties["event_type"] == "click"
    assert len(decision.trigger.properties["url"]) == 200  # bounded, like every property


@pytest.mark.parametrize(
    "context",
    [
        {"event_type": 5},
        {"url": ["https://shop.example.test/"]},
        {"page_name": {"name": "Checkout"}},
        {"target_text": True},
        {"event_time": True},
        {"event_time": ["2026-11-01T00:00:00Z"]},
        {"stream": "Checkout rage clicks"},
        {"stream": {"name": 7}},
    ],
)
def test_stream_context_of_the_wrong_type_is_refused_not_queued(context: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        interpret_stream_event({"user_id": "u-1", **context}, received_at=RECEIVED, lookback=LOOKBACK)


# --- poison input: signed payloads that must be refused with a 4xx, never a 500 -------------------


@pytest.mark.parametrize(
    "value", [10**400, -(10**400), float("nan"), float("inf"), "NaN", "-Infinity", "1e999"]
)
def test_alert_values_that_are_not_finite_numbers_are_refused(value: Any) -> None:
    with pytest.raises(PayloadError) as raised:
        interpret(payloads.segment_alert(value=value))
    assert raised.value.status == 400


@pytest.mark.parametrize("event_id", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_ids_are_refused_rather_than_collapsing_into_one_request(event_id: float) -> None:
    with pytest.raises(PayloadError):
        interpret(payloads.segment_alert(id=event_id))
    document = payloads.segment_alert()
    document["data"]["alertConfig"]["threshold"] = event_id
    with pytest.raises(PayloadError):
        interpret(document)


@pytest.mark.parametrize(
    "session_url", ["https://[::1/session/12:34", "https://app\uff03fullstory.com/ui/o/session/12:34"]
)
def test_unparseable_session_urls_are_refused(session_url: str) -> None:
    document = payloads.note_created()
    document["data"]["sessionUrl"] = session_url
    with pytest.raises(PayloadError) as raised:
        interpret(document)
    assert raised.value.reason == "invalid_session_id"
    with pytest.raises(PayloadError) as raised:
        interpret_stream_event({"app_url_session": session_url}, received_at=RECEIVED, lookback=LOOKBACK)
    assert raised.value.reason == "invalid_session_id"


@pytest.mark.parametrize("version", [1, "1"])
def test_version_1_is_accepted_as_a_number_or_a_string(version: Any) -> None:
    document = payloads.metric_alert()
    document["version"] = version
    assert isinstance(interpret(document), Investigate)


def test_a_missing_version_is_read_as_1() -> None:
    document = payloads.metric_alert()
    del document["version"]
    assert isinstance(interpret(document), Investigate)


@pytest.mark.parametrize("version", [2, "2", 0, 1.0, True, None, "", "v1", [1], {"major": 1}])
@pytest.mark.parametrize("event_name", ["segment.trend.alert", "note.created", "test", "segment.created"])
def test_any_other_version_is_refused(version: Any, event_name: str) -> None:
    document = {"eventName": event_name, "version": version, "data": {}}
    with pytest.raises(PayloadError) as raised:
        interpret(document)
    assert (raised.value.status, raised.value.reason) == (400, "unsupported_version")


def test_timed_says_whether_the_payload_gave_its_own_time() -> None:
    timed = interpret(payloads.segment_alert())
    untimed = interpret(payloads.segment_alert(timestamp=None))
    assert isinstance(timed, Investigate) and isinstance(untimed, Investigate)
    assert timed.timed and not untimed.timed
