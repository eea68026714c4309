"""The Fullstory client's pure parts: regions, error bodies, export decoding, error types."""

from __future__ import annotations

import gzip
import json

import pytest

from fstriage.adapters import fullstory
from fstriage.adapters.fullstory import FullstoryClient, api_base_url, app_base_url, resolve_region
from fstriage.core.errors import (
    ConfigurationError,
    FullstoryError,
    FullstoryForbidden,
    FullstoryUnavailable,
)


@pytest.mark.parametrize(
    ("key", "region", "expected"),
    [
        ("na1.abcDEF/DEMO", None, "na1"),
        ("eu1.abcDEF/DEMO", None, "eu1"),
        ("EU1.abcDEF/DEMO", None, "eu1"),
        ("Basic eu1.abcDEF/DEMO", None, "eu1"),
        ("legacy-key-without-prefix", None, "na1"),
        ("na1.abcDEF/DEMO", "eu1", "eu1"),  # an explicit region wins
    ],
)
def test_region_comes_from_the_argument_or_the_key_prefix(
    key: str, region: str | None, expected: str
) -> None:
    assert resolve_region(key, region) == expected


def test_region_urls() -> None:
    assert api_base_url("na1") == "https://api.fullstory.com"
    assert api_base_url("eu1") == "https://api.eu1.fullstory.com"
    assert app_base_url("na1") == "https://app.fullstory.com"
    assert app_base_url("eu1") == "https://app.eu1.fullstory.com"


def test_an_unknown_region_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        resolve_region("na1.x", "us2")


def test_the_client_picks_urls_from_the_key_and_honours_an_override() -> None:
    with FullstoryClient("eu1.secretkey/ORG") as client:
        assert client.base_url == "https://api.eu1.fullstory.com"
        assert client.app_base_url == "https://app.eu1.fullstory.com"
        assert "secretkey" not in repr(client)
        assert (
            client.replay_url("o-X-eu1", "12%3A34")
            == "https://app.eu1.fullstory.com/ui/o-X-eu1/session/12:34"
        )
    with FullstoryClient("eu1.secretkey/ORG", base_url="http://127.0.0.1:9/") as client:
        assert client.base_url == "http://127.0.0.1:9"
        assert client.app_base_url == "https://app.eu1.fullstory.com"


@pytest.mark.parametrize("key", ["", "   ", "na1.abc\r\nX-Injected: 1", "na1.a b"])
def test_an_empty_or_header_breaking_key_is_refused(key: str) -> None:
    with pytest.raises(ConfigurationError):
        FullstoryClient(key)


def test_json_error_bodies_give_message_and_code() -> None:
    body = json.dumps({"message": "insufficient permissions", "code": "forbidden"}).encode()
    assert fullstory._error_message(body, secret="k") == ("insufficient permissions", "forbidden")


def test_a_non_json_body_becomes_a_short_text_without_tags_or_the_key() -> None:
    key = "na1.SUPERSECRET/ORG"
    page = (
        "<html><body><h1>502 Bad Gateway</h1>"
        + "<p>filler</p>" * 50
        + f"Authorization: Basic {key}</body></html>"
    )
    message, code = fullstory._error_message(page.encode(), secret=key)
    assert code is None
    assert message.startswith("502 Bad Gateway")
    assert len(message) <= 200
    assert "SUPERSECRET" not in message


def test_the_key_is_masked_before_cutting_so_no_fragment_survives() -> None:
    key = "na1.SUPERSECRET/ORG"
    body = ("x" * 190 + key).encode()
    message, _ = fullstory._error_message(body, secret=key)
    assert "SUPER" not in message


def test_error_messages_are_capped_at_200_characters() -> None:
    error = FullstoryError("m" * 500, status=500)
    assert len(error.message) == 200
    assert error.retryable is False
    assert FullstoryUnavailable("x").retryable is True


def test_forbidden_says_whether_activation_is_the_cause() -> None:
    assert FullstoryForbidden("Anywhere: Activation is not enabled", status=403).activation_disabled
    assert not FullstoryForbidden("insufficient permissions", status=403).activation_disabled


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("soon", None), (None, None), ("", None)],
)
def test_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert fullstory._retry_after(header) == expected


def test_retry_after_as_an_http_date_in_the_past_means_now() -> None:
    assert fullstory._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_ndjson_and_json_array_rows() -> None:
    ndjson = b'{"UserId":"1","SessionId":"2"}\n\n{"UserId":"3","SessionId":"4"}\nnot json\n[1]\n'
    assert fullstory._parse_rows(ndjson) == [
        {"UserId": "1", "SessionId": "2"},
        {"UserId": "3", "SessionId": "4"},
    ]
    assert fullstory._parse_rows(b' [{"A":1}, 2, {"B":2}] ') == [{"A": 1}, {"B": 2}]
    assert fullstory._parse_rows(b"") == []


def test_gunzip_reads_every_member() -> None:
    raw = gzip.compress(b'{"A":1}\n') + gzip.compress(b'{"A":2}\n')
    assert fullstory._parse_rows(fullstory._gunzip(raw, 1000)) == [{"A": 1}, {"A": 2}]


def test_gunzip_refuses_a_bomb_and_garbage() -> None:
    bomb = gzip.compress(b"0" * 1_000_000)
    with pytest.raises(FullstoryError) as too_big:
        fullstory._gunzip(bomb, 10_000)
    assert too_big.value.code == "export_too_large"
    with pytest.raises(FullstoryError) as garbage:
        fullstory._gunzip(b"\x1f\x8bnot really gzip", 10_000)
    assert garbage.value.code == "bad_export"


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("1411492739", "2014-09-23T17:18:59+00:00"),
        ("1411492739000", "2014-09-23T17:18:59+00:00"),
        ("2024-04-03T17:06:12Z", "2024-04-03T17:06:12+00:00"),
    ],
)
def test_created_time_is_read_as_epoch_seconds_millis_or_iso(value: str, iso: str) -> None:
    parsed = fullstory._parse_time(value)
    assert parsed is not None
    assert parsed.isoformat() == iso


def test_unreadable_created_time_is_none() -> None:
    assert fullstory._parse_time("yesterday") is None
    assert fullstory._parse_time(None) is None
