"""The Fullstory custom event -> Harness FME event mapping (fstriage.core.fme), pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from fstriage.core import fme

OCCURRED = "2026-10-31T23:57:41Z"
OCCURRED_MS = int(datetime(2026, 10, 31, 23, 57, 41, tzinfo=UTC).timestamp() * 1000)
# The replay URL's `indv:device!session`: the detail's user_id is the individual, device_id the device.
INDIVIDUAL, DEVICE, SESSION = "4823749283749823", "5741938475610293", "8203948571029384"


def envelope(**detail: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "delivery_id": "req_0123456789abcdef0123456789abcdef",
        "org_id": "o-ABC-na1",
        "name": "Checkout Failed",
        "properties": {},
        "untyped_properties": [],
        "session_id": f"{DEVICE}:{SESSION}",
        "user_id": INDIVIDUAL,
        "device_id": DEVICE,
        "replay_url": None,
        "page_url": None,
        "occurred_at": OCCURRED,
        "investigated": True,
    }
    body.update(detail)
    return {
        "version": "0",
        "id": "e-1",
        "source": "fstriage",
        "detail-type": "Fullstory Custom Event",
        "time": "2026-11-01T00:00:00Z",
        "detail": body,
    }


def mapped(**detail: Any) -> fme.FmeEvent:
    result = fme.to_fme_event(fme.read_event(envelope(**detail)), key="user-001", traffic_type="user")
    assert isinstance(result, fme.FmeEvent)
    return result


def test_an_event_with_split_value_becomes_the_fme_event_the_original_integration_sent() -> None:
    result = mapped(
        name="checkout.failed",
        properties={
            "reason": "card_declined",
            "amount": 129.99,
            "items": 3,
            "retried": False,
            "split": {"value": 4.5},
        },
    )
    assert result.body == {
        "eventTypeId": "checkout.failed",
        "trafficTypeName": "user",
        "key": "user-001",
        "timestamp": OCCURRED_MS,
        "value": 4.5,
        "properties": {"reason": "card_declined", "amount": 129.99, "items": 3, "retried": False},
    }
    assert not result.renamed
    assert result.properties_dropped == 0


def test_a_flat_dotted_split_value_is_the_value_too() -> None:
    result = mapped(name="purchase", properties={"split.value": 12, "plan": "pro"})
    assert result.body["value"] == 12
    assert result.body["properties"] == {"plan": "pro"}


def test_a_split_value_that_is_not_a_number_stays_a_property_and_there_is_no_value() -> None:
    for odd in ("4.5", True, None, [1]):
        result = mapped(name="purchase", properties={"split": {"value": odd}})
        assert "value" not in result.body
        assert "split.value" in result.body["properties"]


def test_nested_objects_flatten_to_dotted_keys_and_a_literal_dotted_key_wins() -> None:
    result = mapped(
        name="purchase",
        properties={"cart": {"total": 10, "coupon": {"code": "X"}}, "cart.total": 11, "empty": {}},
    )
    assert result.body["properties"] == {"cart.total": 11, "cart.coupon.code": "X", "empty": "{}"}


def test_lists_are_carried_as_their_json_text() -> None:
    result = mapped(name="purchase", properties={"skus": ["a", "b"], "sizes": [1, 2.5], "mixed": [{"k": 1}]})
    properties = result.body["properties"]
    assert properties == {"skus": '["a","b"]', "sizes": "[1,2.5]", "mixed": '[{"k":1}]'}
    assert json.loads(properties["skus"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Checkout Failed", "Checkout_Failed"),
        ("  signup / step 2!", "signup_step_2"),
        ("__private", "private"),
        ("Café ordered", "Caf_ordered"),
    ],
)
def test_a_name_fme_refuses_is_rewritten_and_the_original_travels_along(name: str, expected: str) -> None:
    result = mapped(name=name)
    assert result.body["eventTypeId"] == expected
    assert fme.EVENT_TYPE_ID.fullmatch(expected)
    assert result.renamed
    assert result.body["properties"][fme.NAME_PROPERTY] == name


def test_an_overlong_name_is_cut_with_a_hash_so_two_names_never_merge() -> None:
    first, second = "a" * 100 + "x", "a" * 100 + "y"
    one, two = mapped(name=first), mapped(name=second)
    assert len(one.event_type_id) == len(two.event_type_id) == 80
    assert one.event_type_id != two.event_type_id
    assert fme.EVENT_TYPE_ID.fullmatch(one.event_type_id)
    assert mapped(name=first).event_type_id == one.event_type_id  # deterministic


def test_a_name_with_nothing_fme_accepts_is_dropped_not_sent() -> None:
    event = fme.read_event(envelope(name="💥 !!"))
    assert fme.to_fme_event(event, key="user-001", traffic_type="user") == fme.Dropped("invalid_event_name")


def test_a_key_fme_refuses_is_dropped() -> None:
    event = fme.read_event(envelope())
    assert fme.to_fme_event(event, key="k" * 251, traffic_type="user") == fme.Dropped("key_too_long")


def test_over_fme_limits_the_largest_values_are_left_out_and_counted() -> None:
    many = {f"p{i:03d}": i for i in range(350)}
    result = mapped(name="big", properties=many)
    properties = result.body["properties"]
    assert len(properties) <= fme.MAX_PROPERTIES
    assert properties[fme.DROPPED_PROPERTY] == result.properties_dropped == 350 - (fme.MAX_PROPERTIES - 1)

    large = {"huge": "x" * 20_000, "small": "ok"}
    result = mapped(name="big", properties=large)
    assert result.body["properties"] == {"small": "ok", fme.DROPPED_PROPERTY: 1}
    assert fme.estimated_size(result.body["properties"]) <= fme.MAX_EVENT_BYTES


def test_the_users_ids_are_tried_individual_first_then_device() -> None:
    event = fme.read_event(envelope())
    assert (event.individual_id, event.device_id) == (INDIVIDUAL, DEVICE)
    assert event.user_ids == (("individual", INDIVIDUAL), ("device", DEVICE))


def test_without_an_individual_id_the_device_is_the_only_one() -> None:
    assert fme.read_event(envelope(user_id=None)).user_ids == (("device", DEVICE),)
    # A detail without device_id still names the device through its session.
    assert fme.read_event(envelope(user_id=None, device_id=None)).user_ids == (("device", DEVICE),)
    assert fme.read_event(envelope(user_id=None, device_id=None, session_id=None)).user_ids == ()


def test_the_same_id_in_both_fields_is_tried_once() -> None:
    assert fme.read_event(envelope(user_id=DEVICE)).user_ids == (("individual", DEVICE),)


def test_a_detail_from_before_device_id_reads_its_user_id_as_the_device() -> None:
    message = envelope(user_id=DEVICE)
    del message["detail"]["device_id"]
    event = fme.read_event(message)
    assert event.individual_id is None
    assert event.user_ids == (("device", DEVICE),)
    del message["detail"]["user_id"]
    assert fme.read_event(message).user_ids == (("device", DEVICE),)  # from the session


def test_the_time_falls_back_to_the_envelope_and_is_left_out_when_unknown() -> None:
    assert fme.read_event(envelope(occurred_at="not a time")).occurred_at == datetime(2026, 11, 1, tzinfo=UTC)
    message = envelope(occurred_at=None)
    del message["time"]
    event = fme.read_event(message)
    result = fme.to_fme_event(event, key="u", traffic_type="account")
    assert isinstance(result, fme.FmeEvent)
    assert "timestamp" not in result.body
    assert result.body["trafficTypeName"] == "account"


@pytest.mark.parametrize(
    "message",
    [
        [],
        {"source": "fstriage", "detail-type": "Investigation Completed", "detail": {}},
        envelope(schema_version=2),
        envelope(delivery_id=""),
        envelope(name=None),
        envelope(properties=["a"]),
    ],
)
def test_anything_but_a_version_1_custom_event_is_unreadable(message: Any) -> None:
    with pytest.raises(fme.Unreadable):
        fme.read_event(message)


def test_bulks_keep_order_and_respect_the_count_and_size_limits() -> None:
    events = [{"eventTypeId": "e", "key": str(i), "properties": {"pad": "x" * 100}} for i in range(10)]
    assert fme.bulks(events) == [list(range(10))]
    assert fme.bulks(events, max_events=4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    one = len(json.dumps(events[0], separators=(",", ":")).encode()) + 1
    groups = fme.bulks(events, max_bytes=2 + 3 * one)
    assert [len(g) for g in groups] == [3, 3, 3, 1]
    assert [i for g in groups for i in g] == list(range(10))


def test_the_cache_is_bounded_least_recently_used_first_and_entries_expire() -> None:
    now = [0.0]
    cache: fme.TtlLru[str] = fme.TtlLru(size=2, ttl=10, clock=lambda: now[0])
    cache.put("a", "1")
    cache.put("b", "")
    assert cache.get("a") == (True, "1")  # "a" is now the most recent
    cache.put("c", "3")
    assert cache.get("b") == (False, None)  # evicted
    assert cache.get("c") == (True, "3")
    cache.put("short", "x", ttl=1)
    now[0] = 5
    assert cache.get("short") == (False, None)
    now[0] = 11
    assert cache.get("c") == (False, None)
    assert len(cache) <= 2
