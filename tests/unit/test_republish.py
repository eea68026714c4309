"""Custom events and Streams as EventBridge events: typed properties, the detail, and the selection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fstriage.core.errors import ConfigurationError
from fstriage.core.republish import (
    CUSTOM_EVENT_DETAIL_TYPE,
    STREAM_DETAIL_TYPE,
    republished,
    typed_properties,
)
from fstriage.settings import CustomEventSelection
from fstriage_cli.samples import payloads
from tests.support.schemas import REPUBLISHED_EVENT_SCHEMA

RECEIVED = datetime(2026, 11, 1, 0, 0, 5, tzinfo=UTC)
APP = "https://app.fullstory.com"


def test_suffixes_type_values_and_leave_the_names() -> None:
    typed = typed_properties(
        {
            "reason_str": "card_declined",
            "amount_real": 129,
            "items_int": 3,
            "retried_bool": False,
            "at_date": "2026-11-01T00:00:00Z",
            "tags_strs": ["a", "b"],
            "scores_reals": [1, 2.5],
            "plain": {"n": 1},
        }
    )
    assert typed.values == {
        "reason": "card_declined",
        "amount": 129.0,
        "items": 3,
        "retried": False,
        "at": "2026-11-01T00:00:00Z",
        "tags": ["a", "b"],
        "scores": [1.0, 2.5],
        "plain": {"n": 1},
    }
    assert typed.untyped == []
    assert isinstance(typed.values["amount"], float)


def test_text_forms_of_numbers_and_booleans_are_typed() -> None:
    typed = typed_properties({"items_int": "3", "amount_real": "4.50", "ok_bool": "true", "whole_int": 2.0})
    assert typed.values == {"items": 3, "amount": 4.5, "ok": True, "whole": 2}
    assert typed.untyped == []


def test_a_value_that_does_not_match_its_suffix_is_kept_as_sent_and_listed() -> None:
    typed = typed_properties(
        {
            "items_int": "three",
            "ok_bool": 1,
            "tags_strs": "not-a-list",
            "cart": {"total_real": "n/a", "count_int": 2},
            "nan_real": "NaN",
        }
    )
    assert typed.values == {
        "items": "three",
        "ok": 1,
        "tags": "not-a-list",
        "cart": {"total": "n/a", "count": 2},
        "nan": "NaN",
    }
    assert typed.untyped == ["items", "ok", "tags", "cart.total", "nan"]


def test_nested_and_flat_dotted_forms_both_survive() -> None:
    typed = typed_properties({"split": {"value_real": 4.5}, "split.value_real": 4.5})
    assert typed.values == {"split": {"value": 4.5}, "split.value": 4.5}


def test_two_suffixes_of_one_name_keep_both_values() -> None:
    assert typed_properties({"amount_int": 3, "amount_real": 3.5}).values == {
        "amount_int": 3,
        "amount_real": 3.5,
    }
    assert typed_properties({"amount_str": "x", "amount": 2}).values == {"amount_str": "x", "amount": 2}


@pytest.mark.parametrize("text", ["+-3", "--1", "²", "١٢", "1e999", "0x10", " ", "NaN", "inf", "1_000"])
def test_odd_numeric_text_is_untyped_never_an_error(text: str) -> None:
    typed = typed_properties({"n_int": text, "r_real": text})
    assert typed.values == {"n": text, "r": text}
    assert typed.untyped == ["n", "r"]


def test_a_bare_suffix_is_a_name() -> None:
    assert typed_properties({"_str": 1, "_ints": 2}).values == {"_str": 1, "_ints": 2}


def custom_event_request(**data: Any) -> Any:
    document = payloads.custom_event()
    document["data"].update(data)
    return payloads.request_for(document, received_at=RECEIVED)


def test_a_custom_event_becomes_a_typed_detail() -> None:
    request = custom_event_request()

    event = republished(request, investigated=True, app_base_url=APP)

    assert event is not None and event.detail_type == CUSTOM_EVENT_DETAIL_TYPE
    jsonschema.validate(event.detail, REPUBLISHED_EVENT_SCHEMA)
    assert event.detail == {
        "schema_version": 1,
        "delivery_id": request.request_id,
        "org_id": "o-TEST-na1",
        "name": "Checkout Failed",
        "properties": {"reason": "card_declined", "amount": 42.5, "nested": {"ignored": True}},
        "untyped_properties": [],
        "session_id": payloads.API_SESSION_ID,
        "user_id": payloads.SESSION_URL.rpartition("/")[2].partition(":")[0],
        "device_id": payloads.API_SESSION_ID.partition(":")[0],
        "uid": None,
        "replay_url": f"{APP}/ui/o-TEST-na1/session/{payloads.API_SESSION_ID}",
        "page_url": "https://shop.example.test/checkout",
        "occurred_at": "2026-11-01T00:00:00.000Z",
        "investigated": True,
    }


def test_a_stream_becomes_a_stream_detail_with_its_context_and_uid() -> None:
    document = payloads.stream_user(user_id="user-001", user_email="ada@example.test", url="https://x.test/a")
    request = payloads.request_for(document, received_at=RECEIVED, stream=True)

    event = republished(request, investigated=True, app_base_url=APP)

    assert event is not None and event.detail_type == STREAM_DETAIL_TYPE
    jsonschema.validate(event.detail, REPUBLISHED_EVENT_SCHEMA)
    assert event.detail["name"] == "Signup form errors"
    assert event.detail["uid"] == "user-001"
    assert event.detail["page_url"] == "https://x.test/a"
    assert event.detail["properties"]["url"] == "https://x.test/a"
    assert "ada@example.test" not in json.dumps(event.detail)  # the email stays out of the bus


@pytest.mark.parametrize("maker", [payloads.note_created, payloads.segment_alert, payloads.metric_alert])
def test_other_triggers_are_not_republished(maker: Any) -> None:
    request = payloads.request_for(maker(), received_at=RECEIVED)
    assert republished(request, investigated=True, app_base_url=APP) is None


def test_every_custom_event_is_investigated_by_default() -> None:
    every = CustomEventSelection.parse("*")
    assert every.investigates("Checkout Failed") and every.investigates(None)
    assert CustomEventSelection.parse("  ") == every


def test_named_custom_events_only_and_case_does_not_matter() -> None:
    chosen = CustomEventSelection.parse("Checkout Failed, payment error ,")
    assert chosen.investigates("checkout failed")
    assert chosen.investigates("Payment Error")
    assert not chosen.investigates("Order Placed")
    assert not chosen.investigates(None)


@pytest.mark.parametrize("text", [",", " , ", "Checkout Failed,*"])
def test_a_selection_that_names_nothing_or_mixes_star_is_refused(text: str) -> None:
    with pytest.raises(ConfigurationError):
        CustomEventSelection.parse(text)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_SUFFIXED = st.sampled_from(["", "_str", "_int", "_real", "_bool", "_date", "_strs", "_ints", "_reals"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.dictionaries(st.builds(lambda a, b: a + b, st.text(max_size=6), _SUFFIXED), _JSON, max_size=6))
def test_any_json_properties_type_without_error_and_lose_no_name(raw: dict[str, Any]) -> None:
    typed = typed_properties(raw)
    assert len(typed.values) == len(raw)
    json.dumps(typed.values, allow_nan=True)
