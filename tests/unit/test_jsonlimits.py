"""Strict JSON decoding: what an untrusted body may not carry into a queued request or a report."""

from __future__ import annotations

import json

import pytest

from fstriage.core.errors import PayloadError
from fstriage.core.jsonlimits import has_lone_surrogate, json_depth, loads_object


def reason_for(body: bytes, *, max_depth: int = 32) -> str:
    with pytest.raises(PayloadError) as raised:
        loads_object(body, max_depth=max_depth)
    assert raised.value.status == 400
    return raised.value.reason


def test_an_ordinary_object_decodes() -> None:
    body = json.dumps({"eventName": "x", "data": {"value": 4.5, "n": [1, 2e3, -0.0], "s": "é😀"}}).encode()
    assert loads_object(body, max_depth=32) == json.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"value": NaN}',
        b'{"value": Infinity}',
        b'{"value": -Infinity}',
        b'{"value": 1e999}',
        b'{"value": -1e999}',
        b'{"a": [1, {"b": 1E400}]}',
    ],
)
def test_non_finite_numbers_are_refused_at_decode_time(body: bytes) -> None:
    assert reason_for(body) == "invalid_json"


def test_big_finite_numbers_still_decode() -> None:
    document = loads_object(b'{"a": 1.7e308, "b": 1e-400, "c": 123456789012345678901234567890}', max_depth=4)
    assert document["a"] == 1.7e308
    assert document["b"] == 0.0
    assert document["c"] == 123456789012345678901234567890


@pytest.mark.parametrize(
    "body",
    [
        rb'{"text": "\ud800"}',
        rb'{"text": "ok \uDFFF"}',  # a lone low surrogate, upper-case hex
        rb'{"\udc00": 1}',  # in a key
        rb'{"a": [{"b": ["x", "\udbff tail"]}]}',  # deep inside
        rb'{"pair": "\ud83d\ude00", "lone": "\ud83d"}',  # a valid pair beside a lone one
        rb'{"reversed": "\ude00\ud83d"}',
    ],
)
def test_lone_surrogates_anywhere_are_refused(body: bytes) -> None:
    assert reason_for(body) == "invalid_unicode"


@pytest.mark.parametrize(
    "body",
    [rb'{"emoji": "\ud83d\ude00"}', rb'{"escaped backslash": "\\ud800"}', rb'{"plain": "\u00e9"}'],
)
def test_surrogate_pairs_and_escaped_backslashes_are_text(body: bytes) -> None:
    assert loads_object(body, max_depth=4) == json.loads(body)


def test_has_lone_surrogate_walks_keys_and_values() -> None:
    assert not has_lone_surrogate({"a": ["b", {"c": 1}]})
    assert has_lone_surrogate({"a": ["b", {"c": "\ud800"}]})
    assert has_lone_surrogate({"a": {"\udfff": None}})


@pytest.mark.parametrize(
    "body",
    [
        b'{"eventName": "test", "eventName": "metric.alert"}',
        b'{"data": {"id": 1, "id": 2}}',
        b'[{"a":1,"a":1}]',
    ],
)
def test_duplicate_keys_are_refused(body: bytes) -> None:
    assert reason_for(body) == "duplicate_key"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "invalid_encoding"),
        (b'{"a": "\xed\xa0\x80"}', "invalid_encoding"),  # a surrogate encoded raw is not UTF-8 either
        ('{"a": 1}'.encode("utf-16"), "invalid_encoding"),
        (b'{"a": 1', "invalid_json"),
        (b"", "invalid_json"),
        (b'{"a": "nul\x00"}', "invalid_json"),  # a raw control character inside a string
        (b"\xef\xbb\xbf{}", "invalid_json"),  # a byte order mark
        (b"[]", "invalid_payload"),
        (b'"text"', "invalid_payload"),
        (b"null", "invalid_payload"),
    ],
)
def test_other_bodies_get_their_reason(body: bytes, reason: str) -> None:
    assert reason_for(body) == reason


def test_nul_as_an_escape_is_text() -> None:
    assert loads_object(b'{"a": "\\u0000"}', max_depth=4) == {"a": "\x00"}


def test_depth_is_bounded_without_recursion() -> None:
    assert reason_for(b'{"a":' * 40 + b"1" + b"}" * 40) == "too_deep"
    assert reason_for(b"[" * 100_000 + b"]" * 100_000) == "too_deep"
    assert json_depth({"a": [{"b": []}]}) == 4
    assert loads_object(b'{"a":' * 31 + b"1" + b"}" * 31, max_depth=32)
